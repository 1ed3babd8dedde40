// Question: how fast is each spike-convolution algorithm on the target workload, and does
// the cost model pick the fastest? 1000 channels × 10⁴ steps, Bernoulli p = 0.02 spikes,
// exponential kernel τ = 20 steps (691 taps float64 / 323 float32) or a 100-tap FIR, "same" mode.
// Baselines: scipy.signal.lfilter / fftconvolve and numpy.convolve (bench/peers/scipy_conv.py).
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "neuroperf/mkl_optimizer.hpp"

namespace {

using neuroperf::index_t;

template <class T>
const neuroperf::Array<T>& spike_input() {
    static neuroperf::Array<T> x = [] {
        neuroperf::Array<T> a({1000, 10000});
        std::mt19937_64 rng(42);
        std::bernoulli_distribution spike(0.02);
        for (index_t i = 0; i < a.size(); ++i) a.data()[i] = spike(rng) ? T(1) : T(0);
        return a;
    }();
    return x;
}

const char* kAlgos[] = {"auto", "direct", "event", "fft", "iir"};

// range(0): 0 = exponential family, 1 = 100-tap FIR; range(1): algorithm index; range(2): threads.
template <class T>
void BM_Conv(benchmark::State& st) {
    const auto& x = spike_input<T>();
    bool fir = st.range(0) != 0;
    std::string algo = kAlgos[st.range(1)];
    if (fir && algo == "iir") {
        st.SkipWithError("iir needs a family");
        return;
    }
    neuroperf::MKLConfig cfg;
    cfg.num_threads = static_cast<int>(st.range(2));
    neuroperf::MKLOptimizer opt(cfg, neuroperf::default_context());
    neuroperf::ConvolutionOptions o;
    o.algorithm = algo;
    neuroperf::Array<T> taps({100});
    for (index_t i = 0; i < 100; ++i) taps(i) = static_cast<T>(std::exp(-static_cast<double>(i) / 20.0));
    auto family = neuroperf::ExponentialKernel(20, 1);
    for (auto _ : st) {
        auto y = fir ? opt.optimize_spike_convolution<T>(x.view(), taps.view(), "same", o)
                     : opt.optimize_spike_convolution<T>(x.view(), family, "same", o);
        benchmark::DoNotOptimize(y.data());
    }
    st.SetLabel(std::string(fir ? "fir100/" : "exp/") + algo);
}

void args(benchmark::internal::Benchmark* b) {
    for (int kernel : {0, 1})
        for (int a = 0; a < 5; ++a)
            for (int t : {1, 2}) b->Args({kernel, a, t});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Conv, float)->Apply(args);
BENCHMARK_TEMPLATE(BM_Conv, double)->Apply(args);
