// libxsmm as a backend for small GEMMs (JIT-generated kernels), when built in.
#pragma once

#include <memory>

#include "blas/registry.hpp"

namespace neuroperf::blas::xsmm {

/// Largest m, n or k libxsmm serves; beyond it, or for shapes/alpha/beta its JIT does not
/// support, the thunk calls the builtin GEMM.
inline constexpr index_t kMaxDim = 64;

/// The libxsmm row of the table: available when NEUROPERF_WITH_LIBXSMM was ON at build time,
/// otherwise unavailable with the reason.
std::unique_ptr<Backend> make_backend();

/// A libxsmm kernel for row-major contiguous C (m×n) = A (m×k)·B (k×n) (alpha 1, beta 0),
/// generated now (libxsmm's JIT, cached by libxsmm for the process); null when libxsmm is not
/// built in, a dimension is outside 1..kMaxDim, or libxsmm declines the shape.
template <class T>
const void* dispatch_row_major(index_t m, index_t n, index_t k);
/// Calls a kernel from dispatch_row_major.
template <class T>
void call_row_major(const void* fn, const T* a, const T* b, T* c);

}  // namespace neuroperf::blas::xsmm
