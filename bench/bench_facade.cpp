// Question: what does the API's MKLOptimizer call cost on top of the GEMM it dispatches to?
// Compares, at small n where it matters, the kernel from Context::gemm (dispatched once) with
// matrix_multiply_into under fast math on (FTZ/DAZ set and restored per call) and off.
#include <benchmark/benchmark.h>

#include "neuroperf/mkl_optimizer.hpp"

namespace {

struct Inputs {
    explicit Inputs(neuroperf::index_t n) : a({n, n}), b({n, n}), c({n, n}) {
        for (neuroperf::index_t i = 0; i < n * n; ++i) a.data()[i] = b.data()[i] = 0.5f + static_cast<float>(i % 7);
    }
    neuroperf::Array<float> a, b, c;
};

void BM_DispatchedKernel(benchmark::State& st) {
    auto n = st.range(0);
    Inputs in(n);
    auto gemm = neuroperf::default_context().gemm<float>(n, n, n, 1);
    for (auto _ : st) gemm(false, false, n, n, n, 1.f, in.a.data(), n, in.b.data(), n, 0.f, in.c.data(), n);
    st.SetLabel(gemm.backend());
}

void BM_Optimizer(benchmark::State& st) {
    auto n = st.range(0);
    Inputs in(n);
    neuroperf::MKLConfig cfg;
    cfg.num_threads = 1;
    cfg.enable_fast_math = st.range(1) != 0;
    neuroperf::MKLOptimizer opt(cfg, neuroperf::default_context());
    for (auto _ : st) opt.matrix_multiply_into<float>(in.a.view(), in.b.view(), in.c.view());
    st.SetLabel(cfg.enable_fast_math ? "fast_math" : "ieee");
}

}  // namespace

BENCHMARK(BM_DispatchedKernel)->Arg(8)->Arg(32);
BENCHMARK(BM_Optimizer)->Args({8, 0})->Args({8, 1})->Args({32, 0})->Args({32, 1});
