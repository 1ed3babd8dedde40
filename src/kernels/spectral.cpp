#include "kernels/spectral.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <new>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>


// GCC 12 reports a false -Wuse-after-free inside Eigen's aligned_free when inlining Spectra's
// UpperHessenbergEigen (GCC bug 104075 family); the code is Eigen's, not ours.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#include <Eigen/Dense>
#include <Spectra/GenEigsSolver.h>
#include <fmt/format.h>

#include "core/json_fields.hpp"
#include "core/simd.hpp"
#include "neuroperf/timer.hpp"

namespace neuroperf::kernels {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr index_t kLapackThreadsMinN = 1500;

void check_square(const Layout& l, const char* arg) {
    if (l.rank != 2 || l.shape[0] != l.shape[1])
        throw ShapeError(fmt::format("{}: expected a square rank-2 matrix, got shape {}", arg, l.shape_string()));
    if (l.shape[0] == 0) throw ShapeError(fmt::format("{}: expected a non-empty square matrix, got shape {}", arg, l.shape_string()));
    if (l.shape[0] > std::numeric_limits<std::int32_t>::max())
        throw ShapeError(fmt::format("{}: order {} exceeds the LAPACK limit 2^31-1", arg, l.shape[0]));
}

[[noreturn]] void throw_nonfinite(const char* arg, index_t i, index_t j, double v) {
    throw ValueError(fmt::format("{}: expected finite entries, got {} at ({}, {})", arg, v, i, j));
}

// Column-major double copy (what LAPACK overwrites), checking finiteness on the way.
template <class T>
std::vector<double> column_major_copy(ArrayView<const T> a, const char* arg) {
    index_t n = a.shape(0);
    std::vector<double> m(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) {
            double v = static_cast<double>(a(i, j));
            if (!std::isfinite(v)) throw_nonfinite(arg, i, j, v);
            m[static_cast<std::size_t>(i + j * n)] = v;
        }
    return m;
}

bool is_symmetric(const std::vector<double>& m, index_t n) {
    for (index_t j = 0; j < n; ++j)
        for (index_t i = j + 1; i < n; ++i)
            if (m[static_cast<std::size_t>(i + j * n)] != m[static_cast<std::size_t>(j + i * n)]) return false;
    return true;
}

// gfortran ABI: character arguments carry hidden lengths after the declared arguments.
template <class Int>
using DgeevFn = void (*)(const char*, const char*, const Int*, double*, const Int*, double*, double*, double*,
                         const Int*, double*, const Int*, double*, const Int*, Int*, std::size_t, std::size_t);
template <class Int>
using DsyevdFn = void (*)(const char*, const char*, const Int*, double*, const Int*, double*, double*, const Int*,
                          Int*, const Int*, Int*, std::size_t, std::size_t);

void check_info(long long info, const char* routine, const char* backend, index_t n) {
    if (info == 0) return;
    if (info < 0)
        throw BackendError(fmt::format("{} {}: argument {} had an illegal value (info={}, n={})", backend, routine,
                                       -info, info, n));
    throw BackendError(fmt::format("{} {}: the algorithm failed to converge (info={}, n={})", backend, routine, info, n));
}

template <class Int>
void lapack_geev(const blas::Backend& be, std::vector<double>& m, index_t n, bool vectors, std::vector<double>& wr,
                 std::vector<double>& wi, std::vector<double>& vr) {
    auto fn = reinterpret_cast<DgeevFn<Int>>(be.lapack.dgeev);
    Int N = static_cast<Int>(n), one = 1, lwork = -1, info = 0;
    Int ldvr = vectors ? N : 1;
    if (vectors) vr.assign(static_cast<std::size_t>(n * n), 0.0);
    double vl_dummy = 0, vr_dummy = 0, query = 0;
    double* vrp = vectors ? vr.data() : &vr_dummy;
    const char* jobvr = vectors ? "V" : "N";
    fn("N", jobvr, &N, m.data(), &N, wr.data(), wi.data(), &vl_dummy, &one, vrp, &ldvr, &query, &lwork, &info, 1, 1);
    check_info(info, "dgeev", be.info.name.c_str(), n);
    lwork = static_cast<Int>(std::max(query, 4.0 * static_cast<double>(n)));
    std::vector<double> work(static_cast<std::size_t>(lwork));
    fn("N", jobvr, &N, m.data(), &N, wr.data(), wi.data(), &vl_dummy, &one, vrp, &ldvr, work.data(), &lwork, &info, 1,
       1);
    check_info(info, "dgeev", be.info.name.c_str(), n);
}

template <class Int>
void lapack_syevd(const blas::Backend& be, std::vector<double>& m, index_t n, bool vectors, std::vector<double>& w) {
    auto fn = reinterpret_cast<DsyevdFn<Int>>(be.lapack.dsyevd);
    Int N = static_cast<Int>(n), lwork = -1, liwork = -1, info = 0, iquery = 0;
    double query = 0;
    const char* jobz = vectors ? "V" : "N";
    fn(jobz, "U", &N, m.data(), &N, w.data(), &query, &lwork, &iquery, &liwork, &info, 1, 1);
    check_info(info, "dsyevd", be.info.name.c_str(), n);
    lwork = static_cast<Int>(std::max(query, 2.0 * static_cast<double>(n) + 1));
    liwork = std::max<Int>(iquery, 1);
    std::vector<double> work(static_cast<std::size_t>(lwork));
    std::vector<Int> iwork(static_cast<std::size_t>(liwork));
    fn(jobz, "U", &N, m.data(), &N, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
    check_info(info, "dsyevd", be.info.name.c_str(), n);
}

Array<double> square(index_t n) { return Array<double>({n, n}); }

}  // namespace

const blas::Backend* pick_lapack(const blas::Registry& registry, std::string_view preferred) {
    auto has = [](const blas::Backend* b) { return b && b->lapack.dgeev && b->lapack.dsyevd; };
    if (preferred != "auto" && has(registry.find(preferred))) return registry.find(preferred);
    for (const auto& b : registry.backends())
        if (b->info.available && has(b.get())) return b.get();
    return nullptr;
}

template <class T>
EigenResult eigen_dense(ArrayView<const T> a, bool vectors, const blas::Backend* lapack, int threads, const char* arg) {
    check_square(a.layout(), arg);
    index_t n = a.shape(0);
    std::vector<double> m = column_major_copy(a, arg);
    EigenResult r;
    r.symmetric = is_symmetric(m, n);
    r.eigenvalues_real = Array<double>({n});
    r.eigenvalues_imag = Array<double>({n});
    if (vectors) {
        r.eigenvectors_real = square(n);
        r.eigenvectors_imag = square(n);
    }
    if (lapack) {
        // geev's QR iteration is sequential, so a second thread buys little below n ≈ 1500, and
        // an OpenMP LAPACK on a busy machine collapses (measured at load 8, n=1000: 0.9 s on one
        // thread, 7.8-15.5 s on two). Threads only where the O(n³) BLAS-3 parts dominate.
        lapack->apply_threads(n >= kLapackThreadsMinN ? std::max(threads, 1) : 1);
        const std::string& name = lapack->info.name;
        if (r.symmetric) {
            std::vector<double> w(static_cast<std::size_t>(n));
            if (lapack->blas_int64) lapack_syevd<std::int64_t>(*lapack, m, n, vectors, w);
            else lapack_syevd<std::int32_t>(*lapack, m, n, vectors, w);
            std::copy(w.begin(), w.end(), r.eigenvalues_real.data());
            if (vectors)
                for (index_t i = 0; i < n; ++i)
                    for (index_t j = 0; j < n; ++j) r.eigenvectors_real(i, j) = m[static_cast<std::size_t>(i + j * n)];
            r.method = name + " dsyevd";
        } else {
            std::vector<double> wr(static_cast<std::size_t>(n)), wi(static_cast<std::size_t>(n)), vr;
            if (lapack->blas_int64) lapack_geev<std::int64_t>(*lapack, m, n, vectors, wr, wi, vr);
            else lapack_geev<std::int32_t>(*lapack, m, n, vectors, wr, wi, vr);
            std::copy(wr.begin(), wr.end(), r.eigenvalues_real.data());
            std::copy(wi.begin(), wi.end(), r.eigenvalues_imag.data());
            if (vectors) {
                // dgeev packs a conjugate pair j, j+1 as v_j = VR(:,j) + i·VR(:,j+1).
                auto V = [&](index_t i, index_t j) { return vr[static_cast<std::size_t>(i + j * n)]; };
                for (index_t j = 0; j < n; ++j) {
                    if (wi[static_cast<std::size_t>(j)] != 0 && j + 1 < n) {
                        for (index_t i = 0; i < n; ++i) {
                            r.eigenvectors_real(i, j) = V(i, j);
                            r.eigenvectors_imag(i, j) = V(i, j + 1);
                            r.eigenvectors_real(i, j + 1) = V(i, j);
                            r.eigenvectors_imag(i, j + 1) = -V(i, j + 1);
                        }
                        ++j;
                    } else {
                        for (index_t i = 0; i < n; ++i) r.eigenvectors_real(i, j) = V(i, j);
                    }
                }
            }
            r.method = name + " dgeev";
        }
        return r;
    }
    Eigen::Map<Eigen::MatrixXd> M(m.data(), n, n);
    if (r.symmetric) {
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(M, vectors ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
        if (es.info() != Eigen::Success)
            throw BackendError(fmt::format("Eigen SelfAdjointEigenSolver: no convergence (n={})", n));
        for (index_t i = 0; i < n; ++i) r.eigenvalues_real(i) = es.eigenvalues()(i);
        if (vectors)
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < n; ++j) r.eigenvectors_real(i, j) = es.eigenvectors()(i, j);
        r.method = "Eigen SelfAdjointEigenSolver";
    } else {
        Eigen::EigenSolver<Eigen::MatrixXd> es(M, vectors);
        if (es.info() != Eigen::Success) throw BackendError(fmt::format("Eigen EigenSolver: no convergence (n={})", n));
        for (index_t i = 0; i < n; ++i) {
            r.eigenvalues_real(i) = es.eigenvalues()(i).real();
            r.eigenvalues_imag(i) = es.eigenvalues()(i).imag();
        }
        if (vectors) {
            Eigen::MatrixXcd V = es.eigenvectors();
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < n; ++j) {
                    r.eigenvectors_real(i, j) = V(i, j).real();
                    r.eigenvectors_imag(i, j) = V(i, j).imag();
                }
        }
        r.method = "Eigen EigenSolver";
    }
    return r;
}

namespace {

// The mat-vecs, in the three ISA variants (core/simd.hpp): y = A·x in double (the matrix keeps
// its type T, so a float matrix streams half the bytes). The CSR rows sum in two chains, which
// hide the gather latency.
template <Isa V, class T>
NP_INLINE void csr_matvec_body(index_t n, const std::int64_t* rp, const std::int32_t* ci, const T* v, const double* x,
                               double* y) {
    for (index_t i = 0; i < n; ++i) {
        double s0 = 0, s1 = 0;
        std::int64_t k = rp[i], e = rp[i + 1];
        for (; k + 1 < e; k += 2) {
            s0 += static_cast<double>(v[k]) * x[ci[k]];
            s1 += static_cast<double>(v[k + 1]) * x[ci[k + 1]];
        }
        if (k < e) s0 += static_cast<double>(v[k]) * x[ci[k]];
        y[i] = s0 + s1;
    }
}
NP_ISA_VARIANTS((template <class T>), void, csr_matvec,
                (index_t n, const std::int64_t* rp, const std::int32_t* ci, const T* v, const double* x, double* y),
                (n, rp, ci, v, x, y), T)

template <Isa V, class T>
NP_INLINE void dense_matvec_body(index_t n, const T* a, const double* x, double* y) {
    for (index_t i = 0; i < n; ++i) {
        const T* row = a + i * n;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (index_t j = 0; j < n; ++j) s += static_cast<double>(row[j]) * x[j];
        y[i] = s;
    }
}
NP_ISA_VARIANTS((template <class T>), void, dense_matvec, (index_t n, const T* a, const double* x, double* y), (n, a, x, y), T)

// Mat-vec operators as Spectra wants them (double vectors). Single-threaded by design: the
// parallelism is across the independent solves (see arnoldi_radius).
template <class T>
class CsrOp {
public:
    using Scalar = double;
    CsrOp(const CsrMatrix<T>& a, Isa isa) : a_(a), matvec_(kMatvec[isa]) {}
    Eigen::Index rows() const { return a_.rows(); }
    Eigen::Index cols() const { return a_.cols(); }
    void perform_op(const double* x, double* y) const {
        matvec_(a_.rows(), a_.row_ptr().data(), a_.col_idx().data(), a_.values().data(), x, y);
    }

private:
    using Fn = void (*)(index_t, const std::int64_t*, const std::int32_t*, const T*, const double*, double*);
    static constexpr core::IsaTable<Fn> kMatvec = NP_ISA_TABLE(csr_matvec, <T>);
    const CsrMatrix<T>& a_;
    Fn matvec_;
};

template <class T>
class DenseOp {
public:
    using Scalar = double;
    DenseOp(ArrayView<const T> a, Isa isa) : n_(a.shape(0)), matvec_(kMatvec[isa]) {
        bool row_major = a.stride(1) == 1 && a.stride(0) == n_;
        if (!row_major) copy_ = Array<T>::copy_of(a);
        p_ = row_major ? a.data() : copy_.data();
    }
    Eigen::Index rows() const { return n_; }
    Eigen::Index cols() const { return n_; }
    void perform_op(const double* x, double* y) const { matvec_(n_, p_, x, y); }

private:
    using Fn = void (*)(index_t, const T*, const double*, double*);
    static constexpr core::IsaTable<Fn> kMatvec = NP_ISA_TABLE(dense_matvec, <T>);
    index_t n_;
    Fn matvec_;
    const T* p_ = nullptr;
    Array<T> copy_;
};

SpectralRadius radius_from_dense(const EigenResult& e, double norm_f, index_t n) {
    SpectralRadius r;
    for (index_t i = 0; i < e.eigenvalues_real.size(); ++i)
        r.value = std::max(r.value, std::hypot(e.eigenvalues_real.data()[i], e.eigenvalues_imag.data()[i]));
    r.solves = 1;
    r.method = "dense eigen-decomposition (" + e.method + ")";
    // Backward-stable: the eigenvalues are exact for A + E with ‖E‖ ≲ n·eps·‖A‖_F; the forward
    // error is that times the eigenvalue's condition number (1 for normal matrices).
    r.achieved_rel_accuracy = r.value > 0 ? std::min(1.0, static_cast<double>(n) * kEps * norm_f / r.value) : 0.0;
    r.verification = "dense eigen-decomposition: all eigenvalues computed, backward-stable (error ≲ n·eps·‖A‖_F/ρ "
                     "times the eigenvalue condition number)";
    return r;
}

// One Arnoldi solve: its largest verified modulus (0 if none), the residual of that pair, and
// the mat-vecs it used.
struct Solve {
    double top = 0;
    double residual = 0;
    int converged = 0;
    int verified = 0;
    long long matvecs = 0;
    int ncv = 0;
};

template <class Op>
Solve arnoldi_solve(Op& op, index_t n, int nev, int ncv, std::uint64_t seed, double tol, double accept_resid) {
    Solve s;
    s.ncv = ncv;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    Eigen::VectorXd v0(n);
    for (index_t i = 0; i < n; ++i) v0[i] = u(rng);
    Spectra::GenEigsSolver<Op> solver(op, nev, ncv);
    solver.init(v0.data());
    solver.compute(Spectra::SortRule::LargestMagn, 3000, tol, Spectra::SortRule::LargestMagn);
    s.matvecs = solver.num_operations();
    Eigen::VectorXcd vals = solver.eigenvalues();
    Eigen::MatrixXcd vecs = solver.eigenvectors();
    s.converged = static_cast<int>(vals.size());
    Eigen::VectorXd xr(n), xi(n), yr(n), yi(n);
    for (Eigen::Index j = 0; j < vals.size(); ++j) {
        std::complex<double> lam = vals[j];
        double mod = std::abs(lam);
        if (!(mod > 0) || !std::isfinite(mod)) continue;
        // True residual ‖A·v − λ·v‖ / (|λ|·‖v‖), not Spectra's estimate.
        xr = vecs.col(j).real();
        xi = vecs.col(j).imag();
        op.perform_op(xr.data(), yr.data());
        op.perform_op(xi.data(), yi.data());
        s.matvecs += 2;
        Eigen::VectorXd rr = yr - (lam.real() * xr - lam.imag() * xi);
        Eigen::VectorXd ri = yi - (lam.real() * xi + lam.imag() * xr);
        double vnorm = std::sqrt(xr.squaredNorm() + xi.squaredNorm());
        double res = std::sqrt(rr.squaredNorm() + ri.squaredNorm()) / (mod * vnorm);
        if (!(res <= accept_resid)) continue;
        ++s.verified;
        if (mod > s.top) {
            s.top = mod;
            s.residual = res;
        }
    }
    return s;
}

template <class Op>
SpectralRadius arnoldi_radius(Op& op, index_t n, const RadiusOptions& o, const char* arg) {
    const double rel_tol = o.rel_tol;
    // nev > 1 so that the wanted set holds several of the clustered top eigenvalues (a lone
    // wanted value can converge on the second largest before the largest has emerged) and a
    // conjugate pair is never split.
    const int nev = static_cast<int>(std::min<index_t>(o.nev > 0 ? o.nev : 6, n - 3));
    std::vector<Solve> solves;
    double best = 0;
    SpectralRadius r;
    std::uint64_t seed = 0x5eed5eedULL;
    for (int round = 0; round < o.max_rounds; ++round) {
        // Spectra's test is on its residual estimate; /2 leaves room for the true residual
        // (recomputed below, must be ≤ rel_tol) to differ slightly.
        double tol = rel_tol * 0.5 * std::pow(0.1, round);
        double accept = std::max(rel_tol, 1e3 * kEps);
        // Krylov sizes grow each round. Measured at N=10000, d=0.01 (docs/guide/spectral.md): nev=6
        // with ncv 80/90 and tol rel_tol/2 agreed on 3 of 3 matrices in 1,190-1,600 mat-vecs per
        // solve; nev=3 with ncv 40-70 converged on a smaller eigenvalue in 4 of 14 solves.
        int base = (o.ncv > 0 ? o.ncv : std::max(80, 3 * nev + 8)) + 20 * round;
        // The two solves of a round are independent: with two threads or more they run side by
        // side, each with a single-threaded mat-vec (no synchronisation per step, which costs
        // more than it saves at these sizes and collapses on a loaded machine).
        std::array<Solve, 2> round_solves;
        std::array<double, 2> seconds{};
        std::array<std::exception_ptr, 2> errors;
        std::array<std::uint64_t, 2> seeds{seed, seed + 1};
        seed += 2;
#pragma omp parallel for num_threads(o.threads >= 2 ? 2 : 1) schedule(static, 1)
        for (int k = 0; k < 2; ++k) {
            try {
                int ncv = static_cast<int>(std::min<index_t>(n, base + 10 * k));
                ncv = std::max(ncv, nev + 2);
                Timer timer;
                round_solves[static_cast<std::size_t>(k)] = arnoldi_solve(
                    op, n, nev, ncv, seeds[static_cast<std::size_t>(k)] * 0x9E3779B97F4A7C15ULL, tol, accept);
                seconds[static_cast<std::size_t>(k)] = timer.seconds();
            } catch (const Error&) {
                errors[static_cast<std::size_t>(k)] = std::current_exception();
            } catch (const std::bad_alloc&) {
                errors[static_cast<std::size_t>(k)] = std::current_exception();
            } catch (const std::exception& e) {  // Spectra's own: std::invalid_argument, ...
                errors[static_cast<std::size_t>(k)] =
                    std::make_exception_ptr(BackendError(fmt::format("{}: Spectra Arnoldi solve failed: {}", arg, e.what())));
            } catch (...) {
                errors[static_cast<std::size_t>(k)] = std::current_exception();
            }
        }
        for (int k = 0; k < 2; ++k) {
            if (errors[static_cast<std::size_t>(k)]) std::rethrow_exception(errors[static_cast<std::size_t>(k)]);
            const Solve& s = round_solves[static_cast<std::size_t>(k)];
            if (o.log)
                o.log(fmt::format("spectral_radius: Arnoldi round {} solve {}: ncv={} nev={} converged={} verified={} "
                                  "max|λ|={:.12g} residual={:.2e} matvecs={} ({:.3f} s)",
                                  round, k, s.ncv, nev, s.converged, s.verified, s.top, s.residual, s.matvecs,
                                  seconds[static_cast<std::size_t>(k)]));
            solves.push_back(s);
            best = std::max(best, s.top);
        }
        if (!(best > 0)) continue;
        // Every verified value is a true eigenvalue up to its residual, so a lower bound on ρ;
        // accept the largest once two independent solves reach it.
        int agree = 0;
        double spread = 0, resid = 0;
        long long matvecs = 0;
        for (const auto& s : solves) {
            matvecs += s.matvecs;
            if (s.top >= best * (1 - rel_tol)) {
                ++agree;
                spread = std::max(spread, (best - s.top) / best);
                resid = std::max(resid, s.residual);
            }
        }
        if (agree >= 2) {
            r.value = best;
            r.achieved_rel_accuracy = std::max(spread, resid);
            r.solves = static_cast<int>(solves.size());
            std::vector<int> ncvs;
            for (const auto& s : solves) ncvs.push_back(s.ncv);
            r.method = fmt::format("Arnoldi (Spectra GenEigsSolver), nev={}, ncv={}", nev, fmt::join(ncvs, ","));
            r.verification = fmt::format(
                "{} of {} independent solves (random starts, different Krylov sizes) agree on the largest verified "
                "modulus within {:.1e}; true residual ‖Av−λv‖/|λ| ≤ {:.1e}; {} mat-vecs",
                agree, solves.size(), spread, resid, matvecs);
            return r;
        }
    }
    std::vector<std::string> tops;
    for (const auto& s : solves) tops.push_back(fmt::format("{:.10g}", s.top));
    throw Error(fmt::format("{}: the spectral radius could not be verified to rel_tol={:g}: {} Arnoldi solves gave "
                            "largest verified moduli [{}] (n={}); no value is returned unverified",
                            arg, rel_tol, solves.size(), fmt::join(tops, ", "), n));
}

void check_rel_tol(double rel_tol) {
    if (!(rel_tol > 0 && rel_tol < 1))
        throw ValueError(fmt::format("rel_tol: expected a value in (0, 1), got {}", rel_tol));
}

constexpr index_t kMinArnoldiN = 8;

}  // namespace

template <class T>
SpectralRadius spectral_radius_dense(ArrayView<const T> a, const RadiusOptions& o, const char* arg) {
    check_rel_tol(o.rel_tol);
    check_square(a.layout(), arg);
    index_t n = a.shape(0);
    double norm2 = 0;
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) {
            double v = static_cast<double>(a(i, j));
            if (!std::isfinite(v)) throw_nonfinite(arg, i, j, v);
            norm2 += v * v;
        }
    if (norm2 == 0) return {0.0, 0.0, 0, "zero matrix", "all entries are zero"};
    bool arnoldi = n >= kMinArnoldiN && (o.force_arnoldi || n > o.dense_max_n);
    if (!arnoldi) return radius_from_dense(eigen_dense<T>(a, false, o.lapack, o.threads, arg), std::sqrt(norm2), n);
    DenseOp<T> op(a, o.isa);
    return arnoldi_radius(op, n, o, arg);
}

template <class T>
SpectralRadius spectral_radius_csr(const CsrMatrix<T>& a, const RadiusOptions& o, const char* arg) {
    check_rel_tol(o.rel_tol);
    index_t n = a.rows();
    if (a.rows() != a.cols() || n == 0)
        throw ShapeError(fmt::format("{}: expected a non-empty square CSR matrix, got shape ({}, {})", arg, a.rows(), a.cols()));
    double norm2 = 0;
    auto vals = a.values();
    for (std::size_t k = 0; k < vals.size(); ++k) {
        double v = static_cast<double>(vals[k]);
        if (!std::isfinite(v)) {
            auto rp = a.row_ptr();
            auto row = std::upper_bound(rp.begin(), rp.end(), static_cast<std::int64_t>(k)) - rp.begin() - 1;
            throw_nonfinite(arg, row, a.col_idx()[k], v);
        }
        norm2 += v * v;
    }
    if (norm2 == 0) return {0.0, 0.0, 0, "zero matrix", "no non-zero stored entry"};
    bool arnoldi = n >= kMinArnoldiN && (o.force_arnoldi || n > o.dense_max_n);
    if (!arnoldi) {
        Array<T> d = a.to_dense();
        return radius_from_dense(eigen_dense<T>(d.view(), false, o.lapack, o.threads, arg), std::sqrt(norm2), n);
    }
    CsrOp<T> op(a, o.isa);
    return arnoldi_radius(op, n, o, arg);
}

#define NEUROPERF_INSTANTIATE(T)                                                                                   \
    template EigenResult eigen_dense<T>(ArrayView<const T>, bool, const blas::Backend*, int, const char*);       \
    template SpectralRadius spectral_radius_dense<T>(ArrayView<const T>, const RadiusOptions&, const char*);      \
    template SpectralRadius spectral_radius_csr<T>(const CsrMatrix<T>&, const RadiusOptions&, const char*);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels

namespace neuroperf {
NEUROPERF_INSTANTIATE_TO_JSON(SpectralRadius);
}  // namespace neuroperf
