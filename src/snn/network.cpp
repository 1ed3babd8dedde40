// Spiking network engine (docs/dev/snn.md). The population step is the JIT's spike processing
// kernel (update phase only); propagation is done here so that one population can project to
// several targets with per-projection delays, and so that threads can split it by target range
// (every target element then receives its additions in the same order at any thread count).
#include "neuroperf/network.hpp"

#include <omp.h>

#include <Random123/philox.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <numbers>
#include <optional>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/timer.hpp"
#include "snn/step_barrier.hpp"

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

// Neuron arrays start on a cache line, so that the thread ranges (multiples of 16 elements) own
// whole lines: no line is written by two threads in a step.
template <class T>
struct LineAllocator {
    using value_type = T;
    LineAllocator() = default;
    template <class U>
    LineAllocator(const LineAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T* q, std::size_t) noexcept { ::operator delete(q, std::align_val_t(64)); }
    template <class U>
    bool operator==(const LineAllocator<U>&) const noexcept { return true; }
};
template <class T>
using LineVector = std::vector<T, LineAllocator<T>>;

// The threads of run(): NetworkOptions.num_threads or OpenMP's default; one when called from
// inside another active parallel region (a team would not be granted).
int run_threads(const NetworkOptions& opt) {
    if (omp_get_active_level() >= omp_get_max_active_levels()) return 1;
    int t = opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads();
    return std::max(1, std::min(t, omp_get_thread_limit()));
}

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
    LineVector<float> v, g_e, g_i, in_e, in_i;
    // Spikes of step t: buffer t mod 2 (2 × size), so that the update of step t + 1 can run while
    // other threads still read step t's spikes (one barrier per step). Chunk c writes at its start.
    LineVector<std::int32_t> refractory, spikes;
    std::vector<index_t> chunk;        // T + 1 boundaries
    std::vector<std::int64_t> count;   // spikes of chunk c in buffer b at count[(b * T + c) * kPad]
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
    // With T > 1 threads: thread c's part of row j (its target range) is the row's synapses
    // [split[j·(T+1) + c], split[j·(T+1) + c + 1]) counted from row_ptr[j]; computed once per
    // thread partition instead of two binary searches per spike and thread.
    std::vector<std::int32_t> split;
    int split_threads = 0;
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

    MemoryEstimate estimate(std::int64_t steps, int threads) const;
    void build();
    void build_projection(std::size_t k);
    void build_connectivity(std::size_t k);
    void partition(int threads);
    SimulationResult run(double duration_ms, const RunOptions& run_options);
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

MemoryEstimate NetworkImpl::estimate(std::int64_t steps, int threads) const {
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
            m.state += p.size() * 8 + (p.poisson ? 0 : p.size() * (16 + 8 * d));  // 2 spike buffers
        }
    }
    if (threads > 1)  // row splits per thread partition (computed by the run when missing)
        for (const Projection& pr : projs)
            if (pr.split_threads != threads)
                m.state += (pops[static_cast<std::size_t>(pr.spec.source)].size()) * (threads + 1) * 4;
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
    return impl_->estimate(std::llround(std::max(0.0, duration_ms) / impl_->opt.dt), run_threads(impl_->opt));
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
        p.spikes.assign(2 * n, 0);
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
    jc.enable_parallel_loops = false;  // the run loop's threads share out the neurons themselves
    JITCompiler jit(jc);
    for (Population& p : pops)
        if (!p.poisson) p.kernel = jit.compile_spike_processing_kernel<float>(p.spec.lif);
    compile_seconds = compile.seconds();
    built = true;
}

// --- run ----------------------------------------------------------------------------------------

namespace {
// Thread tid's part of row j: [s0, s1) within the CSR columns (the whole row with one thread).
struct RowPart {
    const std::int32_t* split;  // null: whole rows
    int stride, tid;
    void operator()(const std::int64_t* rp, std::int32_t j, std::int64_t& s0, std::int64_t& s1) const {
        s0 = rp[j];
        s1 = rp[j + 1];
        if (split) {
            const std::int32_t* o = split + static_cast<std::ptrdiff_t>(j) * stride + tid;
            s1 = s0 + o[1];
            s0 += o[0];
        }
    }
};

// Spiking rows are prefetched this many spikes ahead of use (at most kRowPrefetchLines cache
// lines of each), and their bounds twice as far.
inline constexpr std::int64_t kRowPrefetch = 4, kRowPrefetchLines = 8;

// The spikes of step buffer `buf` in ascending order (chunk by chunk), one at a time; -1 after
// the last.
struct SpikeCursor {
    const Population& src;
    const std::int32_t* spikes;
    std::size_t T, c = 0;
    int buf;
    std::int64_t q = 0, nq;
    SpikeCursor(const Population& p, int u, int threads)
        : src(p), spikes(p.spikes.data() + u * p.size()), T(static_cast<std::size_t>(threads)), buf(u), nq(count_of(0)) {}
    std::int64_t count_of(std::size_t chunk) const {
        return src.count[(static_cast<std::size_t>(buf) * T + chunk) * static_cast<std::size_t>(kPad)];
    }
    std::int32_t next() {
        while (q >= nq) {
            if (++c >= T) return -1;
            q = 0;
            nq = count_of(c);
        }
        return spikes[src.chunk[c] + q++];
    }
};

// Calls f(s0, s1) with this thread's part [s0, s1) of the CSR row of every spike of step buffer
// `buf`, spikes in ascending source order (the order the sums depend on). A row sits at a random
// place in a synapse table larger than the L2, and so do its bounds (row_ptr, split): without
// prefetching, each spike waited for them in turn. Two cursors run ahead of the loop: one
// 2·kRowPrefetch spikes ahead prefetches the bounds, one kRowPrefetch ahead reads them (the part
// is kept for its use) and prefetches the lines of the row part.
template <class F>
void for_each_spiking_row(const Population& src, int buf, int T, const RowPart& part, const std::int64_t* rp,
                          const std::int32_t* col, F&& f) {
    constexpr unsigned kParts = 8;  // ≥ kRowPrefetch + 1 parts in flight, a power of two
    static_assert(kRowPrefetch + 1 <= kParts && (kParts & (kParts - 1)) == 0);
    SpikeCursor bounds(src, buf, T), rows(src, buf, T);
    std::int64_t s0s[kParts], s1s[kParts];
    unsigned head = 0, tail = 0;  // parts [tail, head) are read and waiting for their use
    auto prefetch_bounds = [&] {
        const std::int32_t j = bounds.next();
        if (j < 0) return;
        __builtin_prefetch(rp + j);
        if (part.split) __builtin_prefetch(part.split + static_cast<std::ptrdiff_t>(j) * part.stride + part.tid);
    };
    auto prefetch_row = [&] {
        const std::int32_t j = rows.next();
        if (j < 0) return;
        std::int64_t& s0 = s0s[head % kParts];
        std::int64_t& s1 = s1s[head % kParts];
        ++head;
        part(rp, j, s0, s1);
        // Columns [s0, end): every 16th and the last (lines need not start at multiples of 16
        // columns); beyond kRowPrefetchLines lines the hardware prefetcher follows the row.
        const std::int64_t end = std::min(s1, s0 + 16 * kRowPrefetchLines);
        for (std::int64_t k = s0; k < end; k += 16) __builtin_prefetch(col + k);
        if (end > s0) __builtin_prefetch(col + end - 1);
    };
    for (std::int64_t k = 0; k < 2 * kRowPrefetch; ++k) prefetch_bounds();
    for (std::int64_t k = 0; k < kRowPrefetch; ++k) prefetch_row();
    while (tail != head) {
        prefetch_bounds();
        prefetch_row();
        f(s0s[tail % kParts], s1s[tail % kParts]);
        ++tail;
    }
}

// Propagation of a projection with per-synapse weights and/or delays into this thread's target
// range: synapse q of a spiking source adds weights[q] (or the shared weight) to ring slot
// (t + delays[q]) mod D. Same order of additions per ring element as the uniform path (spikes in
// ascending source order, synapses in row order), hence bit-identical at any thread count.
template <bool PerWeight, bool PerDelay>
void propagate_rows(const Projection& pr, const Population& src, int buf, float* rings, std::int64_t slot0,
                    std::int64_t D, index_t n_t, const RowPart& part, int T) {
    const std::int64_t* rp = pr.row_ptr.data();
    const std::int32_t* col = pr.col.data();
    const float* wv = pr.weights.data();
    const std::int32_t* dv = pr.delays.data();
    const float w = pr.weight;
    float* const fixed_ring = rings + ((slot0 + pr.delay) % D) * n_t;
    for_each_spiking_row(src, buf, T, part, rp, col, [&](std::int64_t s0, std::int64_t s1) {
        for (std::int64_t k = s0; k < s1; ++k) {
            float* ring = fixed_ring;
            if constexpr (PerDelay) {
                std::int64_t slot = slot0 + dv[k];  // 1 ≤ delay ≤ D: one subtraction wraps
                if (slot >= D) slot -= D;
                ring = rings + slot * n_t;
            }
            ring[col[k]] += PerWeight ? wv[k] : w;
        }
    });
}

void propagate_heterogeneous(const Projection& pr, const Population& src, int buf, float* rings, std::int64_t slot0,
                             std::int64_t D, index_t n_t, const RowPart& part, int T) {
    const bool pw = !pr.weights.empty(), pd = !pr.delays.empty();
    if (pw && pd) propagate_rows<true, true>(pr, src, buf, rings, slot0, D, n_t, part, T);
    else if (pw) propagate_rows<true, false>(pr, src, buf, rings, slot0, D, n_t, part, T);
    else propagate_rows<false, true>(pr, src, buf, rings, slot0, D, n_t, part, T);
}

// Uniform weight and delay: ring[col] += w over the thread's part of every spiking row.
void propagate_uniform(const Projection& pr, const Population& src, int buf, float* __restrict ring, const RowPart& part,
                       int T) {
    const std::int64_t* rp = pr.row_ptr.data();
    const std::int32_t* col = pr.col.data();
    const float w = pr.weight;
    for_each_spiking_row(src, buf, T, part, rp, col, [ring, col, w](std::int64_t s0, std::int64_t s1) {
        // Columns strictly increase within a row: no two lanes hit one element.
#pragma omp simd
        for (std::int64_t k = s0; k < s1; ++k) ring[col[k]] += w;
    });
}

}  // namespace

// Thread partition: every population's ranges and spike counters, every projection's row splits.
void NetworkImpl::partition(int T) {
    for (Population& p : pops) {
        p.chunk.resize(static_cast<std::size_t>(T + 1));
        const index_t n = p.size();
        for (int c = 0; c <= T; ++c) {
            index_t b = (n * c / T + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
            p.chunk[static_cast<std::size_t>(c)] = std::min(n, b);
        }
        p.count.assign(static_cast<std::size_t>(2 * T * kPad), 0);
    }
    for (Projection& pr : projs) {
        if (T == 1) {
            pr.split = {};
            pr.split_threads = 1;
            continue;
        }
        if (pr.split_threads == T) continue;  // ranges depend only on the sizes and T
        const Population& tgt = pops[static_cast<std::size_t>(pr.spec.target)];
        const auto rows = static_cast<index_t>(pr.row_ptr.size()) - 1;
        pr.split.assign(static_cast<std::size_t>(rows * (T + 1)), 0);
#pragma omp parallel for schedule(static) num_threads(T)
        for (index_t j = 0; j < rows; ++j) {
            const std::int32_t* r0 = pr.col.data() + pr.row_ptr[static_cast<std::size_t>(j)];
            const std::int32_t* r1 = pr.col.data() + pr.row_ptr[static_cast<std::size_t>(j + 1)];
            std::int32_t* o = pr.split.data() + j * (T + 1);
            for (int c = 0; c <= T; ++c) {
                const auto lo = static_cast<std::int32_t>(tgt.chunk[static_cast<std::size_t>(c)]);
                o[c] = static_cast<std::int32_t>(std::lower_bound(r0, r1, lo) - r0);
            }
            o[T] = static_cast<std::int32_t>(r1 - r0);
        }
        pr.split_threads = T;
    }
}

SimulationResult NetworkImpl::run(double duration_ms, const RunOptions& ro) {
    if (!(duration_ms >= 0) || !std::isfinite(duration_ms))
        throw ValueError(fmt::format("run: duration_ms: expected a finite duration ≥ 0 ms, got {}", duration_ms));
    if (!(ro.progress_interval_seconds >= 0))  // also NaN
        throw ValueError(fmt::format("run: progress_interval_seconds: expected ≥ 0 s, got {}", ro.progress_interval_seconds));
    const double dt = opt.dt;
    const std::int64_t steps = std::llround(duration_ms / dt);
    if (step + steps > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("run: duration_ms: the network would pass 2^31-1 steps (now at step {}, +{})", step, steps));
    int T = run_threads(opt);
    const MemoryEstimate mem = estimate(steps, T);
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
    for (SpikeMon& m : spike_mons) {
        m.capacity = spike_capacity(pops[static_cast<std::size_t>(m.pop)], m, steps);
        m.steps.clear();
        m.ids.clear();
        m.steps.reserve(static_cast<std::size_t>(m.capacity));
        m.ids.reserve(static_cast<std::size_t>(m.capacity));
        m.dropped = 0;
    }
    for (RateMon& m : rate_mons) m.counts.assign(static_cast<std::size_t>(steps), 0);
    const std::int64_t t0 = step, t_end = step + steps;
    // State samples: the times are known in advance; sample s (step first + s·k) is written by the
    // threads owning its neurons right after their update of the step before (or here for t0).
    std::vector<std::int64_t> first_sample(state_mons.size());
    for (std::size_t k = 0; k < state_mons.size(); ++k) {
        StateMon& m = state_mons[k];
        const std::int64_t every = m.spec.every_steps;
        first_sample[k] = (t0 + every - 1) / every * every;
        m.times.clear();
        for (std::int64_t u = first_sample[k]; u < t_end; u += every) m.times.push_back(static_cast<double>(u) * dt);
        m.values.assign(m.times.size() * m.spec.neurons.size() * m.spec.variables.size(), 0.0f);
    }
    auto sample = [&](std::size_t k, std::int64_t u, index_t lo, index_t hi) {  // neurons in [lo, hi)
        StateMon& m = state_mons[k];
        const Population& p = pops[static_cast<std::size_t>(m.spec.population)];
        const std::size_t nm = m.spec.neurons.size(), s = static_cast<std::size_t>((u - first_sample[k]) / m.spec.every_steps);
        for (std::size_t var = 0; var < m.spec.variables.size(); ++var) {
            const StateVariable sv = m.spec.variables[var];
            const float* x = sv == StateVariable::v ? p.v.data() : sv == StateVariable::g_e ? p.g_e.data() : p.g_i.data();
            float* out = m.values.data() + (s * m.spec.variables.size() + var) * nm;
            for (std::size_t q = 0; q < nm; ++q) {
                const index_t i = m.spec.neurons[q];
                if (i >= lo && i < hi) out[q] = x[i];
            }
        }
    };
    res.summary.build_seconds = build_timer.seconds() - (first ? compile_seconds : 0);
    res.summary.compile_seconds = first ? compile_seconds : 0;

    const std::int64_t progress_every = std::max<std::int64_t>(1, steps / 100);
    const auto progress_interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::min(ro.progress_interval_seconds, 1e9)));
    const std::uint64_t seed = opt.seed;
    // A progress call that throws stops the run: thread 0 stores the exception and sets stop_at
    // to the next step; every thread reads stop_at only after the barrier that follows its
    // store, so all leave after the same step (the last one whose update has run is propagated
    // and recorded: the network stays consistent).
    std::atomic<std::int64_t> stop_at{std::numeric_limits<std::int64_t>::max()};
    std::exception_ptr error;
    std::vector<std::int64_t> tallies;  // per thread: LIF spikes at [tid·kPad], events at [tid·kPad + 1]
    Timer loop_timer;
    for (std::size_t k = 0; k < state_mons.size(); ++k)
        if (first_sample[k] == t0 && steps > 0) sample(k, t0, 0, std::numeric_limits<index_t>::max());
    for (int team = T;;) {
        T = team;
        partition(T);
        tallies.assign(static_cast<std::size_t>(T * kPad), 0);
        snn::StepBarrier barrier(T);
#pragma omp parallel num_threads(T) if (T > 1)
        {
            const int tid = omp_get_thread_num();
            // A smaller team than asked (OMP_DYNAMIC, a thread limit): every member sees the same
            // size, nobody has touched the state yet; partition again for that size.
            if (omp_get_num_threads() == T && steps > 0) {
                std::int64_t& my_spikes = tallies[static_cast<std::size_t>(tid * kPad)];
                std::int64_t& my_events = tallies[static_cast<std::size_t>(tid * kPad + 1)];
                // Update of step t: this thread's range of every population, spikes into buffer t mod 2.
                auto update = [&](std::int64_t t) {
                    const int buf = static_cast<int>(t & 1);
                    for (std::size_t k = 0; k < pops.size(); ++k) {
                        Population& p = pops[k];
                        const index_t b = p.chunk[static_cast<std::size_t>(tid)], e = p.chunk[static_cast<std::size_t>(tid + 1)];
                        std::int64_t& cnt = p.count[static_cast<std::size_t>((buf * T + tid) * kPad)];
                        std::int32_t* out = p.spikes.data() + buf * p.size() + b;
                        if (p.poisson) {
                            std::int64_t c = 0;
                            for (index_t i = b; i < e; i += 4) {  // chunks start at multiples of 4
                                Philox::ctr_type r = philox(seed, kPoisson, static_cast<std::uint32_t>(k),
                                                            static_cast<std::uint32_t>(i / 4), static_cast<std::uint64_t>(t));
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
                            a.spikes = out;
                            a.begin = b;
                            a.end = e;
                            a.step = t;
                            p.kernel->update(a);
                            cnt = a.num_spikes;
                            my_spikes += cnt;
                        } else {
                            cnt = 0;
                        }
                    }
                    for (const Projection& pr : projs) {  // synaptic events of this thread's spikes
                        const Population& p = pops[static_cast<std::size_t>(pr.spec.source)];
                        const std::int32_t* sp = p.spikes.data() + buf * p.size() + p.chunk[static_cast<std::size_t>(tid)];
                        const std::int64_t* rp = pr.row_ptr.data();
                        for (std::int64_t q = 0, nq = p.count[static_cast<std::size_t>((buf * T + tid) * kPad)]; q < nq; ++q)
                            my_events += rp[sp[q] + 1] - rp[sp[q]];
                    }
                    // State samples of time (t + 1)·dt: v and g are final for this range.
                    for (std::size_t k = 0; k < state_mons.size(); ++k) {
                        const StateMon& m = state_mons[k];
                        if ((t + 1) % m.spec.every_steps != 0 || t + 1 >= t_end) continue;
                        const Population& p = pops[static_cast<std::size_t>(m.spec.population)];
                        sample(k, t + 1, p.chunk[static_cast<std::size_t>(tid)], p.chunk[static_cast<std::size_t>(tid + 1)]);
                    }
                };
                // Thread 0 records step t (its spikes are in buffer t mod 2, which nobody writes
                // before the barrier of step t + 1) and reports progress.
                auto last_report = std::chrono::steady_clock::now();
                auto record = [&](std::int64_t t) {
                    const int buf = static_cast<int>(t & 1);
                    const std::int64_t rel = t - t0;
                    for (SpikeMon& m : spike_mons) {
                        const Population& p = pops[static_cast<std::size_t>(m.pop)];
                        for (int c = 0; c < T; ++c) {
                            const std::int32_t* sp = p.spikes.data() + buf * p.size() + p.chunk[static_cast<std::size_t>(c)];
                            for (std::int64_t q = 0, nq = p.count[static_cast<std::size_t>((buf * T + c) * kPad)]; q < nq; ++q) {
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
                        for (int q = 0; q < T; ++q) c += p.count[static_cast<std::size_t>((buf * T + q) * kPad)];
                        m.counts[static_cast<std::size_t>(rel)] = static_cast<std::int32_t>(c);
                    }
                    if (stop_at.load(std::memory_order_relaxed) <= t) return;  // stopping: no more calls
                    try {
                        const bool last = t + 1 == t_end;
                        if (opt.progress && ((rel + 1) % progress_every == 0 || last))
                            opt.progress(static_cast<double>(rel + 1) / static_cast<double>(steps));
                        if (ro.progress) {
                            const auto now = std::chrono::steady_clock::now();
                            if (last || now - last_report >= progress_interval) {
                                ro.progress(rel + 1, steps);
                                last_report = std::chrono::steady_clock::now();
                            }
                        }
                    } catch (...) {
                        error = std::current_exception();
                        stop_at.store(t + 1, std::memory_order_relaxed);  // published by the next barrier
                    }
                };
                update(t0);
                for (std::int64_t t = t0;; ++t) {
                    barrier.wait();  // the updates of step t are done: its spikes are complete
                    if (tid == 0) record(t);
                    // Propagation into this thread's target range of every ring (slot (t + d) mod D;
                    // the update of step t + 1 reads slot (t + 1) mod D of the same range, so no
                    // barrier is needed between them); spikes in (chunk, index) order = ascending
                    // neuron order, as with one thread.
                    const int buf = static_cast<int>(t & 1);
                    for (const Projection& pr : projs) {
                        const Population& src = pops[static_cast<std::size_t>(pr.spec.source)];
                        Population& tgt = pops[static_cast<std::size_t>(pr.spec.target)];
                        if (tgt.chunk[static_cast<std::size_t>(tid)] >= tgt.chunk[static_cast<std::size_t>(tid + 1)]) continue;
                        const RowPart part{T > 1 ? pr.split.data() : nullptr, T + 1, tid};
                        float* const rings = pr.spec.type == SynapseType::excitatory ? tgt.in_e.data() : tgt.in_i.data();
                        if (!pr.weights.empty() || !pr.delays.empty())
                            propagate_heterogeneous(pr, src, buf, rings, t % tgt.max_delay, tgt.max_delay, tgt.size(), part, T);
                        else
                            propagate_uniform(pr, src, buf, rings + ((t + pr.delay) % tgt.max_delay) * tgt.size(), part, T);
                    }
                    if (t + 1 == t_end || stop_at.load(std::memory_order_relaxed) <= t) break;
                    update(t + 1);
                }
            }
#pragma omp single nowait
            team = omp_get_num_threads();
        }
        if (team == T) break;
    }
    res.summary.loop_seconds = loop_timer.seconds();
    const std::int64_t stopped = stop_at.load();
    const std::int64_t done = stopped < t_end ? stopped + 1 : t_end;  // steps [t0, done) have run
    step = done;
    std::int64_t lif_spikes = 0, events = 0;
    for (int c = 0; c < T; ++c) {
        lif_spikes += tallies[static_cast<std::size_t>(c * kPad)];
        events += tallies[static_cast<std::size_t>(c * kPad + 1)];
    }
    if (error) {  // the network is at step `done`, consistent; this run's records are dropped
        for (SpikeMon& m : spike_mons) m.steps = {}, m.ids = {};
        for (RateMon& m : rate_mons) m.counts = {};
        for (StateMon& m : state_mons) m.times = {}, m.values = {};
        std::rethrow_exception(error);
    }
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
