// Network: the description API (populations, inputs, projections, monitors, each validated as
// it is added) and the accessors. The state lives in NetworkImpl (network_impl.hpp); building
// and running it are build.cpp and run.cpp.
#include "neuroperf/network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "snn/network_impl.hpp"

namespace neuroperf {

using snn::Population;
using snn::Projection;

namespace {

void check_finite(const char* what, double x) {
    if (!std::isfinite(x)) throw ValueError(fmt::format("{}: expected a finite value, got {}", what, x));
}

}  // namespace

Network::Network(NetworkOptions options, Context context) {
    if (!(options.dt > 0) || !std::isfinite(options.dt))
        throw ValueError(fmt::format("NetworkOptions.dt: expected a finite time step > 0 ms, got {}", options.dt));
    if (options.num_threads < 0)
        throw ValueError(fmt::format("NetworkOptions.num_threads: expected ≥ 0 (0 = the context's), got {}", options.num_threads));
    if (options.memory_limit_bytes <= 0)
        throw ValueError(fmt::format("NetworkOptions.memory_limit_bytes: expected > 0, got {}", options.memory_limit_bytes));
    impl_ = std::make_unique<snn::NetworkImpl>(std::move(options), std::move(context));
}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

const NetworkOptions& Network::options() const { return impl_->opt; }
const Context& Network::context() const { return impl_->ctx; }
index_t Network::num_populations() const { return static_cast<index_t>(impl_->pops.size()); }

PopulationId Network::add_population(const PopulationSpec& s) {
    impl_->check_not_built("add_population");
    const double dt = impl_->opt.dt;
    const std::string who = fmt::format("population '{}'", s.name);
    if (s.size < 0 || s.size > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("{}: size: expected 0..2^31-1 neurons, got {}", who, s.size));
    for (auto [name, tau] : {std::pair{"tau_m", s.lif.tau_m}, {"tau_e", s.lif.tau_e}, {"tau_i", s.lif.tau_i}}) {
        if (!(tau > 0) || !std::isfinite(tau))
            throw ValueError(fmt::format("{}: {}: expected a time constant > 0 ms, got {}", who, name, tau));
        if (dt >= tau)
            throw ValueError(fmt::format("{}: {}: expected a time constant > dt = {} ms, got {} ms", who, name, dt, tau));
    }
    for (auto [name, x] : {std::pair{"v_rest", s.lif.v_rest}, {"v_reset", s.lif.v_reset}, {"v_thresh", s.lif.v_thresh},
                           {"i_ext", s.lif.i_ext}, {"e_exc", s.lif.e_exc}, {"e_inh", s.lif.e_inh},
                           {"refractory", s.lif.refractory}, {"v_init_min", s.v_init_min}, {"v_init_max", s.v_init_max},
                           {"g_e_init", s.g_e_init}, {"g_i_init", s.g_i_init}})
        check_finite(fmt::format("{}: {}", who, name).c_str(), x);
    if (s.lif.v_reset >= s.lif.v_thresh)
        throw ValueError(fmt::format("{}: v_reset: expected below v_thresh = {} mV, got {} mV", who, s.lif.v_thresh, s.lif.v_reset));
    if (s.lif.refractory < 0)
        throw ValueError(fmt::format("{}: refractory: expected ≥ 0 ms, got {} ms", who, s.lif.refractory));
    if (s.v_init_min > s.v_init_max)
        throw ValueError(fmt::format("{}: v_init_min: expected ≤ v_init_max = {}, got {}", who, s.v_init_max, s.v_init_min));
    Population p;
    p.spec = s;
    p.spec.lif.num_neurons = s.size;
    p.spec.lif.dt = dt;
    p.spec.lif.num_targets = 0;
    p.spec.lif.exc_count = -1;
    p.spec.lif.validate();
    impl_->pops.push_back(std::move(p));
    return static_cast<PopulationId>(impl_->pops.size() - 1);
}

PopulationId Network::add_poisson_input(const PoissonInputSpec& s) {
    impl_->check_not_built("add_poisson_input");
    const std::string who = fmt::format("Poisson input '{}'", s.name);
    if (s.size < 0 || s.size > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("{}: size: expected 0..2^31-1 sources, got {}", who, s.size));
    const double p = s.rate_hz * impl_->opt.dt * 1e-3;
    if (!(s.rate_hz >= 0) || !std::isfinite(s.rate_hz) || p > 1)
        throw ValueError(fmt::format("{}: rate_hz: expected 0..1/dt = {} Hz, got {}", who, 1e3 / impl_->opt.dt, s.rate_hz));
    Population q;
    q.poisson = true;
    q.spec.name = s.name;
    q.spec.size = s.size;
    q.rate_hz = s.rate_hz;
    q.always = p >= 1;
    q.threshold = q.always ? 0 : static_cast<std::uint32_t>(std::llround(p * 0x1p32));
    impl_->pops.push_back(std::move(q));
    return static_cast<PopulationId>(impl_->pops.size() - 1);
}

void Network::add_projection(const ProjectionSpec& s0) {
    impl_->check_not_built("add_projection");
    ProjectionSpec s = s0;
    const std::string who = fmt::format("projection {}", impl_->projs.size());
    Population& src = impl_->pop(s.source, (who + ": source").c_str());
    Population& tgt = impl_->pop(s.target, (who + ": target").c_str());
    if (tgt.poisson) throw ValueError(fmt::format("{}: target: expected a LIF population, got Poisson input '{}'", who, tgt.spec.name));
    if (s.source_end < 0) s.source_end = src.size();
    if (s.target_end < 0) s.target_end = tgt.size();
    if (s.source_begin < 0 || s.source_begin > s.source_end || s.source_end > src.size())
        throw ValueError(fmt::format("{}: source range: expected 0 ≤ begin ≤ end ≤ {}, got [{}, {})", who, src.size(),
                                     s.source_begin, s.source_end));
    if (s.target_begin < 0 || s.target_begin > s.target_end || s.target_end > tgt.size())
        throw ValueError(fmt::format("{}: target range: expected 0 ≤ begin ≤ end ≤ {}, got [{}, {})", who, tgt.size(),
                                     s.target_begin, s.target_end));
    if (s.connectivity == Connectivity::fixed_probability) {
        if (!(s.probability >= 0 && s.probability <= 1))
            throw ValueError(fmt::format("{}: probability: expected a value in [0, 1], got {}", who, s.probability));
    } else {
        index_t n_src = s.source_end - s.source_begin;
        bool overlap = s.source == s.target && !s.allow_autapses &&
                       std::max(s.source_begin, s.target_begin) < std::min(s.source_end, s.target_end);
        index_t avail = n_src - (overlap ? 1 : 0);
        if (s.indegree < 0 || s.indegree > avail)
            throw ValueError(fmt::format("{}: indegree: expected 0..{} (distinct sources available), got {}", who,
                                         std::max<index_t>(avail, 0), s.indegree));
    }
    check_finite((who + ": weight").c_str(), s.weight);
    if (tgt.spec.lif.synapse == SynapseModel::conductance && s.weight < 0)
        throw ValueError(fmt::format("{}: weight: expected ≥ 0 into the conductance-based population '{}', got {}", who,
                                     tgt.spec.name, s.weight));
    std::int64_t d = s.delay_steps;
    if (s.delay_ms >= 0) {
        check_finite((who + ": delay_ms").c_str(), s.delay_ms);
        d = 1 + std::llround(s.delay_ms / impl_->opt.dt);
    }
    if (d < 1 || d > (1 << 20))
        throw ValueError(fmt::format("{}: delay_steps: expected 1..{} steps, got {}", who, 1 << 20, d));
    if (!(s.weight_sd >= 0) || !std::isfinite(s.weight_sd))
        throw ValueError(fmt::format("{}: weight_sd: expected a finite standard deviation ≥ 0, got {}", who, s.weight_sd));
    std::int64_t dmax = d;
    if (s.delay_max_ms >= 0) {
        check_finite((who + ": delay_max_ms").c_str(), s.delay_max_ms);
        dmax = 1 + std::llround(s.delay_max_ms / impl_->opt.dt);
        if (dmax < d)
            throw ValueError(fmt::format("{}: delay_max_ms: expected ≥ the delay ({} steps), got {} ms = {} steps", who, d,
                                         s.delay_max_ms, dmax));
    } else if (s.delay_max_steps != 0) {
        dmax = s.delay_max_steps;
        if (dmax < d)
            throw ValueError(fmt::format("{}: delay_max_steps: expected 0 (none) or ≥ the delay ({} steps), got {}", who, d,
                                         s.delay_max_steps));
    }
    if (dmax > (1 << 20))
        throw ValueError(fmt::format("{}: delay_max_steps: expected at most {} steps, got {}", who, 1 << 20, dmax));
    Projection p;
    p.spec = s;
    p.delay = static_cast<std::int32_t>(d);
    p.delay_max = static_cast<std::int32_t>(dmax);
    p.weight = static_cast<float>(s.weight);
    impl_->projs.push_back(std::move(p));
}

int Network::add_spike_monitor(PopulationId population, std::int64_t max_spikes) {
    impl_->pop(population, "add_spike_monitor: population");
    if (max_spikes < -1) throw ValueError(fmt::format("add_spike_monitor: max_spikes: expected ≥ 0 or -1, got {}", max_spikes));
    impl_->spike_mons.push_back({population, max_spikes, {}, {}});
    return static_cast<int>(impl_->spike_mons.size() - 1);
}

int Network::add_rate_monitor(PopulationId population) {
    impl_->pop(population, "add_rate_monitor: population");
    impl_->rate_mons.push_back({population, {}});
    return static_cast<int>(impl_->rate_mons.size() - 1);
}

int Network::add_state_monitor(const StateMonitorSpec& s) {
    Population& p = impl_->pop(s.population, "add_state_monitor: population");
    if (p.poisson) throw ValueError("add_state_monitor: population: expected a LIF population, got Poisson input");
    if (s.variables.empty()) throw ValueError("add_state_monitor: variables: expected at least one of v, g_e, g_i, got none");
    if (s.every_steps < 1) throw ValueError(fmt::format("add_state_monitor: every_steps: expected ≥ 1, got {}", s.every_steps));
    for (index_t i : s.neurons)
        if (i < 0 || i >= p.size())
            throw ValueError(fmt::format("add_state_monitor: neurons: expected indices in 0..{}, got {}", p.size() - 1, i));
    impl_->state_mons.push_back({s, {}, {}});
    return static_cast<int>(impl_->state_mons.size() - 1);
}

const char* state_variable_name(StateVariable v) {
    switch (v) {
        case StateVariable::v: return "v";
        case StateVariable::g_e: return "g_e";
        case StateVariable::g_i: return "g_i";
    }
    return "?";
}

MemoryEstimate Network::memory_estimate(double duration_ms) const {
    return impl_->estimate(std::llround(std::max(0.0, duration_ms) / impl_->opt.dt), impl_->threads());
}

SimulationResult Network::run(double duration_ms) { return impl_->run(duration_ms, RunOptions{}); }
SimulationResult Network::run(double duration_ms, const RunOptions& run_options) {
    return impl_->run(duration_ms, run_options);
}
double Network::time_ms() const { return static_cast<double>(impl_->step) * impl_->opt.dt; }

std::int64_t Network::num_synapses() const {
    std::int64_t n = 0;
    for (const Projection& p : impl_->projs) n += static_cast<std::int64_t>(p.col.size());
    return n;
}

std::vector<float> Network::membrane_potential(PopulationId population) const {
    Population& p = impl_->pop(population, "membrane_potential: population");
    if (p.poisson) throw ValueError("membrane_potential: population: expected a LIF population, got Poisson input");
    if (!impl_->built) {  // initial values are only drawn at build: report the spec's
        throw ValueError("membrane_potential: the network has not run yet (initial values are drawn by the first run)");
    }
    return {p.v.begin(), p.v.end()};
}

std::pair<std::vector<std::int64_t>, std::vector<std::int32_t>> Network::connectivity(int projection) const {
    if (projection < 0 || projection >= static_cast<int>(impl_->projs.size()))
        throw ValueError(fmt::format("connectivity: projection: expected 0..{}, got {}",
                                     static_cast<int>(impl_->projs.size()) - 1, projection));
    const Projection& p = impl_->projs[static_cast<std::size_t>(projection)];
    return {p.row_ptr, p.col};
}

std::vector<float> Network::synapse_weights(int projection) const {
    if (projection < 0 || projection >= static_cast<int>(impl_->projs.size()))
        throw ValueError(fmt::format("synapse_weights: projection: expected 0..{}, got {}",
                                     static_cast<int>(impl_->projs.size()) - 1, projection));
    const Projection& p = impl_->projs[static_cast<std::size_t>(projection)];
    if (!p.weights.empty()) return p.weights;
    return std::vector<float>(p.col.size(), p.weight);
}

std::vector<std::int32_t> Network::synapse_delays(int projection) const {
    if (projection < 0 || projection >= static_cast<int>(impl_->projs.size()))
        throw ValueError(fmt::format("synapse_delays: projection: expected 0..{}, got {}",
                                     static_cast<int>(impl_->projs.size()) - 1, projection));
    const Projection& p = impl_->projs[static_cast<std::size_t>(projection)];
    if (!p.delays.empty()) return p.delays;
    return std::vector<std::int32_t>(p.col.size(), p.delay);
}

}  // namespace neuroperf
