// The exact recursive filter of the exponential and alpha kernel families, truncated to the
// kernel's length by pole-zero cancellation (docs/guide/convolution.md): time-major lanes of
// channels, rows read in place, or the exponential family vectorised along time.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/simd.hpp"
#include "kernels/conv_rows.hpp"

namespace neuroperf::kernels {
namespace {

using namespace conv;

// Coefficients of the truncated family as a rational filter (see docs/guide/convolution.md):
//   exponential: y[t] = x[t] + q·y[t−1] − h[L]·x[t−L]
//   alpha:       y[t] = 2q·y[t−1] − q²·y[t−2] + h[1]·x[t−1] − h[L]·x[t−L] + b5·x[t−L−1],
//                b5 = (L−1)/(L+1)·h[L+1]·... = a(L−1)·e^{1−(L+1)a}, a = dt/τ, q = e^{−a}.
// The delayed terms cancel the kernel beyond L taps exactly (pole-zero cancellation).
struct IirCoeffs {
    double a1 = 0, a2 = 0, b0 = 0, b1 = 0, bL = 0, bL1 = 0;
};
IirCoeffs iir_coeffs(const SpikeKernel& k, i64 L) {
    double a = k.dt / k.tau, q = std::exp(-a), Ld = static_cast<double>(L);
    IirCoeffs c;
    if (k.family == SpikeKernel::Family::exponential) {
        c.a1 = q;
        c.b0 = 1;
        c.bL = std::exp(-Ld * a);
    } else {
        c.a1 = 2 * q;
        c.a2 = q * q;
        c.b1 = a * std::exp(1 - a);
        c.bL = a * Ld * std::exp(1 - Ld * a);
        c.bL1 = a * (Ld - 1) * std::exp(1 - (Ld + 1) * a);
    }
    return c;
}

constexpr int kLanes = 16;   // channels per block: one lane each
constexpr i64 kChunk = 256;  // time steps per tile

// tile[r·kLanes + l] = x[c0 + l][t0 + r] (0 outside [0, n) and beyond the block's channels).
template <class T>
void gather_tile(const ConvBatch<T>& b, i64 n, i64 c0, int lanes, i64 t0, i64 rows, T* tile) {
    std::fill(tile, tile + rows * kLanes, T(0));
    i64 r_lo = std::max<i64>(0, -t0), r_hi = std::min<i64>(rows, n - t0);
    for (int l = 0; l < lanes; ++l) {
        const T* src = b.x + (c0 + l) * b.x_cs + t0 * b.x_ts;
        for (i64 r = r_lo; r < r_hi; ++r) tile[r * kLanes + l] = src[r * b.x_ts];
    }
}

// All kLanes channels of a block advance together: one vector per time step (GCC vector
// extension: AVX-512/AVX2/SSE as the variant's target allows, written once for both types).
template <class T>
struct LaneVecOf;
template <>
struct LaneVecOf<float> {
    typedef float type __attribute__((vector_size(kLanes * sizeof(float))));
};
template <>
struct LaneVecOf<double> {
    typedef double type __attribute__((vector_size(kLanes * sizeof(double))));
};
template <class T>
using LaneVec = typename LaneVecOf<T>::type;

// (A macro, not a function: passing these vectors by value would depend on the ISA's ABI.)
#define NEUROPERF_LOAD_LANES(v, p) std::memcpy(&(v), (p), sizeof(v))

template <Isa I, class T, bool Alpha>
NP_INLINE void iir_block_body(const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes,
                              T* xt, T* xd, T* yt) {
    using V = LaneVec<T>;
    const T a1 = static_cast<T>(cf.a1), a2 = static_cast<T>(cf.a2), b0 = static_cast<T>(cf.b0);
    const T b1 = static_cast<T>(cf.b1), bL = static_cast<T>(cf.bL), bL1 = static_cast<T>(cf.bL1);
    const i64 L = g.k, end = g.offset + g.out_len;
    V y1 = {}, y2 = {};
    for (i64 t0 = 0; t0 < end; t0 += kChunk) {
        i64 rows = std::min(kChunk, end - t0);
        // Row r + 1 of xt holds x[t0 + r], row r holds x[t0 + r − 1]; likewise xd for t − L.
        gather_tile(b, g.n, c0, lanes, t0 - 1, rows + 1, xt);
        gather_tile(b, g.n, c0, lanes, t0 - L - 1, rows + 1, xd);
        for (i64 r = 0; r < rows; ++r) {
            V v, xm, x0, d0, dm;
            NEUROPERF_LOAD_LANES(d0, xd + (r + 1) * kLanes);
            if constexpr (Alpha) {
                NEUROPERF_LOAD_LANES(xm, xt + r * kLanes);
                NEUROPERF_LOAD_LANES(dm, xd + r * kLanes);
                v = a1 * y1 - a2 * y2 + b1 * xm - bL * d0 + bL1 * dm;
                y2 = y1;
            } else {
                NEUROPERF_LOAD_LANES(x0, xt + (r + 1) * kLanes);
                v = b0 * x0 + a1 * y1 - bL * d0;
            }
            y1 = v;
            std::memcpy(yt + r * kLanes, &v, sizeof v);
        }
        // Rows at full index ≥ offset are output.
        i64 r_lo = std::max<i64>(0, g.offset - t0);
        for (int l = 0; l < lanes; ++l) {
            T* dst = b.out + (c0 + l) * b.o_cs + (t0 - g.offset) * b.o_ts;
            for (i64 r = r_lo; r < rows; ++r) dst[r * b.o_ts] = yt[r * kLanes + l];
        }
    }
}

// Rows contiguous in time (the channels × time layout): kRowLanes channels advance together,
// each reading its own row, so no transposition is needed; the independent recursions of the
// lanes overlap in the pipeline. Inputs outside [0, n) are zero.
constexpr int kRowLanes = 8;

template <Isa I, class T, bool Alpha>
NP_INLINE void iir_rows_body(const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes) {
    const T a1 = static_cast<T>(cf.a1), a2 = static_cast<T>(cf.a2), b0 = static_cast<T>(cf.b0);
    const T b1 = static_cast<T>(cf.b1), bL = static_cast<T>(cf.bL), bL1 = static_cast<T>(cf.bL1);
    const i64 n = g.n, L = g.k, off = g.offset, end = g.offset + g.out_len;
    const T* xr[kRowLanes];
    T* yr[kRowLanes];
    for (int l = 0; l < kRowLanes; ++l) {
        int ll = std::min(l, lanes - 1);  // spare lanes repeat the last channel, written once
        xr[l] = b.x + (c0 + ll) * b.x_cs;
        yr[l] = b.out + (c0 + ll) * b.o_cs - off;
    }
    T y1[kRowLanes] = {}, y2[kRowLanes] = {};
    // Segments: inside [L + 1, n) every input index is in range and the bounds checks go away.
    auto run = [&](i64 t_begin, i64 t_end, auto checked) {
        auto x_at = [&](int l, i64 t) {
            if constexpr (decltype(checked)::value) return t >= 0 && t < n ? xr[l][t] : T(0);
            else return xr[l][t];
        };
        for (i64 t = t_begin; t < t_end; ++t) {
            T v[kRowLanes];
            for (int l = 0; l < kRowLanes; ++l) {
                if constexpr (Alpha) {
                    v[l] = a1 * y1[l] - a2 * y2[l] + b1 * x_at(l, t - 1) - bL * x_at(l, t - L) +
                           bL1 * x_at(l, t - L - 1);
                    y2[l] = y1[l];
                } else {
                    v[l] = b0 * x_at(l, t) + a1 * y1[l] - bL * x_at(l, t - L);
                }
                y1[l] = v[l];
            }
            if (t >= off)
                for (int l = 0; l < lanes; ++l) yr[l][t] = v[l];
        }
    };
    i64 s1 = std::min(end, L + 1), s2 = std::max(s1, std::min(end, n));
    run(0, s1, std::true_type{});
    run(s1, s2, std::false_type{});
    run(s2, end, std::true_type{});
}

// The exponential family on time-contiguous rows, vectorised along time. The recursion
// y[t] = a·y[t−1] + u[t], u[t] = b0·x[t] − bL·x[t−L], over a block of W steps is
//   y[t0 + i] = Σ_{j ≤ i} a^{i−j}·u[t0 + j] + a^{i+1}·y[t0 − 1],
// W broadcast-multiply-adds per W outputs; only the scalar carry y[t0 + W − 1] = local[W − 1] +
// a^W·y[t0 − 1] is sequential (one FMA per block instead of one per step). A chunk whose u holds a
// NaN or Inf runs the step-by-step recursion instead, so that the outputs before it stay finite
// (a NaN times a zero coefficient of the block would spread it backwards).
// Block width W of the along-time recursion per variant: one register of T (16, 32 or 64
// bytes). W² coefficients stay in registers (16 for AVX-512's 32, 8 for AVX2's 16): a 64-byte
// block on AVX2 spilled the matrix and ran 1.7× behind AVX-512 instead of ~2× fewer lanes.
template <Isa I, class T>
inline constexpr int kRowBlock = (I == Isa::avx512 ? 64 : I == Isa::avx2 ? 32 : 16) / static_cast<int>(sizeof(T));

template <class T>
struct ExpRowCoeffs {
    static constexpr int kMaxW = 64 / static_cast<int>(sizeof(T));
    int W = 0;
    alignas(64) T C[kMaxW][kMaxW];  // C[j][i] = a^{i−j} for i ≥ j, else 0 (i, j < W)
    alignas(64) T P[kMaxW];         // a^{i+1}
    T aW = 0, a = 0, b0 = 0, bL = 0;
};

template <class T>
ExpRowCoeffs<T> exp_row_coeffs(const IirCoeffs& cf, int W) {
    ExpRowCoeffs<T> k{};
    k.W = W;
    double pw[ExpRowCoeffs<T>::kMaxW + 1];  // a^i by repeated multiplication in double (≤ W ulps, far below T's)
    pw[0] = 1;
    for (int i = 1; i <= W; ++i) pw[i] = pw[i - 1] * cf.a1;
    for (int j = 0; j < W; ++j)
        for (int i = 0; i < W; ++i) k.C[j][i] = i >= j ? static_cast<T>(pw[i - j]) : T(0);
    for (int i = 0; i < W; ++i) k.P[i] = static_cast<T>(pw[i + 1]);
    k.aW = k.P[W - 1];
    k.a = static_cast<T>(cf.a1), k.b0 = static_cast<T>(cf.b0), k.bL = static_cast<T>(cf.bL);
    return k;
}

template <Isa I, class T>
NP_INLINE void iir_exp_row_body(const T* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<T>& k, T* out, bool stream) {
    constexpr int W = kRowBlock<I, T>;  // k.W: the caller built the coefficients for this variant
    typedef T V __attribute__((vector_size(W * sizeof(T))));
    static_assert(kChunk % W == 0);
    alignas(64) T u[kChunk];
    alignas(64) T yb[W];
    V C[W], P;
    for (int j = 0; j < W; ++j) std::memcpy(&C[j], k.C[j], sizeof(V));
    std::memcpy(&P, k.P, sizeof(V));
    const T b0 = k.b0, bL = k.bL, a = k.a, aW = k.aW;
    T carry = 0;  // y[t0 − 1]
    for (i64 t0 = 0; t0 < end; t0 += kChunk) {
        const i64 rows = std::min(kChunk, end - t0), padded = (rows + W - 1) / W * W;
        if (t0 - L >= 0 && t0 + rows <= n) {
            const T* xc = x + t0;
            const T* xd = x + t0 - L;
            for (i64 r = 0; r < rows; ++r) u[r] = b0 * xc[r] - bL * xd[r];
        } else {
            for (i64 r = 0; r < rows; ++r) {
                i64 t = t0 + r;
                T x0 = t < n ? x[t] : T(0), d0 = t - L >= 0 && t - L < n ? x[t - L] : T(0);
                u[r] = b0 * x0 - bL * d0;
            }
        }
        for (i64 r = rows; r < padded; ++r) u[r] = 0;
        int bad = 0;  // an OR reduction, which vectorises (a floating-point sum would not)
        for (i64 r = 0; r < rows; ++r) bad |= !(u[r] - u[r] == T(0));  // u is NaN or ±Inf
        if (bad) {
            for (i64 r = 0; r < rows; ++r) {
                carry = a * carry + u[r];
                if (t0 + r >= off) out[t0 + r - off] = carry;
            }
            continue;
        }
        for (i64 r = 0; r < padded; r += W) {
            V l0 = u[r] * C[0], l1 = u[r + 1] * C[1];  // two chains of multiply-adds
            for (int j = 2; j < W; j += 2) l0 += u[r + j] * C[j], l1 += u[r + j + 1] * C[j + 1];
            V loc = l0 + l1;
            V yv = loc + P * carry;
            carry = loc[W - 1] + aW * carry;
            const i64 t = t0 + r;
            if (t >= off && t + W <= end) {
                T* dst = out + (t - off);
                if (kCanStream && stream && (reinterpret_cast<std::uintptr_t>(dst) & 15) == 0) {
                    std::memcpy(yb, &yv, sizeof(V));
                    for (int q = 0; q < W; q += 16 / static_cast<int>(sizeof(T))) stream2(dst + q, yb + q);
                } else {
                    std::memcpy(dst, &yv, sizeof(V));
                }
            } else {
                std::memcpy(yb, &yv, sizeof(V));
                for (int i = 0; i < W; ++i)
                    if (t + i >= off && t + i < end) out[t + i - off] = yb[i];
            }
        }
    }
}

// The variants (core/simd.hpp), chosen on the calling thread before the parallel regions.
NP_ISA_VARIANTS((template <class T>), void, iir_exp_row,
                (const T* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<T>& k, T* out, bool stream),
                (x, n, L, off, end, k, out, stream), T)
NP_ISA_VARIANTS((template <class T, bool Alpha>), void, iir_rows,
                (const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes), (b, g, cf, c0, lanes),
                T, Alpha)
NP_ISA_VARIANTS((template <class T, bool Alpha>), void, iir_block,
                (const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes, T* xt, T* xd, T* yt),
                (b, g, cf, c0, lanes, xt, xd, yt), T, Alpha)
template <class T>
constexpr core::IsaTable<void (*)(const T*, i64, i64, i64, i64, const ExpRowCoeffs<T>&, T*, bool)> kExpRow =
    NP_ISA_TABLE(iir_exp_row, <T>);
template <class T, bool Alpha>
constexpr core::IsaTable<void (*)(const ConvBatch<T>&, const ConvGeometry&, const IirCoeffs&, i64, int)> kRows =
    NP_ISA_TABLE(iir_rows, <T, Alpha>);
template <class T, bool Alpha>
constexpr core::IsaTable<void (*)(const ConvBatch<T>&, const ConvGeometry&, const IirCoeffs&, i64, int, T*, T*, T*)> kBlock =
    NP_ISA_TABLE(iir_block, <T, Alpha>);

}  // namespace

template <class T>
void conv_iir(const ConvBatch<T>& b, const SpikeKernel& kernel, const ConvGeometry& g, int threads) {
    check_batch(b, g);
    const bool alpha = kernel.family == SpikeKernel::Family::alpha;
    IirCoeffs cf = iir_coeffs(kernel, g.k);
    // Time-contiguous rows: interleaved lanes read the rows in place. Any other layout (e.g.
    // time × channels): tiles transposed to time-major, one SIMD lane per channel.
    const bool rows = b.x_ts == 1 && b.o_ts == 1;
    if (rows && !alpha) {
        // One channel at a time, vectorised along time (iir_exp_row).
        const int width = b.isa == Isa::avx512 ? kRowBlock<Isa::avx512, T> : b.isa == Isa::avx2 ? kRowBlock<Isa::avx2, T> : kRowBlock<Isa::generic, T>;
        const ExpRowCoeffs<T> k = exp_row_coeffs<T>(cf, width);
        const i64 end = g.offset + g.out_len;
        int team = team_size(threads, b.channels, static_cast<double>(end) * 0.3);
        const bool stream = stream_output(b.channels * g.out_len, sizeof(T));
        const auto row = kExpRow<T>[b.isa];
#pragma omp parallel num_threads(team) if (team > 1)
        {
#pragma omp for schedule(static)
            for (i64 c = 0; c < b.channels; ++c) row(b.x + c * b.x_cs, g.n, g.k, g.offset, end, k, b.out + c * b.o_cs, stream);
            if (stream) stream_fence();
        }
        return;
    }
    const int lanes_per_block = rows ? kRowLanes : kLanes;
    const i64 blocks = (b.channels + lanes_per_block - 1) / lanes_per_block;
    double per_block = static_cast<double>(g.offset + g.out_len) * lanes_per_block * (alpha ? 0.4 : 0.25);
    int team = team_size(threads, blocks, per_block);
    const auto rows_alpha = kRows<T, true>[b.isa], rows_exp = kRows<T, false>[b.isa];
    const auto block_alpha = kBlock<T, true>[b.isa], block_exp = kBlock<T, false>[b.isa];
#pragma omp parallel num_threads(team) if (team > 1)
    {
        std::vector<T> xt, xd, yt;
        if (!rows) {
            xt.resize(static_cast<std::size_t>((kChunk + 1) * kLanes));
            xd.resize(xt.size()), yt.resize(xt.size());
        }
#pragma omp for schedule(static)
        for (i64 blk = 0; blk < blocks; ++blk) {
            i64 c0 = blk * lanes_per_block;
            int lanes = static_cast<int>(std::min<i64>(lanes_per_block, b.channels - c0));
            if (rows)
                (alpha ? rows_alpha : rows_exp)(b, g, cf, c0, lanes);
            else
                (alpha ? block_alpha : block_exp)(b, g, cf, c0, lanes, xt.data(), xd.data(), yt.data());
        }
    }
}

#define NEUROPERF_INSTANTIATE(T) \
    template void conv_iir<T>(const ConvBatch<T>&, const SpikeKernel&, const ConvGeometry&, int);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
