// The builtin GEMM: always present, correct for every shape and transpose, blocked and vectorised.
// Private to the blas layer; callers go through the backend table.
#pragma once

#include <cstdint>

#include "neuroperf/isa.hpp"

namespace neuroperf::blas::builtin {

/// Row-major C[m×n] = alpha · op(A) · op(B) + beta · C, with op(X) = X or Xᵀ.
/// A is m×k (k×m when trans_a), B is k×n (n×k when trans_b); lda/ldb/ldc are row strides in
/// elements (≥ number of columns stored). beta == 0 means C is not read (NaN in C is ignored),
/// as in BLAS. NaN/Inf in A or B propagate. m, n or k == 0 is valid (k == 0: C = beta·C).
/// alpha == 0 still forms op(A)·op(B) (NaN/Inf there reach C), unlike reference BLAS.
/// Runs the variant `isa` (the caller's context's; one this CPU supports) on the calling thread
/// only (callers parallelise above it, or use threads > 1).
/// `threads` > 1 splits C into independent blocks over that many OpenMP threads (fewer for
/// small products); results are bitwise identical for every thread count.
/// Cost: 2·m·n·k flops, ~90% of the vector FMA peak for m, n, k ≥ 256 on AVX-512/AVX2 CPUs;
/// per-thread pack buffers (≤ ~9 MB) are kept between calls.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc, int threads = 1, Isa isa = best_isa());

}  // namespace neuroperf::blas::builtin
