// Spiking network run loop: the JIT-compiled step bit-identical at 1/2/3/4 threads (CUBA and
// COBA), the progress hook (RunOptions::progress: monotone, final call = total, the interval),
// and a progress exception stopping the run with the network left consistent (continuing it
// gives the uninterrupted run's state and spikes) at 1, 2 and 4 threads.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "neuroperf/error.hpp"
#include "neuroperf/network.hpp"
#include "test_support.hpp"

namespace neuroperf {
namespace {

// A Vogels-Abbott network with a Poisson input, delayed per-synapse projection and all monitors:
// every path of the loop (Poisson and LIF updates, uniform and per-synapse propagation, rings
// with D > 1, spike/rate/state records).
Network make_net(const std::string& model, int threads, bool jit) {
    NetworkOptions o;
    o.num_threads = threads;
    o.seed = 99;
    o.use_jit = jit;
    Network net(o);
    auto p = add_vogels_abbott(net, model, 1501, 0.04);  // odd size: uneven thread ranges
    auto in = net.add_poisson_input({.size = 61, .rate_hz = 50});
    const double w = model == "cuba" ? 2.0 : 0.05;
    net.add_projection({.source = in, .target = p, .connectivity = Connectivity::fixed_indegree, .indegree = 4,
                        .weight = w, .delay_steps = 2, .weight_sd = w / 3, .delay_max_steps = 9});
    net.add_spike_monitor(in);
    net.add_rate_monitor(p);
    net.add_state_monitor({.population = p, .neurons = {1500, 0, 777, 3},
                           .variables = {StateVariable::g_i, StateVariable::v}, .every_steps = 3});
    return net;
}

struct Outcome {
    SimulationResult r;
    std::vector<float> v;
};

Outcome run_net(const std::string& model, int threads, bool jit, double ms) {
    Network net = make_net(model, threads, jit);
    Outcome o{net.run(ms), {}};
    o.v = net.membrane_potential(0);
    return o;
}

void expect_same(const Outcome& a, const Outcome& b) {
    ASSERT_EQ(a.r.spikes.size(), b.r.spikes.size());
    for (std::size_t k = 0; k < a.r.spikes.size(); ++k) {
        EXPECT_EQ(a.r.spikes[k].ids, b.r.spikes[k].ids);
        EXPECT_EQ(a.r.spikes[k].times_ms, b.r.spikes[k].times_ms);
    }
    EXPECT_EQ(a.r.rates[0].rate_hz, b.r.rates[0].rate_hz);
    EXPECT_EQ(a.r.states[0].times_ms, b.r.states[0].times_ms);
    EXPECT_EQ(a.r.states[0].values, b.r.states[0].values);
    EXPECT_EQ(a.r.summary.spikes, b.r.summary.spikes);
    EXPECT_EQ(a.r.summary.synaptic_events, b.r.summary.synaptic_events);
    EXPECT_EQ(a.v, b.v);
}

TEST(SnnRun, JitCompiledStepIsBitIdenticalAtOneTwoThreeAndFourThreads) {
    test_support::TempDir dir;
    test_support::EnvGuard env("NEUROPERF_CACHE_DIR");
    env.set(dir.path().string());
    for (std::string model : {"cuba", "coba"}) {
        SCOPED_TRACE(model);
        Outcome aot = run_net(model, 1, false, 30);
        Outcome j1 = run_net(model, 1, true, 30);
        EXPECT_TRUE(j1.r.summary.jit_compiled);
        EXPECT_GT(j1.r.summary.spikes, 100);  // not vacuous
        EXPECT_GT(j1.r.spikes[1].ids.size(), 50u);
        expect_same(aot, j1);
        for (int t : {2, 3, 4}) {
            SCOPED_TRACE(t);
            Outcome jt = run_net(model, t, true, 30);
            EXPECT_EQ(jt.r.summary.threads, t);
            expect_same(j1, jt);
        }
    }
}

TEST(SnnRun, ProgressIsMonotoneAndEndsWithTheTotal) {
    for (int threads : {1, 2}) {
        SCOPED_TRACE(threads);
        Network net = make_net("cuba", threads, false);
        std::vector<std::pair<std::int64_t, std::int64_t>> calls;
        RunOptions ro;
        ro.progress = [&](std::int64_t done, std::int64_t total) { calls.emplace_back(done, total); };
        ro.progress_interval_seconds = 0;  // every step
        net.run(0, ro);
        EXPECT_TRUE(calls.empty());  // no steps, no call
        net.run(12.3, ro);
        ASSERT_EQ(calls.size(), 123u);
        for (std::size_t k = 0; k < calls.size(); ++k) {
            EXPECT_EQ(calls[k].first, static_cast<std::int64_t>(k + 1));
            EXPECT_EQ(calls[k].second, 123);
        }
        // A long interval: only the final call.
        calls.clear();
        ro.progress_interval_seconds = 1e6;
        net.run(20, ro);
        ASSERT_EQ(calls.size(), 1u);
        EXPECT_EQ(calls[0], (std::pair<std::int64_t, std::int64_t>(200, 200)));
    }
}

TEST(SnnRun, OptionsProgressGetsFractionsUpToOne) {
    NetworkOptions o;
    o.num_threads = 2;
    o.use_jit = false;
    std::vector<double> f;
    o.progress = [&f](double x) { f.push_back(x); };
    Network net(o);
    add_vogels_abbott(net, "cuba", 400, 0.05);
    net.run(50);
    ASSERT_EQ(f.size(), 100u);  // every 5 of 500 steps
    for (std::size_t k = 1; k < f.size(); ++k) EXPECT_GT(f[k], f[k - 1]);
    EXPECT_EQ(f.back(), 1.0);
}

struct Stop : std::runtime_error {
    Stop() : std::runtime_error("stop") {}
};

TEST(SnnRun, ProgressExceptionStopsTheRunAndLeavesTheNetworkConsistent) {
    for (std::string model : {"cuba", "coba"})
        for (int threads : {1, 2, 4}) {
            SCOPED_TRACE(model + " threads " + std::to_string(threads));
            Network ref = make_net(model, threads, false);
            const SimulationResult whole = ref.run(30);
            Network net = make_net(model, threads, false);
            RunOptions ro;
            ro.progress_interval_seconds = 0;
            int calls = 0;
            ro.progress = [&calls](std::int64_t done, std::int64_t) {
                ++calls;
                if (done == 100) throw Stop();
            };
            EXPECT_THROW(net.run(30, ro), Stop);
            EXPECT_EQ(calls, 100);                       // no call after the throw
            EXPECT_DOUBLE_EQ(net.time_ms(), 101 * 0.1);  // the step after the throw completed
            // Continuing gives the uninterrupted run: state, and the spikes from 10.1 ms on.
            const SimulationResult rest = net.run(30 - net.time_ms());
            EXPECT_DOUBLE_EQ(rest.t_start_ms, 101 * 0.1);
            EXPECT_EQ(net.membrane_potential(0), ref.membrane_potential(0));
            for (std::size_t k = 0; k < whole.spikes.size(); ++k) {
                std::vector<std::int32_t> ids;
                std::vector<double> times;
                for (std::size_t q = 0; q < whole.spikes[k].ids.size(); ++q)
                    if (std::lround(whole.spikes[k].times_ms[q] / 0.1) >= 101) {
                        ids.push_back(whole.spikes[k].ids[q]);
                        times.push_back(whole.spikes[k].times_ms[q]);
                    }
                EXPECT_GT(ids.size(), 20u);
                EXPECT_EQ(rest.spikes[k].ids, ids);
                ASSERT_EQ(rest.spikes[k].times_ms.size(), times.size());
                for (std::size_t q = 0; q < times.size(); ++q) EXPECT_NEAR(rest.spikes[k].times_ms[q], times[q], 1e-9);
            }
        }
}

TEST(SnnRun, ExceptionInTheOptionsProgressStopsTheRunToo) {
    NetworkOptions o;
    o.num_threads = 2;
    o.use_jit = false;
    o.progress = [](double f) {
        if (f >= 0.5) throw ValueError("enough");
    };
    Network net(o);
    add_vogels_abbott(net, "cuba", 400, 0.05);
    EXPECT_EQ(test_support::expect_throw_msg<ValueError>([&] { net.run(20); }), "enough");
    EXPECT_DOUBLE_EQ(net.time_ms(), 101 * 0.1);  // thrown after step 100 of 200
}

TEST(SnnRun, BadProgressIntervalIsRefused) {
    Network net(NetworkOptions{.use_jit = false});
    add_vogels_abbott(net, "cuba", 100, 0.1);
    RunOptions ro;
    ro.progress_interval_seconds = -1;
    EXPECT_NE(test_support::expect_throw_msg<ValueError>([&] { net.run(1, ro); }).find("progress_interval_seconds"),
              std::string::npos);
    EXPECT_EQ(net.time_ms(), 0.0);
}

}  // namespace
}  // namespace neuroperf
