// MKLOptimizer's eigenvalue operations and scale_to_spectral_radius (docs/guide/spectral.md).
#include <cmath>

#include <fmt/format.h>

#include "api/optimizer.hpp"
#include "kernels/spectral.hpp"
#include "neuroperf/timer.hpp"

namespace neuroperf {
namespace {

kernels::RadiusOptions radius_options(const MKLOptimizer& opt, double rel_tol) {
    kernels::RadiusOptions o;
    o.rel_tol = rel_tol;
    o.threads = opt.num_threads();
    o.isa = opt.context().isa();
    o.lapack = kernels::pick_lapack(runtime::impl_of(opt.context()).registry(), opt.config().backend);
    if (api::logs(opt)) {
        Context ctx = opt.context();
        o.log = [ctx](std::string_view m) { runtime::emit(ctx, m); };
    }
    return o;
}

void log_radius(const MKLOptimizer& opt, const char* kind, index_t n, const SpectralRadius& r, double seconds) {
    if (api::logs(opt))
        api::emit(opt, fmt::format("spectral_radius {} n={}: {:.12g} by {} in {:.3f} s ({}, accuracy {:.1e})", kind, n,
                                   r.value, r.method, seconds, r.verification, r.achieved_rel_accuracy));
}

void check_rho(double rho) {
    if (!(std::isfinite(rho) && rho > 0))
        throw ValueError(fmt::format("rho: expected a finite spectral radius > 0, got {}", rho));
}

[[noreturn]] void throw_nilpotent(const SpectralRadius& r) {
    throw ValueError(fmt::format("matrix: its spectral radius is {} ({}), so no scaling reaches rho", r.value,
                                 r.method));
}

}  // namespace

template <class T>
EigenResult MKLOptimizer::optimize_eigenvalue_computation(ArrayView<const T> matrix, bool compute_eigenvectors) const {
    const auto* lapack = kernels::pick_lapack(runtime::impl_of(context_).registry(), config_.backend);
    Timer timer;
    EigenResult r = kernels::eigen_dense<T>(matrix, compute_eigenvectors, lapack, num_threads(), "matrix");
    if (api::logs(*this))
        api::emit(*this, fmt::format("eigenvalues {} n={}{}: {}{} in {:.3f} s", dtype_name(dtype_of<T>()), matrix.shape(0),
                                     compute_eigenvectors ? " (+vectors)" : "", r.method,
                                     r.symmetric ? " (symmetric input)" : "", timer.seconds()));
    return r;
}

template <class T>
SpectralRadius MKLOptimizer::spectral_radius(ArrayView<const T> matrix, double rel_tol) const {
    Timer timer;
    auto r = kernels::spectral_radius_dense<T>(matrix, radius_options(*this, rel_tol), "matrix");
    log_radius(*this, "dense", matrix.rank() == 2 ? matrix.shape(0) : 0, r, timer.seconds());
    return r;
}

template <class T>
SpectralRadius MKLOptimizer::spectral_radius(const CsrMatrix<T>& matrix, double rel_tol) const {
    Timer timer;
    auto r = kernels::spectral_radius_csr<T>(matrix, radius_options(*this, rel_tol), "matrix");
    log_radius(*this, "CSR", matrix.rows(), r, timer.seconds());
    return r;
}

template <class T>
SpectralRadius scale_to_spectral_radius(ArrayView<T> matrix, double rho, const Context& context, double rel_tol) {
    check_rho(rho);
    MKLOptimizer opt(MKLConfig{}, context);
    SpectralRadius r = opt.spectral_radius<T>(ArrayView<const T>(matrix), rel_tol);
    if (!(r.value > 0)) throw_nilpotent(r);
    const double s = rho / r.value;
    for (index_t i = 0; i < matrix.shape(0); ++i)
        for (index_t j = 0; j < matrix.shape(1); ++j) matrix(i, j) = static_cast<T>(static_cast<double>(matrix(i, j)) * s);
    return r;
}

template <class T>
SpectralRadius scale_to_spectral_radius(CsrMatrix<T>& matrix, double rho, const Context& context, double rel_tol) {
    check_rho(rho);
    MKLOptimizer opt(MKLConfig{}, context);
    SpectralRadius r = opt.spectral_radius<T>(matrix, rel_tol);
    if (!(r.value > 0)) throw_nilpotent(r);
    const double s = rho / r.value;
    for (T& v : matrix.values()) v = static_cast<T>(static_cast<double>(v) * s);
    return r;
}

#define NEUROPERF_INSTANTIATE(T)                                                                                      \
    template EigenResult MKLOptimizer::optimize_eigenvalue_computation<T>(ArrayView<const T>, bool) const;          \
    template SpectralRadius MKLOptimizer::spectral_radius<T>(ArrayView<const T>, double) const;                      \
    template SpectralRadius MKLOptimizer::spectral_radius<T>(const CsrMatrix<T>&, double) const;                     \
    template SpectralRadius scale_to_spectral_radius<T>(ArrayView<T>, double, const Context&, double);               \
    template SpectralRadius scale_to_spectral_radius<T>(CsrMatrix<T>&, double, const Context&, double);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
