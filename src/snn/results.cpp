// What a run returns: the summary (counts, rates, CV of ISI, timings) and the monitors' data,
// taken out of the monitors (which are empty again for the next run).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/json_fields.hpp"
#include "snn/network_impl.hpp"

namespace neuroperf::snn {

void NetworkImpl::collect_results(SimulationResult& res, std::int64_t steps, int T, const MemoryEstimate& mem,
                                  std::int64_t lif_spikes, std::int64_t events) {
    const double dt = opt.dt;
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
}

}  // namespace neuroperf::snn

namespace neuroperf {

NEUROPERF_INSTANTIATE_TO_JSON(MemoryEstimate);
NEUROPERF_INSTANTIATE_TO_JSON(SpikeMonitorData);
NEUROPERF_INSTANTIATE_TO_JSON(RateMonitorData);
NEUROPERF_INSTANTIATE_TO_JSON(StateMonitorData);
NEUROPERF_INSTANTIATE_TO_JSON(SimulationSummary);
NEUROPERF_INSTANTIATE_TO_JSON(SimulationResult);

}  // namespace neuroperf
