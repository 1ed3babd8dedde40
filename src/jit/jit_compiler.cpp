// The seed's JITCompiler façade: descriptor -> registry (src/jit/registry.cpp) -> kernel object
// that calls the compiled entry or the AOT kernel (src/kernels/lif.cpp).
#include "neuroperf/jit_compiler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <stdlib.h>

#include <fmt/format.h>

#include "facade/context_impl.hpp"
#include "jit/registry.hpp"
#include "jit/conv_codegen.hpp"
#include "jit/spike_codegen.hpp"
#include "kernels/convolution.hpp"
#include "kernels/lif.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/hash_random.hpp"

namespace neuroperf {

const char* synapse_model_name(SynapseModel model) {
    return model == SynapseModel::conductance ? "conductance" : "current";
}

namespace {

void check_finite(const char* field, double x) {
    if (!std::isfinite(x)) throw ValueError(fmt::format("LifSpec.{}: expected a finite value, got {}", field, x));
}
void check_positive(const char* field, double x) {
    check_finite(field, x);
    if (!(x > 0)) throw ValueError(fmt::format("LifSpec.{}: expected > 0, got {}", field, x));
}

}  // namespace

void LifSpec::validate() const {
    check_positive("dt", dt);
    check_positive("tau_m", tau_m);
    check_positive("tau_e", tau_e);
    check_positive("tau_i", tau_i);
    for (auto [name, x] : {std::pair{"v_rest", v_rest}, {"v_reset", v_reset}, {"v_thresh", v_thresh}, {"i_ext", i_ext},
                           {"e_exc", e_exc}, {"e_inh", e_inh}, {"refractory", refractory}})
        check_finite(name, x);
    if (refractory < 0) throw ValueError(fmt::format("LifSpec.refractory: expected ≥ 0 ms, got {}", refractory));
    if (refractory / dt > 1e9) throw ValueError(fmt::format("LifSpec.refractory: {} ms is more than 1e9 steps of dt={}", refractory, dt));
    constexpr index_t kMaxN = std::numeric_limits<std::int32_t>::max();
    if (num_neurons < 0 || num_neurons > kMaxN)
        throw ValueError(fmt::format("LifSpec.num_neurons: expected 0..{}, got {}", kMaxN, num_neurons));
    if (num_targets < 0 || num_targets > kMaxN)
        throw ValueError(fmt::format("LifSpec.num_targets: expected 0..{} (0 = num_neurons), got {}", kMaxN, num_targets));
    if (exc_count < -1 || exc_count > num_neurons)
        throw ValueError(fmt::format("LifSpec.exc_count: expected -1 (all) or 0..num_neurons={}, got {}", num_neurons, exc_count));
    if (max_delay < 1 || max_delay > 1 << 20)
        throw ValueError(fmt::format("LifSpec.max_delay: expected 1..{} steps, got {}", 1 << 20, max_delay));
    if (uniform_delay < 0 || uniform_delay > max_delay)
        throw ValueError(fmt::format("LifSpec.uniform_delay: expected 0 (per synapse) or 1..max_delay={}, got {}",
                                     max_delay, uniform_delay));
}

std::int32_t LifSpec::refractory_steps() const { return static_cast<std::int32_t>(std::llround(refractory / dt)); }

// --- kernel object ------------------------------------------------------------------------

template <class T>
struct SpikeProcessingKernel<T>::State {
    LifSpec spec;
    kernels::LifConstants<T> constants;
    std::shared_ptr<const jit::KernelOutcome> outcome;  // module kept alive here
    void (*entry)(void*, int) = nullptr;
    std::string aot_source, no_key;
};

namespace {

template <class T>
void check_range(const LifSpec& spec, const SpikeStepArgs<T>& a) {
    if (a.begin < 0 || a.end < a.begin || a.end > spec.num_neurons)
        throw ValueError(fmt::format("SpikeStepArgs: expected 0 ≤ begin ≤ end ≤ num_neurons={}, got begin={} end={}",
                                     spec.num_neurons, a.begin, a.end));
    if (a.step < 0) throw ValueError(fmt::format("SpikeStepArgs.step: expected ≥ 0, got {}", a.step));
}

}  // namespace

template <class T>
void SpikeProcessingKernel<T>::update(SpikeStepArgs<T>& args) const {
    check_range(state_->spec, args);
    if (state_->entry) state_->entry(&args, kernels::kLifUpdate);
    else kernels::lif_step(state_->constants, args, kernels::kLifUpdate);
}

template <class T>
void SpikeProcessingKernel<T>::propagate(SpikeStepArgs<T>& args) const {
    if (args.num_spikes < 0 || args.num_spikes > state_->spec.num_neurons)
        throw ValueError(fmt::format("SpikeStepArgs.num_spikes: expected 0..num_neurons={}, got {}",
                                     state_->spec.num_neurons, args.num_spikes));
    if (args.step < 0) throw ValueError(fmt::format("SpikeStepArgs.step: expected ≥ 0, got {}", args.step));
    if (state_->entry) state_->entry(&args, kernels::kLifPropagate);
    else kernels::lif_step(state_->constants, args, kernels::kLifPropagate);
}

template <class T>
void SpikeProcessingKernel<T>::operator()(SpikeStepArgs<T>& args) const {
    check_range(state_->spec, args);
    if (state_->entry) state_->entry(&args, kernels::kLifUpdate | kernels::kLifPropagate);
    else kernels::lif_step(state_->constants, args, kernels::kLifUpdate | kernels::kLifPropagate);
}

template <class T>
const LifSpec& SpikeProcessingKernel<T>::spec() const {
    return state_->spec;
}
template <class T>
const std::string& SpikeProcessingKernel<T>::source() const {
    return state_->outcome ? state_->outcome->source : state_->aot_source;
}
template <class T>
const std::string& SpikeProcessingKernel<T>::key() const {
    return state_->outcome ? state_->outcome->key : state_->no_key;
}
template <class T>
bool SpikeProcessingKernel<T>::is_compiled() const {
    return state_->entry != nullptr;
}
template <class T>
const std::string& SpikeProcessingKernel<T>::fallback_reason() const {
    static const std::string disabled = "JIT disabled (JITConfig.enable_jit = false)";
    static const std::string none;
    if (state_->entry) return none;
    return state_->outcome ? state_->outcome->reason : disabled;
}

// --- compiler ------------------------------------------------------------------------------

JITCompiler::JITCompiler(JITConfig config) : JITCompiler(config, [&] {
    ContextOptions o;
    o.verbose = config.verbose;
    o.calibrate = false;  // the JIT does not use the BLAS choice
    return make_context(o);
}()) {}

JITCompiler::JITCompiler(JITConfig config, Context context) : config_(config), context_(std::move(context)) {}

template <class T>
SpikeProcessingKernel<T> JITCompiler::compile_spike_processing_kernel(const LifSpec& spec) const {
    spec.validate();
    auto st = std::make_shared<typename SpikeProcessingKernel<T>::State>();
    st->spec = spec;
    st->constants = kernels::lif_constants<T>(spec);
    if (!config_.enable_jit) {
        st->aot_source = jit::spike_source<T>(spec, "neuroperf_jit_spike_processing", config_.enable_parallel_loops,
                                              config_.enable_fastmath);
        if (config_.verbose) context_.impl().options.log("jit: disabled, spike processing runs the AOT kernel");
        return SpikeProcessingKernel<T>(std::move(st));
    }
    jit::KernelRequest req;
    req.kernel = "spike_processing";
    req.descriptor = jit::spike_descriptor<T>(spec, config_.enable_parallel_loops);
    bool parallel = config_.enable_parallel_loops, fastmath = config_.enable_fastmath;
    req.generate = [&spec, parallel, fastmath](const std::string& entry) {
        return jit::spike_source<T>(spec, entry, parallel, fastmath);
    };
    req.fastmath = config_.enable_fastmath;
    req.parallel = parallel;
    req.persistent = config_.cache_compiled_functions;
    // LLVM's unroller takes a third of clang's time on this kernel (CUBA ~95 → ~63 ms, COBA
    // ~126 → ~92 ms) for no measured speed: the update loop is vectorised all the same
    // (docs/dev/jit.md, cold compile).
    req.extra_flags = {"-fno-unroll-loops"};
    st->outcome = jit::registry_of(context_).get(req, config_.verbose);
    st->entry = reinterpret_cast<void (*)(void*, int)>(st->outcome->entry);
    return SpikeProcessingKernel<T>(std::move(st));
}


std::filesystem::path JITCompiler::cache_directory() const {
    return jit::registry_of(context_).directory(config_.cache_compiled_functions, config_.verbose);
}

std::string JITCompiler::compiler_description() const {
    const auto& tc = jit::registry_of(context_).toolchain();
    if (tc.path.empty()) return {};
    return fmt::format("{} ({})", tc.path.string(), tc.version_line);
}

// --- convolution ---------------------------------------------------------------------------

template <class T>
struct ConvolutionKernel<T>::State {
    std::vector<T> taps;
    kernels::ConvGeometry geometry;
    std::shared_ptr<const jit::KernelOutcome> outcome;
    void (*entry)(const void*, void*) = nullptr;
    std::string aot_source, no_key;
};

template <class T>
void ConvolutionKernel<T>::operator()(const T* x, T* out) const {
    const auto& st = *state_;
    if (st.entry) {
        st.entry(x, out);
        return;
    }
    kernels::ConvBatch<T> b;
    b.x = x;
    b.channels = 1;
    b.out = out;
    kernels::conv_direct(b, st.taps.data(), st.geometry, 1);
}

template <class T>
Array<T> ConvolutionKernel<T>::operator()(ArrayView<const T> x) const {
    const auto& g = state_->geometry;
    if (x.rank() < 1 || x.rank() > 2 || x.shape(x.rank() - 1) != g.n)
        throw ShapeError(fmt::format("x: expected shape ({}) or (channels, {}), got {}", g.n, g.n, x.layout().shape_string()));
    const index_t channels = x.rank() == 2 ? x.shape(0) : 1;
    Array<T> out = x.rank() == 2 ? Array<T>({channels, g.out_len}) : Array<T>({g.out_len});
    std::vector<T> row(static_cast<std::size_t>(g.n));
    const index_t ts = x.stride(x.rank() - 1), cs = x.rank() == 2 ? x.stride(0) : 0;
    for (index_t c = 0; c < channels; ++c) {
        const T* src = x.data() + c * cs;
        if (ts != 1) {
            for (index_t t = 0; t < g.n; ++t) row[static_cast<std::size_t>(t)] = src[t * ts];
            src = row.data();
        }
        (*this)(src, out.data() + c * g.out_len);
    }
    return out;
}

template <class T>
index_t ConvolutionKernel<T>::signal_length() const {
    return state_->geometry.n;
}
template <class T>
index_t ConvolutionKernel<T>::output_length() const {
    return state_->geometry.out_len;
}
template <class T>
const std::string& ConvolutionKernel<T>::source() const {
    return state_->outcome ? state_->outcome->source : state_->aot_source;
}
template <class T>
const std::string& ConvolutionKernel<T>::key() const {
    return state_->outcome ? state_->outcome->key : state_->no_key;
}
template <class T>
bool ConvolutionKernel<T>::is_compiled() const {
    return state_->entry != nullptr;
}
template <class T>
const std::string& ConvolutionKernel<T>::fallback_reason() const {
    static const std::string disabled = "JIT disabled (JITConfig.enable_jit = false)";
    static const std::string none;
    if (state_->entry) return none;
    return state_->outcome ? state_->outcome->reason : disabled;
}

template <class T>
ConvolutionKernel<T> JITCompiler::compile_convolution_kernel(ArrayView<const T> taps, index_t signal_length,
                                                             const std::string& mode) const {
    kernels::ConvMode m;
    if (mode == "full") m = kernels::ConvMode::full;
    else if (mode == "same") m = kernels::ConvMode::same;
    else if (mode == "valid") m = kernels::ConvMode::valid;
    else throw ValueError(fmt::format("mode: expected \"full\", \"same\" or \"valid\", got \"{}\"", mode));
    if (taps.rank() != 1 || taps.size() < 1)
        throw ShapeError(fmt::format("taps: expected a non-empty 1-D array, got {}", taps.layout().shape_string()));
    if (signal_length < 1) throw ValueError(fmt::format("signal_length: expected ≥ 1, got {}", signal_length));
    if (taps.size() > 1000000) throw ValueError(fmt::format("taps: at most 1000000 can be baked in, got {}", taps.size()));
    auto st = std::make_shared<typename ConvolutionKernel<T>::State>();
    for (index_t i = 0; i < taps.size(); ++i) {
        T v = taps(i);
        if (!std::isfinite(v)) throw ValueError(fmt::format("taps: expected finite values, got {} at index {}", v, i));
        st->taps.push_back(v);
    }
    st->geometry = kernels::conv_geometry(m, signal_length, taps.size());
    if (!config_.enable_jit) {
        st->aot_source = jit::conv_source<T>(st->taps, st->geometry, "neuroperf_jit_convolution", jit::aot_uses_fma());
        return ConvolutionKernel<T>(std::move(st));
    }
    jit::KernelRequest req;
    req.kernel = "convolution";
    const bool fma = jit::aot_uses_fma() || config_.enable_fastmath;
    const bool fastmath = config_.enable_fastmath;
    const bool tiled = jit::conv_tiled(st->geometry.k, fastmath, fma);
    req.descriptor = jit::conv_descriptor<T>(st->taps, st->geometry, fma) + (tiled ? "/tiled2" : "");
    const auto* state = st.get();
    req.generate = [state, fma, fastmath](const std::string& entry) {
        return jit::conv_source<T>(state->taps, state->geometry, entry, fma, fastmath);
    };
    req.fastmath = config_.enable_fastmath;
    req.parallel = false;  // one channel per call: nothing to share out
    req.persistent = config_.cache_compiled_functions;
    // The tiled kernel is written out in full (conv_codegen.hpp): -O1 compiles it faster (16
    // taps: 78-82 ms against the looped kernel's 94-99 at -O3) and runs it as fast.
    if (tiled) req.extra_flags = {"-O1"};
    st->outcome = jit::registry_of(context_).get(req, config_.verbose);
    st->entry = reinterpret_cast<void (*)(const void*, void*)>(st->outcome->entry);
    return ConvolutionKernel<T>(std::move(st));
}

// --- memory layout -------------------------------------------------------------------------

template <class T>
LaidOutArray<T> JITCompiler::optimize_memory_layout(ArrayView<const T> a, const std::string& pattern) const {
    if (pattern != "row_major" && pattern != "column_major" && pattern != "blocked")
        throw ValueError(fmt::format("access_pattern: expected \"row_major\", \"column_major\" or \"blocked\", got \"{}\"", pattern));
    if (a.rank() < 1 || a.rank() > 2)
        throw ShapeError(fmt::format("array: expected rank 1 or 2, got rank {} {}", a.rank(), a.layout().shape_string()));
    const index_t rows = a.shape(0), cols = a.rank() == 2 ? a.shape(1) : 1;
    const index_t rs = a.stride(0), cs = a.rank() == 2 ? a.stride(1) : 0;
    const bool aligned = reinterpret_cast<std::uintptr_t>(a.data()) % kAlignment == 0;
    auto at = [&](index_t i, index_t j) { return a.data()[i * rs + j * cs]; };
    LaidOutArray<T> r;
    if (pattern == "row_major") {
        if (aligned && a.is_contiguous()) {
            r.view = a;
            return r;
        }
        r.storage = Array<T>::copy_of(a);
        r.view = r.storage.view();
    } else if (pattern == "column_major") {
        bool fortran = a.rank() == 1 ? (rs == 1 || rows <= 1) : ((rs == 1 || rows <= 1) && (cs == rows || cols <= 1));
        if (aligned && fortran) {
            r.view = a;
            return r;
        }
        if (a.rank() == 1) {
            r.storage = Array<T>::copy_of(a);
            r.view = r.storage.view();
        } else {
            r.storage = Array<T>({cols, rows});
            for (index_t j = 0; j < cols; ++j)
                for (index_t i = 0; i < rows; ++i) r.storage.data()[j * rows + i] = at(i, j);
            r.view = ArrayView<const T>(r.storage.view()).transposed();
        }
    } else {
        constexpr index_t B = 64;
        const index_t tr = (rows + B - 1) / B, tc = (cols + B - 1) / B;
        r.storage = Array<T>({tr * tc, B * B});
        for (index_t bi = 0; bi < tr; ++bi)
            for (index_t bj = 0; bj < tc; ++bj) {
                T* tile = r.storage.data() + (bi * tc + bj) * B * B;
                for (index_t i = bi * B; i < std::min(rows, bi * B + B); ++i)
                    for (index_t j = bj * B; j < std::min(cols, bj * B + B); ++j) tile[(i - bi * B) * B + (j - bj * B)] = at(i, j);
            }
        r.view = r.storage.view();
    }
    r.copied = true;
    return r;
}

// --- benchmark -----------------------------------------------------------------------------

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

template <class F>
double seconds(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<JitBenchmarkEntry> JITCompiler::benchmark_jit_performance(std::vector<index_t> test_sizes, int num_iterations) const {
    if (num_iterations < 1) throw ValueError(fmt::format("num_iterations: expected ≥ 1, got {}", num_iterations));
    for (auto n : test_sizes)
        if (n < 1 || n > 1000000) throw ValueError(fmt::format("test_sizes: expected sizes in 1..1000000, got {}", n));
    std::vector<JitBenchmarkEntry> rows;
    auto quiet = [this] {
        ContextOptions o;
        o.calibrate = false;
        o.log = context_.impl().options.log;
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
        if (!compiled) continue;  // no compiler: only the AOT row is meaningful
        rows.push_back({fmt::format("compile/spike_processing/cold/N={}", n), median(cold)});
        rows.push_back({fmt::format("load/spike_processing/warm_disk/N={}", n), median(disk)});
        rows.push_back({fmt::format("load/spike_processing/warm_memory/N={}", n), median(memory)});
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
    }
    return rows;
}

// --- cache maintenance ---------------------------------------------------------------------

std::vector<JitCacheEntry> jit_cache_entries(const std::filesystem::path& dir) {
    return jit::list_entries(dir.empty() ? cache_dir() / "jit" : dir);
}

int clear_jit_cache(const std::filesystem::path& dir_in) {
    auto dir = dir_in.empty() ? cache_dir() / "jit" : dir_in;
    int n = 0;
    std::error_code ec;
    std::vector<std::filesystem::path> doomed;
    for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
        auto ext = de.path().extension().string();
        auto name = de.path().filename().string();
        bool ours = ext == ".so" || ext == ".rec" || ext == ".cpp" || ext == ".log" || ext == ".lock" ||
                    name.rfind("compiler-", 0) == 0 || name.find(".tmp.") != std::string::npos;
        if (ours) doomed.push_back(de.path());
        if (ext == ".rec") ++n;
    }
    for (const auto& p : doomed) {
        std::error_code rec;
        std::filesystem::remove(p, rec);
        if (rec) throw IOError(fmt::format("clear_jit_cache: cannot remove '{}': {}", p.string(), rec.message()));
    }
    return n;
}

JITCompiler enable_jit_compilation(JITConfig config) { return JITCompiler(config, default_context()); }

template class ConvolutionKernel<float>;
template class ConvolutionKernel<double>;
template ConvolutionKernel<float> JITCompiler::compile_convolution_kernel<float>(ArrayView<const float>, index_t, const std::string&) const;
template ConvolutionKernel<double> JITCompiler::compile_convolution_kernel<double>(ArrayView<const double>, index_t, const std::string&) const;
template class SpikeProcessingKernel<float>;
template class SpikeProcessingKernel<double>;
template SpikeProcessingKernel<float> JITCompiler::compile_spike_processing_kernel<float>(const LifSpec&) const;
template SpikeProcessingKernel<double> JITCompiler::compile_spike_processing_kernel<double>(const LifSpec&) const;
template LaidOutArray<float> JITCompiler::optimize_memory_layout<float>(ArrayView<const float>, const std::string&) const;
template LaidOutArray<double> JITCompiler::optimize_memory_layout<double>(ArrayView<const double>, const std::string&) const;

}  // namespace neuroperf
