// Eigenvalues and the verified spectral radius against naive references and known spectra.
#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include "runtime/context_impl.hpp"
#include "kernels/spectral.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace neuroperf {
namespace {

using cplx = std::complex<double>;

ContextOptions quiet() {
    ContextOptions o;
    o.calibrate = false;
    o.num_threads = 2;
    return o;
}

const Context& ctx() {
    static Context c = make_context(quiet());
    return c;
}

MKLOptimizer opt() { return MKLOptimizer(MKLConfig{}, ctx()); }

const blas::Backend* lapack() { return kernels::pick_lapack(runtime::impl_of(ctx()).registry()); }

template <class T>
Array<T> from_rows(index_t n, const std::vector<double>& v) {
    Array<T> a({n, n});
    for (index_t i = 0; i < n * n; ++i) a.data()[i] = static_cast<T>(v[static_cast<std::size_t>(i)]);
    return a;
}

template <class T>
Array<T> random_matrix(index_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> d;
    Array<T> a({n, n});
    for (index_t i = 0; i < n * n; ++i) a.data()[i] = static_cast<T>(d(rng));
    return a;
}

std::vector<cplx> values(const EigenResult& r) {
    std::vector<cplx> v;
    for (index_t i = 0; i < r.eigenvalues_real.size(); ++i)
        v.emplace_back(r.eigenvalues_real.data()[i], r.eigenvalues_imag.data()[i]);
    std::sort(v.begin(), v.end(), [](cplx a, cplx b) { return a.real() != b.real() ? a.real() < b.real() : a.imag() < b.imag(); });
    return v;
}

// Naive ‖A·v_j − λ_j·v_j‖ / (‖A‖_F·‖v_j‖), maximum over j.
template <class T>
double max_residual(const Array<T>& a, const EigenResult& r) {
    index_t n = a.shape(0);
    double na = 0, worst = 0;
    for (index_t i = 0; i < n * n; ++i) na += static_cast<double>(a.data()[i]) * static_cast<double>(a.data()[i]);
    na = std::sqrt(na);
    for (index_t j = 0; j < n; ++j) {
        cplx lam(r.eigenvalues_real.data()[j], r.eigenvalues_imag.size() ? r.eigenvalues_imag.data()[j] : 0.0);
        double res = 0, nv = 0;
        for (index_t i = 0; i < n; ++i) {
            cplx av = 0;
            for (index_t k = 0; k < n; ++k)
                av += static_cast<double>(a(i, k)) *
                      cplx(r.eigenvectors_real(k, j), r.eigenvectors_imag.size() ? r.eigenvectors_imag(k, j) : 0.0);
            cplx vi(r.eigenvectors_real(i, j), r.eigenvectors_imag.size() ? r.eigenvectors_imag(i, j) : 0.0);
            res += std::norm(av - lam * vi);
            nv += std::norm(vi);
        }
        worst = std::max(worst, std::sqrt(res) / (na * std::sqrt(nv)));
    }
    return worst;
}

template <class T>
constexpr double tol() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

template <class T>
void expect_spectrum(const std::vector<double>& rows, index_t n, std::vector<cplx> want, bool symmetric) {
    auto a = from_rows<T>(n, rows);
    for (const auto* be : {lapack(), static_cast<const blas::Backend*>(nullptr)}) {
        auto r = kernels::eigen_dense<T>(a.view(), true, be, 1);
        EXPECT_EQ(r.symmetric, symmetric) << r.method;
        auto got = values(r);
        std::sort(want.begin(), want.end(), [](cplx x, cplx y) { return x.real() != y.real() ? x.real() < y.real() : x.imag() < y.imag(); });
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(std::abs(got[i] - want[i]), 0.0, 1e-9) << r.method << " i=" << i;
    }
}

TEST(SpectralDense, KnownSpectra) {
    // Diagonal (symmetric), triangular, rotation (complex pair), Jordan block (defective).
    expect_spectrum<double>({3, 0, 0, 0, -1, 0, 0, 0, 2}, 3, {3, -1, 2}, true);
    expect_spectrum<double>({1, 5, 7, 0, -2, 3, 0, 0, 4}, 3, {1, -2, 4}, false);
    expect_spectrum<double>({0, -2, 2, 0}, 2, {{0, 2}, {0, -2}}, false);
    expect_spectrum<double>({2, 1, 0, 2}, 2, {2, 2}, false);
    expect_spectrum<float>({0, -2, 2, 0}, 2, {{0, 2}, {0, -2}}, false);
    expect_spectrum<float>({7}, 1, {7}, true);
}

template <class T>
void random_suite() {
    auto o = opt();
    for (index_t n : {1, 2, 3, 7, 31, 64}) {
        auto a = random_matrix<T>(n, static_cast<std::uint64_t>(n));
        auto r = o.optimize_eigenvalue_computation<T>(a.view(), true);
        EXPECT_FALSE(r.symmetric || n == 1 ? false : r.symmetric);
        EXPECT_LT(max_residual(a, r), tol<T>() * 10) << "n=" << n << " " << r.method;
        // Characteristic properties: Σλ = trace, Πλ = det.
        cplx sum = 0, prod = 1;
        for (index_t i = 0; i < n; ++i) {
            cplx l(r.eigenvalues_real.data()[i], r.eigenvalues_imag.data()[i]);
            sum += l;
            prod *= l;
        }
        Eigen::MatrixXd m(n, n);
        double trace = 0;
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < n; ++j) m(i, j) = static_cast<double>(a(i, j));
        for (index_t i = 0; i < n; ++i) trace += m(i, i);
        EXPECT_NEAR(sum.real(), trace, 1e-9 * n * 10);
        EXPECT_NEAR(sum.imag(), 0.0, 1e-9 * n * 10);
        if (n <= 7) {
            double det = m.determinant();
            EXPECT_NEAR(prod.real(), det, 1e-9 * std::max(1.0, std::abs(det)));
        }
        // Values-only call agrees with the vectors call.
        auto v = o.optimize_eigenvalue_computation<T>(a.view(), false);
        EXPECT_EQ(v.eigenvectors_real.rank(), 0);  // not computed
        auto x = values(r), y = values(v);
        for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(std::abs(x[i] - y[i]), 0.0, 1e-9 * std::abs(x[i]) + 1e-12);
    }
}

TEST(SpectralDense, RandomResidualsTraceDetDouble) { random_suite<double>(); }
TEST(SpectralDense, RandomResidualsTraceDetFloat) { random_suite<float>(); }

TEST(SpectralDense, SymmetricDetectedSyevd) {
    index_t n = 37;  // prime
    auto a = random_matrix<double>(n, 5);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < i; ++j) a(i, j) = a(j, i);
    auto r = opt().optimize_eigenvalue_computation<double>(a.view(), true);
    EXPECT_TRUE(r.symmetric);
    if (lapack()) {
        EXPECT_NE(r.method.find("dsyevd"), std::string::npos) << r.method;
    }
    for (index_t i = 0; i < n; ++i) EXPECT_EQ(r.eigenvalues_imag.data()[i], 0.0);
    EXPECT_LT(max_residual(a, r), 1e-13);
    // Orthonormal eigenvectors.
    for (index_t p = 0; p < n; ++p)
        for (index_t q = 0; q < n; ++q) {
            double d = 0;
            for (index_t i = 0; i < n; ++i) d += r.eigenvectors_real(i, p) * r.eigenvectors_real(i, q);
            EXPECT_NEAR(d, p == q ? 1.0 : 0.0, 1e-12);
        }
    a(0, 1) += 1e-12;  // exact check: the slightest asymmetry goes to geev
    auto g = opt().optimize_eigenvalue_computation<double>(a.view(), false);
    EXPECT_FALSE(g.symmetric);
    if (lapack()) {
        EXPECT_NE(g.method.find("dgeev"), std::string::npos) << g.method;
    }
}

TEST(SpectralDense, EigenFallbackMatchesLapack) {
    if (!lapack()) GTEST_SKIP() << "no LAPACK backend present";
    auto a = random_matrix<double>(23, 9);
    auto x = values(kernels::eigen_dense<double>(a.view(), false, lapack(), 1));
    auto fb = kernels::eigen_dense<double>(a.view(), true, nullptr, 1);
    EXPECT_EQ(fb.method, "Eigen EigenSolver");
    EXPECT_LT(max_residual(a, fb), 1e-12);
    auto y = values(fb);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(std::abs(x[i] - y[i]), 0.0, 1e-10);
}

TEST(SpectralDense, StridedInputTransposedView) {
    auto a = random_matrix<double>(9, 3);
    auto r1 = values(opt().optimize_eigenvalue_computation<double>(a.view(), false));
    auto r2 = values(opt().optimize_eigenvalue_computation<double>(a.view().transposed(), false));
    for (std::size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(std::abs(r1[i] - r2[i]), 0.0, 1e-10);
}

TEST(SpectralDense, Errors) {
    auto o = opt();
    Array<double> rect({3, 4}), empty({0, 0}), vec({4});
    auto expect_msg = [](auto fn, const char* needle) {
        try {
            fn();
            ADD_FAILURE() << "no throw";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    EXPECT_THROW(o.optimize_eigenvalue_computation<double>(rect.view()), ShapeError);
    EXPECT_THROW(o.optimize_eigenvalue_computation<double>(empty.view()), ShapeError);
    EXPECT_THROW(o.optimize_eigenvalue_computation<double>(vec.view()), ShapeError);
    expect_msg([&] { o.optimize_eigenvalue_computation<double>(rect.view()); }, "matrix");
    auto a = random_matrix<float>(4, 1);
    a(2, 1) = std::nanf("");
    EXPECT_THROW(o.optimize_eigenvalue_computation<float>(a.view()), ValueError);
    a(2, 1) = INFINITY;
    expect_msg([&] { o.optimize_eigenvalue_computation<float>(a.view()); }, "(2, 1)");
    EXPECT_THROW(o.spectral_radius<float>(a.view()), ValueError);
    EXPECT_THROW(o.spectral_radius<double>(rect.view()), ShapeError);
    EXPECT_THROW(o.spectral_radius<double>(CsrMatrix<double>(3, 4)), ShapeError);
    EXPECT_THROW(o.spectral_radius<double>(random_matrix<double>(3, 1).view(), 0.0), ValueError);
    EXPECT_THROW(o.spectral_radius<double>(random_matrix<double>(3, 1).view(), -1e-3), ValueError);
}

// --- spectral radius ------------------------------------------------------------------------

// Random orthogonal Q (QR of a Gaussian matrix).
Eigen::MatrixXd orthogonal(index_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> d;
    Eigen::MatrixXd g(n, n);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) g(i, j) = d(rng);
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
    return qr.householderQ();
}

// Q·B·Qᵀ where B is block diagonal: 2×2 blocks r·rotation(θ) (eigenvalues r·e^{±iθ}).
template <class T>
Array<T> normal_with_pairs(index_t n, const std::vector<std::pair<double, double>>& pairs, double rest_radius,
                           std::uint64_t seed) {
    Eigen::MatrixXd b = Eigen::MatrixXd::Zero(n, n);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    index_t k = 0;
    for (auto [r, th] : pairs) {
        b(k, k) = r * std::cos(th), b(k, k + 1) = -r * std::sin(th);
        b(k + 1, k) = r * std::sin(th), b(k + 1, k + 1) = r * std::cos(th);
        k += 2;
    }
    for (; k + 1 < n; k += 2) {  // the bulk: pairs inside the disk of rest_radius
        double r = rest_radius * std::sqrt(u(rng)), th = 2 * M_PI * u(rng);
        b(k, k) = r * std::cos(th), b(k, k + 1) = -r * std::sin(th);
        b(k + 1, k) = r * std::sin(th), b(k + 1, k + 1) = r * std::cos(th);
    }
    if (k < n) b(k, k) = rest_radius * (2 * u(rng) - 1);
    Eigen::MatrixXd q = orthogonal(n, seed + 1);
    Eigen::MatrixXd a = q * b * q.transpose();
    Array<T> out({n, n});
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) out(i, j) = static_cast<T>(a(i, j));
    return out;
}

template <class T>
CsrMatrix<T> sparse_reservoir(index_t n, double density, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    Array<T> d({n, n});
    for (index_t i = 0; i < n * n; ++i)
        if (u(rng) < density) d.data()[i] = static_cast<T>(2 * u(rng) - 1);
    return CsrMatrix<T>::from_dense(d.view());
}

kernels::RadiusOptions arnoldi_forced(double rel_tol = 1e-6) {
    kernels::RadiusOptions o;
    o.rel_tol = rel_tol;
    o.threads = 2;
    o.force_arnoldi = true;
    o.lapack = lapack();
    return o;
}

kernels::RadiusOptions dense_forced() {
    kernels::RadiusOptions o;
    o.threads = 1;
    o.dense_max_n = 100000;
    o.lapack = lapack();
    return o;
}

TEST(SpectralRadius, DominantComplexPair) {
    // ρ from a rotation·ρ block; the rest well inside. Power iteration would oscillate here.
    index_t n = 300;
    auto a = normal_with_pairs<double>(n, {{2.5, 0.7}}, 1.0, 11);
    auto dense = kernels::spectral_radius_dense<double>(a.view(), dense_forced());
    EXPECT_NEAR(dense.value, 2.5, 2.5 * 1e-12);
    EXPECT_NEAR(opt().spectral_radius<double>(a.view()).value, 2.5, 2.5e-6);  // auto path
    EXPECT_NE(dense.method.find("dense"), std::string::npos);
    auto ar = kernels::spectral_radius_dense<double>(a.view(), arnoldi_forced());
    EXPECT_NEAR(ar.value, 2.5, 2.5e-6) << ar.verification;
    EXPECT_GE(ar.solves, 2);
    EXPECT_NE(ar.method.find("Arnoldi"), std::string::npos);
    EXPECT_LE(ar.achieved_rel_accuracy, 1e-6);
    auto csr = CsrMatrix<double>::from_dense(a.view());
    auto ac = kernels::spectral_radius_csr<double>(csr, arnoldi_forced());
    EXPECT_NEAR(ac.value, 2.5, 2.5e-6) << ac.verification;
}

TEST(SpectralRadius, TopEigenvaluesWithin03Percent) {
    // The failure mode: the largest moduli 0.3% and 0.5% apart, at different angles,
    // above a bulk filling the disk up to 0.99·ρ. Must return the largest, 1.0.
    index_t n = 400;
    for (std::uint64_t seed : {21, 22, 23}) {
        auto a = normal_with_pairs<double>(n, {{1.0, 2.1}, {0.997, 0.3}, {0.995, 1.2}, {0.994, 2.9}}, 0.99, seed);
        auto r = kernels::spectral_radius_dense<double>(a.view(), arnoldi_forced());
        EXPECT_NEAR(r.value, 1.0, 1e-6) << "seed " << seed << ": " << r.verification;
        auto c = kernels::spectral_radius_csr<double>(CsrMatrix<double>::from_dense(a.view()), arnoldi_forced());
        EXPECT_NEAR(c.value, 1.0, 1e-6) << "seed " << seed << ": " << c.verification;
    }
}

TEST(SpectralRadius, SparseReservoirArnoldiMatchesDense) {
    for (std::uint64_t seed : {1, 2, 3}) {
        auto w = sparse_reservoir<double>(400, 0.05, seed);
        auto dense = kernels::spectral_radius_csr<double>(w, dense_forced());
        EXPECT_NE(dense.method.find("dense"), std::string::npos);
        auto ar = kernels::spectral_radius_csr<double>(w, arnoldi_forced());
        EXPECT_NEAR(ar.value / dense.value, 1.0, 1e-6) << ar.verification;
        auto wf = sparse_reservoir<float>(400, 0.05, seed);
        auto af = kernels::spectral_radius_csr<float>(wf, arnoldi_forced());
        auto df = kernels::spectral_radius_csr<float>(wf, dense_forced());
        EXPECT_NEAR(af.value / df.value, 1.0, 1e-6) << af.verification;
    }
}

// The Arnoldi path's mat-vecs on every variant (dense and CSR, float and double): the verified
// radius of each agrees with the dense eigen-decomposition.
TEST(SpectralRadius, ArnoldiOnEveryIsa) {
    auto w = sparse_reservoir<double>(300, 0.05, 11);
    auto wf = sparse_reservoir<float>(300, 0.05, 11);
    const double ref = kernels::spectral_radius_csr<double>(w, dense_forced()).value;
    const double ref_f = kernels::spectral_radius_csr<float>(wf, dense_forced()).value;
    Array<double> wd({300, 300});  // zeroed
    for (index_t i = 0; i < 300; ++i)
        for (auto k = w.row_ptr()[static_cast<std::size_t>(i)]; k < w.row_ptr()[static_cast<std::size_t>(i) + 1]; ++k)
            wd(i, w.col_idx()[static_cast<std::size_t>(k)]) = w.values()[static_cast<std::size_t>(k)];
    for (Isa isa : supported_isas()) {
        auto o = arnoldi_forced();
        o.isa = isa;
        EXPECT_NEAR(kernels::spectral_radius_csr<double>(w, o).value / ref, 1.0, 1e-6) << isa_name(isa);
        EXPECT_NEAR(kernels::spectral_radius_csr<float>(wf, o).value / ref_f, 1.0, 1e-6) << isa_name(isa);
        EXPECT_NEAR(kernels::spectral_radius_dense<double>(wd.view(), o).value / ref, 1.0, 1e-6) << isa_name(isa);
    }
}

TEST(SpectralRadius, ScaleToSpectralRadius) {
    auto w = sparse_reservoir<float>(300, 0.05, 7);
    auto before = scale_to_spectral_radius(w, 0.9, ctx());
    EXPECT_GT(before.value, 0.0);
    EXPECT_NEAR(opt().spectral_radius<float>(w).value, 0.9, 0.9 * 1e-6);
    auto d = random_matrix<double>(50, 4);
    scale_to_spectral_radius<double>(d.view(), 1.25, ctx());
    EXPECT_NEAR(opt().spectral_radius<double>(d.view()).value, 1.25, 1.25e-12);
    EXPECT_THROW(scale_to_spectral_radius<double>(d.view(), 0.0, ctx()), ValueError);
    EXPECT_THROW(scale_to_spectral_radius<double>(d.view(), NAN, ctx()), ValueError);
    // Nilpotent: radius 0, no scaling reaches rho; the matrix is left unchanged.
    auto z = from_rows<double>(2, {0, 1, 0, 0});
    EXPECT_THROW(scale_to_spectral_radius<double>(z.view(), 1.0, ctx()), ValueError);
    EXPECT_EQ(z(0, 1), 1.0);
    Array<double> zero({5, 5});
    EXPECT_EQ(opt().spectral_radius<double>(zero.view()).value, 0.0);
}

TEST(SpectralRadius, SmallOrdersAndFloat) {
    for (index_t n : {1, 2, 3, 5}) {
        auto a = random_matrix<float>(n, static_cast<std::uint64_t>(n) + 40);
        auto r = opt().spectral_radius<float>(a.view());
        auto e = values(opt().optimize_eigenvalue_computation<float>(a.view()));
        double want = 0;
        for (auto l : e) want = std::max(want, std::abs(l));
        EXPECT_NEAR(r.value, want, 1e-12 * want);
    }
}

TEST(SpectralRadius, NeverUnverified) {
    // With no Arnoldi round allowed nothing can be verified: an Error, never a value.
    auto o = arnoldi_forced();
    o.max_rounds = 0;
    auto w = sparse_reservoir<double>(100, 0.1, 3);
    try {
        kernels::spectral_radius_csr<double>(w, o);
        ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("could not be verified"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace neuroperf
