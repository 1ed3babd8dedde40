#include "neuroperf/sparse.hpp"

#include <cmath>
#include <limits>
#include <mutex>

#include <fmt/format.h>

namespace neuroperf {

template <class T>
CsrMatrix<T>::CsrMatrix(index_t rows, index_t cols) : rows_(rows), cols_(cols), row_ptr_(static_cast<std::size_t>(std::max<index_t>(rows, 0)) + 1, 0) {
    validate();
}

template <class T>
CsrMatrix<T>::CsrMatrix(index_t rows, index_t cols, std::vector<std::int64_t> row_ptr,
                        std::vector<std::int32_t> col_idx, std::vector<T> values)
    : rows_(rows), cols_(cols), row_ptr_(std::move(row_ptr)), col_idx_(std::move(col_idx)), values_(std::move(values)) {
    validate();
}

template <class T>
struct CsrMatrix<T>::Narrow {
    std::once_flag once;
    std::vector<std::uint16_t> idx;
};

template <class T>
std::shared_ptr<typename CsrMatrix<T>::Narrow> CsrMatrix<T>::make_narrow() {
    return std::make_shared<Narrow>();
}

template <class T>
std::span<const std::uint16_t> CsrMatrix<T>::col_idx16() const {
    if (!narrow_ || cols_ > 65536) return {};
    Narrow& n = *narrow_;
    // call_once: concurrent first calls wait for one narrowing; a throw (bad_alloc) leaves the
    // flag unset, so a later call retries.
    std::call_once(n.once, [&] {
        std::vector<std::uint16_t> out(col_idx_.size());
        for (std::size_t e = 0; e < col_idx_.size(); ++e) out[e] = static_cast<std::uint16_t>(col_idx_[e]);
        n.idx = std::move(out);
    });
    return {n.idx.data(), n.idx.size()};
}

template <class T>
void CsrMatrix<T>::validate() const {
    if (rows_ < 0 || cols_ < 0)
        throw ShapeError(fmt::format("CsrMatrix: expected non-negative shape, got ({}, {})", rows_, cols_));
    if (cols_ > std::numeric_limits<std::int32_t>::max())
        throw ShapeError(fmt::format("CsrMatrix: cols must fit 32-bit column indices, got {}", cols_));
    if (static_cast<index_t>(row_ptr_.size()) != rows_ + 1)
        throw ShapeError(fmt::format("CsrMatrix: row_ptr expected {} entries (rows+1), got {}", rows_ + 1, row_ptr_.size()));
    if (col_idx_.size() != values_.size())
        throw ShapeError(fmt::format("CsrMatrix: col_idx has {} entries but values has {}", col_idx_.size(), values_.size()));
    if (row_ptr_.front() != 0 || row_ptr_.back() != static_cast<std::int64_t>(values_.size()))
        throw ValueError(fmt::format("CsrMatrix: row_ptr expected to run from 0 to nnz={}, got {}..{}",
                                     values_.size(), row_ptr_.front(), row_ptr_.back()));
    for (index_t r = 0; r < rows_; ++r) {
        auto lo = row_ptr_[static_cast<std::size_t>(r)], hi = row_ptr_[static_cast<std::size_t>(r) + 1];
        if (hi < lo)
            throw ValueError(fmt::format("CsrMatrix: row_ptr must be non-decreasing, row {} has {} > {}", r, lo, hi));
        for (auto e = lo; e < hi; ++e) {
            auto c = col_idx_[static_cast<std::size_t>(e)];
            if (c < 0 || c >= cols_)
                throw ValueError(fmt::format("CsrMatrix: column index {} in row {} outside [0, {})", c, r, cols_));
            if (e > lo && c <= col_idx_[static_cast<std::size_t>(e) - 1])
                throw ValueError(fmt::format("CsrMatrix: columns of row {} must strictly increase, got {} after {}",
                                             r, c, col_idx_[static_cast<std::size_t>(e) - 1]));
        }
    }
}

template <class T>
CsrMatrix<T> CsrMatrix<T>::from_dense(ArrayView<const T> dense) {
    if (dense.rank() != 2)
        throw ShapeError(fmt::format("from_dense: expected a rank-2 array, got rank {}", dense.rank()));
    std::vector<std::int64_t> ptr{0};
    std::vector<std::int32_t> idx;
    std::vector<T> val;
    for (index_t i = 0; i < dense.shape(0); ++i) {
        for (index_t j = 0; j < dense.shape(1); ++j) {
            T v = dense(i, j);
            if (v != T(0) || std::isnan(v)) {
                idx.push_back(static_cast<std::int32_t>(j));
                val.push_back(v);
            }
        }
        ptr.push_back(static_cast<std::int64_t>(val.size()));
    }
    return CsrMatrix(dense.shape(0), dense.shape(1), std::move(ptr), std::move(idx), std::move(val));
}

template <class T>
Array<T> CsrMatrix<T>::to_dense() const {
    Array<T> out({rows_, cols_});
    for (index_t r = 0; r < rows_; ++r)
        for (auto e = row_ptr_[static_cast<std::size_t>(r)]; e < row_ptr_[static_cast<std::size_t>(r) + 1]; ++e)
            out(r, col_idx_[static_cast<std::size_t>(e)]) = values_[static_cast<std::size_t>(e)];
    return out;
}

template <class T>
double CsrMatrix<T>::density() const {
    double cells = static_cast<double>(rows_) * static_cast<double>(cols_);
    return cells > 0 ? static_cast<double>(nnz()) / cells : 0.0;
}

template <class T>
void CsrMatrix<T>::multiply(ArrayView<const T> x, ArrayView<T> y) const {
    if (x.rank() != 1 || x.shape(0) != cols_)
        throw ShapeError(fmt::format("multiply: x expected shape ({},), got {}", cols_, x.layout().shape_string()));
    if (y.rank() != 1 || y.shape(0) != rows_)
        throw ShapeError(fmt::format("multiply: y expected shape ({},), got {}", rows_, y.layout().shape_string()));
    for (index_t r = 0; r < rows_; ++r) {
        T acc = 0;
        for (auto e = row_ptr_[static_cast<std::size_t>(r)]; e < row_ptr_[static_cast<std::size_t>(r) + 1]; ++e)
            acc += values_[static_cast<std::size_t>(e)] * x(col_idx_[static_cast<std::size_t>(e)]);
        y(r) = acc;
    }
}

template class CsrMatrix<float>;
template class CsrMatrix<double>;

}  // namespace neuroperf
