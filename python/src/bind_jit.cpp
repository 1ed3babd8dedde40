// Bindings of the JIT compiler: JITCompiler, the compiled spike processing and convolution
// kernels (called on NumPy arrays in place), memory layouts and the kernel cache.
#include <algorithm>
#include <optional>
#include <variant>

#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "progress.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "records.hpp"

namespace neuroperf::py {
namespace {

using namespace nb::literals;

// A kernel object of either dtype (the Python classes hold one of these).
template <template <class> class Kernel>
struct PyKernel {
    std::variant<Kernel<float>, Kernel<double>> k;
    DType dtype() const { return k.index() == 0 ? DType::float32 : DType::float64; }
};
using PySpikeKernel = PyKernel<SpikeProcessingKernel>;
using PyConvKernel = PyKernel<ConvolutionKernel>;
using PyReservoirKernel = PyKernel<ReservoirUpdateKernel>;
using PyMatmulKernel = PyKernel<MatmulKernel>;

// Shared read-only properties of the kernel classes.
template <class K, class Cls>
void kernel_properties(Cls& cls) {
    cls.def_prop_ro("dtype", [](const K& k) { return numpy_dtype(k.dtype()); })
        .def_prop_ro("source", [](const K& k) { return std::visit([](const auto& x) { return x.source(); }, k.k); })
        .def_prop_ro("key", [](const K& k) { return std::visit([](const auto& x) { return x.key(); }, k.k); })
        .def_prop_ro("is_compiled", [](const K& k) { return std::visit([](const auto& x) { return x.is_compiled(); }, k.k); })
        .def_prop_ro("fallback_reason",
                     [](const K& k) { return std::visit([](const auto& x) { return x.fallback_reason(); }, k.k); });
}

DType parse_dtype(const std::string& dtype) {
    if (dtype == "float32") return DType::float32;
    if (dtype == "float64") return DType::float64;
    throw ValueError(fmt::format("dtype: expected \"float32\" or \"float64\", got \"{}\"", dtype));
}

template <class T>
T* state_array(nb::handle obj, const char* arg, index_t size) {
    ArrayView<T> v = as_output<T>(obj, arg);
    if (!v.is_contiguous())
        throw ValueError(fmt::format("{}: expected a C-contiguous array (the kernel works in place), got strides", arg));
    if (v.size() != size) throw ShapeError(fmt::format("{}: expected {} elements, got {}", arg, size, v.size()));
    return v.data();
}

// Fills the state part of the arguments after checking every array against the spec.
template <class T>
void fill_state(SpikeStepArgs<T>& a, const LifSpec& s, nb::handle v, nb::handle g_e, nb::handle g_i,
                nb::handle refractory, nb::handle ring_e, nb::handle ring_i) {
    index_t n = s.num_neurons;
    a.v = state_array<T>(v, "v", n);
    a.g_e = state_array<T>(g_e, "g_e", n);
    a.g_i = state_array<T>(g_i, "g_i", n);
    a.refractory = int32_buffer(refractory, "refractory", n, true);
    a.in_e = state_array<T>(ring_e, "ring_e", index_t{s.max_delay} * n);
    a.in_i = state_array<T>(ring_i, "ring_i", index_t{s.max_delay} * n);
}

template <class T>
void fill_synapses(SpikeStepArgs<T>& a, const LifSpec& s, const CsrMatrix<T>& w, nb::handle delays,
                   nb::handle out_e, nb::handle out_i) {
    if (w.rows() != s.num_neurons || w.cols() != s.targets())
        throw ShapeError(fmt::format("weights: expected a {} x {} CSR matrix (sources x targets), got {} x {}",
                                     s.num_neurons, s.targets(), w.rows(), w.cols()));
    a.row_ptr = w.row_ptr().data();
    a.col_idx = w.col_idx().data();
    a.weights = w.values().data();
    if (s.uniform_delay == 0) {
        if (delays.is_none()) throw ValueError("delays: expected an int32 array (one per synapse) with uniform_delay 0");
        const std::int32_t* d = int32_buffer(delays, "delays", w.nnz(), false);
        for (index_t i = 0; i < w.nnz(); ++i)
            if (d[i] < 1 || d[i] > s.max_delay)
                throw ValueError(fmt::format("delays: expected values in 1..{}, got {} at synapse {}", s.max_delay, d[i], i));
        a.delays = d;
    }
    a.out_e = out_e.is_none() ? a.in_e : state_array<T>(out_e, "out_e", index_t{s.max_delay} * s.targets());
    a.out_i = out_i.is_none() ? a.in_i : state_array<T>(out_i, "out_i", index_t{s.max_delay} * s.targets());
}

nb::object spikes_array(const std::vector<std::int32_t>& buf, std::int64_t n) {
    return to_numpy_copy(std::span<const std::int32_t>(buf.data(), static_cast<std::size_t>(n)));
}

// The synapse matrix of a call in the kernel's dtype (a neuroperf.CsrMatrix is used in place).
template <class T>
const CsrMatrix<T>& weights_of(nb::handle weights, std::optional<PyCsr>& owned, CsrMatrix<T>& storage) {
    const PyCsr* c = nullptr;
    if (nb::isinstance<PyCsr>(weights)) {
        c = nb::inst_ptr<PyCsr>(weights);
    } else if (is_scipy_sparse(weights)) {
        owned = csr_from_scipy(weights, "weights");
        c = &*owned;
    } else {
        raise_type_error("weights: expected a neuroperf.CsrMatrix or a scipy.sparse matrix (sources x targets)");
    }
    return csr_as<T>(*c, storage);
}

template <class T>
nb::object do_update(const SpikeProcessingKernel<T>& kern, nb::handle v, nb::handle g_e, nb::handle g_i,
                     nb::handle refractory, nb::handle ring_e, nb::handle ring_i, std::int64_t step, std::int64_t begin,
                     std::int64_t end) {
    const LifSpec& s = kern.spec();
    SpikeStepArgs<T> a{};
    fill_state(a, s, v, g_e, g_i, refractory, ring_e, ring_i);
    a.begin = begin;
    a.end = end < 0 ? s.num_neurons : end;
    a.step = step;
    std::vector<std::int32_t> spikes(static_cast<std::size_t>(std::max<std::int64_t>(a.end - a.begin, 1)));
    a.spikes = spikes.data();
    {
        nb::gil_scoped_release release;
        kern.update(a);
    }
    return spikes_array(spikes, a.num_spikes);
}

template <class T>
void do_propagate(const SpikeProcessingKernel<T>& kern, nb::handle spikes, nb::handle weights, nb::handle out_e,
                  nb::handle out_i, std::int64_t step, nb::handle delays) {
    const LifSpec& s = kern.spec();
    if (!PyObject_HasAttrString(spikes.ptr(), "size")) raise_type_error("spikes: expected an int32 NumPy array");
    index_t count = nb::cast<index_t>(spikes.attr("size"));
    std::int32_t* ids = int32_buffer(spikes, "spikes", count, false);
    for (index_t i = 0; i < count; ++i)
        if (ids[i] < 0 || ids[i] >= s.num_neurons)
            throw ValueError(fmt::format("spikes: expected neuron ids in [0, {}), got {} at position {}", s.num_neurons,
                                         ids[i], i));
    std::optional<PyCsr> owned;
    CsrMatrix<T> storage;
    const CsrMatrix<T>& w = weights_of<T>(weights, owned, storage);
    SpikeStepArgs<T> a{};
    a.out_e = state_array<T>(out_e, "out_e", index_t{s.max_delay} * s.targets());
    a.out_i = state_array<T>(out_i, "out_i", index_t{s.max_delay} * s.targets());
    a.in_e = a.out_e;
    a.in_i = a.out_i;
    fill_synapses(a, s, w, delays, out_e, out_i);
    a.spikes = ids;
    a.num_spikes = count;
    a.step = step;
    a.end = s.num_neurons;
    nb::gil_scoped_release release;
    kern.propagate(a);
}

template <class T>
nb::object do_step(const SpikeProcessingKernel<T>& kern, nb::handle v, nb::handle g_e, nb::handle g_i,
                   nb::handle refractory, nb::handle ring_e, nb::handle ring_i, nb::handle weights, std::int64_t step,
                   nb::handle delays) {
    const LifSpec& s = kern.spec();
    if (s.targets() != s.num_neurons)
        throw ValueError(fmt::format("step: a recurrent step needs num_targets == num_neurons ({}), got {}; call update "
                                     "and propagate separately",
                                     s.num_neurons, s.targets()));
    std::optional<PyCsr> owned;
    CsrMatrix<T> storage;
    const CsrMatrix<T>& w = weights_of<T>(weights, owned, storage);
    SpikeStepArgs<T> a{};
    fill_state(a, s, v, g_e, g_i, refractory, ring_e, ring_i);
    fill_synapses(a, s, w, delays, nb::none(), nb::none());
    std::vector<std::int32_t> spikes(static_cast<std::size_t>(std::max<index_t>(s.num_neurons, 1)));
    a.spikes = spikes.data();
    a.begin = 0;
    a.end = s.num_neurons;
    a.step = step;
    {
        nb::gil_scoped_release release;
        kern(a);
    }
    return spikes_array(spikes, a.num_spikes);
}

LifSpec make_spec(index_t num_neurons, const std::string& synapse, double dt, double tau_m, double tau_e, double tau_i,
                  double v_rest, double v_reset, double v_thresh, double i_ext, double e_exc, double e_inh,
                  double refractory, std::int32_t max_delay, std::int32_t uniform_delay, index_t num_targets,
                  index_t exc_count) {
    LifSpec s;
    if (synapse == "current" || synapse == "cuba")
        s.synapse = SynapseModel::current;
    else if (synapse == "conductance" || synapse == "coba")
        s.synapse = SynapseModel::conductance;
    else
        throw ValueError(fmt::format("synapse: expected \"current\" (CUBA) or \"conductance\" (COBA), got \"{}\"", synapse));
    s.num_neurons = num_neurons;
    s.dt = dt;
    s.tau_m = tau_m;
    s.tau_e = tau_e;
    s.tau_i = tau_i;
    s.v_rest = v_rest;
    s.v_reset = v_reset;
    s.v_thresh = v_thresh;
    s.i_ext = i_ext;
    s.e_exc = e_exc;
    s.e_inh = e_inh;
    s.refractory = refractory;
    s.max_delay = max_delay;
    s.uniform_delay = uniform_delay;
    s.num_targets = num_targets;
    s.exc_count = exc_count;
    return s;
}

}  // namespace

void bind_jit(nb::module_& m) {
    nb::class_<PySpikeKernel> spk(m, "SpikeProcessingKernel",
                                  "A leaky integrate-and-fire population step fused with spike propagation, compiled "
                                  "for its constants (or the AOT kernel). Works in place on NumPy arrays.");
    kernel_properties<PySpikeKernel>(spk);
    spk        .def_prop_ro("num_neurons", [](const PySpikeKernel& k) {
            return std::visit([](const auto& x) { return x.spec().num_neurons; }, k.k);
        })
        .def_prop_ro("max_delay", [](const PySpikeKernel& k) {
            return std::visit([](const auto& x) { return x.spec().max_delay; }, k.k);
        })
        .def(
            "update",
            [](const PySpikeKernel& k, nb::handle v, nb::handle g_e, nb::handle g_i, nb::handle refractory,
               nb::handle ring_e, nb::handle ring_i, std::int64_t step, std::int64_t begin, std::int64_t end) {
                return std::visit([&](const auto& kern) {
                    return do_update(kern, v, g_e, g_i, refractory, ring_e, ring_i, step, begin, end);
                }, k.k);
            },
            "v"_a, "g_e"_a, "g_i"_a, "refractory"_a, "ring_e"_a, "ring_i"_a, "step"_a, "begin"_a = 0, "end"_a = -1,
            "Update of neurons [begin, end) at `step` in place (end -1 = all); returns the ids that fired (int32).")
        .def(
            "propagate",
            [](const PySpikeKernel& k, nb::handle spikes, nb::handle weights, nb::handle out_e, nb::handle out_i,
               std::int64_t step, nb::handle delays) {
                std::visit([&](const auto& kern) { do_propagate(kern, spikes, weights, out_e, out_i, step, delays); },
                           k.k);
            },
            "spikes"_a, "weights"_a, "out_e"_a, "out_i"_a, "step"_a, "delays"_a = nb::none(),
            "Adds the synapses of the fired sources to the delay rings out_e/out_i (D x targets).")
        .def(
            "step",
            [](const PySpikeKernel& k, nb::handle v, nb::handle g_e, nb::handle g_i, nb::handle refractory,
               nb::handle ring_e, nb::handle ring_i, nb::handle weights, std::int64_t step, nb::handle delays) {
                return std::visit([&](const auto& kern) {
                    return do_step(kern, v, g_e, g_i, refractory, ring_e, ring_i, weights, step, delays);
                }, k.k);
            },
            "v"_a, "g_e"_a, "g_i"_a, "refractory"_a, "ring_e"_a, "ring_i"_a, "weights"_a, "step"_a,
            "delays"_a = nb::none(),
            "One recurrent step (update of every neuron, then propagation into the same rings); returns the spikes.");

    nb::class_<PyConvKernel> cvk(m, "ConvolutionKernel",
                                 "numpy.convolve(x, taps, mode) with taps, signal length and mode baked in.");
    kernel_properties<PyConvKernel>(cvk);
    cvk.def_prop_ro("signal_length",
                    [](const PyConvKernel& k) { return std::visit([](const auto& x) { return x.signal_length(); }, k.k); })
        .def_prop_ro("output_length",
                     [](const PyConvKernel& k) { return std::visit([](const auto& x) { return x.output_length(); }, k.k); })
        .def(
            "__call__",
            [](const PyConvKernel& k, nb::handle x) {
                Input in = as_input(x, "x");
                convert_input(in, k.dtype());
                return with_dtype(k.dtype(), [&]<class T>() {
                    const auto& kern = std::get<ConvolutionKernel<T>>(k.k);
                    Array<T> y;
                    {
                        nb::gil_scoped_release release;
                        y = kern(in.view<T>());
                    }
                    return to_numpy(std::move(y));
                });
            },
            "x"_a.none(), "Each row of x (1-D, or channels x signal_length) convolved; a new array.");

    nb::class_<PyReservoirKernel> rk(m, "ReservoirUpdateKernel",
                                     "The fused echo-state-network step with N, D, leak, activation and weight format "
                                     "baked in; kernel(state, input_weights, reservoir_weights, input, bias=None) "
                                     "updates state in place.");
    kernel_properties<PyReservoirKernel>(rk);
    rk.def(
        "__call__",
        [](const PyReservoirKernel& k, nb::handle state, nb::handle win, nb::handle w, nb::handle u, nb::handle bias) {
            Input wi = as_input(win, "input_weights"), in = as_input(u, "input");
            MatrixArg wm = as_matrix(w, "reservoir_weights");
            std::optional<Input> b;
            if (!bias.is_none()) b = as_input(bias, "bias");
            for (Input* x : {&wi, &in, b ? &*b : nullptr})
                if (x) convert_input(*x, k.dtype());
            if (wm.dense) convert_input(*wm.dense, k.dtype());
            with_dtype(k.dtype(), [&]<class T>() {
                const auto& kern = std::get<ReservoirUpdateKernel<T>>(k.k);
                ArrayView<T> x = as_output<T>(state, "state");
                ArrayView<const T> bv = b ? b->view<T>() : ArrayView<const T>{};
                CsrMatrix<T> storage;
                const CsrMatrix<T>* ws = wm.sparse() ? &csr_as<T>(*wm.sparse(), storage) : nullptr;
                nb::gil_scoped_release release;
                if (ws)
                    kern(x, wi.view<T>(), *ws, in.view<T>(), bv);
                else
                    kern(x, wi.view<T>(), wm.dense->view<T>(), in.view<T>(), bv);
                return 0;
            });
        },
        "state"_a.none(), "input_weights"_a.none(), "reservoir_weights"_a.none(), "input"_a.none(),
        "bias"_a = nb::none());

    nb::class_<PyMatmulKernel> mk(m, "MatmulKernel",
                                  "C = A @ B for one shape (M x K times K x N): libxsmm's JIT for small shapes, else "
                                  "the fastest GEMM for the shape; kernel(a, b) returns a new array.");
    kernel_properties<PyMatmulKernel>(mk);
    mk.def_prop_ro("shape", [](const PyMatmulKernel& k) {
          return std::visit([](const auto& x) { return nb::make_tuple(x.m(), x.n(), x.k()); }, k.k);
      })
        .def_prop_ro("backend", [](const PyMatmulKernel& k) { return std::visit([](const auto& x) { return x.backend(); }, k.k); })
        .def(
            "__call__",
            [](const PyMatmulKernel& k, nb::handle a, nb::handle b) {
                Input ia = as_input(a, "a"), ib = as_input(b, "b");
                convert_input(ia, k.dtype());
                convert_input(ib, k.dtype());
                return with_dtype(k.dtype(), [&]<class T>() {
                    const auto& kern = std::get<MatmulKernel<T>>(k.k);
                    Array<T> c;
                    {
                        nb::gil_scoped_release release;
                        c = kern(ia.view<T>(), ib.view<T>());
                    }
                    return to_numpy(std::move(c));
                });
            },
            "a"_a.none(), "b"_a.none());

    nb::class_<JITCompiler>(m, "_JITCompiler")
        .def(
            "__init__",
            [](JITCompiler* self, bool enable_jit, bool cache, bool fastmath, bool parallel_loops, bool verbose) {
                JITConfig c;
                c.enable_jit = enable_jit;
                c.cache_compiled_functions = cache;
                c.enable_fastmath = fastmath;
                c.enable_parallel_loops = parallel_loops;
                c.verbose = verbose;
                new (self) JITCompiler(c, default_context());
            },
            nb::kw_only(), "enable_jit"_a, "cache_compiled_functions"_a, "enable_fastmath"_a,
            "enable_parallel_loops"_a, "verbose"_a)
        .def(
            "_spike_kernel",
            [](const JITCompiler& jit, const std::string& dtype, index_t num_neurons, const std::string& synapse,
               double dt, double tau_m, double tau_e, double tau_i, double v_rest, double v_reset, double v_thresh,
               double i_ext, double e_exc, double e_inh, double refractory, std::int32_t max_delay,
               std::int32_t uniform_delay, index_t num_targets, index_t exc_count) {
                LifSpec s = make_spec(num_neurons, synapse, dt, tau_m, tau_e, tau_i, v_rest, v_reset, v_thresh, i_ext,
                                      e_exc, e_inh, refractory, max_delay, uniform_delay, num_targets, exc_count);
                return with_dtype(parse_dtype(dtype), [&]<class T>() {
                    nb::gil_scoped_release release;
                    return PySpikeKernel{jit.compile_spike_processing_kernel<T>(s)};
                });
            },
            "dtype"_a, "num_neurons"_a, "synapse"_a, "dt"_a, "tau_m"_a, "tau_e"_a, "tau_i"_a, "v_rest"_a, "v_reset"_a,
            "v_thresh"_a, "i_ext"_a, "e_exc"_a, "e_inh"_a, "refractory"_a, "max_delay"_a, "uniform_delay"_a,
            "num_targets"_a, "exc_count"_a)
        .def(
            "_convolution_kernel",
            [](const JITCompiler& jit, nb::handle taps, index_t signal_length, const std::string& mode,
               nb::handle dtype) {
                Input t = as_input(taps, "taps");
                DType d = dtype.is_none() ? resolve_dtype({&t}) : parse_dtype(nb::str(dtype).c_str());
                convert_input(t, d);
                return with_dtype(d, [&]<class T>() {
                    nb::gil_scoped_release release;
                    return PyConvKernel{jit.compile_convolution_kernel<T>(t.view<T>(), signal_length, mode)};
                });
            },
            "taps"_a.none(), "signal_length"_a, "mode"_a, "dtype"_a.none())
        .def(
            "_reservoir_kernel",
            [](const JITCompiler& jit, const std::string& dtype, index_t num_neurons, index_t input_dim,
               double leak_rate, const std::string& activation, bool sparse, bool has_bias, const std::string& precision) {
                ReservoirKernelSpec s;
                s.num_neurons = num_neurons;
                s.input_dim = input_dim;
                s.leak_rate = leak_rate;
                s.activation = parse_activation(activation);
                s.sparse = sparse;
                s.has_bias = has_bias;
                s.precision = precision;
                return with_dtype(parse_dtype(dtype), [&]<class T>() {
                    nb::gil_scoped_release release;
                    return PyReservoirKernel{jit.compile_reservoir_update_kernel<T>(s)};
                });
            },
            "dtype"_a, "num_neurons"_a, "input_dim"_a, "leak_rate"_a, "activation"_a, "sparse"_a, "has_bias"_a,
            "precision"_a)
        .def(
            "_matmul_kernel",
            [](const JITCompiler& jit, const std::string& dtype, index_t m_, index_t n, index_t k) {
                return with_dtype(parse_dtype(dtype), [&]<class T>() {
                    nb::gil_scoped_release release;
                    return PyMatmulKernel{jit.compile_matrix_multiply_kernel<T>(m_, n, k)};
                });
            },
            "dtype"_a, "m"_a, "n"_a, "k"_a)
        .def(
            "optimize_memory_layout",
            [](const JITCompiler& jit, nb::handle array, const std::string& access_pattern) {
                Input in = as_input(array, "array");
                return with_dtype(resolve_dtype({&in}), [&]<class T>() {
                    LaidOutArray<T> r = jit.optimize_memory_layout<T>(in.view<T>(), access_pattern);
                    if (!r.copied) return in.keep;  // already in that layout: the array itself
                    return to_numpy_view(std::move(r.storage), r.view);
                });
            },
            "array"_a.none(), "access_pattern"_a = "row_major",
            "The array in \"row_major\" (C), \"column_major\" (Fortran) or \"blocked\" (64x64 tiles, shape "
            "(tiles, 4096)) layout, 64-byte aligned; the array itself when it already is.")
        .def(
            "_benchmark_jit_performance",
            [](const JITCompiler& jit, std::vector<index_t> sizes, int iterations, nb::object progress) {
                PyProgress report(std::move(progress), "benchmark_jit_performance", "fraction, detail");
                std::vector<JitBenchmarkEntry> rows;
                {
                    nb::gil_scoped_release release;
                    rows = jit.benchmark_jit_performance(std::move(sizes), iterations, report.function());
                }
                report.finish();
                nb::dict out;
                for (const auto& r : rows) out[r.name.c_str()] = r.seconds;
                return out;
            },
            "test_sizes"_a, "num_iterations"_a, "progress"_a.none())
        .def_prop_ro("cache_directory", [](const JITCompiler& jit) { return jit.cache_directory().string(); })
        .def_prop_ro("compiler_description", &JITCompiler::compiler_description);

    bind_record<JitCacheEntry>(m, "JitCacheEntry", "An entry of the on-disk JIT cache.");
    m.def(
        "jit_cache_entries",
        []() {
            nb::list out;
            for (auto& e : jit_cache_entries()) out.append(nb::cast(std::move(e)));
            return out;
        },
        "Entries of the on-disk JIT cache (<cache_dir>/jit).");
    m.def("clear_jit_cache", []() { return clear_jit_cache(); }, "Removes every JIT cache entry; returns how many.");
}

}  // namespace neuroperf::py
