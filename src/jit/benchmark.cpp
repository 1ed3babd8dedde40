// JITCompiler::benchmark_jit_performance: cold compiles, warm loads (disk, memory) and the
// compiled against the AOT spike processing kernel.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <stdlib.h>

#include <fmt/format.h>

#include "core/bench_args.hpp"
#include "jit/registry.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "neuroperf/stats.hpp"

namespace neuroperf {

namespace {

template <class F>
double seconds(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<JitBenchmarkEntry> JITCompiler::benchmark_jit_performance(std::vector<index_t> test_sizes, int num_iterations,
                                                                      const ProgressFn& progress) const {
    core::check_benchmark_arguments(test_sizes, "test_sizes", num_iterations, 1000000);
    std::vector<JitBenchmarkEntry> rows;
    const double units = 2.0 * static_cast<double>(test_sizes.size());
    double done = 0;
    auto report = [&](std::string_view part, index_t n) {
        if (progress) progress(++done / units, fmt::format("{} N={}", part, n));
    };
    auto quiet = [this] {
        ContextOptions o;
        o.calibrate = false;
        o.log = context_.options().log;
        return o;
    };
    for (index_t n : test_sizes) {
        LifSpec spec;
        spec.num_neurons = n;
        spec.exc_count = n * 4 / 5;
        spec.i_ext = 20;  // drive above threshold: the network fires
        std::string cache = (std::filesystem::temp_directory_path() / "neuroperf-jitbench-XXXXXX").string();
        if (!::mkdtemp(cache.data())) throw IOError("benchmark_jit_performance: mkdtemp failed");
        std::vector<double> cold, disk, memory;
        bool compiled = true;
        for (int it = 0; it < num_iterations; ++it) {
            auto o = quiet();
            o.cache_dir = std::filesystem::path(cache) / std::to_string(it);
            JITCompiler c(config_, make_context(o));
            c.cache_directory();  // directory set-up is not compile time
            jit::registry_of(c.context()).toolchain();
            cold.push_back(seconds([&] { compiled = c.compile_spike_processing_kernel<float>(spec).is_compiled() && compiled; }));
            JITCompiler warm(config_, make_context(o));
            warm.cache_directory();
            jit::registry_of(warm.context()).toolchain();
            disk.push_back(seconds([&] { (void)warm.compile_spike_processing_kernel<float>(spec); }));
            const int reps = 1000;
            memory.push_back(seconds([&] {
                for (int k = 0; k < reps; ++k) (void)warm.compile_spike_processing_kernel<float>(spec);
            }) / reps);
        }
        std::error_code ec;
        std::filesystem::remove_all(cache, ec);
        if (compiled) {  // no compiler: only the AOT row is meaningful
            rows.push_back({fmt::format("compile/spike_processing/cold/N={}", n), median(cold)});
            rows.push_back({fmt::format("load/spike_processing/warm_disk/N={}", n), median(disk)});
            rows.push_back({fmt::format("load/spike_processing/warm_memory/N={}", n), median(memory)});
        }
        report("compile", n);
    }
    // Kernel time: 100 steps of a recurrent network, 100 synapses per neuron (or N).
    for (index_t n : test_sizes) {
        LifSpec spec;
        spec.num_neurons = n;
        spec.exc_count = n * 4 / 5;
        spec.i_ext = 20;
        index_t k = std::min<index_t>(n, 100);
        std::vector<std::int64_t> rp(static_cast<std::size_t>(n) + 1);
        std::vector<std::int32_t> col(static_cast<std::size_t>(n * k));
        std::vector<float> w(static_cast<std::size_t>(n * k));
        for (index_t i = 0; i < n; ++i) {
            rp[static_cast<std::size_t>(i) + 1] = (i + 1) * k;
            for (index_t j = 0; j < k; ++j) {
                col[static_cast<std::size_t>(i * k + j)] = static_cast<std::int32_t>(j * (n / k));
                w[static_cast<std::size_t>(i * k + j)] = i < spec.exc_count ? 0.5f : -2.0f;
            }
        }
        for (bool use_jit : {true, false}) {
            JITConfig cfg = config_;
            cfg.enable_jit = use_jit;
            JITCompiler c(cfg, context_);
            auto kernel = c.compile_spike_processing_kernel<float>(spec);
            if (use_jit && !kernel.is_compiled()) continue;
            std::vector<float> v(static_cast<std::size_t>(n)), ge(v.size()), gi(v.size()), ie(v.size()), ii(v.size());
            std::vector<std::int32_t> rf(v.size()), spikes(v.size());
            for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(-60 + 10 * hash_to_unit(splitmix64(static_cast<std::uint64_t>(i))));
            SpikeStepArgs<float> a{v.data(), ge.data(), gi.data(), rf.data(), ie.data(), ii.data(), spikes.data(), 0,
                                   rp.data(), col.data(), w.data(), nullptr, ie.data(), ii.data(), 0, n, 0};
            std::vector<double> times;
            const int steps = 100;
            for (int it = 0; it < num_iterations; ++it)
                times.push_back(seconds([&] {
                    for (int s = 0; s < steps; ++s, ++a.step) kernel(a);
                }) / steps);
            rows.push_back({fmt::format("spike_processing/{}/N={}", use_jit ? "jit" : "aot", n), median(times)});
        }
        report("kernel", n);
    }
    return rows;
}

}  // namespace neuroperf
