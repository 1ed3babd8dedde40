// Direct convolution (tiled axpy of the taps) and the event-driven scatter of nonzero samples,
// each row function in the three ISA variants (core/simd.hpp; the avx2 and avx512 ones fuse
// y += a·x, generic does not).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/simd.hpp"
#include "kernels/conv_rows.hpp"

namespace neuroperf::kernels {
namespace {

using namespace conv;

template <Isa V, class T>
NP_INLINE void axpy(i64 len, T a, const T* x, T* y) {
    for (i64 j = 0; j < len; ++j) y[j] = core::madd<V>(a, x[j], y[j]);
}

// out[j] = Σ_i h[i]·x[off + j − i] over the taps whose input index is inside [0, n); tiles of
// the output stay in L1 while every tap sweeps them.
template <Isa V, class T>
NP_INLINE void direct_row_body(const T* x, const T* h, const ConvGeometry& g, T* y) {
    constexpr i64 kTile = 2048;
    const i64 n = g.n, k = g.k, off = g.offset, len = g.out_len;
    for (i64 j0 = 0; j0 < len; j0 += kTile) {
        i64 j1 = std::min(len, j0 + kTile);
        for (i64 j = j0; j < j1; ++j) y[j] = T(0);
        // Taps that reach this tile: input index off + j − i ∈ [0, n) for some j in [j0, j1).
        i64 i_lo = std::max<i64>(0, off + j0 - (n - 1)), i_hi = std::min<i64>(k, off + j1);
        for (i64 i = i_lo; i < i_hi; ++i) {
            i64 lo = std::max(j0, i - off), hi = std::min(j1, n + i - off);
            if (lo < hi) axpy<V>(hi - lo, h[i], x + off - i + lo, y + lo);
        }
    }
}
NP_ISA_VARIANTS((template <class T>), void, direct_row, (const T* x, const T* h, const ConvGeometry& g, T* y), (x, h, g, y), T)

// Positions of the nonzero samples of x (x != 0 is true for NaN) into pos; returns how many.
// Blocks of 16 are tested at once (one vector compare per block on AVX-512) and only a block
// with a nonzero is walked sample by sample.
template <class T>
NP_INLINE i64 nonzeros_generic(const T* x, i64 n, i64* pos) {
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

#if NP_X86_VARIANTS
// One compare per vector gives a bit mask of the nonzero lanes (unordered ≠, so NaN counts),
// walked with count-trailing-zeros: no branch per sample. AVX-512 compares into a mask
// register, AVX2 into a vector whose sign bits movemask collects.
NP_TARGET_AVX512 i64 nonzeros_avx512(const float* x, i64 n, i64* pos) {
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
NP_TARGET_AVX512 i64 nonzeros_avx512(const double* x, i64 n, i64* pos) {
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
NP_TARGET_AVX2 i64 nonzeros_avx2(const float* x, i64 n, i64* pos) {
    i64 m = 0, s = 0;
    const __m256 zero = _mm256_setzero_ps();
    for (; s + 16 <= n; s += 16) {  // two vectors per test: the common all-zero block costs one branch
        const unsigned lo = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + s), zero, _CMP_NEQ_UQ)));
        const unsigned hi = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + s + 8), zero, _CMP_NEQ_UQ)));
        for (unsigned mask = lo | hi << 8; mask; mask &= mask - 1) pos[m++] = s + __builtin_ctz(mask);
    }
    for (; s < n; ++s)
        if (x[s] != 0.0f) pos[m++] = s;
    return m;
}
NP_TARGET_AVX2 i64 nonzeros_avx2(const double* x, i64 n, i64* pos) {
    i64 m = 0, s = 0;
    const __m256d zero = _mm256_setzero_pd();
    for (; s + 8 <= n; s += 8) {
        const unsigned lo = static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + s), zero, _CMP_NEQ_UQ)));
        const unsigned hi = static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + s + 4), zero, _CMP_NEQ_UQ)));
        for (unsigned mask = lo | hi << 4; mask; mask &= mask - 1) pos[m++] = s + __builtin_ctz(mask);
    }
    for (; s < n; ++s)
        if (x[s] != 0.0) pos[m++] = s;
    return m;
}
#endif

template <Isa V, class T>
NP_INLINE i64 nonzeros(const T* x, i64 n, i64* pos) {
#if NP_X86_VARIANTS
    if constexpr (V == Isa::avx512) return nonzeros_avx512(x, n, pos);
    if constexpr (V == Isa::avx2) return nonzeros_avx2(x, n, pos);
#endif
    return nonzeros_generic(x, n, pos);
}

// For each nonzero x[s], y[s + i − off] += x[s]·h[i]. `pos` has room for n positions.
template <Isa V, class T>
NP_INLINE void event_row_body(const T* x, const T* h, const ConvGeometry& g, T* y, bool zeroed, i64* pos) {
    const i64 n = g.n, k = g.k, off = g.offset, len = g.out_len;
    if (!zeroed)
        for (i64 j = 0; j < len; ++j) y[j] = T(0);
    const i64 m = nonzeros<V>(x, n, pos);
    for (i64 q = 0; q < m; ++q) {
        const i64 s = pos[q];
        i64 i_lo = std::max<i64>(0, off - s), i_hi = std::min<i64>(k, off + len - s);
        if (i_lo < i_hi) axpy<V>(i_hi - i_lo, x[s], h + i_lo, y + s - off + i_lo);
    }
}
NP_ISA_VARIANTS((template <class T>), void, event_row, (const T* x, const T* h, const ConvGeometry& g, T* y, bool zeroed, i64* pos),
                (x, h, g, y, zeroed, pos), T)

template <class T>
using DirectRowFn = void (*)(const T*, const T*, const ConvGeometry&, T*);
template <class T>
using EventRowFn = void (*)(const T*, const T*, const ConvGeometry&, T*, bool, i64*);
template <class T>
constexpr core::IsaTable<DirectRowFn<T>> kDirectRow = NP_ISA_TABLE(direct_row, <T>);
template <class T>
constexpr core::IsaTable<EventRowFn<T>> kEventRow = NP_ISA_TABLE(event_row, <T>);

}  // namespace

template <class T>
void conv_direct(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
    ConvProblem p{g.n, g.k, b.channels, ConvMode::full, 1, std::is_same_v<T, double>, false, false, false};
    int team = team_size(threads, b.channels, conv_costs(p)[0]);
    const DirectRowFn<T> row = kDirectRow<T>[b.isa];  // chosen here, on the calling thread
    for_each_channel(b, g, team, [&](const T* x, T* y) { row(x, h, g, y); });
}

template <class T>
void conv_event(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
    double per = static_cast<double>(g.n) * 0.1 + static_cast<double>(g.out_len);
    int team = team_size(threads, b.channels, per);
    const bool zeroed = b.out_zeroed && b.o_ts == 1;  // a buffered row is never pre-zeroed
    const EventRowFn<T> event_row = kEventRow<T>[b.isa];
    if (b.o_ts == 1 && kCanStream && stream_output(b.channels * g.out_len, sizeof(T))) {
        // A large result: each row is built in a cached scratch row and streamed out.
#pragma omp parallel num_threads(team) if (team > 1)
        {
            RowBuffers<T> buf;
            std::vector<i64> pos(static_cast<std::size_t>(g.n));
            std::vector<T> row(static_cast<std::size_t>(g.out_len));
#pragma omp for schedule(static)
            for (i64 c = 0; c < b.channels; ++c) {
                event_row(contiguous_input(b, c, g.n, buf.x), h, g, row.data(), false, pos.data());
                stream_row(b.out + c * b.o_cs, row.data(), g.out_len);
            }
            stream_fence();
        }
        return;
    }
    for_each_channel(b, g, team, [&](const T* x, T* y) {
        thread_local std::vector<i64> pos;
        pos.resize(static_cast<std::size_t>(g.n));
        event_row(x, h, g, y, zeroed, pos.data());
    });
}

#define NEUROPERF_INSTANTIATE(T) \
    template void conv_direct<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int); \
    template void conv_event<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
