#include "kernels/convolution.hpp"
#include "kernels/isa.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <fmt/format.h>

#include "neuroperf/error.hpp"

#if NEUROPERF_HAVE_FFTW
#include <fftw3.h>
#endif

namespace neuroperf::kernels {
namespace {

using i64 = std::int64_t;

// Per-operation costs (ns, one thread) behind conv_costs, fitted to single-thread CPU times on
// AMD EPYC Zen 4 (1000 × 10⁴ steps; docs/guide/convolution.md). "scan" is per input sample read
// and per output sample written (memory traffic dominates); "mac" per multiply-add.
struct CostConstants {
    double mac;        // one multiply-add of the direct / scatter inner loops (vectorised axpy)
    double scan;       // reading one input sample or writing one output sample
    double spike;      // per nonzero sample: set-up of its scatter
    double fft;        // per N·log2(N) of one real FFT of size N
    double fft_point;  // per FFT point: spectrum product, padding and copies
    double iir_exp;    // per time step and channel of the first-order recursion (output included)
    double iir_alpha;  // ... of the second-order recursion
    double channel;    // fixed per channel
};
constexpr CostConstants kCostDouble{0.13, 0.36, 4.0, 0.38, 1.0, 0.9, 1.5, 200.0};
constexpr CostConstants kCostFloat{0.06, 0.29, 4.0, 0.25, 0.6, 0.5, 0.9, 200.0};

bool parallel_worth(int threads, i64 channels, double ns_total) {
    return threads > 1 && channels > 1 && ns_total > 2e4;
}

// Threads for a batch: split only when the work pays for waking the team.
int team_size(int threads, i64 channels, double ns_per_channel) {
    double total = ns_per_channel * static_cast<double>(channels);
    if (!parallel_worth(threads, channels, total)) return 1;
    return static_cast<int>(std::min<i64>(threads, channels));
}

// Scratch row of one channel: the input made contiguous, or an output row before scattering.
template <class T>
struct RowBuffers {
    std::vector<T> x, y;
};

template <class T>
const T* contiguous_input(const ConvBatch<T>& b, i64 c, i64 n, std::vector<T>& buf) {
    const T* src = b.x + c * b.x_cs;
    if (b.x_ts == 1) return src;
    buf.resize(static_cast<std::size_t>(n));
    for (i64 t = 0; t < n; ++t) buf[static_cast<std::size_t>(t)] = src[t * b.x_ts];
    return buf.data();
}

template <class T>
T* output_row(const ConvBatch<T>& b, i64 c, i64 len, std::vector<T>& buf) {
    if (b.o_ts == 1) return b.out + c * b.o_cs;
    buf.resize(static_cast<std::size_t>(len));
    return buf.data();
}

template <class T>
void finish_row(const ConvBatch<T>& b, i64 c, i64 len, const T* row) {
    if (b.o_ts == 1) return;
    T* dst = b.out + c * b.o_cs;
    for (i64 j = 0; j < len; ++j) dst[j * b.o_ts] = row[j];
}

// Runs row_fn(x_row, y_row) for every channel, on `team` threads.
template <class T, class RowFn>
void for_each_channel(const ConvBatch<T>& b, const ConvGeometry& g, int team, RowFn row_fn) {
#pragma omp parallel num_threads(team) if (team > 1)
    {
        RowBuffers<T> buf;
#pragma omp for schedule(static)
        for (i64 c = 0; c < b.channels; ++c) {
            const T* x = contiguous_input(b, c, g.n, buf.x);
            T* y = output_row(b, c, g.out_len, buf.y);
            row_fn(x, y);
            finish_row(b, c, g.out_len, y);
        }
    }
}

// The inner loops, compiled per instruction set (GCC picks the clone once, at load time).
#define NEUROPERF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

NEUROPERF_CLONES void axpy_f(i64 len, float a, const float* x, float* y) {
    for (i64 j = 0; j < len; ++j) y[j] += a * x[j];
}
NEUROPERF_CLONES void axpy_d(i64 len, double a, const double* x, double* y) {
    for (i64 j = 0; j < len; ++j) y[j] += a * x[j];
}
inline void axpy(i64 len, float a, const float* x, float* y) { axpy_f(len, a, x, y); }
inline void axpy(i64 len, double a, const double* x, double* y) { axpy_d(len, a, x, y); }

// out[j] = Σ_i h[i]·x[off + j − i] over the taps whose input index is inside [0, n); tiles of
// the output stay in L1 while every tap sweeps them.
template <class T>
void direct_row(const T* x, const T* h, const ConvGeometry& g, T* y) {
    constexpr i64 kTile = 2048;
    const i64 n = g.n, k = g.k, off = g.offset, len = g.out_len;
    for (i64 j0 = 0; j0 < len; j0 += kTile) {
        i64 j1 = std::min(len, j0 + kTile);
        std::fill(y + j0, y + j1, T(0));
        // Taps that reach this tile: input index off + j − i ∈ [0, n) for some j in [j0, j1).
        i64 i_lo = std::max<i64>(0, off + j0 - (n - 1)), i_hi = std::min<i64>(k, off + j1);
        for (i64 i = i_lo; i < i_hi; ++i) {
            i64 lo = std::max(j0, i - off), hi = std::min(j1, n + i - off);
            if (lo < hi) axpy(hi - lo, h[i], x + off - i + lo, y + lo);
        }
    }
}

// Positions of the nonzero samples of x (x != 0 is true for NaN) into pos; returns how many.
// Blocks of 16 are tested at once (one vector compare per block on AVX-512) and only a block
// with a nonzero is walked sample by sample.
template <class T>
__attribute__((always_inline)) inline i64 nonzeros_impl(const T* x, i64 n, i64* pos) {
    // x != 0 ⇔ some bit other than the sign is set (±0 are zero; NaN is not): an integer OR
    // reduction, which GCC vectorises (a chain of floating-point compares it does not).
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr U kMagnitude = ~(U{1} << (8 * sizeof(T) - 1));
    constexpr i64 kBlock = 16;
    i64 m = 0, s = 0;
    for (; s + kBlock <= n; s += kBlock) {
        U bits[kBlock];
        std::memcpy(bits, x + s, sizeof bits);
        U any = 0;
        for (i64 u = 0; u < kBlock; ++u) any |= bits[u];
        if (!(any & kMagnitude)) continue;
        for (i64 u = 0; u < kBlock; ++u)
            if (x[s + u] != T(0)) pos[m++] = s + u;
    }
    for (; s < n; ++s)
        if (x[s] != T(0)) pos[m++] = s;
    return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
// AVX-512: one compare per vector gives a bit mask of the nonzero lanes (unordered ≠, so NaN
// counts), walked with count-trailing-zeros: no branch per sample.
#define NEUROPERF_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,bmi,bmi2")))
NEUROPERF_AVX512 i64 nonzeros_avx512(const float* x, i64 n, i64* pos) {
    i64 m = 0, s = 0;
    const __m512 zero = _mm512_setzero_ps();
    for (; s + 16 <= n; s += 16) {
        unsigned mask = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + s), zero, _CMP_NEQ_UQ);
        for (; mask; mask &= mask - 1) pos[m++] = s + __builtin_ctz(mask);
    }
    for (; s < n; ++s)
        if (x[s] != 0.0f) pos[m++] = s;
    return m;
}
NEUROPERF_AVX512 i64 nonzeros_avx512(const double* x, i64 n, i64* pos) {
    i64 m = 0, s = 0;
    const __m512d zero = _mm512_setzero_pd();
    for (; s + 8 <= n; s += 8) {
        unsigned mask = _mm512_cmp_pd_mask(_mm512_loadu_pd(x + s), zero, _CMP_NEQ_UQ);
        for (; mask; mask &= mask - 1) pos[m++] = s + __builtin_ctz(mask);
    }
    for (; s < n; ++s)
        if (x[s] != 0.0) pos[m++] = s;
    return m;
}
template <class T>
i64 nonzeros(const T* x, i64 n, i64* pos) {
    return kernel_isa() == KernelIsa::avx512 ? nonzeros_avx512(x, n, pos) : nonzeros_impl(x, n, pos);
}
#else
template <class T>
i64 nonzeros(const T* x, i64 n, i64* pos) {
    return nonzeros_impl(x, n, pos);
}
#endif

// For each nonzero x[s], y[s + i − off] += x[s]·h[i]. `pos` has room for n positions.
template <class T>
void event_row(const T* x, const T* h, const ConvGeometry& g, T* y, bool zeroed, std::vector<i64>& pos) {
    const i64 n = g.n, k = g.k, off = g.offset, len = g.out_len;
    if (!zeroed) std::fill(y, y + len, T(0));
    pos.resize(static_cast<std::size_t>(n));
    const i64 m = nonzeros(x, n, pos.data());
    for (i64 q = 0; q < m; ++q) {
        const i64 s = pos[static_cast<std::size_t>(q)];
        i64 i_lo = std::max<i64>(0, off - s), i_hi = std::min<i64>(k, off + len - s);
        if (i_lo < i_hi) axpy(i_hi - i_lo, x[s], h + i_lo, y + s - off + i_lo);
    }
}

// ---------------------------------------------------------------------------- FFT (FFTW3)

#if NEUROPERF_HAVE_FFTW
template <class T>
struct Fftw;
template <>
struct Fftw<double> {
    using plan = fftw_plan;
    using complex = fftw_complex;
    static void* alloc(std::size_t bytes) { return fftw_malloc(bytes); }
    static void free(void* p) { fftw_free(p); }
    static plan r2c(int n, double* in, complex* out) { return fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
    static plan c2r(int n, complex* in, double* out) { return fftw_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
    static void exec_r2c(plan p, double* in, complex* out) { fftw_execute_dft_r2c(p, in, out); }
    static void exec_c2r(plan p, complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
    static void destroy(plan p) { fftw_destroy_plan(p); }
};
template <>
struct Fftw<float> {
    using plan = fftwf_plan;
    using complex = fftwf_complex;
    static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
    static void free(void* p) { fftwf_free(p); }
    static plan r2c(int n, float* in, complex* out) { return fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
    static plan c2r(int n, complex* in, float* out) { return fftwf_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
    static void exec_r2c(plan p, float* in, complex* out) { fftwf_execute_dft_r2c(p, in, out); }
    static void exec_c2r(plan p, complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
    static void destroy(plan p) { fftwf_destroy_plan(p); }
};

// Buffers of E (T or its complex) from the allocator of precision T.
template <class T>
struct FftwDeleter {
    void operator()(void* p) const noexcept { Fftw<T>::free(p); }
};
template <class T, class E>
using FftwBuffer = std::unique_ptr<E[], FftwDeleter<T>>;
template <class T, class E = T>
FftwBuffer<T, E> fftw_buffer(i64 count) {
    auto* p = static_cast<E*>(Fftw<T>::alloc(static_cast<std::size_t>(count) * sizeof(E)));
    if (!p) throw std::bad_alloc();
    return FftwBuffer<T, E>(p);
}

// FFTW's planner is process-wide state and not thread-safe, so plans are made under one lock
// and kept per size for the life of the process (like FFTW wisdom). Executing a plan on new
// arrays (fftw_execute_dft_*) is thread-safe; fftw_malloc gives every buffer the same alignment.
template <class T>
struct PlanPair {
    typename Fftw<T>::plan forward{}, backward{};
};
template <class T>
class PlanCache {
public:
    PlanPair<T> get(int n) {
        std::lock_guard lock(mu_);
        auto it = plans_.find(n);
        if (it != plans_.end()) return it->second;
        auto in = fftw_buffer<T>(n);
        auto out = fftw_buffer<T, typename Fftw<T>::complex>(n / 2 + 1);
        PlanPair<T> p{Fftw<T>::r2c(n, in.get(), out.get()), Fftw<T>::c2r(n, out.get(), in.get())};
        if (!p.forward || !p.backward) throw BackendError(fmt::format("FFTW: could not plan a real FFT of size {}", n));
        plans_.emplace(n, p);
        return p;
    }
    ~PlanCache() {
        for (auto& [n, p] : plans_) Fftw<T>::destroy(p.forward), Fftw<T>::destroy(p.backward);
    }

private:
    std::mutex mu_;
    std::map<int, PlanPair<T>> plans_;
};
template <class T>
PlanCache<T>& plan_cache() {
    static PlanCache<T> cache;
    return cache;
}
#endif

// Smallest 2^a·3^b·5^c·7^d ≥ n: sizes FFTW handles with its fastest codelets.
i64 fft_size(i64 n) {
    i64 best = std::numeric_limits<i64>::max();
    for (i64 p7 = 1; p7 < best && p7 / 2 < n; p7 *= 7)
        for (i64 p5 = p7; p5 < best && p5 / 2 < n; p5 *= 5)
            for (i64 p3 = p5; p3 < best && p3 / 2 < n; p3 *= 3) {
                i64 v = p3;
                while (v < n) v *= 2;
                best = std::min(best, v);
            }
    return best;
}

// ---------------------------------------------------------------------------- recursive filter

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
// extension: AVX-512/AVX2/SSE as the target allows, written once for both types).
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

template <class T, bool Alpha>
void iir_block(const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes,
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

template <class T, bool Alpha>
void iir_rows(const ConvBatch<T>& b, const ConvGeometry& g, const IirCoeffs& cf, i64 c0, int lanes) {
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

// Non-temporal stores for results larger than the last-level cache: writing them through the
// cache first reads every line from memory (read-for-ownership), a third more DRAM traffic than
// the result itself. SSE2 (baseline x86-64), so every clone can use them; 16-byte aligned.
constexpr i64 kStreamBytes = i64{32} << 20;

inline bool stream_output(i64 elements, std::size_t element_size) {
    return elements * static_cast<i64>(element_size) >= kStreamBytes;
}

#if defined(__x86_64__)
inline void stream2(float* p, const float* s) { _mm_stream_ps(p, _mm_loadu_ps(s)); }
inline void stream2(double* p, const double* s) { _mm_stream_pd(p, _mm_loadu_pd(s)); }
inline void stream_fence() { _mm_sfence(); }
constexpr bool kCanStream = true;
#else
inline void stream_fence() {}
constexpr bool kCanStream = false;
#endif

// dst[0, len) = src[0, len), streamed from the first 16-byte boundary of dst.
template <class T>
void stream_row(T* dst, const T* src, i64 len) {
    if constexpr (!kCanStream) {
        std::memcpy(dst, src, static_cast<std::size_t>(len) * sizeof(T));
    } else {
        constexpr i64 per = 16 / static_cast<i64>(sizeof(T));
        i64 j = 0;
        for (; j < len && (reinterpret_cast<std::uintptr_t>(dst + j) & 15) != 0; ++j) dst[j] = src[j];
        for (; j + per <= len; j += per) stream2(dst + j, src + j);
        for (; j < len; ++j) dst[j] = src[j];
    }
}

// The exponential family on time-contiguous rows, vectorised along time. The recursion
// y[t] = a·y[t−1] + u[t], u[t] = b0·x[t] − bL·x[t−L], over a block of W steps is
//   y[t0 + i] = Σ_{j ≤ i} a^{i−j}·u[t0 + j] + a^{i+1}·y[t0 − 1],
// W broadcast-multiply-adds per W outputs; only the scalar carry y[t0 + W − 1] = local[W − 1] +
// a^W·y[t0 − 1] is sequential (one FMA per block instead of one per step). A chunk whose u holds a
// NaN or Inf runs the step-by-step recursion instead, so that the outputs before it stay finite
// (a NaN times a zero coefficient of the block would spread it backwards).
template <class T>
struct ExpRowCoeffs {
    static constexpr int W = 64 / static_cast<int>(sizeof(T));
    alignas(64) T C[W][W];  // C[j][i] = a^{i−j} for i ≥ j, else 0
    alignas(64) T P[W];     // a^{i+1}
    T aW = 0, a = 0, b0 = 0, bL = 0;
};

template <class T>
ExpRowCoeffs<T> exp_row_coeffs(const IirCoeffs& cf) {
    ExpRowCoeffs<T> k{};
    constexpr int W = ExpRowCoeffs<T>::W;
    double pw[W + 1];  // a^i by repeated multiplication in double (≤ W ulps, far below T's)
    pw[0] = 1;
    for (int i = 1; i <= W; ++i) pw[i] = pw[i - 1] * cf.a1;
    for (int j = 0; j < W; ++j)
        for (int i = 0; i < W; ++i) k.C[j][i] = i >= j ? static_cast<T>(pw[i - j]) : T(0);
    for (int i = 0; i < W; ++i) k.P[i] = static_cast<T>(pw[i + 1]);
    k.aW = k.P[W - 1];
    k.a = static_cast<T>(cf.a1), k.b0 = static_cast<T>(cf.b0), k.bL = static_cast<T>(cf.bL);
    return k;
}

template <class T>
__attribute__((always_inline)) inline void iir_exp_row_impl(const T* x, i64 n, i64 L, i64 off, i64 end,
                                                            const ExpRowCoeffs<T>& k, T* out, bool stream) {
    constexpr int W = ExpRowCoeffs<T>::W;
    typedef T V __attribute__((vector_size(64)));
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

NEUROPERF_CLONES void iir_exp_row_f(const float* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<float>& k,
                                    float* out, bool stream) {
    iir_exp_row_impl(x, n, L, off, end, k, out, stream);
}
NEUROPERF_CLONES void iir_exp_row_d(const double* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<double>& k,
                                    double* out, bool stream) {
    iir_exp_row_impl(x, n, L, off, end, k, out, stream);
}
inline void iir_exp_row(const float* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<float>& k, float* out,
                        bool stream) {
    iir_exp_row_f(x, n, L, off, end, k, out, stream);
}
inline void iir_exp_row(const double* x, i64 n, i64 L, i64 off, i64 end, const ExpRowCoeffs<double>& k,
                        double* out, bool stream) {
    iir_exp_row_d(x, n, L, off, end, k, out, stream);
}

template <class T>
void check_batch(const ConvBatch<T>& b, const ConvGeometry& g) {
    if (g.n < 1 || g.k < 1 || g.out_len < 0)
        throw ValueError(fmt::format("convolution: expected n >= 1 and k >= 1, got n={}, k={}", g.n, g.k));
    (void)b;
}

}  // namespace

const char* conv_algorithm_name(ConvAlgorithm a) {
    switch (a) {
        case ConvAlgorithm::direct: return "direct";
        case ConvAlgorithm::event: return "event";
        case ConvAlgorithm::fft: return "fft";
        case ConvAlgorithm::iir: return "iir";
    }
    return "?";
}

ConvGeometry conv_geometry(ConvMode mode, i64 n, i64 k) {
    if (n < 1 || k < 1)
        throw ValueError(fmt::format("convolution: expected non-empty signal and kernel, got lengths {} and {}", n, k));
    i64 m = std::min(n, k), big = std::max(n, k);
    ConvGeometry g{n, k, 0, 0};
    switch (mode) {
        case ConvMode::full: g.offset = 0, g.out_len = n + k - 1; break;
        case ConvMode::same: g.offset = (m - 1) / 2, g.out_len = big; break;
        case ConvMode::valid: g.offset = m - 1, g.out_len = big - m + 1; break;
    }
    return g;
}

std::array<double, kConvAlgorithms> conv_costs(const ConvProblem& p) {
    const CostConstants& c = p.is_double ? kCostDouble : kCostFloat;
    constexpr double inf = std::numeric_limits<double>::infinity();
    ConvGeometry g = conv_geometry(p.mode, p.n, p.k);
    double n = static_cast<double>(p.n), k = static_cast<double>(p.k), len = static_cast<double>(g.out_len);
    double density = std::clamp(p.density, 0.0, 1.0);
    // Multiply-adds that land in the output: at most min(n, len)·k and n·k.
    double macs = std::min(n, len) * std::min(k, len);
    std::array<double, kConvAlgorithms> cost{};
    cost[static_cast<int>(ConvAlgorithm::direct)] = c.channel + macs * c.mac + len * c.scan;
    cost[static_cast<int>(ConvAlgorithm::event)] =
        c.channel + n * c.scan + len * c.scan + density * n * (c.spike + std::min(k, len) * c.mac);
    if (p.fft_available) {
        double N = static_cast<double>(fft_size(p.n + p.k - 1));
        cost[static_cast<int>(ConvAlgorithm::fft)] =
            c.channel + 2 * N * std::log2(N) * c.fft + N * c.fft_point + len * c.scan;
    } else {
        cost[static_cast<int>(ConvAlgorithm::fft)] = inf;
    }
    if (p.family) {
        double steps = static_cast<double>(g.offset + g.out_len);
        double per = p.alpha ? c.iir_alpha : c.iir_exp;
        cost[static_cast<int>(ConvAlgorithm::iir)] = c.channel + steps * per;
    } else {
        cost[static_cast<int>(ConvAlgorithm::iir)] = inf;
    }
    return cost;
}

ConvAlgorithm choose_conv_algorithm(const ConvProblem& p) {
    auto cost = conv_costs(p);
    int best = 0;
    for (int a = 1; a < kConvAlgorithms; ++a)
        if (cost[static_cast<std::size_t>(a)] < cost[static_cast<std::size_t>(best)]) best = a;
    return static_cast<ConvAlgorithm>(best);
}

template <class T>
i64 family_length(const SpikeKernel& kernel) {
    if (!(kernel.tau > 0) || !std::isfinite(kernel.tau))
        throw ValueError(fmt::format("kernel.tau: expected a finite value > 0, got {}", kernel.tau));
    if (!(kernel.dt > 0) || !std::isfinite(kernel.dt))
        throw ValueError(fmt::format("kernel.dt: expected a finite value > 0, got {}", kernel.dt));
    if (kernel.length < 0) throw ValueError(fmt::format("kernel.length: expected >= 0, got {}", kernel.length));
    if (kernel.length > 0) return kernel.length;
    const double eps = std::is_same_v<T, float> ? 1e-7 : 1e-15;
    const double x = kernel.tau / kernel.dt;  // steps per time constant
    double steps;
    if (kernel.family == SpikeKernel::Family::exponential) {
        steps = x * std::log(1 / eps);  // exp(−i/x) < eps
    } else {
        // u·e^{1−u} < eps past the peak (u = i/x > 1): Newton on g(u) = ln u + 1 − u − ln eps.
        double u = 1 - std::log(eps) + std::log(1 - std::log(eps));
        for (int it = 0; it < 50; ++it) u -= (std::log(u) + 1 - u - std::log(eps)) / (1 / u - 1);
        steps = x * u;
    }
    constexpr double kMaxTaps = 2147483648.0;
    if (!(steps < kMaxTaps))
        throw ValueError(fmt::format("kernel: tau/dt = {} needs more than 2^31 taps; give a length", x));
    // First integer index past the threshold, then walk to the exact sample (rounding).
    auto h = [&](i64 i) {
        double u = static_cast<double>(i) / x;
        return kernel.family == SpikeKernel::Family::exponential ? std::exp(-u) : u * std::exp(1 - u);
    };
    i64 L = std::max<i64>(1, static_cast<i64>(std::ceil(steps)));
    while (L > 1 && h(L - 1) < eps && static_cast<double>(L - 1) > x) --L;
    while (h(L) >= eps) ++L;
    return L;
}

std::vector<double> family_taps(const SpikeKernel& kernel, i64 length) {
    std::vector<double> h(static_cast<std::size_t>(length));
    const double a = kernel.dt / kernel.tau;
    for (i64 i = 0; i < length; ++i) {
        double u = static_cast<double>(i) * a;
        h[static_cast<std::size_t>(i)] =
            kernel.family == SpikeKernel::Family::exponential ? std::exp(-u) : u * std::exp(1 - u);
    }
    return h;
}

template <class T>
double sample_density(const ConvBatch<T>& b, i64 n) {
    if (b.channels == 0 || n == 0) return 0;
    constexpr i64 kBudget = 1 << 16;
    i64 ch = std::min<i64>(b.channels, 64);
    i64 per = std::min<i64>(n, std::max<i64>(1, kBudget / ch));
    i64 nonzero = 0;
    for (i64 s = 0; s < ch; ++s) {
        i64 c = s * b.channels / ch;
        i64 t0 = (n - per) * s / std::max<i64>(1, ch - 1);  // spread windows over time as well
        const T* x = b.x + c * b.x_cs + t0 * b.x_ts;
        for (i64 t = 0; t < per; ++t) nonzero += x[t * b.x_ts] != T(0);
    }
    return static_cast<double>(nonzero) / static_cast<double>(ch * per);
}

template <class T>
void conv_direct(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
    ConvProblem p{g.n, g.k, b.channels, ConvMode::full, 1, std::is_same_v<T, double>, false, false, false};
    int team = team_size(threads, b.channels, conv_costs(p)[0]);
    for_each_channel(b, g, team, [&](const T* x, T* y) { direct_row(x, h, g, y); });
}

template <class T>
void conv_event(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
    double per = static_cast<double>(g.n) * 0.1 + static_cast<double>(g.out_len);
    int team = team_size(threads, b.channels, per);
    const bool zeroed = b.out_zeroed && b.o_ts == 1;  // a buffered row is never pre-zeroed
    if (b.o_ts == 1 && kCanStream && stream_output(b.channels * g.out_len, sizeof(T))) {
        // A large result: each row is built in a cached scratch row and streamed out.
#pragma omp parallel num_threads(team) if (team > 1)
        {
            RowBuffers<T> buf;
            std::vector<i64> pos;
            std::vector<T> row(static_cast<std::size_t>(g.out_len));
#pragma omp for schedule(static)
            for (i64 c = 0; c < b.channels; ++c) {
                event_row(contiguous_input(b, c, g.n, buf.x), h, g, row.data(), false, pos);
                stream_row(b.out + c * b.o_cs, row.data(), g.out_len);
            }
            stream_fence();
        }
        return;
    }
    for_each_channel(b, g, team, [&](const T* x, T* y) {
        thread_local std::vector<i64> pos;
        event_row(x, h, g, y, zeroed, pos);
    });
}

template <class T>
void conv_fft(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
#if NEUROPERF_HAVE_FFTW
    using C = typename Fftw<T>::complex;
    const i64 N = fft_size(g.n + g.k - 1), bins = N / 2 + 1;
    if (N > std::numeric_limits<int>::max())
        throw ValueError(fmt::format("convolution: FFT size {} exceeds FFTW's int sizes", N));
    PlanPair<T> plans = plan_cache<T>().get(static_cast<int>(N));
    // The kernel's spectrum, scaled by 1/N (FFTW's transforms are unnormalised).
    auto H = fftw_buffer<T, C>(bins);
    {
        auto hr = fftw_buffer<T>(N);
        std::fill(hr.get(), hr.get() + N, T(0));
        std::copy(h, h + g.k, hr.get());
        Fftw<T>::exec_r2c(plans.forward, hr.get(), H.get());
        const T scale = T(1) / static_cast<T>(N);
        for (i64 f = 0; f < bins; ++f) H[f][0] *= scale, H[f][1] *= scale;
    }
    double per = 2 * static_cast<double>(N) * std::log2(static_cast<double>(N));
    int team = team_size(threads, b.channels, per);
    const C* Hp = H.get();
#pragma omp parallel num_threads(team) if (team > 1)
    {
        auto xr = fftw_buffer<T>(N);
        auto X = fftw_buffer<T, C>(bins);
#pragma omp for schedule(static)
        for (i64 c = 0; c < b.channels; ++c) {
            const T* src = b.x + c * b.x_cs;
            for (i64 t = 0; t < g.n; ++t) xr[t] = src[t * b.x_ts];
            std::fill(xr.get() + g.n, xr.get() + N, T(0));
            Fftw<T>::exec_r2c(plans.forward, xr.get(), X.get());
            for (i64 f = 0; f < bins; ++f) {
                T re = X[f][0] * Hp[f][0] - X[f][1] * Hp[f][1];
                T im = X[f][0] * Hp[f][1] + X[f][1] * Hp[f][0];
                X[f][0] = re, X[f][1] = im;
            }
            Fftw<T>::exec_c2r(plans.backward, X.get(), xr.get());
            T* dst = b.out + c * b.o_cs;
            for (i64 j = 0; j < g.out_len; ++j) dst[j * b.o_ts] = xr[g.offset + j];
        }
    }
#else
    (void)b, (void)h, (void)threads;
    throw NotBuiltError("convolution algorithm \"fft\": neuroperf was built without FFTW (NEUROPERF_WITH_FFTW=OFF)");
#endif
}

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
        const ExpRowCoeffs<T> k = exp_row_coeffs<T>(cf);
        const i64 end = g.offset + g.out_len;
        int team = team_size(threads, b.channels, static_cast<double>(end) * 0.3);
        const bool stream = stream_output(b.channels * g.out_len, sizeof(T));
#pragma omp parallel num_threads(team) if (team > 1)
        {
#pragma omp for schedule(static)
            for (i64 c = 0; c < b.channels; ++c)
                iir_exp_row(b.x + c * b.x_cs, g.n, g.k, g.offset, end, k, b.out + c * b.o_cs, stream);
            if (stream) stream_fence();
        }
        return;
    }
    const int lanes_per_block = rows ? kRowLanes : kLanes;
    const i64 blocks = (b.channels + lanes_per_block - 1) / lanes_per_block;
    double per_block = static_cast<double>(g.offset + g.out_len) * lanes_per_block * (alpha ? 0.4 : 0.25);
    int team = team_size(threads, blocks, per_block);
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
            if (rows && alpha)
                iir_rows<T, true>(b, g, cf, c0, lanes);
            else if (rows)
                iir_rows<T, false>(b, g, cf, c0, lanes);
            else if (alpha)
                iir_block<T, true>(b, g, cf, c0, lanes, xt.data(), xd.data(), yt.data());
            else
                iir_block<T, false>(b, g, cf, c0, lanes, xt.data(), xd.data(), yt.data());
        }
    }
}

bool fft_available() {
#if NEUROPERF_HAVE_FFTW
    return true;
#else
    return false;
#endif
}

template double sample_density<std::uint8_t>(const ConvBatch<std::uint8_t>&, i64);

#define NEUROPERF_INSTANTIATE(T)                                                              \
    template i64 family_length<T>(const SpikeKernel&);                                        \
    template double sample_density<T>(const ConvBatch<T>&, i64);                              \
    template void conv_direct<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);    \
    template void conv_event<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);     \
    template void conv_fft<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);       \
    template void conv_iir<T>(const ConvBatch<T>&, const SpikeKernel&, const ConvGeometry&, int);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
