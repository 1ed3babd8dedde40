// `neuroperf bench --suite jit`: the JIT compiler's costs (cold compile, warm load from disk and
// from memory) and the compiled kernels against the AOT kernels and, with --peers, Numba
// @njit(cache=True) versions on bit-identical inputs (bench/peers/numba_lif.py: spike
// processing; numba_conv.py: convolution/numba[_fastmath]; numba_reservoir.py: reservoir/numba).
//
// Rows (op/impl/params: a block compares only rows of the same work):
//   compile/jit/kernel=<spike_processing_cuba|spike_processing_coba|convolution_f32|reservoir_f64>
//                                        a new kernel (new source, new key) compiled and loaded;
//                                        Numba's rows compile/numba/kernel=... compile the same
//                                        kernels (its dispatcher, a new one per call)
//   load/jit/kernel=spike_processing_cuba/from=disk     a new context loading it from the cache
//                                        (dlopen'd anew); Numba: a new process loading its cache
//   load/jit/kernel=spike_processing_cuba/from=memory   the same context asking again (registry
//                                        lookup; Numba has no counterpart)
//   call/jit/N=10/model=cuba/steps=1/from=cpp   calling a compiled, warm kernel for one step of
//                                        a 10-neuron network from C++: the per-call overhead.
//                                        Numba's row (from=python) includes the interpreter's
//                                        call, so the two are separate blocks, not compared
//   spike_processing/<jit|aot>/N=<n>/model=<cuba|coba>/dtype=float32: one timed call runs kSteps
//   steps of the fused kernel (update + propagation) on the Brian2 CUBA/COBA benchmark network.
//   reservoir/<jit|aot>/N=<n>/D=10/dtype=<float32|float64>: one fused ESN step (dense W, tanh,
//   leak 0.3, bias); aot = the kernel behind MKLOptimizer::reservoir_update_inplace.
//   matmul/<jit|aot|facade>/n=<n>/dtype=float64: C = A·B into a preallocated C, n × n; jit =
//   libxsmm's JIT kernel for the shape, aot = the same MatmulKernel call with the JIT disabled
//   (the context's GEMM for the shape, no checks either), facade =
//   MKLOptimizer::matrix_multiply_into (1 thread: its checks, then the same GEMM choice).
//   convolution/<jit|jit_fastmath|aot>/n=100000/k=<taps>/mode=valid/dtype=float32: one FIR call
//   (x from unit(h(5, i)), taps exp(−0.2·i)); aot = MKLOptimizer's direct kernel.
//
// Network (Vogels & Abbott 2005 as in Brian2's examples), from the counter hash both sides
// compute (bench/peers/numba_lif.py documents the same recipe):
//   h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i),  unit = (h >> 11)·2⁻⁵³
//   k = round(0.02·N) synapses per source; synapse j of source i targets column
//   j·(N/k) + h(1, i·k+j) mod (N/k); weight 1.62 mV (i < 0.8·N) or −9 mV (CUBA), 6 / 67 nS in
//   units of the 10 nS leak → 0.6 / 6.7 (COBA); v0 = −60 + 10·unit(h(3, i)) mV; COBA starts at
//   g_e = 4, g_i = 5 (v∞ = −46 mV: the network fires), CUBA at 0.
#include <atomic>
#include <filesystem>
#include <cmath>
#include <memory>
#include <vector>

#include <stdlib.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

constexpr int kSteps = 100;
constexpr std::uint64_t kSeed = 42;

double unit(std::uint64_t stream, std::uint64_t i) { return hash_to_unit(splitmix64(kSeed ^ (stream << 48) ^ i)); }

LifSpec benchmark_spec(index_t n, SynapseModel model) {
    LifSpec s;
    s.synapse = model;
    s.num_neurons = n;
    s.exc_count = n * 4 / 5;
    s.dt = 0.1;
    s.tau_m = 20;
    s.tau_e = 5;
    s.tau_i = 10;
    s.v_thresh = -50;
    s.v_reset = -60;
    s.refractory = 5;
    if (model == SynapseModel::current) {
        s.v_rest = -49;
    } else {
        s.v_rest = -60;
        s.e_exc = 0;
        s.e_inh = -80;
    }
    return s;
}

struct Network {
    LifSpec spec;
    std::vector<std::int64_t> rp;
    std::vector<std::int32_t> col;
    std::vector<float> w, v0;
    // State (reset before each timed call so every call simulates the same 100 steps).
    std::vector<float> v, ge, gi, ring_e, ring_i;
    std::vector<std::int32_t> rf, spikes;
    std::int64_t step_index = 0;

    Network(index_t n, SynapseModel model) : spec(benchmark_spec(n, model)) {
        index_t k = std::max<index_t>(1, std::llround(0.02 * static_cast<double>(n))), stride = n / k;
        bool coba = model == SynapseModel::conductance;
        rp.resize(static_cast<std::size_t>(n) + 1);
        for (index_t i = 0; i < n; ++i) {
            rp[static_cast<std::size_t>(i) + 1] = (i + 1) * k;
            bool exc = i < spec.exc_count;
            float wv = coba ? (exc ? 0.6f : 6.7f) : (exc ? 1.62f : -9.0f);
            for (index_t j = 0; j < k; ++j) {
                auto e = static_cast<std::uint64_t>(i * k + j);
                std::uint64_t off = splitmix64(kSeed ^ (std::uint64_t{1} << 48) ^ e) % static_cast<std::uint64_t>(stride);
                col.push_back(static_cast<std::int32_t>(j * stride + static_cast<index_t>(off)));
                w.push_back(wv);
            }
        }
        for (index_t i = 0; i < n; ++i) v0.push_back(static_cast<float>(-60.0 + 10.0 * unit(3, static_cast<std::uint64_t>(i))));
        reset();
    }
    void reset() {
        auto n = v0.size();
        bool coba = spec.synapse == SynapseModel::conductance;
        v = v0;
        ge.assign(n, coba ? 4.f : 0.f);
        gi.assign(n, coba ? 5.f : 0.f);
        ring_e.assign(n, 0.f);
        ring_i.assign(n, 0.f);
        rf.assign(n, 0);
        spikes.assign(n, 0);
        step_index = 0;
    }
    SpikeStepArgs<float> args() {
        return SpikeStepArgs<float>{v.data(), ge.data(), gi.data(), rf.data(), ring_e.data(), ring_i.data(), spikes.data(), 0,
                                    rp.data(), col.data(), w.data(), nullptr, ring_e.data(), ring_i.data(), 0,
                                    spec.num_neurons, 0};
    }
    template <class K>
    std::int64_t run(const K& kernel) {
        reset();
        auto a = args();
        std::int64_t total = 0;
        for (int t = 0; t < kSteps; ++t, ++a.step) {
            kernel(a);
            total += a.num_spikes;
        }
        return total;
    }
    // One step more from the current state (no reset).
    template <class K>
    void step(const K& kernel) {
        auto a = args();
        a.step = step_index++;
        kernel(a);
    }
};

// A temporary directory removed with the last case that uses it.
struct ScratchDir {
    std::filesystem::path path;
    std::atomic<int> kernels{0};  // kernels compiled so far (each compile row call needs a new one)
    ScratchDir() {
        std::string t = (std::filesystem::temp_directory_path() / "neuroperf-benchjit-XXXXXX").string();
        if (!::mkdtemp(t.data())) throw IOError("bench jit: cannot create a temporary directory");
        path = t;
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

const char* model_tag(SynapseModel m) { return m == SynapseModel::current ? "cuba" : "coba"; }

template <class T>
std::function<void()> reservoir_case(const Context& ctx, index_t n, bool use_jit) {
    ReservoirKernelSpec spec;
    spec.num_neurons = n;
    spec.input_dim = 10;
    spec.leak_rate = 0.3;
    spec.has_bias = true;
    JITConfig cfg;
    cfg.enable_jit = use_jit;
    auto k = JITCompiler(cfg, ctx).compile_reservoir_update_kernel<T>(spec);
    if (use_jit && !k.is_compiled()) throw BackendError("jit: not compiled: " + k.fallback_reason());
    struct Data {
        Array<T> x, w_in, w, u, b;
    };
    auto d = std::make_shared<Data>(Data{Array<T>({n}), Array<T>({n, 10}), Array<T>({n, n}), Array<T>({10}), Array<T>({n})});
    const double scale = 1.0 / std::sqrt(static_cast<double>(n));
    for (index_t i = 0; i < n * n; ++i) d->w.data()[i] = static_cast<T>(scale * (2 * unit(6, static_cast<std::uint64_t>(i)) - 1));
    for (index_t i = 0; i < n * 10; ++i) d->w_in.data()[i] = static_cast<T>(2 * unit(7, static_cast<std::uint64_t>(i)) - 1);
    for (index_t i = 0; i < n; ++i) d->x(i) = static_cast<T>(unit(8, static_cast<std::uint64_t>(i)) - 0.5);
    for (index_t i = 0; i < n; ++i) d->b(i) = static_cast<T>(0.1 * unit(9, static_cast<std::uint64_t>(i)));
    for (index_t i = 0; i < 10; ++i) d->u(i) = static_cast<T>(unit(10, static_cast<std::uint64_t>(i)));
    return [d, k] { k(d->x.view(), d->w_in.view(), d->w.view(), d->u.view(), d->b.view()); };
}

}  // namespace

Suite make_jit_suite(bool quick, int /*threads*/, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.3;
    s.repetitions = quick ? 1 : 5;
    // The compile and load rows use their own cache directory, so they measure a cold compile
    // and an uncontended load whatever the user's cache holds; removed at exit by the OS's
    // removed with the suite.
    auto base = std::make_shared<ScratchDir>();
    auto own_context = [base, isa = std::string(isa_name(ctx.isa()))] {
        ContextOptions o;
        o.calibrate = false;
        o.cache_dir = base->path;
        o.isa = isa;  // the suite's kernel variant (bench --isa)
        return make_context(o);
    };

    s.cases.push_back({"compile/jit/kernel=spike_processing_cuba", 0, "a new kernel per call, clang/g++ -O3 for the kernels' variant", [own_context, base] {
                           auto jit = std::make_shared<JITCompiler>(JITConfig{}, own_context());
                           jit->compiler_description();  // find the compiler outside the timing
                           return std::function<void()>([jit, base] {
                               // A new size is a new source (sizes are baked in), hence a new key.
                               LifSpec spec = benchmark_spec(4000 + ++base->kernels, SynapseModel::current);
                               auto k = jit->compile_spike_processing_kernel<float>(spec);
                               if (!k.is_compiled()) throw BackendError("jit: not compiled: " + k.fallback_reason());
                           });
                       }});
    // The other kernels' cold compiles (each call a new size, hence a new source and key).
    s.cases.push_back({"compile/jit/kernel=spike_processing_coba", 0, "COBA LIF, N = 4000 + call", [own_context, base] {
                           auto jit = std::make_shared<JITCompiler>(JITConfig{}, own_context());
                           jit->compiler_description();
                           return std::function<void()>([jit, base] {
                               LifSpec spec = benchmark_spec(4000 + ++base->kernels, SynapseModel::conductance);
                               if (!jit->compile_spike_processing_kernel<float>(spec).is_compiled()) throw BackendError("jit: not compiled");
                           });
                       }});
    s.cases.push_back({"compile/jit/kernel=convolution_f32", 0, "16 taps, n = 100000 + call, float32", [own_context, base] {
                           auto jit = std::make_shared<JITCompiler>(JITConfig{}, own_context());
                           jit->compiler_description();
                           return std::function<void()>([jit, base] {
                               Array<float> h({16});
                               for (index_t i = 0; i < 16; ++i) h(i) = static_cast<float>(std::exp(-0.2 * static_cast<double>(i)));
                               if (!jit->compile_convolution_kernel<float>(h.view(), 100000 + ++base->kernels, "valid").is_compiled())
                                   throw BackendError("jit: not compiled");
                           });
                       }});
    s.cases.push_back({"compile/jit/kernel=reservoir_f64", 0, "dense, D = 10, tanh, N = 500 + call, float64; -O1 -fno-unroll-loops", [own_context, base] {
                           auto jit = std::make_shared<JITCompiler>(JITConfig{}, own_context());
                           jit->compiler_description();
                           return std::function<void()>([jit, base] {
                               ReservoirKernelSpec spec;
                               spec.num_neurons = 500 + ++base->kernels;
                               spec.input_dim = 10;
                               spec.leak_rate = 0.3;
                               spec.has_bias = true;
                               if (!jit->compile_reservoir_update_kernel<double>(spec).is_compiled()) throw BackendError("jit: not compiled");
                           });
                       }});
    s.cases.push_back({"load/jit/kernel=spike_processing_cuba/from=disk", 0, "new context: checked load + dlopen", [own_context] {
                           LifSpec spec = benchmark_spec(4000, SynapseModel::current);
                           {
                               JITCompiler warm(JITConfig{}, own_context());
                               if (!warm.compile_spike_processing_kernel<float>(spec).is_compiled())
                                   throw BackendError("jit: no compiler");
                           }
                           return std::function<void()>([own_context, spec] {
                               // Context and kernel die at the end of the call: the library is
                               // dlclose'd, and the next call maps it again from the file.
                               JITCompiler jit(JITConfig{}, own_context());
                               auto k = jit.compile_spike_processing_kernel<float>(spec);
                               if (!k.is_compiled()) throw BackendError("jit: not loaded");
                           });
                       }});
    s.cases.push_back({"load/jit/kernel=spike_processing_cuba/from=memory", 0, "same context: registry lookup", [own_context] {
                           auto jit = std::make_shared<JITCompiler>(JITConfig{}, own_context());
                           LifSpec spec = benchmark_spec(4000, SynapseModel::current);
                           (void)jit->compile_spike_processing_kernel<float>(spec);
                           return std::function<void()>([jit, spec] { (void)jit->compile_spike_processing_kernel<float>(spec); });
                       }});

    // The per-call overhead of a compiled, warm kernel: one step of a 10-neuron network, from C++
    // (Numba's row calls its dispatcher for the same step from Python: another block).
    s.cases.push_back({"call/jit/N=10/model=cuba/steps=1/from=cpp", 0, "compiled kernel, one step of 10 neurons", [ctx] {
                           auto net = std::make_shared<Network>(10, SynapseModel::current);
                           auto k = JITCompiler(JITConfig{}, ctx).compile_spike_processing_kernel<float>(net->spec);
                           if (!k.is_compiled()) throw BackendError("jit: not compiled: " + k.fallback_reason());
                           return std::function<void()>([net, k] { net->step(k); });
                       }});

    std::vector<index_t> sizes = quick ? std::vector<index_t>{4000} : std::vector<index_t>{1000, 4000, 16000};
    std::vector<SynapseModel> models = quick ? std::vector<SynapseModel>{SynapseModel::current}
                                             : std::vector<SynapseModel>{SynapseModel::current, SynapseModel::conductance};
    for (auto model : models)
        for (index_t n : sizes)
            for (bool use_jit : {true, false}) {
                auto params = fmt::format("N={}/model={}/dtype=float32", n, model_tag(model));
                s.cases.push_back({fmt::format("spike_processing/{}/{}", use_jit ? "jit" : "aot", params), 0,
                                   fmt::format("{} steps/call", kSteps), [ctx, n, model, use_jit] {
                                       auto net = std::make_shared<Network>(n, model);
                                       JITConfig cfg;
                                       cfg.enable_jit = use_jit;
                                       auto k = JITCompiler(cfg, ctx).compile_spike_processing_kernel<float>(net->spec);
                                       if (use_jit && !k.is_compiled())
                                           throw BackendError("jit: not compiled: " + k.fallback_reason());
                                       return std::function<void()>([net, k] { (void)net->run(k); });
                                   }});
            }
    // FIR convolution, taps baked in: strict JIT (same sums as AOT), fast-math JIT, AOT direct.
    std::vector<index_t> tap_counts = quick ? std::vector<index_t>{16} : std::vector<index_t>{8, 16, 64};
    const index_t signal = 100000;
    for (index_t k : tap_counts)
        for (const char* impl : {"jit", "jit_fastmath", "aot"}) {
            auto params = fmt::format("n={}/k={}/mode=valid/dtype=float32", signal, k);
            double flops = 2.0 * static_cast<double>(k) * static_cast<double>(signal - k + 1);
            std::string which = impl;
            s.cases.push_back({fmt::format("convolution/{}/{}", impl, params), flops, "", [ctx, k, which] {
                                   auto x = std::make_shared<Array<float>>(Array<float>({signal}));
                                   Array<float> h({k});
                                   for (index_t i = 0; i < signal; ++i) x->data()[i] = static_cast<float>(unit(5, static_cast<std::uint64_t>(i)));
                                   for (index_t i = 0; i < k; ++i) h(i) = static_cast<float>(std::exp(-0.2 * static_cast<double>(i)));
                                   JITConfig cfg;
                                   cfg.enable_jit = which != "aot";
                                   cfg.enable_fastmath = which == "jit_fastmath";
                                   auto kernel = JITCompiler(cfg, ctx).compile_convolution_kernel<float>(h.view(), signal, "valid");
                                   if (cfg.enable_jit && !kernel.is_compiled())
                                       throw BackendError("jit: not compiled: " + kernel.fallback_reason());
                                   auto y = std::make_shared<std::vector<float>>(static_cast<std::size_t>(kernel.output_length()));
                                   return std::function<void()>([kernel, x, y] { kernel(x->data(), y->data()); });
                               }});
        }

    // Reservoir step (dense W, D = 10, leak 0.3, tanh, bias): compiled vs the AOT step
    // (MKLOptimizer::reservoir_update_inplace's kernel), one call = one step.
    std::vector<index_t> res_sizes = quick ? std::vector<index_t>{500} : std::vector<index_t>{100, 500, 2000};
    for (index_t n : res_sizes)
        for (bool f32 : {false, true})
            for (bool use_jit : {true, false}) {
                auto params = fmt::format("N={}/D=10/dtype={}", n, f32 ? "float32" : "float64");
                double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n + 10);
                s.cases.push_back({fmt::format("reservoir/{}/{}", use_jit ? "jit" : "aot", params), flops, "tanh, leak 0.3, bias",
                                   [ctx, n, f32, use_jit]() -> std::function<void()> {
                                       if (f32) return reservoir_case<float>(ctx, n, use_jit);
                                       return reservoir_case<double>(ctx, n, use_jit);
                                   }});
            }

    // Small GEMM C = A·B (n × n, float64) into a preallocated C: libxsmm's JIT kernel for the
    // shape and the same MatmulKernel with the JIT disabled (the context's GEMM), both unchecked
    // raw calls; and MKLOptimizer::matrix_multiply_into (its checks, then the same GEMM choice).
    std::vector<index_t> mm_sizes = quick ? std::vector<index_t>{8} : std::vector<index_t>{2, 4, 8, 16, 32, 64};
    for (index_t n : mm_sizes)
        for (const char* impl : {"jit", "aot", "facade"}) {
            double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
            std::string which = impl;
            s.cases.push_back({fmt::format("matmul/{}/n={}/dtype=float64", impl, n), flops,
                               which == "facade" ? "matrix_multiply_into, checked" : "raw pointers, unchecked",
                               [ctx, n, which]() -> std::function<void()> {
                                   auto a = std::make_shared<Array<double>>(Array<double>({n, n}));
                                   auto b = std::make_shared<Array<double>>(Array<double>({n, n}));
                                   auto c = std::make_shared<Array<double>>(Array<double>({n, n}));
                                   for (index_t i = 0; i < n * n; ++i) {
                                       a->data()[i] = unit(11, static_cast<std::uint64_t>(i)) - 0.5;
                                       b->data()[i] = unit(12, static_cast<std::uint64_t>(i)) - 0.5;
                                   }
                                   if (which != "facade") {
                                       JITConfig cfg;
                                       cfg.enable_jit = which == "jit";
                                       auto k = JITCompiler(cfg, ctx).compile_matrix_multiply_kernel<double>(n, n, n);
                                       if (cfg.enable_jit && !k.is_compiled())
                                           throw BackendError("jit: not compiled: " + k.fallback_reason());
                                       return [a, b, c, k] { k(a->data(), b->data(), c->data()); };
                                   }
                                   MKLConfig cfg;
                                   cfg.num_threads = 1;
                                   auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
                                   return [a, b, c, opt] { opt->matrix_multiply_into<double>(a->view(), b->view(), c->view()); };
                               }});
        }

    std::string size_list = fmt::format("{}", fmt::join(sizes, ","));
    std::string model_list = quick ? "cuba" : "cuba,coba";
    s.peers.push_back({"numba_lif.py", {"--sizes", size_list, "--models", model_list, "--steps", std::to_string(kSteps),
                                        "--seed", std::to_string(kSeed), "--min-time", fmt::format("{}", s.min_time),
                                        "--threads", "1"}});
    s.peers.push_back({"numba_conv.py", {"--sizes", fmt::format("{}", fmt::join(tap_counts, ",")), "--signal",
                                         std::to_string(signal), "--seed", std::to_string(kSeed), "--min-time",
                                         fmt::format("{}", s.min_time), "--threads", "1"}});
    s.peers.push_back({"numba_reservoir.py", {"--sizes", fmt::format("{}", fmt::join(res_sizes, ",")), "--dtypes",
                                              "float32,float64", "--seed", std::to_string(kSeed), "--min-time",
                                              fmt::format("{}", s.min_time), "--threads", "1"}});
    return s;
}

}  // namespace neuroperf::cli
