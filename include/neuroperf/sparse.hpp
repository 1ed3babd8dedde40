// Compressed sparse row (CSR) matrices, the storage of sparse reservoirs and synapses.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "neuroperf/array.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

/// CSR matrix of T with 64-bit row pointers and 32-bit column indices (scipy.sparse layout with
/// int64 indptr). Invariants, checked by validate(): row_ptr has rows+1 non-decreasing entries
/// from 0 to nnz; every column index is in [0, cols); within a row, columns strictly increase.
template <class T>
class NEUROPERF_API CsrMatrix {
public:
    CsrMatrix() = default;
    /// Empty rows×cols matrix (no stored entries).
    CsrMatrix(index_t rows, index_t cols);
    /// Takes ownership of the three arrays after validating them (throws ShapeError/ValueError).
    CsrMatrix(index_t rows, index_t cols, std::vector<std::int64_t> row_ptr,
              std::vector<std::int32_t> col_idx, std::vector<T> values);

    /// Stored entries of `dense` whose value is not zero (NaN is stored).
    static CsrMatrix from_dense(ArrayView<const T> dense);
    /// Dense rows×cols array with the stored entries (duplicates impossible by invariant).
    Array<T> to_dense() const;

    index_t rows() const { return rows_; }
    index_t cols() const { return cols_; }
    index_t nnz() const { return static_cast<index_t>(values_.size()); }
    double density() const;

    std::span<const std::int64_t> row_ptr() const { return row_ptr_; }
    std::span<const std::int32_t> col_idx() const { return col_idx_; }
    std::span<const T> values() const { return values_; }
    std::span<T> values() { return values_; }

    /// The column indices narrowed to 16 bits when cols() ≤ 65536 (empty span otherwise, and
    /// for a moved-from matrix). Computed on the first call (one pass over col_idx, nnz·2 bytes
    /// kept with the matrix) and reused: the indices never change after construction, and copies
    /// share the cache. Thread-safe. Used by MKLOptimizer::run_reservoir (16-bit index streams).
    std::span<const std::uint16_t> col_idx16() const;

    /// y = A·x (naive, reference-quality); shapes checked.
    void multiply(ArrayView<const T> x, ArrayView<T> y) const;

    /// Throws ShapeError/ValueError describing the first violated invariant.
    void validate() const;

private:
    index_t rows_ = 0, cols_ = 0;
    std::vector<std::int64_t> row_ptr_{0};
    std::vector<std::int32_t> col_idx_;
    std::vector<T> values_;
    struct Narrow;  // the col_idx16() cache, shared by copies
    static std::shared_ptr<Narrow> make_narrow();
    std::shared_ptr<Narrow> narrow_ = make_narrow();
};

}  // namespace neuroperf
