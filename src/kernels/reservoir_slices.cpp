// The sliced row sums of short CSR rows (kernels/reservoir_slices.hpp).
#include "kernels/reservoir_slices.hpp"

#include <algorithm>
#include <utility>

#include "core/simd.hpp"
#include "kernels/reservoir_rows.hpp"

namespace neuroperf::kernels {
namespace {

using namespace rows;

#if NP_X86_VARIANTS
// One slice of kSliceRows rows of `k` entries each: chain j % 4 for the entries of the whole
// groups of four, chain 0 for the tail (dot_csr's four chains), then 0 + ((c0 + c1) + (c2 + c3))
// as dot_csr returns it (the leading 0 turns a −0 sum into +0 there too).
// x at the columns of entry j of a slice's lanes, and the matching values. The masked gathers
// with a zero source: the unmasked ones start from _mm256_undefined_*, which GCC 12 reports as
// maybe-uninitialized.
NP_TARGET_AVX2 inline __m256 gathered(const std::int32_t* col, const float* x, std::int64_t j) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + j * kSliceRows));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, idx, _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4);
}
NP_TARGET_AVX2 inline __m256d gathered(const std::int32_t* col, const double* x, std::int64_t j) {
    const __m128i idx = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + j * kSliceRows));
    return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), x, idx, _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8);
}
NP_TARGET_AVX2 inline __m256 values(const float* val, std::int64_t j) { return _mm256_loadu_ps(val + j * kSliceRows); }
NP_TARGET_AVX2 inline __m256d values(const double* val, std::int64_t j) { return _mm256_loadu_pd(val + j * kSliceRows); }
NP_TARGET_AVX2 inline __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
NP_TARGET_AVX2 inline __m256d fma(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
NP_TARGET_AVX2 inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
NP_TARGET_AVX2 inline __m256d add(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
NP_TARGET_AVX2 inline void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
NP_TARGET_AVX2 inline void store(double* p, __m256d v) { _mm256_storeu_pd(p, v); }

// Lanes [h, h + 32/sizeof(T)) of a slice of rows with k entries each: chain j % 4 for the
// entries of the whole groups of four, chain 0 for the tail (dot_csr's four chains), then
// 0 + ((c0 + c1) + (c2 + c3)) as dot_csr returns it (the leading 0 turns a −0 sum into +0 there
// too).
template <class T, class Vec>
NP_TARGET_AVX2 inline void slice_part(std::int64_t k, const std::int32_t* col, const T* val, const T* x, T* out) {
    const Vec zero{};
    Vec c0 = zero, c1 = zero, c2 = zero, c3 = zero;
    std::int64_t j = 0;
    for (; j + 4 <= k; j += 4) {
        const Vec g0 = gathered(col, x, j), g1 = gathered(col, x, j + 1), g2 = gathered(col, x, j + 2), g3 = gathered(col, x, j + 3);
        c0 = fma(values(val, j), g0, c0);
        c1 = fma(values(val, j + 1), g1, c1);
        c2 = fma(values(val, j + 2), g2, c2);
        c3 = fma(values(val, j + 3), g3, c3);
    }
    for (; j < k; ++j) c0 = fma(values(val, j), gathered(col, x, j), c0);
    store(out, add(zero, add(add(c0, c1), add(c2, c3))));
}

NP_TARGET_AVX2 void slice_sums(std::int64_t k, const std::int32_t* col, const float* val, const float* x, float* out) {
    slice_part<float, __m256>(k, col, val, x, out);
}
// Double: the slice's 8 rows in two halves of 4 lanes.
NP_TARGET_AVX2 void slice_sums(std::int64_t k, const std::int32_t* col, const double* val, const double* x, double* out) {
    slice_part<double, __m256d>(k, col, val, x, out);
    slice_part<double, __m256d>(k, col + 4, val + 4, x, out + 4);
}
#endif

// The rows of `s`: its slices (with the gathers), then the rest through dot_csr.
template <Isa V, class T>
NP_INLINE void sums_body(const CsrSlices<T>& s, const CsrRows<T>& w, const T* x, T* rs) {
#if NP_X86_VARIANTS
    if constexpr (V != Isa::generic) {
        alignas(64) T out[kSliceRows];
        for (std::int64_t q = 0; q < s.slices; ++q) {
            const std::int64_t b = s.start[static_cast<std::size_t>(q)];
            const std::int32_t* r = s.rows.data() + q * kSliceRows;
            // Consecutive rows (grouping by length keeps the order): the sums go straight to rs.
            const bool run = r[kSliceRows - 1] - r[0] == kSliceRows - 1;
            slice_sums(s.length[static_cast<std::size_t>(q)], s.cols.data() + b, s.vals.data() + b, x, run ? rs + r[0] : out);
            if (!run)
                for (int l = 0; l < kSliceRows; ++l) rs[r[l]] = out[l];
        }
    }
#endif
    const std::int64_t* rp = w.row_ptr;
    for (const std::int32_t i : s.rest) {
        rs[i] = w.col16 ? dot_csr<V>(rp[i], rp[i + 1], w.col16, w.values, x, w.hw_gather)
                        : dot_csr<V>(rp[i], rp[i + 1], w.col_idx, w.values, x, w.hw_gather);
    }
}
NP_ISA_VARIANTS((template <class T>), void, sums, (const CsrSlices<T>& s, const CsrRows<T>& w, const T* x, T* rs), (s, w, x, rs), T)

}  // namespace

template <class T>
bool build_csr_slices(const CsrRows<T>& w, std::int64_t n, CsrSlices<T>& s) {
    constexpr std::int64_t kShort = kLanes<T> / 2;  // dot_csr's lane loop takes rows this long
    const std::int64_t* rp = w.row_ptr;
    std::vector<std::int32_t> by_length[kShort];
    s.rest.clear();
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t len = rp[i + 1] - rp[i];
        if (len < kShort) by_length[len].push_back(static_cast<std::int32_t>(i));
        else s.rest.push_back(static_cast<std::int32_t>(i));
    }
    s.slices = 0;
    s.rows.clear(), s.length.clear(), s.start.clear(), s.cols.clear(), s.vals.clear();
    for (std::int64_t len = 0; len < kShort; ++len) {
        const auto& group = by_length[len];
        const std::size_t whole = group.size() / kSliceRows * kSliceRows;
        for (std::size_t g = 0; g < whole; g += kSliceRows) {
            s.start.push_back(static_cast<std::int64_t>(s.cols.size()));
            s.length.push_back(static_cast<std::int32_t>(len));
            for (int l = 0; l < kSliceRows; ++l) s.rows.push_back(group[g + static_cast<std::size_t>(l)]);
            for (std::int64_t j = 0; j < len; ++j)
                for (int l = 0; l < kSliceRows; ++l) {
                    const std::int64_t e = rp[group[g + static_cast<std::size_t>(l)]] + j;
                    s.cols.push_back(w.col16 ? static_cast<std::int32_t>(w.col16[e]) : w.col_idx[e]);
                    s.vals.push_back(w.values[e]);
                }
            ++s.slices;
        }
        s.rest.insert(s.rest.end(), group.begin() + static_cast<std::ptrdiff_t>(whole), group.end());
    }
    std::sort(s.rest.begin(), s.rest.end());
    return s.slices * kSliceRows * 2 >= n;
}

template <class T>
void sliced_row_sums(Isa isa, const CsrSlices<T>& s, const CsrRows<T>& w, const T* x, T* rs) {
    static constexpr core::IsaTable<void (*)(const CsrSlices<T>&, const CsrRows<T>&, const T*, T*)> kSums =
        NP_ISA_TABLE(sums, <T>);
    kSums[isa](s, w, x, rs);
}

#define NEUROPERF_INSTANTIATE(T)                                                             \
    template bool build_csr_slices<T>(const CsrRows<T>&, std::int64_t, CsrSlices<T>&);       \
    template void sliced_row_sums<T>(Isa, const CsrSlices<T>&, const CsrRows<T>&, const T*, T*);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
