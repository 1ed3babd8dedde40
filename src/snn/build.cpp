// Building a network on its first run: state arrays and initial values, the connectivity of
// every projection (Philox streams keyed by what they belong to: the same synapses at any
// thread count), per-synapse weights and delays, the populations' compiled kernels; and the
// memory estimate that run() checks before any of it is allocated.
#include <algorithm>
#include <cmath>
#include <numbers>

#include <omp.h>

#include "neuroperf/timer.hpp"
#include "snn/network_impl.hpp"

namespace neuroperf::snn {

int NetworkImpl::threads() const {
    if (omp_get_active_level() >= omp_get_max_active_levels()) return 1;
    const int t = opt.num_threads > 0 ? opt.num_threads : ctx.num_threads();
    return std::max(1, std::min(t, omp_get_thread_limit()));
}

std::int64_t spike_capacity(const Population& p, const SpikeMon& m, std::int64_t steps) {
    if (m.max_spikes >= 0) return m.max_spikes;
    if (p.poisson) {  // no hard bound below size·steps: twice the expectation, drops are counted
        double mean = static_cast<double>(p.size()) * static_cast<double>(steps) * p.rate_hz * p.spec.lif.dt * 1e-3;
        return static_cast<std::int64_t>(2 * mean) + 1024;
    }
    std::int64_t per = (steps + p.spec.lif.refractory_steps()) / (p.spec.lif.refractory_steps() + 1);
    return p.size() * per;
}

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
#pragma omp parallel for schedule(static) num_threads(threads())
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
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads())
        for (index_t j = jb; j < je; ++j) {
            std::int64_t c = 0;
            row(j, [&](std::int32_t) { ++c; });
            pr.row_ptr[static_cast<std::size_t>(j + 1)] = c;
        }
        for (index_t j = 0; j < n_src; ++j) pr.row_ptr[static_cast<std::size_t>(j + 1)] += pr.row_ptr[static_cast<std::size_t>(j)];
        pr.col.resize(static_cast<std::size_t>(pr.row_ptr.back()));
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads())
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
#pragma omp parallel num_threads(threads())
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
    JITCompiler jit(jc, ctx);
    for (Population& p : pops)
        if (!p.poisson) p.kernel = jit.compile_spike_processing_kernel<float>(p.spec.lif);
    compile_seconds = compile.seconds();
    built = true;
}

}  // namespace neuroperf::snn
