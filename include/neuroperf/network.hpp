// Spiking network engine: populations of leaky integrate-and-fire neurons (CUBA or COBA),
// Poisson inputs, random projections with integer delays, monitors, and a time-driven run loop
// whose population step is the JIT-compiled spike processing kernel (AOT fallback).
//
//   neuroperf::Network net({.dt = 0.1, .seed = 42});
//   auto p = net.add_population({.name = "P", .size = 4000, .lif = cuba_params});
//   net.add_projection({.source = p, .target = p, .source_end = 3200, .probability = 0.02,
//                       .weight = 1.62});
//   net.add_spike_monitor(p);
//   neuroperf::SimulationResult r = net.run(1000.0);   // ms
//
// See docs/guide/snn.md (usage, a complete example) and docs/dev/snn.md (time step, data layout,
// reproducibility). Single precision (float) state; results are bit-identical for any thread
// count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "neuroperf/context.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf {

/// Index of a population (LIF or Poisson) in its Network, in order of addition.
using PopulationId = std::int32_t;

struct NetworkOptions {
    double dt = 0.1;               ///< ms, > 0
    std::uint64_t seed = 1;        ///< keys every random number (connectivity, v0, Poisson input)
    int num_threads = 0;           ///< 0: the context's count (Context::num_threads)
    /// run() refuses (ValueError) when its estimate of the synapse, state and monitor memory
    /// exceeds this.
    std::int64_t memory_limit_bytes = std::int64_t(4) << 30;
    /// JIT-compile the population step (false: the AOT kernel, no compiler run).
    bool use_jit = true;
    JITConfig jit{};
    /// Called from the run loop (calling thread) about every 1% of the steps with the fraction
    /// done; empty = none. An exception it throws stops the run as RunOptions::progress's does.
    std::function<void(double)> progress{};
};

/// Options of one Network::run call.
struct RunOptions {
    /// Called on the thread that called run(), between steps, with (steps done, steps of this
    /// run): when at least progress_interval_seconds of wall time have passed since the loop
    /// started or since the previous call returned, and once after the last step with
    /// (total, total); not called for a run of 0 steps. The other threads wait meanwhile.
    /// An exception it throws stops the run: the step after the current one is completed
    /// (updated, propagated), then run() rethrows the exception; the network is left consistent
    /// at that step (time_ms(); run() again continues from it, as if the shorter duration had
    /// been asked), and the stopped run's monitor records are dropped.
    std::function<void(std::int64_t steps_done, std::int64_t steps_total)> progress{};
    double progress_interval_seconds = 0.1;  ///< ≥ 0 (0: after every step)
};

/// A population of LIF neurons. `lif` gives the model and parameters (times ms, potentials mV);
/// its num_neurons, dt, max_delay, uniform_delay, num_targets and exc_count are set by the
/// network. Initial v uniform in [v_init_min, v_init_max] (equal bounds: constant).
struct PopulationSpec {
    std::string name = "P";
    index_t size = 0;
    LifSpec lif{};
    double v_init_min = -60, v_init_max = -60;
    double g_e_init = 0, g_i_init = 0;
};

/// `size` independent Poisson spike sources at `rate_hz` each (per step: spike with probability
/// rate·dt, drawn by Philox keyed by (seed, population, neuron, step)).
struct PoissonInputSpec {
    std::string name = "poisson";
    index_t size = 0;
    double rate_hz = 0;
};

enum class Connectivity : std::uint8_t {
    fixed_probability,  ///< every (source, target) pair independently with `probability`
    fixed_indegree,     ///< every target gets `indegree` distinct sources, uniformly
};
enum class SynapseType : std::uint8_t { excitatory, inhibitory };

/// Synapses from neurons [source_begin, source_end) of `source` to [target_begin, target_end)
/// of `target` (−1 ends = the population's size). A spike adds `weight` to the target's g_e
/// (excitatory) or g_i (inhibitory) `delay` steps later: delay_steps ≥ 1 (1 = Brian2's zero
/// delay), or when delay_ms ≥ 0, delay_steps = 1 + round(delay_ms/dt) (Brian2's rule).
///
/// Per-synapse values (optional; without them every synapse shares weight and delay, the fast
/// path): weight_sd > 0 draws synapse k's weight from normal(weight, weight_sd), clipped at 0 on
/// the mean's side (sign-preserving: weight ≥ 0 gives weights ≥ 0, so COBA stays valid;
/// weight < 0 gives weights ≤ 0). delay_max_steps > 0 (or delay_max_ms ≥ 0, converted by the
/// same rule) draws synapse k's delay uniformly among the integers [delay, delay_max]. Both come
/// from Philox keyed by (seed, projection, k), k = the synapse's position in the CSR (which
/// itself does not depend on the thread count): reproducible at any thread count.
struct ProjectionSpec {
    PopulationId source = -1, target = -1;
    index_t source_begin = 0, source_end = -1;
    index_t target_begin = 0, target_end = -1;
    Connectivity connectivity = Connectivity::fixed_probability;
    double probability = 0;
    index_t indegree = 0;
    bool allow_autapses = true;  ///< false: no synapse j → j within one population
    double weight = 0;           ///< mV (CUBA) or units of the leak conductance (COBA, ≥ 0)
    SynapseType type = SynapseType::excitatory;
    std::int32_t delay_steps = 1;
    double delay_ms = -1;
    double weight_sd = 0;              ///< ≥ 0; > 0: per-synapse normal weights
    std::int32_t delay_max_steps = 0;  ///< 0: none; else ≥ the delay: per-synapse uniform delays
    double delay_max_ms = -1;          ///< < 0: none; else overrides delay_max_steps
};

/// Variables a StateMonitor can sample.
enum class StateVariable : std::uint8_t { v, g_e, g_i };
/// "v", "g_e", "g_i".
NEUROPERF_API const char* state_variable_name(StateVariable v);

struct StateMonitorSpec {
    PopulationId population = -1;
    std::vector<index_t> neurons;            ///< indices in the population
    std::vector<StateVariable> variables{StateVariable::v};
    std::int64_t every_steps = 1;            ///< sample at steps 0, k, 2k, ... (value at t = step·dt)
};

/// Memory run() will use beyond what is already allocated (bytes).
struct MemoryEstimate {
    std::int64_t synapses = 0;
    std::int64_t state = 0;
    std::int64_t monitors = 0;
    std::int64_t total() const { return synapses + state + monitors; }
};

/// The spikes a spike monitor recorded in one run.
struct SpikeMonitorData {
    PopulationId population = -1;
    std::vector<double> times_ms;
    std::vector<std::int32_t> ids;
    std::int64_t dropped = 0;
};
/// The population rate a rate monitor recorded in one run.
struct RateMonitorData {
    PopulationId population = -1;
    std::vector<double> rate_hz;
};
/// The variables a state monitor sampled in one run.
struct StateMonitorData {
    PopulationId population = -1;
    std::vector<index_t> neurons;
    std::vector<StateVariable> variables;
    std::vector<double> times_ms;
    std::vector<float> values;
};

/// What one run() did. Its fields, documented in its field list below, are what the CLI's
/// summary, `simulate --out`'s summary.json and the Python attributes show.
struct SimulationSummary {
    index_t neurons = 0;
    index_t poisson_sources = 0;
    std::int64_t synapses = 0;
    std::int64_t steps = 0;
    double duration_ms = 0;
    std::int64_t spikes = 0;
    double mean_rate_hz = 0;
    double cv_isi = 0;
    std::int64_t synaptic_events = 0;
    double events_per_second = 0;
    double loop_seconds = 0;
    double build_seconds = 0;
    double compile_seconds = 0;
    int threads = 1;
    bool jit_compiled = false;
    MemoryEstimate memory{};
};

/// One run(): the monitors' data in order of addition, and the summary.
struct SimulationResult {
    double dt = 0;
    double t_start_ms = 0;
    std::vector<SpikeMonitorData> spikes;
    std::vector<RateMonitorData> rates;
    std::vector<StateMonitorData> states;
    SimulationSummary summary;
};

// --- field lists (fields.hpp): one per result struct; JSON, Python and the CLI are made from them

template <>
struct EnumName<StateVariable> {
    static const char* of(StateVariable v) { return state_variable_name(v); }
};

template <>
struct Fields<MemoryEstimate> {
    using S = MemoryEstimate;
    static constexpr auto list = std::tuple{
        field("synapses", &S::synapses, "bytes of the CSR of every projection (expected count + 6σ)"),
        field("state", &S::state, "bytes of neuron state, delay rings and spike buffers"),
        field("monitors", &S::monitors, "bytes of the monitors' capacities for the run")};
};
NEUROPERF_CHECK_FIELDS(MemoryEstimate);

template <>
struct Fields<SpikeMonitorData> {
    using S = SpikeMonitorData;
    static constexpr auto list = std::tuple{
        field("population", &S::population, "the monitored population"),
        field("times_ms", &S::times_ms, "step·dt of the step whose update fired (Brian2's convention)"),
        field("ids", &S::ids, "neuron index in the population; time-ordered, ascending within a step"),
        field("dropped", &S::dropped, "spikes past the monitor's capacity (not recorded)")};
};
NEUROPERF_CHECK_FIELDS(SpikeMonitorData);

template <>
struct Fields<RateMonitorData> {
    using S = RateMonitorData;
    static constexpr auto list = std::tuple{field("population", &S::population, "the monitored population"),
                                            field("rate_hz", &S::rate_hz, "per step: spikes / (size · dt)")};
};
NEUROPERF_CHECK_FIELDS(RateMonitorData);

template <>
struct Fields<StateMonitorData> {
    using S = StateMonitorData;
    static constexpr auto list = std::tuple{
        field("population", &S::population, "the monitored population"),
        field("neurons", &S::neurons, "the sampled neurons (indices in the population)"),
        field("variables", &S::variables, "the sampled variables, in the order of values' second axis"),
        field("times_ms", &S::times_ms, "the sample times"),
        field("values", &S::values, "samples × variables × neurons, C order")};
};
NEUROPERF_CHECK_FIELDS(StateMonitorData);

template <>
struct Fields<SimulationSummary> {
    using S = SimulationSummary;
    static constexpr auto list = std::tuple{
        field("neurons", &S::neurons, "LIF neurons (Poisson sources not counted)"),
        field("poisson_sources", &S::poisson_sources, "Poisson input sources"),
        field("synapses", &S::synapses, "synapses of every projection"),
        field("steps", &S::steps, "time steps run"),
        field("duration_ms", &S::duration_ms, "steps · dt"),
        field("spikes", &S::spikes, "LIF spikes"),
        field("mean_rate_hz", &S::mean_rate_hz, "LIF spikes / (neurons · duration)"),
        field("cv_isi", &S::cv_isi,
              "mean over monitored LIF neurons with ≥ 3 spikes of std(ISI)/mean(ISI); NaN without data"),
        field("synaptic_events", &S::synaptic_events, "synapse activations (LIF and Poisson sources)"),
        field("events_per_second", &S::events_per_second, "synaptic_events / loop_seconds"),
        field("loop_seconds", &S::loop_seconds, "wall time of the time-step loop"),
        field("build_seconds", &S::build_seconds, "connectivity, state and monitor set-up (this run)"),
        field("compile_seconds", &S::compile_seconds, "JIT compile (or cache load) of the population kernels"),
        field("threads", &S::threads, "threads of the loop"),
        field("jit_compiled", &S::jit_compiled, "every population kernel is compiled code"),
        field("memory", &S::memory, "the memory estimate the run was checked against")};
};
NEUROPERF_CHECK_FIELDS(SimulationSummary);

template <>
struct Fields<SimulationResult> {
    using S = SimulationResult;
    static constexpr auto list = std::tuple{
        field("dt", &S::dt, "the time step (ms)"),
        field("t_start_ms", &S::t_start_ms, "network time at the start of this run"),
        field("spikes", &S::spikes, "one per spike monitor, in order of addition"),
        field("rates", &S::rates, "one per rate monitor, in order of addition"),
        field("states", &S::states, "one per state monitor, in order of addition"),
        field("summary", &S::summary, "what the run did")};
};
NEUROPERF_CHECK_FIELDS(SimulationResult);

namespace snn {
class NetworkImpl;
}

/// A spiking network. Describe it (add_*), then run(); run() may be called again to continue
/// (state, time and delayed spikes carry over; the structure is frozen by the first run).
/// Not thread-safe itself; run() uses options.num_threads threads internally (0: the context's
/// thread count).
class NEUROPERF_API Network {
public:
    /// A network on `context` (threads when options.num_threads is 0, the JIT's kernel cache,
    /// logging). ValueError for dt ≤ 0 or non-finite, num_threads < 0, memory limit ≤ 0.
    explicit Network(NetworkOptions options = {}, Context context = default_context());
    ~Network();
    Network(Network&&) noexcept;
    Network& operator=(Network&&) noexcept;

    /// ValueError names the field: size < 0, a tau ≤ 0, dt ≥ a tau, v_reset ≥ v_thresh,
    /// refractory < 0, non-finite values, v_init_min > v_init_max.
    PopulationId add_population(const PopulationSpec& spec);
    /// ValueError for size < 0, rate < 0, rate·dt > 1.
    PopulationId add_poisson_input(const PoissonInputSpec& spec);
    /// ValueError for unknown ids, a Poisson target, ranges outside the populations, probability
    /// outside [0, 1], indegree outside [0, source count], delay < 1, non-finite weight, negative
    /// weight into a COBA population, weight_sd < 0 or non-finite, delay_max below the delay.
    void add_projection(const ProjectionSpec& spec);
    /// Records every spike of `population` up to max_spikes per run (−1: the most it can fire,
    /// size·⌈steps/(refractory steps + 1)⌉); returns the monitor's index in SimulationResult::spikes.
    int add_spike_monitor(PopulationId population, std::int64_t max_spikes = -1);
    int add_rate_monitor(PopulationId population);
    /// ValueError for unknown population/neurons, no variables, every_steps < 1.
    int add_state_monitor(const StateMonitorSpec& spec);

    /// What run(duration_ms) would allocate.
    MemoryEstimate memory_estimate(double duration_ms) const;
    /// Runs round(duration_ms/dt) steps. ValueError for duration < 0 or an estimate over
    /// options.memory_limit_bytes (the message gives the breakdown), before allocating anything.
    SimulationResult run(double duration_ms);
    /// The same with a progress callback (RunOptions); ValueError for a negative or NaN interval.
    SimulationResult run(double duration_ms, const RunOptions& run_options);
    /// Network time: steps run so far × dt (ms).
    double time_ms() const;

    const NetworkOptions& options() const;
    const Context& context() const;
    index_t num_populations() const;
    /// Synapses built so far (0 before the first run).
    std::int64_t num_synapses() const;
    /// Current membrane potentials of a LIF population (a copy); ValueError before the first run
    /// (initial values are drawn when the network is built) or for a Poisson input.
    std::vector<float> membrane_potential(PopulationId population) const;
    /// The CSR synapses of projection k (built by the first run): row_ptr (sources + 1) and
    /// target columns, rows = source neurons of the whole source population.
    std::pair<std::vector<std::int64_t>, std::vector<std::int32_t>> connectivity(int projection) const;
    /// Weight of every synapse of projection k in the order of connectivity(k).second (the
    /// shared weight repeated when the projection has no weight_sd); ValueError for a bad index.
    std::vector<float> synapse_weights(int projection) const;
    /// Delay in steps of every synapse of projection k, in the same order.
    std::vector<std::int32_t> synapse_delays(int projection) const;

private:
    std::unique_ptr<snn::NetworkImpl> impl_;
};


/// The Vogels-Abbott benchmark networks as in Brian2's examples (CUBA.py, COBA.py), scaled to
/// `neurons` (80% excitatory) with connection probability `probability` (CUBA.py: 4000, 0.02).
/// model "cuba": tau_m 20, V_th −50, V_r −60, E_L −49, tau_e 5, tau_i 10, w_e 1.62, w_i −9 mV,
/// refractory 5 ms; "coba": E_L −60, E_e 0, E_i −80 mV, g_L-relative w_e 0.6·(4000·0.02)/(N·p)...
/// see docs/guide/snn.md. Adds a spike monitor on the population (monitor 0) when
/// `spike_monitor`. ValueError for another model. Returns the population id.
NEUROPERF_API PopulationId add_vogels_abbott(Network& net, const std::string& model, index_t neurons,
                                             double probability, bool spike_monitor = true);

}  // namespace neuroperf
