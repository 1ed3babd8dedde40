// Results of eigenvalue computations on reservoir matrices: the eigen-decomposition and the
// verified spectral radius (computed by MKLOptimizer, mkl_optimizer.hpp).
#pragma once

#include <string>
#include <tuple>

#include "neuroperf/array.hpp"
#include "neuroperf/fields.hpp"
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

/// The spectral radius max |λ| and how it was verified (fields documented in the field list below).
struct SpectralRadius {
    double value = 0;
    double achieved_rel_accuracy = 0;
    int solves = 0;
    std::string method;
    std::string verification;
};

template <>
struct Fields<SpectralRadius> {
    using S = SpectralRadius;
    static constexpr auto list = std::tuple{
        field("value", &S::value, "max |λ|"),
        field("achieved_rel_accuracy", &S::achieved_rel_accuracy, "bound on |value − ρ| / ρ that the verification supports"),
        field("solves", &S::solves, "independent solves run"),
        field("method", &S::method, "e.g. \"dense geev\", \"Arnoldi (Spectra), ncv=80\""),
        field("verification", &S::verification, "how agreement was established")};
};
NEUROPERF_CHECK_FIELDS(SpectralRadius);

}  // namespace neuroperf
