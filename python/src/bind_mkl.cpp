// Bindings of the MKL optimizer component: MKLOptimizer, kernel families, CSR matrices, spectral
// radius. Every kernel runs with the GIL released.
#include <optional>

#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nanobind/stl/tuple.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "progress.hpp"
#include "neuroperf/blas.hpp"
#include "neuroperf/dispatch.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/spectral.hpp"
#include "neuroperf/version.hpp"
#include "records.hpp"

namespace neuroperf::py {
namespace {

using namespace nb::literals;

template <class T>
ReservoirOptions<T> reservoir_options(double leak_rate, const std::string& activation, const std::optional<Input>& bias,
                                      bool check_finite) {
    ReservoirOptions<T> o;
    o.leak_rate = static_cast<T>(leak_rate);
    o.activation = parse_activation(activation);
    if (bias) o.bias = bias->view<T>();
    o.check_finite = check_finite;
    return o;
}

std::optional<Input> optional_input(nb::handle obj, const char* arg) {
    if (obj.is_none()) return std::nullopt;
    return as_input(obj, arg);
}

// The four-argument reservoir calls share their argument handling; `call` receives the typed
// views and either the dense or the CSR weights.
template <class Call>
nb::object reservoir_call(nb::handle state, nb::handle input_weights, nb::handle reservoir_weights, nb::handle inputs,
                          const char* state_arg, const char* inputs_arg, double leak_rate, const std::string& activation,
                          nb::handle bias, bool check_finite, Call&& call) {
    Input x = as_input(state, state_arg), win = as_input(input_weights, "input_weights"),
          u = as_input(inputs, inputs_arg);
    MatrixArg w = as_matrix(reservoir_weights, "reservoir_weights");
    std::optional<Input> b = optional_input(bias, "bias");
    DType d = resolve_dtype({&x, &win, &u, w.dense ? &*w.dense : nullptr, b ? &*b : nullptr}, w.sparse_dtype());
    return with_dtype(d, [&]<class T>() {
        auto opts = reservoir_options<T>(leak_rate, activation, b, check_finite);
        CsrMatrix<T> storage;
        const CsrMatrix<T>* sparse = w.sparse() ? &csr_as<T>(*w.sparse(), storage) : nullptr;
        return call.template operator()<T>(x.view<T>(), win.view<T>(), w.dense ? w.dense->view<T>() : ArrayView<const T>{},
                                           sparse, u.view<T>(), opts);
    });
}

int time_axis_of(int axis, int rank) {
    if (rank <= 1) {
        if (axis != -1 && axis != 0)
            throw ValueError(fmt::format("axis: expected 0 or -1 for a 1-D spike train, got {}", axis));
        return -1;
    }
    if (axis == 1 || axis == -1) return -1;
    if (axis == 0 || axis == -2) return 0;
    throw ValueError(fmt::format("axis: expected the time axis of a 2-D array (0, 1, -1 or -2), got {}", axis));
}

nb::object spectral_radius_of(const MKLOptimizer& opt, nb::handle matrix, double rel_tol) {
    MatrixArg w = as_matrix(matrix, "matrix");
    DType d = w.sparse() ? w.sparse()->dtype() : resolve_dtype({&*w.dense});
    return with_dtype(d, [&]<class T>() {
        SpectralRadius r;
        {
            nb::gil_scoped_release release;
            r = w.sparse() ? opt.spectral_radius<T>(w.sparse()->as<T>(), rel_tol)
                           : opt.spectral_radius<T>(w.dense->view<T>(), rel_tol);
        }
        return nb::cast(r);
    });
}

MKLOptimizer make_optimizer(int num_threads, const std::string& thread_affinity, bool enable_fast_math,
                            const std::string& precision_mode, bool verbose, const std::string& backend) {
    MKLConfig c;
    c.num_threads = num_threads;
    c.thread_affinity = thread_affinity;
    c.enable_fast_math = enable_fast_math;
    c.precision_mode = precision_mode;
    c.verbose = verbose;
    c.backend = backend;
    return MKLOptimizer(c, default_context());
}

}  // namespace

void bind_mkl(nb::module_& m) {
    m.def("version", &neuroperf::version, "The library's version string.");
    m.def("free_cached_buffers", &neuroperf::free_cached_buffers,
          "Returns the large blocks kept for reuse (NEUROPERF_BUFFER_CACHE_MB) to the system; the bytes freed.");
    m.def("cached_buffer_bytes", &neuroperf::cached_buffer_bytes,
          "Bytes of freed large arrays kept for reuse by the next allocation of a similar size.");
    m.def("cache_dir", [] { return neuroperf::cache_dir().string(); },
          "Directory of neuroperf's caches ($NEUROPERF_CACHE_DIR, $XDG_CACHE_HOME/neuroperf or ~/.cache/neuroperf).");
    m.def(
        "backends",
        [] {
            nb::list out;
            for (auto& b : default_context().backends()) out.append(nb::cast(std::move(b)));
            return out;
        },
        "Every BLAS backend looked for, available or not, with version, path, threading and reason.");
    m.def(
        "kernel_isa", [] { return std::string(isa_name(default_context().isa())); },
        "The kernels' instruction-set variant in use: \"generic\", \"avx2\" or \"avx512\" (the widest this CPU "
        "runs, or NEUROPERF_ISA's, read when the library first makes its default context).");
    m.def(
        "kernel_families",
        [] {
            nb::list out;
            for (const KernelFamily& f : kernel_families(default_context().isa())) {
                nb::list variants;
                for (Isa v : f.variants) variants.append(isa_name(v));
                nb::dict d;
                d["name"] = f.name;
                d["description"] = f.description;
                d["variants"] = variants;
                d["runs"] = isa_name(f.runs);
                out.append(d);
            }
            return out;
        },
        "Every kernel family: its built variants and the one that runs (as `neuroperf info` lists them).");

    bind_record<BackendInfo>(m, "BackendInfo", "One BLAS backend neuroperf looked for.");
    bind_record<BenchmarkEntry>(m, "BenchmarkEntry", "One row of benchmark_performance().");
    bind_record<BenchmarkReport>(m, "BenchmarkReport", "What benchmark_performance() measured.",
                                 {"average_speedup", "max_speedup", "json"})
        .def_prop_ro("average_speedup", &BenchmarkReport::average_speedup, "geometric mean of the rows' speed-ups")
        .def_prop_ro("max_speedup", &BenchmarkReport::max_speedup, "the largest speed-up")
        .def_prop_ro("json", &BenchmarkReport::to_json, "the report as Google Benchmark JSON");

    nb::class_<SpikeKernel>(m, "SpikeKernel",
                            "A causal synaptic kernel family sampled every dt (see ExponentialKernel, AlphaKernel).")
        .def_prop_ro("family",
                     [](const SpikeKernel& k) {
                         return std::string(k.family == SpikeKernel::Family::exponential ? "exponential" : "alpha");
                     })
        .def_ro("tau", &SpikeKernel::tau)
        .def_ro("dt", &SpikeKernel::dt)
        .def_ro("length", &SpikeKernel::length)
        .def("__repr__", [](const SpikeKernel& k) {
            return fmt::format("{}Kernel(tau={}, dt={}, length={})",
                               k.family == SpikeKernel::Family::exponential ? "Exponential" : "Alpha", k.tau, k.dt,
                               k.length);
        });
    m.def("ExponentialKernel", &ExponentialKernel, "tau"_a, "dt"_a, "length"_a = 0,
          "exp(-t/tau) sampled at t = 0, dt, 2dt, ...; length 0 = until it falls below float precision.");
    m.def("AlphaKernel", &AlphaKernel, "tau"_a, "dt"_a, "length"_a = 0,
          "(t/tau)·exp(1 - t/tau) sampled at t = 0, dt, 2dt, ...; length 0 = until it falls below float precision.");

    nb::class_<PyCsr>(m, "CsrMatrix",
                      "A CSR matrix (float32 or float64, int64 row pointers, int32 column indices), e.g. a "
                      "sparse reservoir. Build it once from scipy.sparse to avoid a conversion per call.")
        .def(
            "__init__",
            [](PyCsr* self, nb::tuple shape, nb::handle indptr, nb::handle indices, nb::handle data) {
                if (shape.size() != 2)
                    throw ShapeError(fmt::format("shape: expected (rows, cols), got {} values", shape.size()));
                new (self) PyCsr(csr_from_arrays(nb::cast<index_t>(shape[0]), nb::cast<index_t>(shape[1]), indptr,
                                                 indices, data, "CsrMatrix"));
            },
            "shape"_a, "indptr"_a, "indices"_a, "data"_a,
            "From scipy's three arrays (copied, validated: sorted unique columns per row).")
        .def_static(
            "from_scipy", [](nb::handle s) { return csr_from_scipy(s, "matrix"); }, "matrix"_a.none(),
            "From any scipy.sparse matrix or array (converted to canonical CSR).")
        .def_static(
            "from_dense",
            [](nb::handle a) {
                Input in = as_input(a, "dense");
                DType d = resolve_dtype({&in});
                return with_dtype(d, [&]<class T>() { return PyCsr{CsrMatrix<T>::from_dense(in.view<T>())}; });
            },
            "dense"_a, "The non-zero entries of a 2-D array.")
        .def_prop_ro("shape", [](const PyCsr& c) {
            return std::visit([](const auto& x) { return nb::make_tuple(x.rows(), x.cols()); }, c.m);
        })
        .def_prop_ro("nnz", [](const PyCsr& c) { return std::visit([](const auto& x) { return x.nnz(); }, c.m); })
        .def_prop_ro("dtype", [](const PyCsr& c) { return numpy_dtype(c.dtype()); })
        .def_prop_ro("indptr",
                     [](const PyCsr& c) {
                         return std::visit([](const auto& x) { return to_numpy_copy(x.row_ptr()); }, c.m);
                     })
        .def_prop_ro("indices",
                     [](const PyCsr& c) {
                         return std::visit([](const auto& x) { return to_numpy_copy(x.col_idx()); }, c.m);
                     })
        .def_prop_ro("data",
                     [](const PyCsr& c) {
                         return std::visit([](const auto& x) {
                             using T = std::remove_cvref_t<decltype(x.values()[0])>;
                             Array<T> a({x.nnz()});
                             std::copy(x.values().begin(), x.values().end(), a.data());
                             return to_numpy(std::move(a));
                         }, c.m);
                     })
        .def("to_dense", [](const PyCsr& c) {
            return std::visit([](const auto& x) { return to_numpy(x.to_dense()); }, c.m);
        })
        .def("__repr__", [](const PyCsr& c) {
            return std::visit([&](const auto& x) {
                return fmt::format("neuroperf.CsrMatrix(shape=({}, {}), nnz={}, dtype={})", x.rows(), x.cols(), x.nnz(),
                                   dtype_name(c.dtype()));
            }, c.m);
        });

    bind_record<SpectralRadius>(m, "SpectralRadius", "max |eigenvalue| with how it was verified; float(r) is the value.")
        .def("__float__", [](const SpectralRadius& r) { return r.value; });

    nb::class_<MKLOptimizer>(m, "_MKLOptimizer")
        .def(
            "__init__",
            [](MKLOptimizer* self, int num_threads, const std::string& thread_affinity, bool enable_fast_math,
               const std::string& precision_mode, bool verbose, const std::string& backend) {
                new (self) MKLOptimizer(make_optimizer(num_threads, thread_affinity, enable_fast_math, precision_mode,
                                                       verbose, backend));
            },
            nb::kw_only(), "num_threads"_a, "thread_affinity"_a, "enable_fast_math"_a, "precision_mode"_a,
            "verbose"_a, "backend"_a)
        .def_prop_ro("num_threads", &MKLOptimizer::num_threads)
        .def(
            "optimize_matrix_multiply",
            [](const MKLOptimizer& opt, nb::handle a, nb::handle b, bool transpose_a, bool transpose_b,
               nb::handle out) {
                Input ia = as_input(a, "a"), ib = as_input(b, "b");
                DType d = resolve_dtype({&ia, &ib});
                return with_dtype(d, [&]<class T>() -> nb::object {
                    ArrayView<const T> va = ia.view<T>(), vb = ib.view<T>();
                    if (!out.is_none()) {  // written in place: shape, dtype and overlap checked
                        ArrayView<T> vc = as_output<T>(out, "out");
                        nb::gil_scoped_release release;
                        opt.matrix_multiply_into<T>(va, vb, vc, transpose_a, transpose_b);
                        return nb::borrow(out);
                    }
                    if (va.rank() != 2 || vb.rank() != 2) {  // the C++ call reports the shape error
                        nb::gil_scoped_release release;
                        (void)opt.optimize_matrix_multiply<T>(va, vb, transpose_a, transpose_b);
                    }
                    index_t m = transpose_a ? va.shape(1) : va.shape(0), n = transpose_b ? vb.shape(0) : vb.shape(1);
                    // The result is NumPy's own array (no capsule, no aligned allocation): at
                    // 32×32 the GEMM takes ~0.6 µs and every 0.1 µs of call overhead shows.
                    // matrix_multiply_into writes every element (zeros when k = 0).
                    const index_t shape[2] = {m, n};
                    T* data = nullptr;
                    nb::object c = new_numpy<T>(shape, &data);
                    ArrayView<T> vc(data, Layout::contiguous(shape));
                    nb::gil_scoped_release release;
                    opt.matrix_multiply_into<T>(va, vb, vc, transpose_a, transpose_b);
                    return c;
                });
            },
            "a"_a.none(), "b"_a.none(), "transpose_a"_a = false, "transpose_b"_a = false, "out"_a.none() = nb::none(),
            "op(a) @ op(b) on the fastest backend for the size; float32/float64, any strides. out: a writable "
            "array of the call's dtype and shape (m, n), not overlapping a or b, written in place and returned.")
        .def(
            "vector_tanh",
            [](const MKLOptimizer& opt, nb::handle x) {
                Input in = as_input(x, "x");
                return with_dtype(resolve_dtype({&in}), [&]<class T>() {
                    Array<T> y;
                    {
                        nb::gil_scoped_release release;
                        y = opt.vector_tanh<T>(in.view<T>());
                    }
                    return to_numpy(std::move(y));
                });
            },
            "x"_a.none(), "Elementwise tanh at the configured precision_mode.")
        .def(
            "vector_exp",
            [](const MKLOptimizer& opt, nb::handle x) {
                Input in = as_input(x, "x");
                return with_dtype(resolve_dtype({&in}), [&]<class T>() {
                    Array<T> y;
                    {
                        nb::gil_scoped_release release;
                        y = opt.vector_exp<T>(in.view<T>());
                    }
                    return to_numpy(std::move(y));
                });
            },
            "x"_a.none(), "Elementwise exp at the configured precision_mode.")
        .def(
            "optimize_spike_convolution",
            [](const MKLOptimizer& opt, nb::handle spike_trains, nb::handle kernel, const std::string& mode, int axis,
               const std::string& algorithm) {
                Input s = as_input(spike_trains, "spike_trains");
                ConvolutionOptions co;
                co.time_axis = time_axis_of(axis, s.layout.rank);
                co.algorithm = algorithm;
                // Bool/uint8 trains are read in place as bytes (they do not vote on the dtype).
                if (nb::isinstance<SpikeKernel>(kernel)) {
                    const SpikeKernel& k = nb::cast<const SpikeKernel&>(kernel);
                    return with_dtype(s.bytes ? DType::float64 : resolve_dtype({&s}), [&]<class T>() {
                        Array<T> y;
                        {
                            nb::gil_scoped_release release;
                            y = s.bytes ? opt.optimize_spike_convolution<T>(s.byte_view(), k, mode, co)
                                        : opt.optimize_spike_convolution<T>(s.view<T>(), k, mode, co);
                        }
                        return to_numpy(std::move(y));
                    });
                }
                Input k = as_input(kernel, "kernel");
                return with_dtype(s.bytes ? resolve_dtype({&k}) : resolve_dtype({&s, &k}), [&]<class T>() {
                    Array<T> y;
                    {
                        nb::gil_scoped_release release;
                        y = s.bytes ? opt.optimize_spike_convolution<T>(s.byte_view(), k.view<T>(), mode, co)
                                    : opt.optimize_spike_convolution<T>(s.view<T>(), k.view<T>(), mode, co);
                    }
                    return to_numpy(std::move(y));
                });
            },
            "spike_trains"_a.none(), "kernel"_a.none(), "mode"_a = "valid", "axis"_a = -1, "algorithm"_a = "auto",
            "numpy.convolve(train, kernel, mode) for every channel (1-D, or 2-D with time on `axis`).")
        .def(
            "optimize_reservoir_update",
            [](const MKLOptimizer& opt, nb::handle state, nb::handle win, nb::handle w, nb::handle u, double leak_rate,
               const std::string& activation, nb::handle bias, bool check_finite) {
                return reservoir_call(
                    state, win, w, u, "reservoir_state", "input_spikes", leak_rate, activation, bias, check_finite,
                    [&]<class T>(ArrayView<const T> x, ArrayView<const T> wi, ArrayView<const T> wd,
                                 const CsrMatrix<T>* ws, ArrayView<const T> in, const ReservoirOptions<T>& o) {
                        Array<T> y;
                        {
                            nb::gil_scoped_release release;
                            y = ws ? opt.optimize_reservoir_update<T>(x, wi, *ws, in, o)
                                   : opt.optimize_reservoir_update<T>(x, wi, wd, in, o);
                        }
                        return to_numpy(std::move(y));
                    });
            },
            "reservoir_state"_a.none(), "input_weights"_a.none(), "reservoir_weights"_a.none(), "input_spikes"_a.none(), "leak_rate"_a = 1.0,
            "activation"_a = "tanh", "bias"_a = nb::none(), "check_finite"_a = false,
            "One step x' = (1-a)x + a f(W_in u + W x + b); W dense, neuroperf.CsrMatrix or scipy.sparse.")
        .def(
            "reservoir_update_inplace",
            [](const MKLOptimizer& opt, nb::handle state, nb::handle win, nb::handle w, nb::handle u, double leak_rate,
               const std::string& activation, nb::handle bias, bool check_finite) {
                reservoir_call(
                    state, win, w, u, "reservoir_state", "input_spikes", leak_rate, activation, bias, check_finite,
                    [&]<class T>(ArrayView<const T>, ArrayView<const T> wi, ArrayView<const T> wd,
                                 const CsrMatrix<T>* ws, ArrayView<const T> in, const ReservoirOptions<T>& o) {
                        ArrayView<T> x = as_output<T>(state, "reservoir_state");
                        nb::gil_scoped_release release;
                        if (ws)
                            opt.reservoir_update_inplace<T>(x, wi, *ws, in, o);
                        else
                            opt.reservoir_update_inplace<T>(x, wi, wd, in, o);
                        return nb::none();
                    });
            },
            "reservoir_state"_a.none(), "input_weights"_a.none(), "reservoir_weights"_a.none(), "input_spikes"_a.none(), "leak_rate"_a = 1.0,
            "activation"_a = "tanh", "bias"_a = nb::none(), "check_finite"_a = false,
            "The same step written into reservoir_state (a writable array of the call's dtype).")
        .def(
            "run_reservoir",
            [](const MKLOptimizer& opt, nb::handle state0, nb::handle win, nb::handle w, nb::handle inputs,
               double leak_rate, const std::string& activation, nb::handle bias, bool check_finite) {
                return reservoir_call(
                    state0, win, w, inputs, "state0", "inputs", leak_rate, activation, bias, check_finite,
                    [&]<class T>(ArrayView<const T> x, ArrayView<const T> wi, ArrayView<const T> wd,
                                 const CsrMatrix<T>* ws, ArrayView<const T> in, const ReservoirOptions<T>& o) {
                        Array<T> y;
                        {
                            nb::gil_scoped_release release;
                            y = ws ? opt.run_reservoir<T>(x, wi, *ws, in, o) : opt.run_reservoir<T>(x, wi, wd, in, o);
                        }
                        return to_numpy(std::move(y));
                    });
            },
            "state0"_a.none(), "input_weights"_a.none(), "reservoir_weights"_a.none(), "inputs"_a.none(), "leak_rate"_a = 1.0,
            "activation"_a = "tanh", "bias"_a = nb::none(), "check_finite"_a = false,
            "States (T x N) for inputs (T x D) from state0 (N).")
        .def(
            "optimize_batch_processing",
            [](const MKLOptimizer& opt, nb::handle spike_batches, nb::handle weight_matrix) {
                Input s = as_input(spike_batches, "spike_batches"), w = as_input(weight_matrix, "weight_matrix");
                return with_dtype(resolve_dtype({&s, &w}), [&]<class T>() {
                    Array<T> y;
                    {
                        nb::gil_scoped_release release;
                        y = opt.optimize_batch_processing<T>(s.view<T>(), w.view<T>());
                    }
                    return to_numpy(std::move(y));
                });
            },
            "spike_batches"_a.none(), "weight_matrix"_a.none(), "spike_batches (B x N) @ weight_matrix (N x M), dense or event-driven.")
        .def(
            "_eigen",
            [](const MKLOptimizer& opt, nb::handle matrix, bool vectors) {
                Input a = as_input(matrix, "matrix");
                return with_dtype(resolve_dtype({&a}), [&]<class T>() {
                    EigenResult r;
                    {
                        nb::gil_scoped_release release;
                        r = opt.optimize_eigenvalue_computation<T>(a.view<T>(), vectors);
                    }
                    return nb::make_tuple(to_numpy(std::move(r.eigenvalues_real)), to_numpy(std::move(r.eigenvalues_imag)),
                                          to_numpy(std::move(r.eigenvectors_real)),
                                          to_numpy(std::move(r.eigenvectors_imag)), r.symmetric, r.method);
                });
            },
            "matrix"_a.none(), "compute_eigenvectors"_a)
        .def(
            "spectral_radius",
            [](const MKLOptimizer& opt, nb::handle matrix, double rel_tol) {
                return spectral_radius_of(opt, matrix, rel_tol);
            },
            "matrix"_a.none(), "rel_tol"_a = 1e-6,
            "Verified max |eigenvalue| of a square dense, neuroperf.CsrMatrix or scipy.sparse matrix.")
        .def(
            "_benchmark_performance",
            [](const MKLOptimizer& opt, std::vector<index_t> sizes, int iterations, const std::string& path, nb::object progress) {
                PyProgress report(std::move(progress), "benchmark_performance", "fraction, detail");
                BenchmarkReport r;
                {
                    nb::gil_scoped_release release;
                    r = opt.benchmark_performance(std::move(sizes), iterations, path, report.function());
                }
                report.finish();
                return nb::cast(std::move(r));
            },
            "matrix_sizes"_a, "num_iterations"_a, "output_path"_a, "progress"_a.none())
        .def(
            "backend_for",
            [](const MKLOptimizer& opt, index_t m_, index_t n, index_t k, const std::string& dtype) {
                if (dtype == "float32") return opt.backend_for<float>(m_, n, k);
                if (dtype == "float64") return opt.backend_for<double>(m_, n, k);
                throw ValueError(fmt::format("dtype: expected \"float32\" or \"float64\", got \"{}\"", dtype));
            },
            "m"_a, "n"_a, "k"_a, "dtype"_a = "float32", "The backend an m x n x k product of this dtype would use.");

    m.def(
        "scale_to_spectral_radius",
        [](nb::handle matrix, double rho, double rel_tol) {
            Context ctx = default_context();
            if (nb::isinstance<PyCsr>(matrix)) {
                PyCsr& c = nb::cast<PyCsr&>(matrix);
                return std::visit([&](auto& x) {
                    nb::gil_scoped_release release;
                    return scale_to_spectral_radius(x, rho, ctx, rel_tol);
                }, c.m);
            }
            if (is_scipy_sparse(matrix))
                raise_type_error("matrix: scipy.sparse matrices are not scaled in place; convert with "
                                 "neuroperf.CsrMatrix.from_scipy, or scale m.data by rho / spectral_radius(m)");
            bool f32 = nb::hasattr(matrix, "dtype") && nb::str(matrix.attr("dtype")).equal(nb::str("float32"));
            return with_dtype(f32 ? DType::float32 : DType::float64, [&]<class T>() {
                ArrayView<T> v = as_output<T>(matrix, "matrix");
                nb::gil_scoped_release release;
                return scale_to_spectral_radius(v, rho, ctx, rel_tol);
            });
        },
        "matrix"_a.none(), "rho"_a, "rel_tol"_a = 1e-6,
        "Scales the matrix in place so that its spectral radius becomes rho; returns the radius before.");
}

}  // namespace neuroperf::py
