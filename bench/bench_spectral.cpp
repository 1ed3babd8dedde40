// Questions: (1) at which order does the verified Arnoldi spectral radius beat one dense
// eigen-decomposition (sets kernels::RadiusOptions::dense_max_n)? (2) what does the Eigen
// fallback cost against LAPACK dgeev? Sparse reservoirs of density 0.05 (uniform ±1 values),
// 2 threads; compare BM_RadiusDense/n with BM_RadiusArnoldi/n, BM_Eigvals/n/1 with /n/0.
#include <random>

#include <benchmark/benchmark.h>

#include "runtime/context_impl.hpp"
#include "kernels/spectral.hpp"

namespace {

using neuroperf::index_t;

neuroperf::CsrMatrix<double> reservoir(index_t n, double density) {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(0, 1);
    neuroperf::Array<double> d({n, n});
    for (index_t i = 0; i < n * n; ++i)
        if (u(rng) < density) d.data()[i] = 2 * u(rng) - 1;
    return neuroperf::CsrMatrix<double>::from_dense(d.view());
}

const neuroperf::blas::Backend* lapack() {
    return neuroperf::kernels::pick_lapack(neuroperf::runtime::impl_of(neuroperf::default_context()).registry());
}

void radius(benchmark::State& st, bool arnoldi) {
    auto w = reservoir(st.range(0), 0.05);
    neuroperf::kernels::RadiusOptions o;
    o.threads = 2;
    o.lapack = lapack();
    o.force_arnoldi = arnoldi;
    o.dense_max_n = arnoldi ? 0 : st.range(0);
    neuroperf::SpectralRadius r;
    for (auto _ : st) r = neuroperf::kernels::spectral_radius_csr<double>(w, o);
    st.SetLabel(r.method);
}

void BM_RadiusDense(benchmark::State& st) { radius(st, false); }
void BM_RadiusArnoldi(benchmark::State& st) { radius(st, true); }

void BM_Eigvals(benchmark::State& st) {
    index_t n = st.range(0);
    auto a = reservoir(n, 1.0).to_dense();
    const auto* be = st.range(1) ? lapack() : nullptr;
    neuroperf::EigenResult r;
    for (auto _ : st) r = neuroperf::kernels::eigen_dense<double>(a.view(), false, be, 2);
    st.SetLabel(r.method);
}

}  // namespace

BENCHMARK(BM_RadiusDense)->Arg(200)->Arg(400)->Arg(600)->Arg(800)->Arg(1200)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RadiusArnoldi)->Arg(200)->Arg(400)->Arg(600)->Arg(800)->Arg(1200)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Eigvals)->Args({100, 1})->Args({100, 0})->Args({500, 1})->Args({500, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
