// Question: how close does the builtin GEMM (the fallback when no BLAS library is present) come
// to the machine's peak? Square sgemm/dgemm, C = A·B, n ∈ {64, 256, 1024}, one thread; the
// GFLOPS counter (2n³ per iteration) compares directly with the peers in bench/peers and with
// the per-core peak (Zen 4 fp32 ≈ 115 GFLOP/s at 3.6 GHz).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "blas/builtin_gemm.hpp"

namespace {

template <class T>
void BM_builtin_gemm(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  std::mt19937 rng(1);
  std::uniform_real_distribution<T> u(T(-1), T(1));
  std::vector<T> a(static_cast<std::size_t>(n * n)), b(a.size()), c(a.size());
  for (T& x : a) x = u(rng);
  for (T& x : b) x = u(rng);
  for (auto _ : state) {
    neuroperf::blas::builtin::gemm<T>(false, false, n, n, n, T(1), a.data(), n, b.data(), n,
                                      T(0), c.data(), n, threads);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = benchmark::Counter(
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) * 1e-9 *
          static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(neuroperf::isa_name(neuroperf::best_isa()));
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "threads"});
  for (std::int64_t n : {64, 256, 1024}) {
    b->Args({n, 1});
  }
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_TEMPLATE(BM_builtin_gemm, float)->Name("builtin_sgemm")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_builtin_gemm, double)->Name("builtin_dgemm")->Apply(sizes);

}  // namespace
