// Bindings of the spiking network engine (neuroperf::Network, include/neuroperf/network.hpp).
// The pure-Python layer (python/neuroperf/_snn.py) turns its keyword-only spec records into the
// keyword calls below; every value is validated by the C++ library. run() releases the GIL and
// returns its SimulationResult as a record (records.hpp): the monitors' vectors are NumPy views of
// the result's own memory, no copies. Its
// progress hook (RunOptions::progress, on the calling thread; progress.hpp) takes the GIL only
// for its call: it runs the signal handlers (Ctrl-C raises KeyboardInterrupt there) and the
// user's callable or the bar; a Python exception from either stops the run and is re-raised by
// run().
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "progress.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/network.hpp"
#include "records.hpp"

namespace neuroperf::py {
namespace {

using namespace nb::literals;

/// A 1-D (or shaped) NumPy array owning `v`'s buffer: the vector moves into a capsule.
template <class T>
nb::object vector_to_numpy(std::vector<T>&& v, std::vector<std::size_t> shape = {}) {
    if (shape.empty()) shape = {v.size()};
    auto* owned = new std::vector<T>(std::move(v));
    nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    nb::ndarray<nb::numpy, T> a(owned->data(), shape.size(), shape.data(), owner);
    return nb::cast(a, nb::rv_policy::reference);  // the capsule keeps the data alive
}

SynapseModel parse_synapse(const std::string& s) {
    if (s == "current" || s == "cuba") return SynapseModel::current;
    if (s == "conductance" || s == "coba") return SynapseModel::conductance;
    throw ValueError(fmt::format("synapse: expected 'current' or 'conductance', got '{}'", s));
}
Connectivity parse_connectivity(const std::string& s) {
    if (s == "fixed_probability") return Connectivity::fixed_probability;
    if (s == "fixed_indegree") return Connectivity::fixed_indegree;
    throw ValueError(fmt::format("connectivity: expected 'fixed_probability' or 'fixed_indegree', got '{}'", s));
}
SynapseType parse_type(const std::string& s) {
    if (s == "excitatory") return SynapseType::excitatory;
    if (s == "inhibitory") return SynapseType::inhibitory;
    throw ValueError(fmt::format("type: expected 'excitatory' or 'inhibitory', got '{}'", s));
}
StateVariable parse_variable(const std::string& s) {
    if (s == "v") return StateVariable::v;
    if (s == "g_e") return StateVariable::g_e;
    if (s == "g_i") return StateVariable::g_i;
    throw ValueError(fmt::format("variables: expected names among 'v', 'g_e', 'g_i', got '{}'", s));
}

void bind_records(nb::module_& m) {
    bind_record<MemoryEstimate>(m, "MemoryEstimate", "Memory run() will use beyond what is already allocated (bytes).",
                                {"total"})
        .def_prop_ro("total", &MemoryEstimate::total, "synapses + state + monitors");
    bind_record<SpikeMonitorData>(m, "SpikeMonitorData", "The spikes a spike monitor recorded in one run.");
    bind_record<RateMonitorData>(m, "RateMonitorData", "The population rate a rate monitor recorded in one run.");
    bind_record<StateMonitorData>(m, "StateMonitorData", "The variables a state monitor sampled in one run.")
        .def_prop_ro(
            "values",
            [](nb::handle self) {  // the field as its 3-D shape (samples, variables, neurons)
                auto& d = nb::cast<StateMonitorData&>(self);
                std::size_t shape[3] = {d.times_ms.size(), d.variables.size(), d.neurons.size()};
                return nb::cast(nb::ndarray<nb::numpy, float>(d.values.data(), 3, shape, self), nb::rv_policy::reference);
            },
            "samples × variables × neurons (float32)");
    bind_record<SimulationSummary>(m, "SimulationSummary", "What one run() did.");
    bind_record<SimulationResult>(m, "SimulationResult", "One run(): the monitors' data in order of addition, and the summary.");
}

}  // namespace

void bind_snn(nb::module_& m) {
    bind_records(m);
    nb::class_<Network>(m, "_Network", "neuroperf::Network (use neuroperf.Network)")
        .def(
            "__init__",
            [](Network* self, double dt, std::uint64_t seed, int num_threads, std::int64_t memory_limit_bytes,
               bool use_jit) {
                NetworkOptions o;
                o.dt = dt;
                o.seed = seed;
                o.num_threads = num_threads;
                o.memory_limit_bytes = memory_limit_bytes;
                o.use_jit = use_jit;
                new (self) Network(std::move(o));
            },
            nb::kw_only(), "dt"_a, "seed"_a, "num_threads"_a, "memory_limit_bytes"_a, "use_jit"_a)
        .def(
            "add_population",
            [](Network& net, const std::string& name, index_t size, const std::string& synapse, double tau_m,
               double tau_e, double tau_i, double v_rest, double v_reset, double v_thresh, double i_ext, double e_exc,
               double e_inh, double refractory, double v_init_min, double v_init_max, double g_e_init,
               double g_i_init) {
                PopulationSpec s;
                s.name = name;
                s.size = size;
                s.lif.synapse = parse_synapse(synapse);
                s.lif.tau_m = tau_m;
                s.lif.tau_e = tau_e;
                s.lif.tau_i = tau_i;
                s.lif.v_rest = v_rest;
                s.lif.v_reset = v_reset;
                s.lif.v_thresh = v_thresh;
                s.lif.i_ext = i_ext;
                s.lif.e_exc = e_exc;
                s.lif.e_inh = e_inh;
                s.lif.refractory = refractory;
                s.v_init_min = v_init_min;
                s.v_init_max = v_init_max;
                s.g_e_init = g_e_init;
                s.g_i_init = g_i_init;
                return net.add_population(s);
            },
            nb::kw_only(), "name"_a, "size"_a, "synapse"_a, "tau_m"_a, "tau_e"_a, "tau_i"_a, "v_rest"_a, "v_reset"_a,
            "v_thresh"_a, "i_ext"_a, "e_exc"_a, "e_inh"_a, "refractory"_a, "v_init_min"_a, "v_init_max"_a,
            "g_e_init"_a, "g_i_init"_a)
        .def(
            "add_poisson_input",
            [](Network& net, const std::string& name, index_t size, double rate_hz) {
                return net.add_poisson_input({.name = name, .size = size, .rate_hz = rate_hz});
            },
            nb::kw_only(), "name"_a, "size"_a, "rate_hz"_a)
        .def(
            "add_projection",
            [](Network& net, PopulationId source, PopulationId target, index_t source_begin, index_t source_end,
               index_t target_begin, index_t target_end, const std::string& connectivity, double probability,
               index_t indegree, bool allow_autapses, double weight, const std::string& type, std::int32_t delay_steps,
               double delay_ms, double weight_sd, std::int32_t delay_max_steps, double delay_max_ms) {
                ProjectionSpec s;
                s.source = source;
                s.target = target;
                s.source_begin = source_begin;
                s.source_end = source_end;
                s.target_begin = target_begin;
                s.target_end = target_end;
                s.connectivity = parse_connectivity(connectivity);
                s.probability = probability;
                s.indegree = indegree;
                s.allow_autapses = allow_autapses;
                s.weight = weight;
                s.type = parse_type(type);
                s.delay_steps = delay_steps;
                s.delay_ms = delay_ms;
                s.weight_sd = weight_sd;
                s.delay_max_steps = delay_max_steps;
                s.delay_max_ms = delay_max_ms;
                net.add_projection(s);
            },
            nb::kw_only(), "source"_a, "target"_a, "source_begin"_a, "source_end"_a, "target_begin"_a, "target_end"_a,
            "connectivity"_a, "probability"_a, "indegree"_a, "allow_autapses"_a, "weight"_a, "type"_a,
            "delay_steps"_a, "delay_ms"_a, "weight_sd"_a, "delay_max_steps"_a, "delay_max_ms"_a)
        .def("add_spike_monitor", &Network::add_spike_monitor, "population"_a, "max_spikes"_a = -1)
        .def("add_rate_monitor", &Network::add_rate_monitor, "population"_a)
        .def(
            "add_state_monitor",
            [](Network& net, PopulationId population, std::vector<index_t> neurons,
               const std::vector<std::string>& variables, std::int64_t every_steps) {
                StateMonitorSpec s;
                s.population = population;
                s.neurons = std::move(neurons);
                s.variables.clear();
                for (const std::string& v : variables) s.variables.push_back(parse_variable(v));
                s.every_steps = every_steps;
                return net.add_state_monitor(s);
            },
            "population"_a, "neurons"_a, "variables"_a, "every_steps"_a)
        .def(
            "add_vogels_abbott",
            [](Network& net, const std::string& model, index_t neurons, double probability, bool spike_monitor) {
                return add_vogels_abbott(net, model, neurons, probability, spike_monitor);
            },
            "model"_a, "neurons"_a, "probability"_a, "spike_monitor"_a)
        .def("memory_estimate", [](const Network& net, double duration_ms) { return nb::cast(net.memory_estimate(duration_ms)); },
             "duration_ms"_a)
        .def(
            "run",
            [](Network& net, double duration_ms, nb::object progress, double progress_interval) {
                PyProgress report(std::move(progress), "run", "steps_done, steps_total");
                RunOptions ro;
                ro.progress_interval_seconds = progress_interval;
                // Called with or without a display: the signal check stops a run on Ctrl-C.
                ro.progress = [&report](std::int64_t done, std::int64_t total) { report.steps(done, total); };
                SimulationResult r;
                {
                    nb::gil_scoped_release release;
                    r = net.run(duration_ms, ro);
                }
                report.finish();
                return nb::cast(std::move(r));
            },
            "duration_ms"_a, "progress"_a = nb::none(), "progress_interval"_a = 0.1)
        .def_prop_ro("time_ms", &Network::time_ms)
        .def_prop_ro("dt", [](const Network& net) { return net.options().dt; })
        .def_prop_ro("seed", [](const Network& net) { return net.options().seed; })
        .def_prop_ro("num_populations", &Network::num_populations)
        .def_prop_ro("num_synapses", &Network::num_synapses)
        .def("membrane_potential",
             [](const Network& net, PopulationId p) { return vector_to_numpy(net.membrane_potential(p)); },
             "population"_a)
        .def(
            "connectivity",
            [](const Network& net, int k) {
                auto [rp, col] = net.connectivity(k);
                return nb::make_tuple(vector_to_numpy(std::move(rp)), vector_to_numpy(std::move(col)));
            },
            "projection"_a)
        .def("synapse_weights", [](const Network& net, int k) { return vector_to_numpy(net.synapse_weights(k)); },
             "projection"_a)
        .def("synapse_delays", [](const Network& net, int k) { return vector_to_numpy(net.synapse_delays(k)); },
             "projection"_a);
}

}  // namespace neuroperf::py
