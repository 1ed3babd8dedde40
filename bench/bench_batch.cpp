// Question: where does event-driven accumulation stop beating the dense GEMM for
// spikes (B × N) · W (N × M)? Times both forced paths and the automatic choice over density,
// batch size, dtype and threads; the crossovers calibrate the cost model in kernels/batch.cpp
// (docs/guide/batch.md). Args: B, density in permille, threads, dtype (0 float, 1 double),
// path (0 auto, 1 gemm, 2 event). N = M = 4000 unless NEUROPERF_BATCH_BENCH_N is set.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "api/batch.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace {

using neuroperf::Array;
using neuroperf::index_t;
using neuroperf::kernels::BatchPath;

index_t size_n() {
    const char* v = std::getenv("NEUROPERF_BATCH_BENCH_N");
    return v ? std::atoll(v) : 4000;
}

template <class T>
const Array<T>& weights(index_t n) {
    static std::unique_ptr<Array<T>> w;
    if (!w || w->shape(0) != n) {
        w.reset();
        w = std::make_unique<Array<T>>(std::initializer_list<index_t>{n, n});
        std::mt19937_64 rng(42);
        std::normal_distribution<double> d;
        for (index_t i = 0; i < w->size(); ++i) w->data()[i] = static_cast<T>(d(rng));
    }
    return *w;
}

template <class T>
void run(benchmark::State& st) {
    const index_t B = st.range(0), n = size_n();
    const double p = static_cast<double>(st.range(1)) / 1000.0;
    neuroperf::MKLConfig cfg;
    cfg.num_threads = static_cast<int>(st.range(2));
    neuroperf::MKLOptimizer opt(cfg, neuroperf::default_context());
    const auto path = static_cast<BatchPath>(st.range(4));
    const Array<T>& w = weights<T>(n);
    Array<T> s({B, n});
    std::mt19937_64 rng(7);
    std::bernoulli_distribution on(p);
    index_t nnz = 0;
    for (index_t i = 0; i < s.size(); ++i)
        if (on(rng)) s.data()[i] = T(1), ++nnz;
    for (auto _ : st) {
        auto out = neuroperf::api::batch_processing<T>(opt, s.view(), w.view(), path);
        benchmark::DoNotOptimize(out.data());
    }
    auto chosen = neuroperf::kernels::choose_batch_path(B, n, n, nnz, neuroperf::dtype_of<T>(), cfg.num_threads);
    st.SetLabel(std::string(neuroperf::kernels::batch_path_name(path)) + " (model: " +
                neuroperf::kernels::batch_path_name(chosen) + ")");
}

void BM_Batch(benchmark::State& st) {
    if (st.range(3) == 0) run<float>(st);
    else run<double>(st);
}

void args(benchmark::internal::Benchmark* b) {
    for (int dt : {0, 1})
        for (int t : {1, 2})
            for (int B : {1, 16, 64, 256})
                for (int pm : {5, 20, 50, 100, 200, 300, 500})
                    for (int path : {1, 2}) b->Args({B, pm, t, dt, path});
}

}  // namespace

BENCHMARK(BM_Batch)->Apply(args)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.05);
