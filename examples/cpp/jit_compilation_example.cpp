// JIT compilation example in C++ (examples/jit_compilation_example.py is the Python version): the
// Vogels-Abbott CUBA network step compiled for its constants and checked bit-identical to the AOT
// kernel, a FIR kernel with its taps baked in, and a memory layout.
//
//   build/release/examples/jit_compilation_example [--quick]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <neuroperf/error.hpp>
#include <neuroperf/jit_compiler.hpp>
#include <neuroperf/sparse.hpp>
#include <neuroperf/timer.hpp>

namespace np = neuroperf;

struct State {
    std::vector<float> v, g_e, g_i, ring_e, ring_i;
    std::vector<std::int32_t> refractory, spikes;
};

// Runs `steps` recurrent steps; returns the number of spikes.
long simulate(const np::SpikeProcessingKernel<float>& kernel, const np::CsrMatrix<float>& w, State& s, long steps) {
    np::SpikeStepArgs<float> a{};
    a.v = s.v.data();
    a.g_e = s.g_e.data();
    a.g_i = s.g_i.data();
    a.refractory = s.refractory.data();
    a.in_e = a.out_e = s.ring_e.data();
    a.in_i = a.out_i = s.ring_i.data();
    a.spikes = s.spikes.data();
    a.row_ptr = w.row_ptr().data();
    a.col_idx = w.col_idx().data();
    a.weights = w.values().data();
    a.begin = 0;
    a.end = w.rows();
    long total = 0;
    for (a.step = 0; a.step < steps; ++a.step) {
        kernel(a);
        total += a.num_spikes;
    }
    return total;
}

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    try {
        np::JITCompiler jit = np::enable_jit_compilation(np::JITConfig{});
        std::printf("compiler: %s\ncache: %s\n", jit.compiler_description().c_str(), jit.cache_directory().c_str());

        // CUBA: 3200 excitatory + 800 inhibitory neurons, p = 0.02, w_e 1.62 mV, w_i -9 mV.
        const np::index_t n = 4000, n_exc = 3200;
        const long steps = quick ? 2000 : 10000;
        np::LifSpec spec;
        spec.num_neurons = n;
        spec.exc_count = n_exc;
        spec.v_rest = -49;
        std::mt19937_64 rng(7);
        std::uniform_real_distribution<double> u01;
        std::vector<std::int64_t> row_ptr{0};
        std::vector<std::int32_t> cols;
        std::vector<float> vals;
        for (np::index_t i = 0; i < n; ++i) {
            for (np::index_t j = 0; j < n; ++j)
                if (u01(rng) < 0.02) {
                    cols.push_back(static_cast<std::int32_t>(j));
                    vals.push_back(i < n_exc ? 1.62f : -9.f);
                }
            row_ptr.push_back(static_cast<std::int64_t>(cols.size()));
        }
        np::CsrMatrix<float> w(n, n, std::move(row_ptr), std::move(cols), std::move(vals));

        np::Timer timer;
        auto kernel = jit.compile_spike_processing_kernel<float>(spec);
        double t_compile = timer.seconds();
        auto aot = np::JITCompiler(np::JITConfig{.enable_jit = false}).compile_spike_processing_kernel<float>(spec);

        auto fresh = [&] {
            State s;
            std::mt19937_64 r(9);
            std::uniform_real_distribution<float> v0(-60.f, -50.f);
            for (np::index_t i = 0; i < n; ++i) s.v.push_back(v0(r));
            s.g_e.assign(static_cast<std::size_t>(n), 0.f);
            s.g_i.assign(static_cast<std::size_t>(n), 0.f);
            s.ring_e.assign(static_cast<std::size_t>(n), 0.f);
            s.ring_i.assign(static_cast<std::size_t>(n), 0.f);
            s.refractory.assign(static_cast<std::size_t>(n), 0);
            s.spikes.assign(static_cast<std::size_t>(n), 0);
            return s;
        };
        State a = fresh(), b = fresh();
        timer.reset();
        long spikes = simulate(kernel, w, a, steps);
        double t_jit = timer.seconds();
        timer.reset();
        long spikes_aot = simulate(aot, w, b, steps);
        double t_aot = timer.seconds();
        bool same = spikes == spikes_aot && std::memcmp(a.v.data(), b.v.data(), a.v.size() * sizeof(float)) == 0;
        std::printf("CUBA %lld neurons, %lld synapses, %.0f ms: %ld spikes (%.1f Hz); kernel %s in %.1f ms\n",
                    static_cast<long long>(n), static_cast<long long>(w.nnz()), double(steps) * spec.dt, spikes,
                    double(spikes) / double(n) / (double(steps) * spec.dt / 1000.0),
                    kernel.is_compiled() ? "compiled" : "AOT", t_compile * 1e3);
        std::printf("loop %.3f s (AOT kernel %.3f s), identical: %s\n", t_jit, t_aot, same ? "yes" : "NO");
        if (!same) throw np::ValueError("compiled and AOT kernels disagree");

        // A FIR kernel with 50 exponential taps baked in.
        np::Array<double> taps({50}), x({20000});
        for (np::index_t i = 0; i < 50; ++i) taps(i) = std::exp(-double(i) / 10.0);
        for (np::index_t i = 0; i < 20000; ++i) x(i) = u01(rng) < 0.05 ? 1.0 : 0.0;
        auto fir = jit.compile_convolution_kernel<double>(taps.view(), 20000, "same");
        np::Array<double> y = fir(x.view());
        double err = 0;
        for (np::index_t j = 0; j < 20000; j += 997) {  // naive numpy "same" output j
            double ref = 0;
            for (np::index_t k = 0; k < 50; ++k) {
                np::index_t i = j + 24 - k;  // full index j + (50 - 1) / 2
                if (i >= 0 && i < 20000) ref += x(i) * taps(k);
            }
            err = std::max(err, std::abs(ref - y(j)));
        }
        std::printf("FIR kernel (compiled: %s): max error vs the naive sum %.1e\n", fir.is_compiled() ? "yes" : "no", err);
        if (err > 1e-12) throw np::ValueError("FIR kernel result is wrong");

        np::Array<float> m({1000, 300});
        auto laid = jit.optimize_memory_layout<float>(m.view(), "blocked");
        std::printf("blocked layout: %lld tiles of 64x64 (copied: %s)\n", static_cast<long long>(laid.view.shape(0)),
                    laid.copied ? "yes" : "no");
        return 0;
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
