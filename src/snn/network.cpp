// Spiking network engine (docs/dev/snn.md). The population step is the JIT's spike processing
// kernel (update phase only); propagation is done here so that one population can project to
// several targets with per-projection delays, and so that threads can split it by target range
// (every target element then receives its additions in the same order at any thread count).
#include "neuroperf/network.hpp"

#include <omp.h>

#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/timer.hpp"

namespace neuroperf {
namespace {

// Random streams: Philox4x32-10, key = seed, counter = (a, b, c, kind << 24 | object).
enum StreamKind : std::uint32_t { kInitV = 1, kPoisson = 2, kConnect = 3, kIndegree = 4, kSynapse = 5 };
using Philox = r123::Philox4x32;

inline Philox::ctr_type philox(std::uint64_t seed, std::uint32_t kind, std::uint32_t object, std::uint32_t a,
                               std::uint64_t b) {
    Philox::ctr_type c = {{a, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32),
                           (kind << 24) | (object & 0xFFFFFFu)}};
    Philox::key_type k = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
    return Philox()(c, k);
}
// (0, 1), never 0 or 1 (log of it is finite).
inline double open_unit(std::uint32_t x) { return (static_cast<double>(x) + 0.5) * 0x1p-32; }

constexpr index_t kChunkAlign = 16;  // 64-byte float blocks per thread; multiple of 4 (Poisson draws)

void check_finite(const char* what, double x) {
    if (!std::isfinite(x)) throw ValueError(fmt::format("{}: expected a finite value, got {}", what, x));
}

struct Population {
    bool poisson = false;
    PopulationSpec spec;          // LIF: spec.lif completed at build
    double rate_hz = 0;
    std::uint32_t threshold = 0;  // Poisson: spike when draw < threshold (p·2^32)
    bool always = false;          // Poisson with p = 1
    std::int32_t max_delay = 1;
    std::vector<float> v, g_e, g_i, in_e, in_i;
    std::vector<std::int32_t> refractory, spikes;
    std::vector<index_t> chunk;        // T + 1 boundaries
    std::vector<std::int64_t> count;   // spikes of chunk c at count[c * kPad]
    std::optional<SpikeProcessingKernel<float>> kernel;
    index_t size() const { return spec.size; }
};
constexpr int kPad = 8;

struct Projection {
    ProjectionSpec spec;
    std::int32_t delay = 1;      // the delay, or the lower bound of per-synapse delays
    std::int32_t delay_max = 1;  // == delay without per-synapse delays
    float weight = 0;
    std::vector<std::int64_t> row_ptr;  // over the whole source population
    std::vector<std::int32_t> col;
    std::vector<float> weights;         // per synapse (CSR order) when spec.weight_sd > 0, else empty
    std::vector<std::int32_t> delays;   // per synapse when delay_max > delay, else empty
    bool heterogeneous_weights() const { return spec.weight_sd > 0; }
    bool heterogeneous_delays() const { return delay_max > delay; }
};

struct SpikeMon {
    PopulationId pop;
    std::int64_t max_spikes;
    std::vector<std::int32_t> steps, ids;
    std::int64_t capacity = 0, dropped = 0;
};
struct RateMon {
    PopulationId pop;
    std::vector<std::int32_t> counts;
};
struct StateMon {
    StateMonitorSpec spec;
    std::vector<double> times;
    std::vector<float> values;
};

}  // namespace

class NetworkImpl {
public:
    NetworkOptions opt;
    std::vector<Population> pops;
    std::vector<Projection> projs;
    std::vector<SpikeMon> spike_mons;
    std::vector<RateMon> rate_mons;
    std::vector<StateMon> state_mons;
    bool built = false;
    std::int64_t step = 0;  // network time in steps
    double compile_seconds = 0;

    Population& pop(PopulationId id, const char* what) {
        if (id < 0 || id >= static_cast<PopulationId>(pops.size()))
            throw ValueError(fmt::format("{}: expected a population id in 0..{}, got {}", what,
                                         static_cast<int>(pops.size()) - 1, id));
        return pops[static_cast<std::size_t>(id)];
    }
    void check_not_built(const char* what) const {
        if (built) throw ValueError(fmt::format("{}: the network's structure is frozen by its first run()", what));
    }

    MemoryEstimate estimate(std::int64_t steps) const;
    void build();
    void build_projection(std::size_t k);
    void build_connectivity(std::size_t k);
    SimulationResult run(double duration_ms);
};

// --- description and validation --------------------------------------------------------------

Network::Network(NetworkOptions options) : impl_(std::make_unique<NetworkImpl>()) {
    if (!(options.dt > 0) || !std::isfinite(options.dt))
        throw ValueError(fmt::format("NetworkOptions.dt: expected a finite time step > 0 ms, got {}", options.dt));
    if (options.num_threads < 0)
        throw ValueError(fmt::format("NetworkOptions.num_threads: expected ≥ 0 (0 = default), got {}", options.num_threads));
    if (options.memory_limit_bytes <= 0)
        throw ValueError(fmt::format("NetworkOptions.memory_limit_bytes: expected > 0, got {}", options.memory_limit_bytes));
    impl_->opt = std::move(options);
}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

const NetworkOptions& Network::options() const { return impl_->opt; }
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

// --- memory -------------------------------------------------------------------------------------

namespace {
std::int64_t spike_capacity(const Population& p, const SpikeMon& m, std::int64_t steps) {
    if (m.max_spikes >= 0) return m.max_spikes;
    if (p.poisson) {  // no hard bound below size·steps: twice the expectation, drops are counted
        double mean = static_cast<double>(p.size()) * static_cast<double>(steps) * p.rate_hz * p.spec.lif.dt * 1e-3;
        return static_cast<std::int64_t>(2 * mean) + 1024;
    }
    std::int64_t per = (steps + p.spec.lif.refractory_steps()) / (p.spec.lif.refractory_steps() + 1);
    return p.size() * per;
}
}  // namespace

MemoryEstimate NetworkImpl::estimate(std::int64_t steps) const {
    MemoryEstimate m;
    if (!built) {
        for (const Projection& pr : projs) {
            const ProjectionSpec& s = pr.spec;
            double ns = static_cast<double>(s.source_end - s.source_begin), nt = static_cast<double>(s.target_end - s.target_begin);
            double syn = 0;
            if (s.connectivity == Connectivity::fixed_probability) {
                double mean = s.probability * ns * nt;
                syn = mean + 6 * std::sqrt(mean * (1 - s.probability)) + 1;
            } else {
                syn = 2 * static_cast<double>(s.indegree) * nt;  // source lists, then the CSR
            }
            const double per = 4 + (pr.heterogeneous_weights() ? 4 : 0) + (pr.heterogeneous_delays() ? 4 : 0);
            m.synapses += static_cast<std::int64_t>(syn * per) + (pops[static_cast<std::size_t>(s.source)].size() + 1) * 8;
        }
        for (std::size_t k = 0; k < pops.size(); ++k) {
            const Population& p = pops[k];
            std::int64_t d = 1;
            for (const Projection& pr : projs)
                if (pr.spec.target == static_cast<PopulationId>(k)) d = std::max<std::int64_t>(d, pr.delay_max);
            m.state += p.size() * 4 + (p.poisson ? 0 : p.size() * (16 + 8 * d));
        }
    }
    for (const SpikeMon& s : spike_mons)
        m.monitors += spike_capacity(pops[static_cast<std::size_t>(s.pop)], s, steps) * 20;  // 2×int32 + double
    for (std::size_t k = 0; k < rate_mons.size(); ++k) m.monitors += steps * 12;
    for (const StateMon& s : state_mons) {
        std::int64_t samples = (steps + s.spec.every_steps - 1) / s.spec.every_steps;
        m.monitors += samples * (8 + 4 * static_cast<std::int64_t>(s.spec.neurons.size() * s.spec.variables.size()));
    }
    return m;
}

MemoryEstimate Network::memory_estimate(double duration_ms) const {
    return impl_->estimate(std::llround(std::max(0.0, duration_ms) / impl_->opt.dt));
}

// --- build ------------------------------------------------------------------------------------

void NetworkImpl::build_projection(std::size_t k) {
    build_connectivity(k);
    // Per-synapse weights and delays: one Philox block per synapse k (its CSR position), lanes 0-1
    // a Box-Muller normal, lane 2 the delay; independent of the thread count and of the order.
    Projection& pr = projs[k];
    if (!pr.heterogeneous_weights() && !pr.heterogeneous_delays()) return;
    const auto nsyn = static_cast<std::int64_t>(pr.col.size());
    const bool hw = pr.heterogeneous_weights(), hd = pr.heterogeneous_delays();
    if (hw) pr.weights.resize(static_cast<std::size_t>(nsyn));
    if (hd) pr.delays.resize(static_cast<std::size_t>(nsyn));
    const double mean = pr.spec.weight, sd = pr.spec.weight_sd;
    const auto span = static_cast<std::uint64_t>(pr.delay_max - pr.delay + 1);
    const auto obj = static_cast<std::uint32_t>(k);
    const std::uint64_t seed = opt.seed;
#pragma omp parallel for schedule(static) num_threads(std::max(1, opt.num_threads ? opt.num_threads : omp_get_max_threads()))
    for (std::int64_t q = 0; q < nsyn; ++q) {
        Philox::ctr_type r = philox(seed, kSynapse, obj, static_cast<std::uint32_t>(q), static_cast<std::uint64_t>(q) >> 32);
        if (hw) {
            const double z = std::sqrt(-2.0 * std::log(open_unit(r.v[0]))) * std::cos(2.0 * std::numbers::pi * open_unit(r.v[1]));
            const double w = mean + sd * z;
            pr.weights[static_cast<std::size_t>(q)] = static_cast<float>(mean >= 0 ? std::max(w, 0.0) : std::min(w, 0.0));
        }
        if (hd)
            pr.delays[static_cast<std::size_t>(q)] =
                pr.delay + static_cast<std::int32_t>((static_cast<std::uint64_t>(r.v[2]) * span) >> 32);
    }
}

void NetworkImpl::build_connectivity(std::size_t k) {
    Projection& pr = projs[k];
    const ProjectionSpec& s = pr.spec;
    const index_t n_src = pops[static_cast<std::size_t>(s.source)].size();
    const auto obj = static_cast<std::uint32_t>(k);
    const std::uint64_t seed = opt.seed;
    const bool same = s.source == s.target && !s.allow_autapses;
    pr.row_ptr.assign(static_cast<std::size_t>(n_src + 1), 0);
    if (s.connectivity == Connectivity::fixed_probability) {
        // Row j: geometric gaps between the chosen targets (O(synapses), not O(pairs)), drawn
        // from the stream (seed, projection, j): rows are independent, so parallel and
        // deterministic. Two passes (count, fill) draw the same numbers.
        const index_t nt = s.target_end - s.target_begin;
        const double p = s.probability;
        const double log_q = std::log1p(-p);
        auto row = [&](index_t j, auto&& emit) {
            if (p <= 0 || nt == 0) return;
            index_t pos = -1;
            std::uint64_t draw = 0;
            Philox::ctr_type r{};
            for (int lane = 4;; ++lane) {
                if (lane == 4) {
                    r = philox(seed, kConnect, obj, static_cast<std::uint32_t>(j), draw++);
                    lane = 0;
                }
                double gap = p >= 1 ? 0.0 : std::floor(std::log(open_unit(r.v[lane])) / log_q);
                if (gap >= static_cast<double>(nt)) return;
                pos += 1 + static_cast<index_t>(gap);
                if (pos >= nt) return;
                index_t t = s.target_begin + pos;
                if (same && t == j) continue;
                emit(static_cast<std::int32_t>(t));
            }
        };
        const auto jb = s.source_begin, je = s.source_end;
#pragma omp parallel for schedule(dynamic, 64) num_threads(std::max(1, opt.num_threads ? opt.num_threads : omp_get_max_threads()))
        for (index_t j = jb; j < je; ++j) {
            std::int64_t c = 0;
            row(j, [&](std::int32_t) { ++c; });
            pr.row_ptr[static_cast<std::size_t>(j + 1)] = c;
        }
        for (index_t j = 0; j < n_src; ++j) pr.row_ptr[static_cast<std::size_t>(j + 1)] += pr.row_ptr[static_cast<std::size_t>(j)];
        pr.col.resize(static_cast<std::size_t>(pr.row_ptr.back()));
#pragma omp parallel for schedule(dynamic, 64) num_threads(std::max(1, opt.num_threads ? opt.num_threads : omp_get_max_threads()))
        for (index_t j = jb; j < je; ++j) {
            std::int32_t* out = pr.col.data() + pr.row_ptr[static_cast<std::size_t>(j)];
            row(j, [&](std::int32_t t) { *out++ = t; });
        }
        return;
    }
    // Fixed in-degree: for target i, Floyd's sampling of K distinct sources from the stream
    // (seed, projection, i); then a counting sort into CSR by source (columns ascending because
    // targets are visited in order).
    const index_t K = s.indegree, tb = s.target_begin, te = s.target_end, sb = s.source_begin;
    const index_t ns = s.source_end - s.source_begin;
    std::vector<std::int32_t> srcs(static_cast<std::size_t>(K * (te - tb)));
#pragma omp parallel num_threads(std::max(1, opt.num_threads ? opt.num_threads : omp_get_max_threads()))
    {
        std::vector<char> taken(static_cast<std::size_t>(ns), 0);
#pragma omp for schedule(dynamic, 64)
        for (index_t i = tb; i < te; ++i) {
            const bool skip = same && i >= sb && i < s.source_end;  // candidate i − sb excluded
            const index_t n = ns - (skip ? 1 : 0);
            std::int32_t* out = srcs.data() + (i - tb) * K;
            std::uint64_t draw = 0;
            Philox::ctr_type r{};
            int lane = 4;
            for (index_t m = n - K; m < n; ++m) {
                if (lane == 4) {
                    r = philox(seed, kIndegree, obj, static_cast<std::uint32_t>(i), draw++);
                    lane = 0;
                }
                auto t = static_cast<index_t>((static_cast<std::uint64_t>(r.v[lane++]) * static_cast<std::uint64_t>(m + 1)) >> 32);
                if (taken[static_cast<std::size_t>(t)]) t = m;
                taken[static_cast<std::size_t>(t)] = 1;
                *out++ = static_cast<std::int32_t>(t);
            }
            out -= K;
            for (index_t q = 0; q < K; ++q) {
                taken[static_cast<std::size_t>(out[q])] = 0;
                index_t src = out[q];
                if (skip && src >= i - sb) ++src;
                out[q] = static_cast<std::int32_t>(sb + src);
            }
        }
    }
    for (std::int32_t j : srcs) ++pr.row_ptr[static_cast<std::size_t>(j + 1)];
    for (index_t j = 0; j < n_src; ++j) pr.row_ptr[static_cast<std::size_t>(j + 1)] += pr.row_ptr[static_cast<std::size_t>(j)];
    pr.col.resize(static_cast<std::size_t>(pr.row_ptr.back()));
    std::vector<std::int64_t> fill(pr.row_ptr.begin(), pr.row_ptr.end() - 1);
    for (index_t i = tb; i < te; ++i)
        for (index_t q = 0; q < K; ++q) {
            auto j = static_cast<std::size_t>(srcs[static_cast<std::size_t>((i - tb) * K + q)]);
            pr.col[static_cast<std::size_t>(fill[j]++)] = static_cast<std::int32_t>(i);
        }
}

void NetworkImpl::build() {
    for (std::size_t k = 0; k < pops.size(); ++k) {
        Population& p = pops[k];
        const auto n = static_cast<std::size_t>(p.size());
        p.spikes.assign(n, 0);
        if (p.poisson) continue;
        std::int32_t d = 1;
        for (const Projection& pr : projs)
            if (pr.spec.target == static_cast<PopulationId>(k)) d = std::max(d, pr.delay_max);
        p.max_delay = d;
        p.spec.lif.max_delay = d;
        p.spec.lif.uniform_delay = 1;
        p.v.resize(n);
        p.g_e.assign(n, static_cast<float>(p.spec.g_e_init));
        p.g_i.assign(n, static_cast<float>(p.spec.g_i_init));
        p.refractory.assign(n, 0);
        p.in_e.assign(n * static_cast<std::size_t>(d), 0.0f);
        p.in_i.assign(n * static_cast<std::size_t>(d), 0.0f);
        const double lo = p.spec.v_init_min, span = p.spec.v_init_max - p.spec.v_init_min;
        for (std::size_t i = 0; i < n; ++i) {
            double u = span == 0 ? 0.0 : open_unit(philox(opt.seed, kInitV, static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(i), 0).v[0]);
            p.v[i] = static_cast<float>(lo + u * span);
        }
    }
    for (std::size_t k = 0; k < projs.size(); ++k) build_projection(k);
    Timer compile;
    JITConfig jc = opt.jit;
    if (!opt.use_jit) jc.enable_jit = false;
    JITCompiler jit(jc);
    for (Population& p : pops)
        if (!p.poisson) p.kernel = jit.compile_spike_processing_kernel<float>(p.spec.lif);
    compile_seconds = compile.seconds();
    built = true;
}

// --- run ----------------------------------------------------------------------------------------

namespace {
// Propagation of a projection with per-synapse weights and/or delays into target range [lo, hi):
// synapse q of a spiking source adds weights[q] (or the shared weight) to ring slot
// (t + delays[q]) mod D. Same order of additions per ring element as the uniform path (spikes in
// ascending source order, synapses in row order), hence bit-identical at any thread count.
template <bool PerWeight, bool PerDelay>
void propagate_rows(const Projection& pr, const Population& src, float* rings, std::int64_t slot0, std::int64_t D,
                    index_t n_t, std::int32_t lo, std::int32_t hi, int T) {
    const std::int64_t* rp = pr.row_ptr.data();
    const std::int32_t* col = pr.col.data();
    const float* wv = pr.weights.data();
    const std::int32_t* dv = pr.delays.data();
    const float w = pr.weight;
    float* const fixed_ring = rings + ((slot0 + pr.delay) % D) * n_t;
    for (int c = 0; c < T; ++c) {
        const std::int32_t* sp = src.spikes.data() + src.chunk[static_cast<std::size_t>(c)];
        for (std::int64_t q = 0, nq = src.count[static_cast<std::size_t>(c * kPad)]; q < nq; ++q) {
            const std::int32_t j = sp[q];
            const std::int32_t* s0 = col + rp[j];
            const std::int32_t* s1 = col + rp[j + 1];
            if (T > 1) {
                s0 = std::lower_bound(s0, s1, lo);
                s1 = std::lower_bound(s0, s1, hi);
            }
            for (const std::int32_t* s = s0; s < s1; ++s) {
                const std::ptrdiff_t k = s - col;
                float* ring = fixed_ring;
                if constexpr (PerDelay) {
                    std::int64_t slot = slot0 + dv[k];  // 1 ≤ delay ≤ D: one subtraction wraps
                    if (slot >= D) slot -= D;
                    ring = rings + slot * n_t;
                }
                ring[*s] += PerWeight ? wv[k] : w;
            }
        }
    }
}

void propagate_heterogeneous(const Projection& pr, const Population& src, float* rings, std::int64_t slot0,
                             std::int64_t D, index_t n_t, std::int32_t lo, std::int32_t hi, int T) {
    const bool pw = !pr.weights.empty(), pd = !pr.delays.empty();
    if (pw && pd) propagate_rows<true, true>(pr, src, rings, slot0, D, n_t, lo, hi, T);
    else if (pw) propagate_rows<true, false>(pr, src, rings, slot0, D, n_t, lo, hi, T);
    else propagate_rows<false, true>(pr, src, rings, slot0, D, n_t, lo, hi, T);
}
}  // namespace

SimulationResult NetworkImpl::run(double duration_ms) {
    if (!(duration_ms >= 0) || !std::isfinite(duration_ms))
        throw ValueError(fmt::format("run: duration_ms: expected a finite duration ≥ 0 ms, got {}", duration_ms));
    const double dt = opt.dt;
    const std::int64_t steps = std::llround(duration_ms / dt);
    if (step + steps > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("run: duration_ms: the network would pass 2^31-1 steps (now at step {}, +{})", step, steps));
    const MemoryEstimate mem = estimate(steps);
    if (mem.total() > opt.memory_limit_bytes)
        throw ValueError(fmt::format(
            "run: this network needs about {:.1f} MB (synapses {:.1f} MB, state {:.1f} MB, monitors {:.1f} MB for "
            "{} steps), more than NetworkOptions.memory_limit_bytes = {:.1f} MB; record fewer spikes "
            "(add_spike_monitor max_spikes), sample less or raise the limit",
            mem.total() / 1e6, mem.synapses / 1e6, mem.state / 1e6, mem.monitors / 1e6, steps, opt.memory_limit_bytes / 1e6));

    SimulationResult res;
    res.dt = dt;
    res.t_start_ms = static_cast<double>(step) * dt;
    Timer build_timer;
    const bool first = !built;
    if (first) build();
    const int T = std::max(1, opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads());
    for (Population& p : pops) {
        p.chunk.resize(static_cast<std::size_t>(T + 1));
        const index_t n = p.size();
        for (int c = 0; c <= T; ++c) {
            index_t b = (n * c / T + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
            p.chunk[static_cast<std::size_t>(c)] = std::min(n, b);
        }
        p.count.assign(static_cast<std::size_t>(T * kPad), 0);
    }
    for (SpikeMon& m : spike_mons) {
        m.capacity = spike_capacity(pops[static_cast<std::size_t>(m.pop)], m, steps);
        m.steps.clear();
        m.ids.clear();
        m.steps.reserve(static_cast<std::size_t>(m.capacity));
        m.ids.reserve(static_cast<std::size_t>(m.capacity));
        m.dropped = 0;
    }
    for (RateMon& m : rate_mons) m.counts.assign(static_cast<std::size_t>(steps), 0);
    for (StateMon& m : state_mons) {
        std::int64_t samples = 0;
        for (std::int64_t t = step; t < step + steps; ++t) samples += (t % m.spec.every_steps) == 0;
        m.times.clear();
        m.times.reserve(static_cast<std::size_t>(samples));
        m.values.clear();
        m.values.reserve(static_cast<std::size_t>(samples) * m.spec.neurons.size() * m.spec.variables.size());
    }
    auto sample = [&](std::int64_t t) {
        for (StateMon& m : state_mons) {
            if (t % m.spec.every_steps != 0) continue;
            const Population& p = pops[static_cast<std::size_t>(m.spec.population)];
            m.times.push_back(static_cast<double>(t) * dt);
            for (StateVariable var : m.spec.variables) {
                const std::vector<float>& x = var == StateVariable::v ? p.v : var == StateVariable::g_e ? p.g_e : p.g_i;
                for (index_t i : m.spec.neurons) m.values.push_back(x[static_cast<std::size_t>(i)]);
            }
        }
    };
    res.summary.build_seconds = build_timer.seconds() - (first ? compile_seconds : 0);
    res.summary.compile_seconds = first ? compile_seconds : 0;

    std::int64_t lif_spikes = 0, events = 0;
    const std::int64_t t0 = step, t_end = step + steps;
    const std::int64_t progress_every = std::max<std::int64_t>(1, steps / 100);
    const std::uint64_t seed = opt.seed;
    Timer loop_timer;
    if (steps > 0) sample(t0);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        const int tid = omp_get_thread_num();
        for (std::int64_t t = t0; t < t_end; ++t) {
            // 1. Update every population's neuron range of this thread.
            for (std::size_t k = 0; k < pops.size(); ++k) {
                Population& p = pops[k];
                const index_t b = p.chunk[static_cast<std::size_t>(tid)], e = p.chunk[static_cast<std::size_t>(tid + 1)];
                std::int64_t& cnt = p.count[static_cast<std::size_t>(tid * kPad)];
                if (p.poisson) {
                    std::int32_t* out = p.spikes.data() + b;
                    std::int64_t c = 0;
                    for (index_t i = b; i < e; i += 4) {  // chunks start at multiples of 4
                        Philox::ctr_type r = philox(seed, kPoisson, static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(i / 4),
                                                    static_cast<std::uint64_t>(t));
                        for (index_t l = 0; l < 4 && i + l < e; ++l)
                            if (p.always || r.v[l] < p.threshold) out[c++] = static_cast<std::int32_t>(i + l);
                    }
                    cnt = c;
                } else if (e > b) {
                    SpikeStepArgs<float> a;
                    a.v = p.v.data();
                    a.g_e = p.g_e.data();
                    a.g_i = p.g_i.data();
                    a.refractory = p.refractory.data();
                    a.in_e = p.in_e.data();
                    a.in_i = p.in_i.data();
                    a.spikes = p.spikes.data() + b;
                    a.begin = b;
                    a.end = e;
                    a.step = t;
                    p.kernel->update(a);
                    cnt = a.num_spikes;
                } else {
                    cnt = 0;
                }
            }
#pragma omp barrier
            // 2. Thread 0 records (reads spikes and state, which nobody writes until the next
            // step's update) while every thread propagates.
            if (tid == 0) {
                const std::int64_t rel = t - t0;
                for (SpikeMon& m : spike_mons) {
                    const Population& p = pops[static_cast<std::size_t>(m.pop)];
                    for (int c = 0; c < T; ++c) {
                        const std::int32_t* sp = p.spikes.data() + p.chunk[static_cast<std::size_t>(c)];
                        for (std::int64_t q = 0, nq = p.count[static_cast<std::size_t>(c * kPad)]; q < nq; ++q) {
                            if (static_cast<std::int64_t>(m.ids.size()) >= m.capacity) {
                                ++m.dropped;
                                continue;
                            }
                            m.steps.push_back(static_cast<std::int32_t>(t));
                            m.ids.push_back(sp[q]);
                        }
                    }
                }
                for (RateMon& m : rate_mons) {
                    const Population& p = pops[static_cast<std::size_t>(m.pop)];
                    std::int64_t c = 0;
                    for (int q = 0; q < T; ++q) c += p.count[static_cast<std::size_t>(q * kPad)];
                    m.counts[static_cast<std::size_t>(rel)] = static_cast<std::int32_t>(c);
                }
                for (const Population& p : pops)
                    if (!p.poisson)
                        for (int q = 0; q < T; ++q) lif_spikes += p.count[static_cast<std::size_t>(q * kPad)];
                for (const Projection& pr : projs) {
                    const Population& p = pops[static_cast<std::size_t>(pr.spec.source)];
                    for (int c = 0; c < T; ++c) {
                        const std::int32_t* sp = p.spikes.data() + p.chunk[static_cast<std::size_t>(c)];
                        for (std::int64_t q = 0, nq = p.count[static_cast<std::size_t>(c * kPad)]; q < nq; ++q)
                            events += pr.row_ptr[static_cast<std::size_t>(sp[q] + 1)] - pr.row_ptr[static_cast<std::size_t>(sp[q])];
                    }
                }
                if (t + 1 < t_end) sample(t + 1);
                if (opt.progress && ((rel + 1) % progress_every == 0 || t + 1 == t_end)) {
                    try {
                        opt.progress(static_cast<double>(rel + 1) / static_cast<double>(steps));
                    } catch (...) {  // a progress display must not end the run
                    }
                }
            }
            // 3. Propagation: this thread adds into its own target range of every ring, spikes
            // in (chunk, index) order = ascending neuron order, as with one thread.
            for (const Projection& pr : projs) {
                const Population& src = pops[static_cast<std::size_t>(pr.spec.source)];
                Population& tgt = pops[static_cast<std::size_t>(pr.spec.target)];
                const index_t n_t = tgt.size();
                const auto lo = static_cast<std::int32_t>(tgt.chunk[static_cast<std::size_t>(tid)]);
                const auto hi = static_cast<std::int32_t>(tgt.chunk[static_cast<std::size_t>(tid + 1)]);
                if (lo >= hi) continue;
                float* const rings = pr.spec.type == SynapseType::excitatory ? tgt.in_e.data() : tgt.in_i.data();
                float* __restrict ring = rings + ((t + pr.delay) % tgt.max_delay) * n_t;
                const float w = pr.weight;
                const std::int64_t* rp = pr.row_ptr.data();
                const std::int32_t* col = pr.col.data();
                const bool whole = T == 1;
                if (!pr.weights.empty() || !pr.delays.empty()) {
                    propagate_heterogeneous(pr, src, rings, t % tgt.max_delay, tgt.max_delay, n_t, lo, hi, T);
                    continue;
                }
                for (int c = 0; c < T; ++c) {
                    const std::int32_t* sp = src.spikes.data() + src.chunk[static_cast<std::size_t>(c)];
                    for (std::int64_t q = 0, nq = src.count[static_cast<std::size_t>(c * kPad)]; q < nq; ++q) {
                        const std::int32_t j = sp[q];
                        const std::int32_t* s0 = col + rp[j];
                        const std::int32_t* s1 = col + rp[j + 1];
                        if (!whole) {
                            s0 = std::lower_bound(s0, s1, lo);
                            s1 = std::lower_bound(s0, s1, hi);
                        }
#pragma omp simd
                        for (const std::int32_t* s = s0; s < s1; ++s) ring[*s] += w;
                    }
                }
            }
#pragma omp barrier
        }
    }
    res.summary.loop_seconds = loop_timer.seconds();
    step = t_end;

    // Results.
    SimulationSummary& sm = res.summary;
    sm.steps = steps;
    sm.duration_ms = static_cast<double>(steps) * dt;
    sm.threads = T;
    sm.memory = mem;
    sm.jit_compiled = true;
    for (const Population& p : pops) {
        if (p.poisson) sm.poisson_sources += p.size();
        else {
            sm.neurons += p.size();
            sm.jit_compiled = sm.jit_compiled && p.kernel && p.kernel->is_compiled();
        }
    }
    for (const Projection& pr : projs) sm.synapses += static_cast<std::int64_t>(pr.col.size());
    sm.spikes = lif_spikes;
    sm.synaptic_events = events;
    sm.events_per_second = sm.loop_seconds > 0 ? static_cast<double>(events) / sm.loop_seconds : 0;
    sm.mean_rate_hz = sm.neurons > 0 && steps > 0 ? static_cast<double>(lif_spikes) / (static_cast<double>(sm.neurons) * sm.duration_ms * 1e-3) : 0;
    double cv_sum = 0;
    std::int64_t cv_n = 0;
    for (SpikeMon& m : spike_mons) {
        const Population& p = pops[static_cast<std::size_t>(m.pop)];
        SpikeMonitorData d;
        d.population = m.pop;
        d.dropped = m.dropped;
        d.ids = m.ids;
        d.times_ms.resize(m.steps.size());
        for (std::size_t q = 0; q < m.steps.size(); ++q) d.times_ms[q] = static_cast<double>(m.steps[q]) * dt;
        if (!p.poisson) {  // CV of ISI per neuron (counting sort by id keeps time order)
            std::vector<std::int64_t> off(static_cast<std::size_t>(p.size() + 1), 0);
            for (std::int32_t i : m.ids) ++off[static_cast<std::size_t>(i + 1)];
            for (std::size_t i = 1; i < off.size(); ++i) off[i] += off[i - 1];
            std::vector<std::int32_t> by(m.steps.size());
            std::vector<std::int64_t> fill(off.begin(), off.end() - 1);
            for (std::size_t q = 0; q < m.ids.size(); ++q) by[static_cast<std::size_t>(fill[static_cast<std::size_t>(m.ids[q])]++)] = m.steps[q];
            for (index_t i = 0; i < p.size(); ++i) {
                std::int64_t a = off[static_cast<std::size_t>(i)], b = off[static_cast<std::size_t>(i + 1)];
                if (b - a < 3) continue;
                double s = 0, s2 = 0;
                for (std::int64_t q = a + 1; q < b; ++q) {
                    double isi = static_cast<double>(by[static_cast<std::size_t>(q)] - by[static_cast<std::size_t>(q - 1)]);
                    s += isi;
                    s2 += isi * isi;
                }
                double nn = static_cast<double>(b - a - 1), mean = s / nn;
                double var = std::max(0.0, s2 / nn - mean * mean);
                cv_sum += std::sqrt(var) / mean;
                ++cv_n;
            }
        }
        m.steps = {};
        m.ids = {};
        res.spikes.push_back(std::move(d));
    }
    sm.cv_isi = cv_n > 0 ? cv_sum / static_cast<double>(cv_n) : std::numeric_limits<double>::quiet_NaN();
    for (RateMon& m : rate_mons) {
        const Population& p = pops[static_cast<std::size_t>(m.pop)];
        RateMonitorData d;
        d.population = m.pop;
        d.rate_hz.resize(m.counts.size());
        const double scale = p.size() > 0 ? 1e3 / (static_cast<double>(p.size()) * dt) : 0;
        for (std::size_t q = 0; q < m.counts.size(); ++q) d.rate_hz[q] = m.counts[q] * scale;
        m.counts = {};
        res.rates.push_back(std::move(d));
    }
    for (StateMon& m : state_mons) {
        StateMonitorData d;
        d.population = m.spec.population;
        d.neurons = m.spec.neurons;
        d.variables = m.spec.variables;
        d.times_ms = std::move(m.times);
        d.values = std::move(m.values);
        m.times = {};
        m.values = {};
        res.states.push_back(std::move(d));
    }
    return res;
}

SimulationResult Network::run(double duration_ms) { return impl_->run(duration_ms); }

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
    return p.v;
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

// --- the Vogels-Abbott benchmark networks -------------------------------------------------------

PopulationId add_vogels_abbott(Network& net, const std::string& model, index_t neurons, double probability,
                               bool spike_monitor) {
    if (model != "cuba" && model != "coba")
        throw ValueError(fmt::format("add_vogels_abbott: model: expected 'cuba' or 'coba', got '{}'", model));
    if (neurons < 1) throw ValueError(fmt::format("add_vogels_abbott: neurons: expected ≥ 1, got {}", neurons));
    PopulationSpec ps;
    ps.name = model;
    ps.size = neurons;
    LifSpec& l = ps.lif;
    l.tau_m = 20;
    l.tau_e = 5;
    l.tau_i = 10;
    l.v_thresh = -50;
    l.v_reset = -60;
    l.v_rest = -49;  // E_L: the drive of the benchmark (above threshold)
    l.refractory = 5;
    ps.v_init_min = -60;
    ps.v_init_max = -50;
    double we = 1.62, wi = -9;
    if (model == "coba") {
        // Conductances relative to g_L; E_e 0, E_i −80 mV. Weights: the CUBA jumps 1.62 and −9 mV
        // expressed as conductances at the reset potential (1.62/60, 9/20), as Vogels & Abbott's
        // COBA variant of the same network.
        l.synapse = SynapseModel::conductance;
        l.e_exc = 0;
        l.e_inh = -80;
        we = 1.62 / 60;
        wi = 9.0 / 20;
    }
    PopulationId p = net.add_population(ps);
    const index_t ne = neurons * 4 / 5;
    ProjectionSpec e;
    e.source = e.target = p;
    e.source_end = ne;
    e.probability = probability;
    e.weight = we;
    net.add_projection(e);
    ProjectionSpec i = e;
    i.source_begin = ne;
    i.source_end = neurons;
    i.weight = wi;
    i.type = SynapseType::inhibitory;
    net.add_projection(i);
    if (spike_monitor) net.add_spike_monitor(p);
    return p;
}

}  // namespace neuroperf
