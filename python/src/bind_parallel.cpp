// Bindings of the parallel processor: ParallelProcessor with Python callables (thread strategy:
// each task holds the GIL only while it calls into Python), reservoirs and reasoning cores in C++.
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "progress.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "records.hpp"

namespace neuroperf::py {
namespace {

using namespace nb::literals;

PyObject* exc_task = nullptr;
PyObject* exc_worker = nullptr;

// Python exceptions raised by the tasks of one call, kept (under the GIL) until the call returns.
struct TaskErrors {
    std::vector<nb::object> errors;
};

// Runs fn(i) holding the GIL; a Python exception is kept in `errs` and replaced by a C++ Error
// (so that no Python object crosses the OpenMP threads without the GIL).
void call_with_gil(nb::handle fn, std::size_t i, TaskErrors& errs) {
    nb::gil_scoped_acquire gil;
    try {
        fn(i);
    } catch (nb::python_error& e) {
        std::string msg = e.what();
        errs.errors[i] = nb::borrow(e.value());
        throw Error(msg);
    }
}

// Raises neuroperf.TaskError (with .task_index, and the task's Python exception as __cause__).
[[noreturn]] void raise_task_error(const TaskError& e, TaskErrors* errs) {
    nb::object err = nb::handle(exc_task)(std::string(e.what()));
    err.attr("task_index") = e.task_index();
    if (errs && e.task_index() < errs->errors.size() && errs->errors[e.task_index()].is_valid()) {
        nb::object cause = errs->errors[e.task_index()];
        PyException_SetCause(err.ptr(), cause.release().ptr());
    }
    PyErr_SetObject(exc_task, err.ptr());
    throw nb::python_error();
}

// Inputs of a multi-modal call by data pointer, so that a Python core receives the very array
// object it was given (no copy).
struct CallInputs {
    std::map<const void*, nb::object> by_data;
};

// A reasoning core written in Python: any object with process(x) (and optionally name,
// estimate_cost(x)). Called with the GIL held; results are copied into float32 arrays.
class PyReasoningCore final : public ReasoningCore {
public:
    PyReasoningCore(nb::object obj, std::string name, std::shared_ptr<CallInputs> inputs, std::size_t slot,
                    std::shared_ptr<TaskErrors> errs)
        : obj_(std::move(obj)), name_(std::move(name)), inputs_(std::move(inputs)), slot_(slot), errs_(std::move(errs)) {}
    ~PyReasoningCore() override {
        nb::gil_scoped_acquire gil;
        obj_.reset();
    }

    std::string name() const override { return name_; }

    Array<float> process(ArrayView<const float> input) const override {
        nb::gil_scoped_acquire gil;
        try {
            nb::object out = obj_.attr("process")(python_input(input));
            Input o = as_input(out, "process() result");
            convert_input(o, DType::float32);
            return Array<float>::copy_of(o.view<float>());
        } catch (nb::python_error& e) {
            std::string msg = e.what();
            errs_->errors[slot_] = nb::borrow(e.value());
            throw Error(msg);
        }
    }

    double estimate_cost(ArrayView<const float> input) const override {
        nb::gil_scoped_acquire gil;
        if (!nb::hasattr(obj_, "estimate_cost")) return ReasoningCore::estimate_cost(input);
        try {
            return nb::cast<double>(obj_.attr("estimate_cost")(python_input(input)));
        } catch (nb::python_error& e) {
            throw ValueError(fmt::format("{}.estimate_cost(): {}", name_, e.what()));
        } catch (nb::cast_error&) {
            throw ValueError(fmt::format("{}.estimate_cost(): expected a number", name_));
        }
    }

private:
    nb::object python_input(ArrayView<const float> input) const {
        auto it = inputs_->by_data.find(input.data());
        if (it != inputs_->by_data.end()) return it->second;
        return to_numpy(Array<float>::copy_of(input));
    }

    nb::object obj_;
    std::string name_;
    std::shared_ptr<CallInputs> inputs_;
    std::size_t slot_;
    std::shared_ptr<TaskErrors> errs_;
};

ParallelConfig make_config(int num_threads, const std::string& strategy, bool balance, double threshold, int chunk,
                           double timeout, bool verbose) {
    ParallelConfig c;
    c.num_threads = num_threads;
    c.parallel_strategy = strategy;
    c.enable_load_balancing = balance;
    c.load_balance_threshold = threshold;
    c.chunk_size = chunk;
    c.process_task_timeout = timeout;
    c.verbose = verbose;
    return c;
}

}  // namespace

void bind_parallel(nb::module_& m) {
    exc_task = new_exception(m, "TaskError", "A task of a parallel call failed (see .task_index and __cause__).",
                             {error_class(), PyExc_RuntimeError});
    exc_worker = new_exception(m, "WorkerError", "A worker process crashed, was killed, timed out or did not start.",
                               {error_class(), PyExc_RuntimeError});
    nb::register_exception_translator([](const std::exception_ptr& p, void*) {
        try {
            std::rethrow_exception(p);
        } catch (const TaskError& e) {
            PyErr_SetString(exc_task, e.what());
        } catch (const WorkerError& e) {
            PyErr_SetString(exc_worker, e.what());
        }
    });

    bind_record<TaskRecord>(m, "TaskRecord", "One task of a parallel call, as measured.");
    bind_record<ParallelReport>(m, "ParallelReport", "Monitoring of one parallel call.", {"summary"})
        .def_prop_ro("summary", &ParallelReport::summary, "a one-line summary");
    bind_record<ParallelStats>(m, "ParallelStats", "Totals over every call of a processor, and the last call's report.");
    bind_record<ParallelBenchmarkEntry>(m, "ParallelBenchmarkEntry", "One row of benchmark_parallel_performance().");
    bind_record<ParallelBenchmarkReport>(m, "ParallelBenchmarkReport", "What benchmark_parallel_performance() measured.",
                                         {"json"})
        .def_prop_ro("json", &ParallelBenchmarkReport::to_json, "the report as Google Benchmark JSON");

    nb::class_<ReasoningCore>(m, "ReasoningCore", "A C++ reasoning core (see ReservoirReasoningCore).")
        .def_prop_ro("name", &ReasoningCore::name)
        .def("process", [](const ReasoningCore& c, nb::handle x) {
            Input in = as_input(x, "input");
            convert_input(in, DType::float32);
            Array<float> y;
            {
                nb::gil_scoped_release release;
                y = c.process(in.view<float>());
            }
            return to_numpy(std::move(y));
        }, "input"_a.none())
        .def("estimate_cost", [](const ReasoningCore& c, nb::handle x) {
            Input in = as_input(x, "input");
            convert_input(in, DType::float32);
            return c.estimate_cost(in.view<float>());
        }, "input"_a.none());

    nb::class_<ReservoirReasoningCore, ReasoningCore>(
        m, "ReservoirReasoningCore",
        "An echo state network with a linear readout: process(U) runs the reservoir over the T x D inputs U and "
        "returns T x O outputs. Weights are a pure function of the seed.")
        .def("__init__",
             [](ReservoirReasoningCore* self, const std::string& name, index_t reservoir_size, index_t input_dim,
                index_t output_dim, double density, double spectral_scale, float leak_rate, std::uint64_t seed) {
                 ReservoirCoreSpec s;
                 s.reservoir_size = reservoir_size;
                 s.input_dim = input_dim;
                 s.output_dim = output_dim;
                 s.density = density;
                 s.spectral_scale = spectral_scale;
                 s.leak_rate = leak_rate;
                 s.seed = seed;
                 new (self) ReservoirReasoningCore(name, s);
             },
             "name"_a, nb::kw_only(), "reservoir_size"_a = 100, "input_dim"_a = 1, "output_dim"_a = 1,
             "density"_a = 0.1, "spectral_scale"_a = 0.9, "leak_rate"_a = 1.0f, "seed"_a = 42)
        .def_prop_ro("reservoir_size", [](const ReservoirReasoningCore& c) { return c.spec().reservoir_size; })
        .def_prop_ro("input_dim", [](const ReservoirReasoningCore& c) { return c.spec().input_dim; })
        .def_prop_ro("output_dim", [](const ReservoirReasoningCore& c) { return c.spec().output_dim; })
        .def("set_readout", [](ReservoirReasoningCore& c, nb::handle w) {
            Input in = as_input(w, "w_out");
            convert_input(in, DType::float32);
            c.set_readout(Array<float>::copy_of(in.view<float>()));
        }, "w_out"_a.none())
        .def("__repr__", [](const ReservoirReasoningCore& c) {
            return fmt::format("ReservoirReasoningCore('{}', reservoir_size={}, input_dim={}, output_dim={})", c.name(),
                               c.spec().reservoir_size, c.spec().input_dim, c.spec().output_dim);
        });

    nb::class_<ParallelProcessor>(m, "_ParallelProcessor")
        .def(
            "__init__",
            [](ParallelProcessor* self, int num_threads, const std::string& strategy, bool balance, double threshold,
               int chunk, double timeout, bool verbose) {
                new (self) ParallelProcessor(make_config(num_threads, strategy, balance, threshold, chunk, timeout,
                                                         verbose),
                                             default_context());
            },
            nb::kw_only(), "num_threads"_a, "parallel_strategy"_a, "enable_load_balancing"_a,
            "load_balance_threshold"_a, "chunk_size"_a, "process_task_timeout"_a, "verbose"_a)
        .def_prop_ro("num_threads", &ParallelProcessor::num_threads)
        .def(
            "_run_tasks",
            [](const ParallelProcessor& pp, const std::string& operation, std::vector<double> costs, bool balance,
               nb::callable fn) {
                TaskErrors errs;
                errs.errors.resize(costs.size());
                std::optional<ParallelReport> rep;
                try {
                    nb::gil_scoped_release release;
                    rep = pp.run_tasks(operation, costs, balance, [&](std::size_t i) { call_with_gil(fn, i, errs); });
                } catch (const TaskError& e) {
                    raise_task_error(e, &errs);
                }
                return nb::cast(std::move(*rep));
            },
            "operation"_a, "costs"_a, "balance"_a, "fn"_a,
            "Runs fn(i) for every task on the workers (each call holds the GIL); returns the call's report.")
        .def(
            "parallel_reservoir_computation",
            [](const ParallelProcessor& pp, nb::sequence states, nb::sequence input_weights,
               nb::sequence reservoir_weights, nb::sequence input_spikes_list, double leak_rate,
               const std::string& activation) {
                std::vector<Input> xs, wins, us;
                std::vector<MatrixArg> ws;
                std::vector<std::string> names;
                auto collect = [&](nb::sequence seq, const char* what, std::vector<Input>& out) {
                    std::size_t i = 0;
                    for (nb::handle h : seq) {
                        names.push_back(fmt::format("{}[{}]", what, i++));
                        out.push_back(as_input(h, names.back().c_str()));
                    }
                };
                names.reserve(4 * (nb::len(states) + nb::len(input_weights) + nb::len(reservoir_weights) +
                                   nb::len(input_spikes_list)));  // arg names stay valid (no reallocation)
                collect(states, "reservoir_states", xs);
                collect(input_weights, "input_weights", wins);
                collect(input_spikes_list, "input_spikes_list", us);
                std::size_t i = 0;
                for (nb::handle h : reservoir_weights) {
                    names.push_back(fmt::format("reservoir_weights[{}]", i++));
                    ws.push_back(as_matrix(h, names.back().c_str()));
                }
                bool any_sparse = false, any_dense = false;
                bool any = false, any64 = false;
                auto vote = [&](DType d) { any = true; any64 |= d == DType::float64; };
                for (auto* v : {&xs, &wins, &us})
                    for (auto& in : *v)
                        if (in.votes) vote(in.dtype);
                for (auto& w : ws) {
                    if (w.sparse()) {
                        any_sparse = true;
                        vote(w.sparse()->dtype());
                    } else {
                        any_dense = true;
                        if (w.dense->votes) vote(w.dense->dtype);
                    }
                }
                if (any_sparse && any_dense)
                    throw ValueError("reservoir_weights: expected all dense or all sparse matrices, got a mix");
                DType d = (!any || any64) ? DType::float64 : DType::float32;
                for (auto* v : {&xs, &wins, &us})
                    for (auto& in : *v) convert_input(in, d);
                for (auto& w : ws)
                    if (w.dense) convert_input(*w.dense, d);
                return with_dtype(d, [&]<class T>() {
                    auto views = [](const std::vector<Input>& v) {
                        std::vector<ArrayView<const T>> out;
                        for (const auto& in : v) out.push_back(in.view<T>());
                        return out;
                    };
                    ReservoirOptions<T> o;
                    o.leak_rate = static_cast<T>(leak_rate);
                    o.activation = parse_activation(activation);
                    std::vector<Array<T>> res;
                    if (any_sparse) {
                        std::vector<CsrMatrix<T>> mats;
                        for (auto& w : ws) {
                            CsrMatrix<T> storage;
                            mats.push_back(csr_as<T>(*w.sparse(), storage));
                        }
                        nb::gil_scoped_release release;
                        res = pp.parallel_reservoir_computation<T>(views(xs), views(wins), std::span<const CsrMatrix<T>>(mats),
                                                                   views(us), o);
                    } else {
                        std::vector<ArrayView<const T>> dense;
                        for (auto& w : ws) dense.push_back(w.dense->view<T>());
                        nb::gil_scoped_release release;
                        res = pp.parallel_reservoir_computation<T>(views(xs), views(wins), dense, views(us), o);
                    }
                    nb::list out;
                    for (auto& a : res) out.append(to_numpy(std::move(a)));
                    return out;
                });
            },
            "reservoir_states"_a, "input_weights"_a, "reservoir_weights"_a, "input_spikes_list"_a,
            "leak_rate"_a = 1.0, "activation"_a = "tanh",
            "K reservoir runs in parallel: states[k] = run_reservoir(reservoir_states[k], W_in, W, input_spikes_list[k]) "
            "with W_in, W the k-th (or the only) entry of their lists; bit-identical to the serial runs.")
        .def(
            "_multi_modal",
            [](const ParallelProcessor& pp, nb::sequence cores, nb::sequence inputs, bool load_balance) {
                std::size_t n = nb::len(cores);
                if (n != nb::len(inputs))
                    throw ValueError(fmt::format("input_data_list: expected {} inputs (one per reasoning core), got {}",
                                                 n, nb::len(inputs)));
                auto call_inputs = std::make_shared<CallInputs>();
                auto errs = std::make_shared<TaskErrors>();
                errs->errors.resize(n);
                std::vector<Input> ins;
                std::vector<std::string> names;
                names.reserve(n);
                for (std::size_t i = 0; i < n; ++i) {
                    names.push_back(fmt::format("input_data_list[{}]", i));
                    ins.push_back(as_input(inputs[i], names.back().c_str()));
                    convert_input(ins.back(), DType::float32);
                    call_inputs->by_data[ins.back().data] = ins.back().keep;
                }
                std::vector<std::shared_ptr<const ReasoningCore>> cs;
                for (std::size_t i = 0; i < n; ++i) {
                    nb::handle c = cores[i];
                    if (nb::isinstance<ReasoningCore>(c)) {
                        // Borrow the C++ core; keep its Python object alive for the call.
                        nb::object keep = nb::borrow(c);
                        const ReasoningCore* p = nb::inst_ptr<ReasoningCore>(c);
                        cs.emplace_back(std::shared_ptr<const ReasoningCore>(p, [keep](const ReasoningCore*) mutable {
                            nb::gil_scoped_acquire gil;
                            keep.reset();
                        }));
                    } else if (nb::hasattr(c, "process")) {
                        std::string name = nb::hasattr(c, "name") ? std::string(nb::str(c.attr("name")).c_str())
                                                                  : std::string(Py_TYPE(c.ptr())->tp_name);
                        cs.push_back(std::make_shared<PyReasoningCore>(nb::borrow(c), name, call_inputs, i, errs));
                    } else {
                        raise_type_error(fmt::format("reasoning_cores[{}]: expected an object with a process(input) "
                                                     "method, got {}", i, Py_TYPE(c.ptr())->tp_name));
                    }
                }
                std::vector<ArrayView<const float>> views;
                for (auto& in : ins) views.push_back(in.view<float>());
                std::optional<MultiModalResult> r;
                try {
                    nb::gil_scoped_release release;
                    r = pp.parallel_multi_modal_reasoning(cs, views, load_balance);
                    cs.clear();  // drop the cores (their deleters take the GIL themselves)
                } catch (const TaskError& e) {
                    raise_task_error(e, errs.get());
                }
                nb::list outs;
                for (auto& a : r->outputs) outs.append(to_numpy(std::move(a)));
                return nb::make_tuple(outs, nb::cast(std::move(r->report)));
            },
            "reasoning_cores"_a, "input_data_list"_a, "load_balance"_a)
        .def(
            "_benchmark_parallel_performance",
            [](const ParallelProcessor& pp, std::vector<index_t> sizes, int iterations, const std::string& path, nb::object progress) {
                PyProgress report(std::move(progress), "benchmark_parallel_performance", "fraction, detail");
                ParallelBenchmarkReport r;
                {
                    nb::gil_scoped_release release;
                    r = pp.benchmark_parallel_performance(std::move(sizes), iterations, path, report.function());
                }
                report.finish();
                return nb::cast(std::move(r));
            },
            "test_sizes"_a, "num_iterations"_a, "output_path"_a, "progress"_a.none())
        .def("get_performance_stats", [](const ParallelProcessor& pp) { return nb::cast(pp.get_performance_stats()); },
             "Totals over every call so far (calls, tasks, steals, wall/serial seconds, speedup, imbalance) and "
             "the last call's report.")
        .def("reset_performance_stats", &ParallelProcessor::reset_performance_stats);
}

}  // namespace neuroperf::py
