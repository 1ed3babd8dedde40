// The spiking network's state (private to the snn layer): populations, projections, monitors,
// the random streams, and NetworkImpl, whose parts are built in build.cpp, run in run.cpp
// (propagation in propagation.cpp) and summarised in results.cpp. Network (network.cpp) is
// the public description API on top.
#pragma once

#include <Random123/philox.h>

#include <cstdint>
#include <new>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/network.hpp"

namespace neuroperf::snn {

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

inline constexpr index_t kChunkAlign = 16;  // 64-byte float blocks per thread; multiple of 4 (Poisson draws)

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
inline constexpr int kPad = 8;

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

class NetworkImpl {
public:
    NetworkImpl(NetworkOptions options, Context context) : opt(std::move(options)), ctx(std::move(context)) {}

    NetworkOptions opt;
    Context ctx;
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

    /// Threads of a run or a build step: NetworkOptions.num_threads, else the context's count;
    /// one when called from inside another active parallel region (a team would not be granted).
    int threads() const;

    MemoryEstimate estimate(std::int64_t steps, int threads) const;
    void build();
    void build_projection(std::size_t k);
    void build_connectivity(std::size_t k);
    void partition(int threads);
    SimulationResult run(double duration_ms, const RunOptions& run_options);
    /// Fills res.summary and the monitor data after a run of `steps` on T threads, moving the
    /// records out of the monitors.
    void collect_results(SimulationResult& res, std::int64_t steps, int T, const MemoryEstimate& mem,
                         std::int64_t lif_spikes, std::int64_t events);
};

/// Per-run monitor capacity of spike monitor `m` over `steps` (MemoryEstimate and the run).
std::int64_t spike_capacity(const Population& p, const SpikeMon& m, std::int64_t steps);

}  // namespace neuroperf::snn
