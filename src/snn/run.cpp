// The time-step loop of Network::run (docs/dev/snn.md): one OpenMP team for the whole run, each
// thread owning a range of every population. A step t is: the update of the thread's ranges
// (spikes into buffer t mod 2), one barrier, thread 0 records the step's spikes while every
// thread propagates the spikes into its own target range of the delay rings (no second barrier:
// the update of t + 1 reads a ring slot propagation of t does not write). Results do not depend
// on the thread count: every element receives its additions in the same order.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>

#include <fmt/format.h>
#include <omp.h>

#include "neuroperf/error.hpp"
#include "neuroperf/timer.hpp"
#include "snn/propagation.hpp"
#include "snn/step_barrier.hpp"

namespace neuroperf::snn {
namespace {

// One run's bookkeeping, shared by the threads of the loop. Steps [t0, t_end).
class RunLoop {
public:
    RunLoop(NetworkImpl& net, const RunOptions& ro, std::int64_t t0, std::int64_t steps)
        : net_(net), ro_(ro), seed_(net.opt.seed), t0_(t0), t_end_(t0 + steps), steps_(steps),
          progress_every_(std::max<std::int64_t>(1, steps / 100)),
          progress_interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(std::min(ro.progress_interval_seconds, 1e9)))) {
        prepare_monitors();
    }

    /// Runs the steps on a team of `threads` (the team actually granted: `threads` is updated).
    /// A progress callback that throws stops the loop after the next step (see stop_at_).
    void execute(int& threads);
    /// Steps [t0, done()) have run; the exception a progress callback threw, if any.
    std::int64_t done() const {
        const std::int64_t stopped = stop_at_.load();
        return stopped < t_end_ ? stopped + 1 : t_end_;
    }
    std::exception_ptr error() const { return error_; }
    std::int64_t lif_spikes() const { return tally(0); }
    std::int64_t synaptic_events() const { return tally(1); }

private:
    void prepare_monitors();
    void sample(std::size_t k, std::int64_t u, index_t lo, index_t hi);
    void update(int tid, std::int64_t t);
    void record(std::int64_t t, std::chrono::steady_clock::time_point& last_report);
    void propagate(int tid, std::int64_t t);
    std::int64_t tally(int which) const {
        std::int64_t n = 0;
        for (int c = 0; c < T_; ++c) n += tallies_[static_cast<std::size_t>(c * kPad + which)];
        return n;
    }

    NetworkImpl& net_;
    const RunOptions& ro_;
    const std::uint64_t seed_;
    const std::int64_t t0_, t_end_, steps_, progress_every_;
    const std::chrono::steady_clock::duration progress_interval_;
    int T_ = 1;
    // First sample step of each state monitor.
    std::vector<std::int64_t> first_sample_;
    // Per thread: LIF spikes at [tid·kPad], synaptic events at [tid·kPad + 1] (padded lines).
    std::vector<std::int64_t> tallies_;
    // A progress call that throws stops the run: thread 0 stores the exception and sets
    // stop_at_ to the next step; every thread reads stop_at_ only after the barrier that follows
    // its store, so all leave after the same step (the last one whose update has run is
    // propagated and recorded: the network stays consistent).
    std::atomic<std::int64_t> stop_at_{std::numeric_limits<std::int64_t>::max()};
    std::exception_ptr error_;
};

void RunLoop::prepare_monitors() {
    for (SpikeMon& m : net_.spike_mons) {
        m.capacity = spike_capacity(net_.pops[static_cast<std::size_t>(m.pop)], m, steps_);
        m.steps.clear();
        m.ids.clear();
        m.steps.reserve(static_cast<std::size_t>(m.capacity));
        m.ids.reserve(static_cast<std::size_t>(m.capacity));
        m.dropped = 0;
    }
    for (RateMon& m : net_.rate_mons) m.counts.assign(static_cast<std::size_t>(steps_), 0);
    // State samples: the times are known in advance; sample s (step first + s·k) is written by the
    // threads owning its neurons right after their update of the step before (or here for t0).
    first_sample_.resize(net_.state_mons.size());
    for (std::size_t k = 0; k < net_.state_mons.size(); ++k) {
        StateMon& m = net_.state_mons[k];
        const std::int64_t every = m.spec.every_steps;
        first_sample_[k] = (t0_ + every - 1) / every * every;
        m.times.clear();
        for (std::int64_t u = first_sample_[k]; u < t_end_; u += every) m.times.push_back(static_cast<double>(u) * net_.opt.dt);
        m.values.assign(m.times.size() * m.spec.neurons.size() * m.spec.variables.size(), 0.0f);
    }
}

// State monitor k's sample at step u, for the monitored neurons in [lo, hi).
void RunLoop::sample(std::size_t k, std::int64_t u, index_t lo, index_t hi) {
    StateMon& m = net_.state_mons[k];
    const Population& p = net_.pops[static_cast<std::size_t>(m.spec.population)];
    const std::size_t nm = m.spec.neurons.size(), s = static_cast<std::size_t>((u - first_sample_[k]) / m.spec.every_steps);
    for (std::size_t var = 0; var < m.spec.variables.size(); ++var) {
        const StateVariable sv = m.spec.variables[var];
        const float* x = sv == StateVariable::v ? p.v.data() : sv == StateVariable::g_e ? p.g_e.data() : p.g_i.data();
        float* out = m.values.data() + (s * m.spec.variables.size() + var) * nm;
        for (std::size_t q = 0; q < nm; ++q) {
            const index_t i = m.spec.neurons[q];
            if (i >= lo && i < hi) out[q] = x[i];
        }
    }
}

// Update of step t: this thread's range of every population, spikes into buffer t mod 2.
void RunLoop::update(int tid, std::int64_t t) {
    const int T = T_;
    const int buf = static_cast<int>(t & 1);
    std::int64_t& my_spikes = tallies_[static_cast<std::size_t>(tid * kPad)];
    std::int64_t& my_events = tallies_[static_cast<std::size_t>(tid * kPad + 1)];
    for (std::size_t k = 0; k < net_.pops.size(); ++k) {
        Population& p = net_.pops[k];
        const index_t b = p.chunk[static_cast<std::size_t>(tid)], e = p.chunk[static_cast<std::size_t>(tid + 1)];
        std::int64_t& cnt = p.count[static_cast<std::size_t>((buf * T + tid) * kPad)];
        std::int32_t* out = p.spikes.data() + buf * p.size() + b;
        if (p.poisson) {
            std::int64_t c = 0;
            for (index_t i = b; i < e; i += 4) {  // chunks start at multiples of 4
                Philox::ctr_type r = philox(seed_, kPoisson, static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(i / 4),
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
    for (const Projection& pr : net_.projs) {  // synaptic events of this thread's spikes
        const Population& p = net_.pops[static_cast<std::size_t>(pr.spec.source)];
        const std::int32_t* sp = p.spikes.data() + buf * p.size() + p.chunk[static_cast<std::size_t>(tid)];
        const std::int64_t* rp = pr.row_ptr.data();
        for (std::int64_t q = 0, nq = p.count[static_cast<std::size_t>((buf * T + tid) * kPad)]; q < nq; ++q)
            my_events += rp[sp[q] + 1] - rp[sp[q]];
    }
    // State samples of time (t + 1)·dt: v and g are final for this range.
    for (std::size_t k = 0; k < net_.state_mons.size(); ++k) {
        const StateMon& m = net_.state_mons[k];
        if ((t + 1) % m.spec.every_steps != 0 || t + 1 >= t_end_) continue;
        const Population& p = net_.pops[static_cast<std::size_t>(m.spec.population)];
        sample(k, t + 1, p.chunk[static_cast<std::size_t>(tid)], p.chunk[static_cast<std::size_t>(tid + 1)]);
    }
}

// Thread 0 records step t (its spikes are in buffer t mod 2, which nobody writes before the
// barrier of step t + 1) and reports progress.
void RunLoop::record(std::int64_t t, std::chrono::steady_clock::time_point& last_report) {
    const int T = T_;
    const int buf = static_cast<int>(t & 1);
    const std::int64_t rel = t - t0_;
    for (SpikeMon& m : net_.spike_mons) {
        const Population& p = net_.pops[static_cast<std::size_t>(m.pop)];
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
    for (RateMon& m : net_.rate_mons) {
        const Population& p = net_.pops[static_cast<std::size_t>(m.pop)];
        std::int64_t c = 0;
        for (int q = 0; q < T; ++q) c += p.count[static_cast<std::size_t>((buf * T + q) * kPad)];
        m.counts[static_cast<std::size_t>(rel)] = static_cast<std::int32_t>(c);
    }
    if (stop_at_.load(std::memory_order_relaxed) <= t) return;  // stopping: no more calls
    try {
        const bool last = t + 1 == t_end_;
        if (net_.opt.progress && ((rel + 1) % progress_every_ == 0 || last))
            net_.opt.progress(static_cast<double>(rel + 1) / static_cast<double>(steps_));
        if (ro_.progress) {
            const auto now = std::chrono::steady_clock::now();
            if (last || now - last_report >= progress_interval_) {
                ro_.progress(rel + 1, steps_);
                last_report = std::chrono::steady_clock::now();
            }
        }
    } catch (...) {
        error_ = std::current_exception();
        stop_at_.store(t + 1, std::memory_order_relaxed);  // published by the next barrier
    }
}

// Propagation of step t's spikes into this thread's target range of every ring (slot
// (t + d) mod D; the update of step t + 1 reads slot (t + 1) mod D of the same range, so no
// barrier is needed between them); spikes in (chunk, index) order = ascending neuron order,
// as with one thread.
void RunLoop::propagate(int tid, std::int64_t t) {
    const int T = T_;
    const int buf = static_cast<int>(t & 1);
    for (const Projection& pr : net_.projs) {
        const Population& src = net_.pops[static_cast<std::size_t>(pr.spec.source)];
        Population& tgt = net_.pops[static_cast<std::size_t>(pr.spec.target)];
        if (tgt.chunk[static_cast<std::size_t>(tid)] >= tgt.chunk[static_cast<std::size_t>(tid + 1)]) continue;
        const RowPart part{T > 1 ? pr.split.data() : nullptr, T + 1, tid};
        float* const rings = pr.spec.type == SynapseType::excitatory ? tgt.in_e.data() : tgt.in_i.data();
        if (!pr.weights.empty() || !pr.delays.empty())
            propagate_heterogeneous(pr, src, buf, rings, t % tgt.max_delay, tgt.max_delay, tgt.size(), part, T);
        else
            propagate_uniform(pr, src, buf, rings + ((t + pr.delay) % tgt.max_delay) * tgt.size(), part, T);
    }
}

void RunLoop::execute(int& threads) {
    for (std::size_t k = 0; k < net_.state_mons.size(); ++k)
        if (first_sample_[k] == t0_ && steps_ > 0) sample(k, t0_, 0, std::numeric_limits<index_t>::max());
    for (int team = threads;;) {
        T_ = team;
        net_.partition(T_);
        tallies_.assign(static_cast<std::size_t>(T_ * kPad), 0);
        StepBarrier barrier(T_);
#pragma omp parallel num_threads(T_) if (T_ > 1)
        {
            const int tid = omp_get_thread_num();
            // A smaller team than asked (OMP_DYNAMIC, a thread limit): every member sees the same
            // size, nobody has touched the state yet; partition again for that size.
            if (omp_get_num_threads() == T_ && steps_ > 0) {
                auto last_report = std::chrono::steady_clock::now();
                update(tid, t0_);
                for (std::int64_t t = t0_;; ++t) {
                    barrier.wait();  // the updates of step t are done: its spikes are complete
                    if (tid == 0) record(t, last_report);
                    propagate(tid, t);
                    if (t + 1 == t_end_ || stop_at_.load(std::memory_order_relaxed) <= t) break;
                    update(tid, t + 1);
                }
            }
#pragma omp single nowait
            team = omp_get_num_threads();
        }
        if (team == T_) break;
    }
    threads = T_;
}

}  // namespace

SimulationResult NetworkImpl::run(double duration_ms, const RunOptions& ro) {
    if (!(duration_ms >= 0) || !std::isfinite(duration_ms))
        throw ValueError(fmt::format("run: duration_ms: expected a finite duration ≥ 0 ms, got {}", duration_ms));
    if (!(ro.progress_interval_seconds >= 0))  // also NaN
        throw ValueError(fmt::format("run: progress_interval_seconds: expected ≥ 0 s, got {}", ro.progress_interval_seconds));
    const double dt = opt.dt;
    const std::int64_t steps = std::llround(duration_ms / dt);
    if (step + steps > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("run: duration_ms: the network would pass 2^31-1 steps (now at step {}, +{})", step, steps));
    int T = threads();
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
    RunLoop loop(*this, ro, step, steps);
    res.summary.build_seconds = build_timer.seconds() - (first ? compile_seconds : 0);
    res.summary.compile_seconds = first ? compile_seconds : 0;

    Timer loop_timer;
    loop.execute(T);
    res.summary.loop_seconds = loop_timer.seconds();
    step = loop.done();
    if (loop.error()) {  // the network is at step `done`, consistent; this run's records are dropped
        for (SpikeMon& m : spike_mons) m.steps = {}, m.ids = {};
        for (RateMon& m : rate_mons) m.counts = {};
        for (StateMon& m : state_mons) m.times = {}, m.values = {};
        std::rethrow_exception(loop.error());
    }
    collect_results(res, steps, T, mem, loop.lif_spikes(), loop.synaptic_events());
    return res;
}

}  // namespace neuroperf::snn
