// Dense eigen-decomposition (LAPACK geev/syevd, Eigen fallback) and the verified spectral radius
// (dense geev for small matrices, restarted Arnoldi through Spectra with independent solves for
// large ones). See docs/guide/spectral.md for the algorithm and its verification.
#pragma once

#include <functional>
#include <string_view>

#include "blas/registry.hpp"
#include "neuroperf/array.hpp"
#include "neuroperf/sparse.hpp"
#include "neuroperf/spectral.hpp"

namespace neuroperf::kernels {

/// The backend whose LAPACK (dgeev and dsyevd) serves dense eigenproblems: `preferred` when it
/// has them, else the first in the registry's order (mkl, openblas, ...); null when none has
/// LAPACK (then Eigen serves). Pure function of the registry.
const blas::Backend* pick_lapack(const blas::Registry& registry, std::string_view preferred = "auto");

/// All eigenvalues (and right eigenvectors if `vectors`) of the square matrix `a`, in double.
/// Symmetric (exactly, a(i,j) == a(j,i)) input goes to dsyevd, other input to dgeev, on
/// `lapack` with `threads` threads; `lapack` null: Eigen's solvers. Errors name `arg`:
/// ShapeError (not square / empty), ValueError (NaN/Inf), BackendError (LAPACK info != 0).
template <class T>
EigenResult eigen_dense(ArrayView<const T> a, bool vectors, const blas::Backend* lapack, int threads,
                        const char* arg = "matrix");

struct RadiusOptions {
    double rel_tol = 1e-6;
    int threads = 1;
    Isa isa = Isa::generic;  ///< the mat-vecs' variant
    /// At or below this order the radius comes from one dense eigen-decomposition (exact up to
    /// rounding and faster than Arnoldi there, measured: docs/guide/spectral.md).
    index_t dense_max_n = 200;
    bool force_arnoldi = false;  ///< tests: take the Arnoldi path whenever n allows (n >= 8)
    int max_rounds = 4;          ///< Arnoldi rounds (two solves each, Krylov space enlarged)
    int nev = 0;                 ///< wanted Ritz values per solve; 0 = default (tuning and tests)
    int ncv = 0;                 ///< Krylov size of the first solve; 0 = default
    const blas::Backend* lapack = nullptr;
    std::function<void(std::string_view)> log;  ///< empty: silent
};

/// max |λ| of a square dense / CSR matrix, verified (see SpectralRadius). Throws ShapeError or
/// ValueError naming `arg` for bad input, Error when Arnoldi cannot verify a value.
template <class T>
SpectralRadius spectral_radius_dense(ArrayView<const T> a, const RadiusOptions& options, const char* arg = "matrix");
template <class T>
SpectralRadius spectral_radius_csr(const CsrMatrix<T>& a, const RadiusOptions& options, const char* arg = "matrix");

}  // namespace neuroperf::kernels
