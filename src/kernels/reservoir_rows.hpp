// The reservoir step's row sums (private to kernels/reservoir*.cpp): dense rows, CSR rows (lane
// loop, hardware gathers, four chains), in the order every variant and the JIT's generated
// code keep, with multiply-adds as core::madd rounds them for the variant.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/simd.hpp"

namespace neuroperf::kernels::rows {

using core::madd;

// ---- row sums -------------------------------------------------------------------------------
// Lanes per partial-sum vector: two 64-byte registers. The order of the additions depends only
// on the row length (never on alignment or threads), so results are reproducible.
template <class T>
inline constexpr int kLanes = 128 / static_cast<int>(sizeof(T));

// Fully unrolled: left as loops, GCC kept acc on the stack and ran the halving through
// store-to-load forwarding, 6 of the 8 µs of an N = 500, D = 1 single step (per row, even when
// acc is all zeros). The additions and their order are unchanged (no multiplies here, so no
// contraction can differ either): the results are the same bits.
template <class T>
NP_INLINE T reduce_lanes(T* acc) {
#pragma GCC unroll 8
    for (int w = kLanes<T> / 2; w >= 1; w /= 2)
#pragma GCC unroll 64
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0];
}

template <Isa V, class T>
NP_INLINE T dot_contiguous(std::int64_t n, const T* a, const T* b) {
    constexpr int L = kLanes<T>;
    T acc[L] = {};
    std::int64_t j = 0;
    for (; j + L <= n; j += L) {
#pragma omp simd
        for (int l = 0; l < L; ++l) acc[l] = madd<V>(a[j + l], b[j + l], acc[l]);
    }
    T s = reduce_lanes<T>(acc);
    for (; j < n; ++j) s = madd<V>(a[j], b[j], s);
    return s;
}

// Entries of a CSR row loop are prefetched this many ahead (into the next rows too) with the
// non-temporal hint, in the avx2 and avx512 variants. Measured on Zen 4, one thread, a 10⁷-entry stream
// gathering from a 40 KB x (N = 10⁴, which no longer fits the 32 KB L1 beside the stream):
// 8.5 → 6.8 ms, medians of 31 interleaved runs; 256 to 1024 entries ahead and the T0 hint all
// measured the same; no change when W fits the L2. Prefetches never fault, so reaching past
// the last row is harmless.
inline constexpr std::int64_t kGatherPrefetch = 512;

#if NP_X86_VARIANTS
// The lane part of dot_csr for the avx512 and avx2 variants: acc[l] += val[e+l]·x[col[e+l]] over
// whole groups of L = 64 bytes of lanes from e while e + L ≤ hi, then the halving tree
// acc[l] += acc[l + w] for w = L/2, ..., 1; returns acc[0] and advances e. The same products,
// fused adds and additions in the same order as the generic lane loop below, so the same bits;
// here the accumulators stay in registers (the array form kept them on the stack, and the tree's
// reloads of lanes just stored as vectors stalled on store forwarding: ~20 ns per row of 16-63
// entries on Zen 4, 6× the row's arithmetic). x[col[…]] by the gather instruction when
// `hw_gather` (W streams from memory: GCC 12 does not turn the element loads into
// vgatherdps/pd, and 16-bit indices it can only emulate; widened with vpmovzxwd here), by
// element loads otherwise. A real call (dot_csr itself has no target attribute, so this cannot
// be inlined into it): only rows of ≥ 16 (float) / 8 (double) entries get here. Entries
// prefetched as kGatherPrefetch says.
template <class T, class I>
NP_TARGET_AVX2 T lane_sum_avx2(std::int64_t& e_io, std::int64_t hi, const I* col, const T* val, const T* x, bool hw_gather);

template <class T, class I>
NP_TARGET_AVX512 T lane_sum_avx512(std::int64_t& e_io, std::int64_t hi, const I* col, const T* val, const T* x, bool hw_gather) {
    static_assert(sizeof(I) == 2 || sizeof(I) == 4);
    // Element loads build two 256-bit halves faster than one 512-bit vector (16 inserts into a
    // zmm: N = 2000, d = 0.1 steps 1.2× slower on Zen 4), and the halves' tree is the same: that
    // case is the AVX2 loop's, this one only gathers.
    if (!hw_gather) return lane_sum_avx2<T, I>(e_io, hi, col, val, x, false);
    std::int64_t e = e_io;
    T s;
    if constexpr (std::is_same_v<T, float>) {
        __m512 a = _mm512_setzero_ps();
        for (; e + 16 <= hi; e += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(val + e + kGatherPrefetch), _MM_HINT_NTA);
            _mm_prefetch(reinterpret_cast<const char*>(col + e + kGatherPrefetch), _MM_HINT_NTA);
            // The masked forms with a zero source: the unmasked ones start from
            // _mm512_undefined_*, which GCC 12 reports as maybe-uninitialized.
            __m512i ci;
            if constexpr (sizeof(I) == 2)
                ci = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + e)));
            else
                ci = _mm512_loadu_si512(col + e);
            const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, ci, x, 4);
            a = _mm512_fmadd_ps(_mm512_loadu_ps(val + e), xv, a);
        }
        // Both halves by the masked extract: GCC 12 builds the 512 → 256 casts and the unmasked
        // extract from _mm256_undefined_pd and warns (maybe-uninitialized).
        const __m256 h8 = _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, _mm512_castps_pd(a), 0)), _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xFF, _mm512_castps_pd(a), 1)));
        const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
        const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
        s = _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
    } else {
        __m512d a = _mm512_setzero_pd();
        for (; e + 8 <= hi; e += 8) {
            _mm_prefetch(reinterpret_cast<const char*>(val + e + kGatherPrefetch), _MM_HINT_NTA);
            _mm_prefetch(reinterpret_cast<const char*>(col + e + kGatherPrefetch), _MM_HINT_NTA);
            __m256i ci;
            if constexpr (sizeof(I) == 2)
                ci = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + e)));
            else
                ci = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + e));
            const __m512d xv = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), 0xFF, ci, x, 8);
            a = _mm512_fmadd_pd(_mm512_loadu_pd(val + e), xv, a);
        }
        const __m256d h4 = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xFF, a, 0), _mm512_maskz_extractf64x4_pd(0xFF, a, 1));
        const __m128d h2 = _mm_add_pd(_mm256_castpd256_pd128(h4), _mm256_extractf128_pd(h4, 1));
        s = _mm_cvtsd_f64(_mm_add_sd(h2, _mm_unpackhi_pd(h2, h2)));
    }
    e_io = e;
    return s;
}

// The same 64 bytes of lanes as two 256-bit halves: lanes [0, L/2) in a0 and [L/2, L) in a1, each
// gathered with one vgatherdps/pd of 8 (float) or 4 (double) lanes; the tree's first halving is
// a0 + a1.
template <class T, class I>
NP_TARGET_AVX2 T lane_sum_avx2(std::int64_t& e_io, std::int64_t hi, const I* col, const T* val, const T* x, bool hw_gather) {
    static_assert(sizeof(I) == 2 || sizeof(I) == 4);
    std::int64_t e = e_io;
    T s;
    if constexpr (std::is_same_v<T, float>) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        const __m256 ones = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for (; e + 16 <= hi; e += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(val + e + kGatherPrefetch), _MM_HINT_NTA);
            _mm_prefetch(reinterpret_cast<const char*>(col + e + kGatherPrefetch), _MM_HINT_NTA);
            __m256 x0, x1;
            if (hw_gather) {
                __m256i c0, c1;
                if constexpr (sizeof(I) == 2) {
                    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + e));
                    c0 = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(w));
                    c1 = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(w, 1));
                } else {
                    c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + e));
                    c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + e + 8));
                }
                // The masked forms with a zero source, as in the AVX-512 loop.
                x0 = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, c0, ones, 4);
                x1 = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, c1, ones, 4);
            } else {
                const I* c = col + e;
                x0 = _mm256_setr_ps(x[c[0]], x[c[1]], x[c[2]], x[c[3]], x[c[4]], x[c[5]], x[c[6]], x[c[7]]);
                x1 = _mm256_setr_ps(x[c[8]], x[c[9]], x[c[10]], x[c[11]], x[c[12]], x[c[13]], x[c[14]], x[c[15]]);
            }
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + e), x0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + e + 8), x1, a1);
        }
        const __m256 h8 = _mm256_add_ps(a0, a1);
        const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
        const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
        s = _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
    } else {
        __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
        const __m256d ones = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
        for (; e + 8 <= hi; e += 8) {
            _mm_prefetch(reinterpret_cast<const char*>(val + e + kGatherPrefetch), _MM_HINT_NTA);
            _mm_prefetch(reinterpret_cast<const char*>(col + e + kGatherPrefetch), _MM_HINT_NTA);
            __m256d x0, x1;
            if (hw_gather) {
                __m128i c0, c1;
                if constexpr (sizeof(I) == 2) {
                    const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + e));
                    c0 = _mm_cvtepu16_epi32(w);
                    c1 = _mm_cvtepu16_epi32(_mm_srli_si128(w, 8));
                } else {
                    c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + e));
                    c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + e + 4));
                }
                x0 = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), x, c0, ones, 8);
                x1 = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), x, c1, ones, 8);
            } else {
                const I* c = col + e;
                x0 = _mm256_setr_pd(x[c[0]], x[c[1]], x[c[2]], x[c[3]]);
                x1 = _mm256_setr_pd(x[c[4]], x[c[5]], x[c[6]], x[c[7]]);
            }
            a0 = _mm256_fmadd_pd(_mm256_loadu_pd(val + e), x0, a0);
            a1 = _mm256_fmadd_pd(_mm256_loadu_pd(val + e + 4), x1, a1);
        }
        const __m256d h4 = _mm256_add_pd(a0, a1);
        const __m128d h2 = _mm_add_pd(_mm256_castpd256_pd128(h4), _mm256_extractf128_pd(h4, 1));
        s = _mm_cvtsd_f64(_mm_add_sd(h2, _mm_unpackhi_pd(h2, h2)));
    }
    e_io = e;
    return s;
}
#endif

// Row of a CSR matrix times x in a fixed order. Long rows: 64-byte lanes of gathered products
// (AVX-512 gathers: 2× faster than scalar loads at 200 and 1000 entries per row, measured on
// Zen 4); the rest, and short rows, in four independent chains (2× faster than one chain or
// eight at 5 entries per row).
template <Isa V, class T, class I>
NP_INLINE T dot_csr(std::int64_t lo, std::int64_t hi, const I* col, const T* val, const T* x, bool hw_gather = false) {
    constexpr int L = kLanes<T> / 2;
    T s = T(0);
    std::int64_t e = lo;
    if (hi - lo >= L) {
#if NP_X86_VARIANTS
        if constexpr (V == Isa::avx512) s = lane_sum_avx512<T, I>(e, hi, col, val, x, hw_gather);
        else if constexpr (V == Isa::avx2) s = lane_sum_avx2<T, I>(e, hi, col, val, x, hw_gather);
        else
#endif
        {
            (void)hw_gather;
            T acc[L] = {};
            for (; e + L <= hi; e += L) {
#pragma omp simd
                for (int l = 0; l < L; ++l) acc[l] = madd<V>(val[e + l], x[col[e + l]], acc[l]);
            }
#pragma GCC unroll 8
            for (int w = L / 2; w >= 1; w /= 2)
#pragma GCC unroll 64
                for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
            s = acc[0];
        }
    }
    T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
    for (; e + 4 <= hi; e += 4) {
        s0 = madd<V>(val[e], x[col[e]], s0);
        s1 = madd<V>(val[e + 1], x[col[e + 1]], s1);
        s2 = madd<V>(val[e + 2], x[col[e + 2]], s2);
        s3 = madd<V>(val[e + 3], x[col[e + 3]], s3);
    }
    for (; e < hi; ++e) s0 = madd<V>(val[e], x[col[e]], s0);
    return s + ((s0 + s1) + (s2 + s3));
}

}  // namespace neuroperf::kernels::rows
