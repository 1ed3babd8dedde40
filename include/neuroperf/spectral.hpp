// Eigenvalues of reservoir matrices and their spectral radius.
#pragma once

#include <string>

#include "neuroperf/array.hpp"
#include "neuroperf/context.hpp"
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

/// Reservoir initialisation: scales `matrix` in place by rho / ρ(matrix), so that its spectral
/// radius becomes `rho` (up to the verified accuracy of ρ and the rounding of one multiply per
/// entry). Returns the verified spectral radius of the matrix *before* scaling (as
/// MKLOptimizer::spectral_radius). Throws ValueError for rho not finite or <= 0, or when the
/// matrix has spectral radius 0 (nilpotent: no scaling reaches rho); the matrix is unchanged
/// on any error. Cost: one spectral_radius plus one pass over the entries.
///
///   auto W = neuroperf::CsrMatrix<float>::from_dense(w.view());
///   neuroperf::scale_to_spectral_radius(W, 0.9, ctx);   // now ρ(W) = 0.9
template <class T>
SpectralRadius scale_to_spectral_radius(ArrayView<T> matrix, double rho, const Context& context,
                                        double rel_tol = 1e-6);
template <class T>
SpectralRadius scale_to_spectral_radius(CsrMatrix<T>& matrix, double rho, const Context& context,
                                        double rel_tol = 1e-6);

}  // namespace neuroperf
