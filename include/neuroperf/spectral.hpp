// Results of eigenvalue computations on reservoir matrices: the eigen-decomposition and the
// verified spectral radius (computed by MKLOptimizer, mkl_optimizer.hpp).
#pragma once

#include <string>

#include "neuroperf/array.hpp"
#include "neuroperf/sparse.hpp"

namespace neuroperf {

/// Eigen-decomposition of a square matrix (results in double precision for both input types).
struct EigenResult {
    Array<double> eigenvalues_real;   ///< (N)
    Array<double> eigenvalues_imag;   ///< (N)
    Array<double> eigenvectors_real;  ///< (N × N), column j for eigenvalue j; empty if not asked
    Array<double> eigenvectors_imag;
    bool symmetric = false;           ///< detected symmetric input: solved by syevd (all real)
    std::string method;               ///< e.g. "openblas dgeev"
};

/// The spectral radius max |λ| and how it was verified.
struct SpectralRadius {
    double value = 0;
    double achieved_rel_accuracy = 0;  ///< bound on |value − ρ| / ρ that the verification supports
    int solves = 0;                    ///< independent solves run
    std::string method;                ///< e.g. "dense geev", "Arnoldi (Spectra), ncv=40"
    std::string verification;          ///< how agreement was established
};

}  // namespace neuroperf
