// Reservoir updates: how long does one echo-state-network step take, in the sequence variant
// (run_reservoir: one GEMM for U·W_inᵀ, then fused CSR steps) and as a single in-place step
// (dense and CSR)? Baselines: the scipy and ReservoirPy peers (bench/peers/scipy_esn.py,
// reservoirpy_esn.py) on the same inputs; the targets are per step:
//   N=500 d=0.01 D=50 fp32: ≤ 3 µs (scipy 10.2, ReservoirPy 35)
//   N=2000 d=0.1, 2 threads: ≤ 100 µs (scipy 305);  N=10000 d=0.1, 2 threads: ≤ 3.5 ms (scipy 9.9 ms)
// The counter "per_step" is seconds per step (wall time). Inputs: the recipe of
// apps/neuroperf/suite_reservoir.cpp (bit-identical to the peers'). Also float64 sequences and
// vector_tanh / vector_exp per element (docs/dev/elementwise.md).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/sparse.hpp"

namespace {

using namespace neuroperf;

constexpr std::uint64_t kSeed = 42;

double sym(std::uint64_t stream, std::uint64_t i) {
    return hash_to_symmetric(splitmix64(kSeed ^ (stream << 48) ^ i));
}

template <class T>
CsrMatrix<T> esn_w(index_t n, double density) {
    index_t k = std::max<index_t>(1, std::llround(density * static_cast<double>(n))), stride = n / k;
    std::vector<std::int64_t> ptr(static_cast<std::size_t>(n) + 1);
    std::vector<std::int32_t> col(static_cast<std::size_t>(n * k));
    std::vector<T> val(static_cast<std::size_t>(n * k));
    for (index_t i = 0; i < n; ++i) {
        ptr[static_cast<std::size_t>(i) + 1] = (i + 1) * k;
        for (index_t j = 0; j < k; ++j) {
            auto e = static_cast<std::uint64_t>(i * k + j);
            col[e] = static_cast<std::int32_t>(j * stride + static_cast<index_t>(splitmix64(kSeed ^ (1ull << 48) ^ e) %
                                                                                 static_cast<std::uint64_t>(stride)));
            val[e] = static_cast<T>(sym(2, e) * (1.0 / std::sqrt(static_cast<double>(k))));
        }
    }
    return CsrMatrix<T>(n, n, std::move(ptr), std::move(col), std::move(val));
}

template <class T>
Array<T> filled(std::initializer_list<index_t> shape, std::uint64_t stream, double scale) {
    Array<T> a(shape);
    for (index_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<T>(sym(stream, static_cast<std::uint64_t>(i)) * scale);
    return a;
}

MKLOptimizer optimizer(int threads) {
    MKLConfig cfg;
    cfg.num_threads = threads;
    return MKLOptimizer(cfg, default_context());
}

// args: N, density in 1/1000, threads. One iteration = a sequence of 100 steps.
template <class T>
void BM_ReservoirSequenceCsr(benchmark::State& st) {
    const index_t n = st.range(0), d = 50, steps = 100;
    const double density = static_cast<double>(st.range(1)) / 1000.0;
    auto opt = optimizer(static_cast<int>(st.range(2)));
    auto w = esn_w<T>(n, density);
    auto w_in = filled<T>({n, d}, 3, 0.5);
    auto inputs = filled<T>({steps, d}, 4, 1.0);
    Array<T> x0({n});
    for (auto _ : st) {
        auto states = opt.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view());
        benchmark::DoNotOptimize(states.data());
    }
    st.counters["per_step"] = benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsIterationInvariantRate |
                                                                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_ReservoirSequenceCsr<float>)
    ->ArgNames({"N", "density_milli", "threads"})
    ->Args({500, 10, 1})
    ->Args({2000, 100, 1})
    ->Args({2000, 100, 2})
    ->Args({10000, 100, 1})
    ->Args({10000, 100, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// float64 at precision "high": the vectorised HA tanh (kernels/vmath.hpp) in every step.
BENCHMARK(BM_ReservoirSequenceCsr<double>)
    ->ArgNames({"N", "density_milli", "threads"})
    ->Args({500, 10, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// vector_tanh / vector_exp per element (4096 elements per call, the result's allocation
// included); args: precision 0 high, 1 low, 2 ep.
template <class T, bool Tanh>
void BM_VectorMath(benchmark::State& st) {
    const char* modes[] = {"high", "low", "ep"};
    MKLConfig cfg;
    cfg.num_threads = 1;
    cfg.precision_mode = modes[st.range(0)];
    MKLOptimizer opt(cfg, default_context());
    auto x = filled<T>({4096}, 5, 3.0);
    for (auto _ : st) {
        auto y = Tanh ? opt.vector_tanh<T>(x.view()) : opt.vector_exp<T>(x.view());
        benchmark::DoNotOptimize(y.data());
    }
    st.SetItemsProcessed(st.iterations() * 4096);
}
BENCHMARK(BM_VectorMath<double, true>)->ArgName("precision")->DenseRange(0, 2);
BENCHMARK(BM_VectorMath<float, true>)->ArgName("precision")->Arg(0);
BENCHMARK(BM_VectorMath<double, false>)->ArgName("precision")->Arg(0);

// One in-place step (W_in·u computed in the fused pass): args N, density in 1/1000 (1000 = dense
// storage), threads.
template <class T>
void BM_ReservoirStepInplace(benchmark::State& st) {
    const index_t n = st.range(0), d = 50;
    const double density = static_cast<double>(st.range(1)) / 1000.0;
    auto opt = optimizer(static_cast<int>(st.range(2)));
    auto w_in = filled<T>({n, d}, 3, 0.5);
    auto u = filled<T>({d}, 4, 1.0);
    Array<T> x({n});
    if (st.range(1) >= 1000) {
        auto w = filled<T>({n, n}, 2, 1.0 / std::sqrt(static_cast<double>(n)));
        for (auto _ : st) {
            opt.reservoir_update_inplace<T>(x.view(), w_in.view(), w.view(), u.view());
            benchmark::DoNotOptimize(x.data());
        }
    } else {
        auto w = esn_w<T>(n, density);
        for (auto _ : st) {
            opt.reservoir_update_inplace<T>(x.view(), w_in.view(), w, u.view());
            benchmark::DoNotOptimize(x.data());
        }
    }
}
BENCHMARK(BM_ReservoirStepInplace<float>)
    ->ArgNames({"N", "density_milli", "threads"})
    ->Args({500, 10, 1})
    ->Args({500, 1000, 1})
    ->Args({2000, 1000, 1})
    ->Args({2000, 1000, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReservoirStepInplace<double>)
    ->ArgNames({"N", "density_milli", "threads"})
    ->Args({500, 10, 1})
    ->Args({2000, 1000, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
