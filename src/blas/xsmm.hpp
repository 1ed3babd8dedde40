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

}  // namespace neuroperf::blas::xsmm
