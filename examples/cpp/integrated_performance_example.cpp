// Integrated example in C++ (examples/integrated_performance_example.py is the Python version):
// a spiking liquid simulated with the JIT-compiled LIF step, its spike trains filtered by an
// exponential synaptic kernel (MKLOptimizer), and K readout reservoirs run in parallel
// (ParallelProcessor) on bands of the filtered activity; prints each stage's time.
//
//   build/release/examples/integrated_performance_example [--quick]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <neuroperf/error.hpp>
#include <neuroperf/jit_compiler.hpp>
#include <neuroperf/mkl_optimizer.hpp>
#include <neuroperf/parallel_processor.hpp>
#include <neuroperf/spectral.hpp>
#include <neuroperf/timer.hpp>

namespace np = neuroperf;

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const np::index_t n = quick ? 1000 : 4000, n_exc = n * 4 / 5, steps = quick ? 2000 : 8000;
    const double dt = 0.5;
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u01;
    std::normal_distribution<double> normal;
    try {
        np::MKLOptimizer mkl = np::enable_mkl_optimization();
        np::ParallelProcessor par = np::enable_parallel_processing();
        np::JITCompiler jit = np::enable_jit_compilation();

        // JIT: the liquid, 20 synapses per neuron, driven by a two-tone signal.
        np::LifSpec spec;
        spec.num_neurons = n;
        spec.exc_count = n_exc;
        spec.dt = dt;
        spec.refractory = 2;
        auto kernel = jit.compile_spike_processing_kernel<float>(spec);
        std::vector<std::int64_t> row_ptr{0};
        std::vector<std::int32_t> cols;
        std::vector<float> vals;
        for (np::index_t i = 0; i < n; ++i) {
            for (np::index_t j = 0; j < n; ++j)
                if (u01(rng) < 20.0 / double(n)) {
                    cols.push_back(static_cast<std::int32_t>(j));
                    vals.push_back(i < n_exc ? 0.8f : -3.f);
                }
            row_ptr.push_back(static_cast<std::int64_t>(cols.size()));
        }
        np::CsrMatrix<float> w(n, n, std::move(row_ptr), std::move(cols), std::move(vals));
        std::vector<float> v(static_cast<std::size_t>(n)), g_e(v.size()), g_i(v.size()), ring_e(v.size()),
            ring_i(v.size()), gain(v.size());
        std::vector<std::int32_t> refr(v.size()), fired(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) {
            v[i] = static_cast<float>(-60.0 + 10.0 * u01(rng));
            gain[i] = static_cast<float>(2.0 * u01(rng));
        }
        np::SpikeStepArgs<float> a{};
        a.v = v.data();
        a.g_e = g_e.data();
        a.g_i = g_i.data();
        a.refractory = refr.data();
        a.in_e = a.out_e = ring_e.data();
        a.in_i = a.out_i = ring_i.data();
        a.spikes = fired.data();
        a.row_ptr = w.row_ptr().data();
        a.col_idx = w.col_idx().data();
        a.weights = w.values().data();
        a.end = n;
        np::Array<float> spikes({n, steps});
        np::Timer timer;
        for (a.step = 0; a.step < steps; ++a.step) {
            double t = double(a.step) * dt;
            float drive = static_cast<float>(0.6 * (1.0 + std::sin(t / 40.0) + 0.5 * std::sin(t / 13.0)));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] += gain[i] * drive;
            kernel(a);
            for (std::int64_t s = 0; s < a.num_spikes; ++s) spikes(fired[static_cast<std::size_t>(s)], a.step) = 1.f;
        }
        double total = 0;
        for (np::index_t i = 0; i < spikes.size(); ++i) total += spikes.data()[i];
        std::printf("liquid: %lld neurons, %lld synapses, %.0f ms in %.2f s, %.1f Hz (kernel %s)\n",
                    static_cast<long long>(n), static_cast<long long>(w.nnz()), double(steps) * dt, timer.seconds(),
                    total / double(n) / (double(steps) * dt / 1000.0), kernel.is_compiled() ? "compiled" : "AOT");
        if (total == 0) throw np::ValueError("the liquid did not fire");

        // MKL: synaptic traces (causal part of the full convolution), time-major for the reservoirs.
        timer.reset();
        np::Array<float> full = mkl.optimize_spike_convolution<float>(spikes.view(), np::ExponentialKernel(10.0, dt), "full");
        std::printf("synaptic traces: %lld x %lld in %.1f ms\n", static_cast<long long>(n), static_cast<long long>(steps),
                    timer.seconds() * 1e3);

        // Parallel: K readout reservoirs, one per band of liquid neurons.
        const np::index_t k = 4, res_n = quick ? 200 : 500, band = n / k;
        std::vector<np::Array<float>> inputs, wins, x0s;
        std::vector<np::CsrMatrix<float>> ws;
        for (np::index_t r = 0; r < k; ++r) {
            np::Array<float> in({steps, band});
            for (np::index_t t = 0; t < steps; ++t)
                for (np::index_t j = 0; j < band; ++j) in(t, j) = full(r * band + j, t);
            inputs.push_back(std::move(in));
            np::Array<float> win({res_n, band});
            for (np::index_t i = 0; i < win.size(); ++i)
                win.data()[i] = static_cast<float>(normal(rng) * 0.5 / std::sqrt(double(band)));
            wins.push_back(std::move(win));
            np::Array<float> dense({res_n, res_n});
            for (np::index_t i = 0; i < dense.size(); ++i) dense.data()[i] = u01(rng) < 0.05 ? float(normal(rng)) : 0.f;
            ws.push_back(np::CsrMatrix<float>::from_dense(dense.view()));
            np::scale_to_spectral_radius(ws.back(), 0.9, par.context());
            x0s.emplace_back(np::Array<float>({res_n}));
        }
        std::vector<np::ArrayView<const float>> x0v, winv, uv;
        for (np::index_t r = 0; r < k; ++r) {
            x0v.push_back(x0s[static_cast<std::size_t>(r)].view());
            winv.push_back(wins[static_cast<std::size_t>(r)].view());
            uv.push_back(inputs[static_cast<std::size_t>(r)].view());
        }
        np::ReservoirOptions<float> ro;
        ro.leak_rate = 0.3f;
        timer.reset();
        auto states = par.parallel_reservoir_computation<float>(x0v, winv, std::span<const np::CsrMatrix<float>>(ws), uv, ro);
        std::printf("readout reservoirs: %lld x N=%lld in parallel in %.1f ms (%zu state sequences of %lld steps)\n",
                    static_cast<long long>(k), static_cast<long long>(res_n), timer.seconds() * 1e3, states.size(),
                    static_cast<long long>(states[0].shape(0)));
        auto stats = par.get_performance_stats();
        std::printf("parallel: %zu call(s), speed-up %.2fx over the serial estimate\n", stats.calls, stats.speedup);
        return 0;
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
