// Short CSR rows regrouped for the avx2 and avx512 variants (private to kernels/reservoir*.cpp):
// rows with fewer entries than the lane loop takes are grouped by length into slices of
// kSliceRows, and each slice's entries are transposed — entry j of its rows side by side — so
// that one vector load gives kSliceRows rows' j-th values and columns and one gather their x.
// Each row's sum keeps dot_csr's order (four chains, the tail into the first), so the results
// are dot_csr's bits. A reservoir sequence builds the slices once per call (the values are read
// then: a CsrMatrix's values may change between calls).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/reservoir.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf::kernels {

inline constexpr int kSliceRows = 8;

template <class T>
struct CsrSlices {
    std::int64_t slices = 0;
    std::vector<std::int32_t> rows;    ///< kSliceRows per slice: the rows, in the matrix's numbering
    std::vector<std::int32_t> length;  ///< per slice: the entries of each of its rows
    std::vector<std::int64_t> start;   ///< per slice: where its entries begin in cols / vals
    std::vector<std::int32_t> cols;    ///< entry j of row l of slice s at start[s] + j·kSliceRows + l
    std::vector<T> vals;
    std::vector<std::int32_t> rest;    ///< the rows in no slice (long rows, leftovers), ascending
};

/// Builds `s` from the first n rows of `w` (its col_idx, or col16 when set). False, `s` then
/// unusable, when fewer than half the rows land in slices (the scalar rows are as fast there).
template <class T>
bool build_csr_slices(const CsrRows<T>& w, std::int64_t n, CsrSlices<T>& s);

/// rs[i] = row i of w times x for every row of `s` (slices and rest), on variant `isa` (avx2 or
/// avx512: the gathers): the bits dot_csr gives.
template <class T>
void sliced_row_sums(Isa isa, const CsrSlices<T>& s, const CsrRows<T>& w, const T* x, T* rs);

}  // namespace neuroperf::kernels
