// MKL optimizer example in C++ (examples/mkl_optimization_example.py is the Python version):
// a spiking-input echo state network built with MKLOptimizer — sparse reservoir scaled to
// spectral radius 0.9, spike trains filtered by an exponential synaptic kernel, the reservoir run
// over the sequence, a batch of spike patterns projected through a weight matrix — each result
// checked against a naive computation.
//
//   build/release/examples/mkl_optimization_example [--quick]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <neuroperf/error.hpp>
#include <neuroperf/mkl_optimizer.hpp>
#include <neuroperf/spectral.hpp>
#include <neuroperf/timer.hpp>
#include <neuroperf/version.hpp>

namespace np = neuroperf;

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const np::index_t n = quick ? 300 : 2000, steps = quick ? 500 : 5000, channels = quick ? 8 : 32;
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform;
    try {
        np::MKLConfig config{.num_threads = 0, .thread_affinity = "balanced", .enable_fast_math = true,
                             .precision_mode = "high", .verbose = false};
        np::MKLOptimizer opt = np::enable_mkl_optimization(config);
        std::printf("neuroperf %s: %d threads, sgemm %lldx%lld on %s\n", np::version(), opt.num_threads(),
                    static_cast<long long>(n), static_cast<long long>(n), opt.backend_for<float>(n, n, n).c_str());

        // 1. Matrix multiplication, checked on a few entries against a naive dot product.
        np::Array<float> a({n, n}), b({n, n});
        for (np::index_t i = 0; i < n * n; ++i) a.data()[i] = static_cast<float>(normal(rng));
        for (np::index_t i = 0; i < n * n; ++i) b.data()[i] = static_cast<float>(normal(rng));
        np::Timer timer;
        np::Array<float> c = opt.optimize_matrix_multiply<float>(a.view(), b.view());
        double t_mm = timer.seconds();
        double worst = 0;
        for (np::index_t probe = 0; probe < 16; ++probe) {
            np::index_t i = (probe * 7919) % n, j = (probe * 104729) % n;
            double ref = 0;
            for (np::index_t k = 0; k < n; ++k) ref += double(a(i, k)) * double(b(k, j));
            worst = std::max(worst, std::abs(ref - c(i, j)) / (std::sqrt(double(n)) + std::abs(ref)));
        }
        std::printf("matmul %lldx%lld float32: %.2f ms, %.1f GFLOP/s, max scaled error %.1e\n",
                    static_cast<long long>(n), static_cast<long long>(n), t_mm * 1e3, 2.0 * n * n * n / t_mm * 1e-9,
                    worst);

        // 2. Sparse reservoir (about 10 synapses per neuron) at spectral radius 0.9.
        np::Array<double> dense({n, n});
        for (np::index_t i = 0; i < n * n; ++i)
            dense.data()[i] = uniform(rng) < 10.0 / double(n) ? normal(rng) : 0.0;
        auto w = np::CsrMatrix<double>::from_dense(dense.view());
        np::SpectralRadius before = np::scale_to_spectral_radius(w, 0.9, opt.context());
        np::SpectralRadius after = opt.spectral_radius<double>(w);
        std::printf("reservoir %lld neurons, %lld synapses: spectral radius %.4f -> %.6f (%s)\n",
                    static_cast<long long>(n), static_cast<long long>(w.nnz()), before.value, after.value,
                    before.method.c_str());
        if (std::abs(after.value - 0.9) > 1e-5) throw np::ValueError("spectral radius scaling missed 0.9");

        // 3. Spike trains (channels x time) through an exponential synaptic kernel, causal part.
        np::Array<double> spikes({channels, steps});
        for (np::index_t i = 0; i < channels * steps; ++i) spikes.data()[i] = uniform(rng) < 0.05 ? 1.0 : 0.0;
        np::Array<double> full =
            opt.optimize_spike_convolution<double>(spikes.view(), np::ExponentialKernel(5.0, 1.0), "full");
        double conv_err = 0;
        for (np::index_t t = 0; t < steps; ++t) {  // naive causal filter of channel 0
            double ref = 0;
            for (np::index_t s = std::max<np::index_t>(0, t - 300); s <= t; ++s)
                ref += spikes(0, s) * std::exp(-double(t - s) / 5.0);
            conv_err = std::max(conv_err, std::abs(ref - full(0, t)));
        }
        std::printf("synaptic currents %lldx%lld: max deviation from the naive filter %.1e\n",
                    static_cast<long long>(channels), static_cast<long long>(steps), conv_err);

        // 4. The reservoir driven by the currents (time x channels).
        np::Array<double> inputs({steps, channels}), w_in({n, channels});
        for (np::index_t t = 0; t < steps; ++t)
            for (np::index_t ch = 0; ch < channels; ++ch) inputs(t, ch) = full(ch, t);
        for (np::index_t i = 0; i < n * channels; ++i) w_in.data()[i] = 0.5 * normal(rng);
        np::Array<double> state0({n});
        np::ReservoirOptions<double> ro;
        ro.leak_rate = 0.3;
        timer.reset();
        np::Array<double> states = opt.run_reservoir<double>(state0.view(), w_in.view(), w, inputs.view(), ro);
        double t_run = timer.seconds();
        double mean_abs = 0;
        for (np::index_t i = 0; i < states.size(); ++i) mean_abs += std::abs(states.data()[i]);
        std::printf("run_reservoir: %lld steps in %.1f ms (%.2f us/step), mean |x| %.3f\n",
                    static_cast<long long>(steps), t_run * 1e3, t_run / double(steps) * 1e6,
                    mean_abs / double(states.size()));

        // 5. A batch of sparse spike patterns through a weight matrix.
        np::Array<float> patterns({64, n}), weights({n, 100});
        for (np::index_t i = 0; i < 64 * n; ++i) patterns.data()[i] = uniform(rng) < 0.02 ? 1.f : 0.f;
        for (np::index_t i = 0; i < n * 100; ++i) weights.data()[i] = static_cast<float>(normal(rng));
        timer.reset();
        np::Array<float> out = opt.optimize_batch_processing<float>(patterns.view(), weights.view());
        double t_batch = timer.seconds();
        double batch_err = 0;
        for (np::index_t j = 0; j < 100; ++j) {
            double ref = 0;
            for (np::index_t k = 0; k < n; ++k) ref += double(patterns(0, k)) * double(weights(k, j));
            batch_err = std::max(batch_err, std::abs(ref - out(0, j)));
        }
        std::printf("batch 64x%lld @ %lldx100: %.0f us, max error %.1e\n", static_cast<long long>(n),
                    static_cast<long long>(n), t_batch * 1e6, batch_err);
        if (batch_err > 1e-3 || worst > 1e-5 || conv_err > 1e-9) throw np::ValueError("a result did not match");
        return 0;
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
