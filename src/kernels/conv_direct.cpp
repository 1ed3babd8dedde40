// Direct convolution (tiled axpy of the taps) and the event-driven scatter of nonzero samples.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/conv_rows.hpp"
#include "kernels/isa.hpp"

namespace neuroperf::kernels {
namespace {

using namespace conv;

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

}  // namespace

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

#define NEUROPERF_INSTANTIATE(T) \
    template void conv_direct<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int); \
    template void conv_event<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
