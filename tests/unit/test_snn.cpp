// Spiking network engine: analytic single-neuron checks, hand-computed refractory and delay spike
// times (uniform and per-synapse delays), per-synapse weights, connectivity statistics,
// bit-identical results across thread counts, validation errors,
// the memory bound, and the Vogels-Abbott CUBA network's rate.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "neuroperf/error.hpp"
#include "neuroperf/network.hpp"
#include "test_support.hpp"

namespace neuroperf {
namespace {

using test_support::expect_throw_msg;

NetworkOptions aot_options(int threads = 1, std::uint64_t seed = 7) {
    NetworkOptions o;
    o.num_threads = threads;
    o.seed = seed;
    o.use_jit = false;  // the compiled kernel is bit-identical (test_jit); one test below uses it
    return o;
}

PopulationSpec single(double i_ext, double refractory = 5) {
    PopulationSpec p;
    p.name = "one";
    p.size = 1;
    p.lif.v_rest = -60;
    p.lif.v_reset = -60;
    p.lif.v_thresh = -50;
    p.lif.i_ext = i_ext;
    p.lif.tau_m = 20;
    p.lif.refractory = refractory;
    p.v_init_min = p.v_init_max = -60;
    return p;
}

std::vector<long> spike_steps(const SpikeMonitorData& d, double dt) {
    std::vector<long> s;
    for (double t : d.times_ms) s.push_back(std::lround(t / dt));
    return s;
}

TEST(Snn, SingleNeuronFollowsTheAnalyticMembraneSolutionAndFirstSpikeTime) {
    Network net(aot_options());
    auto p = net.add_population(single(20));  // v∞ = −40 mV
    net.add_spike_monitor(p);
    net.add_state_monitor({.population = p, .neurons = {0}, .variables = {StateVariable::v}, .every_steps = 3});
    auto r = net.run(60);
    const double tau = 20, v_inf = -40, v0 = -60, dt = 0.1;
    const double t_star = tau * std::log((v_inf - v0) / (v_inf - (-50)));  // 13.86 ms
    ASSERT_FALSE(r.spikes[0].times_ms.empty());
    const double t1 = r.spikes[0].times_ms[0];
    // Brian2's convention: a spike is stamped with the start of the step whose update crossed.
    EXPECT_LT(t1, t_star);
    EXPECT_GE(t1, t_star - dt);
    EXPECT_EQ(std::lround(t1 / dt), 138);
    // Sub-threshold trajectory before the first spike, sampled every 3 steps.
    const auto& st = r.states[0];
    ASSERT_EQ(st.times_ms.size(), 200u);  // ceil(600 / 3)
    for (std::size_t k = 0; k < st.times_ms.size() && st.times_ms[k] <= t1; ++k) {
        double t = st.times_ms[k];
        EXPECT_NEAR(st.times_ms[k], 3 * dt * static_cast<double>(k), 1e-9);
        double exact = v_inf + (v0 - v_inf) * std::exp(-t / tau);
        EXPECT_NEAR(st.values[k], exact, 2e-4) << "t=" << t;
    }
    // Reset, 5 ms refractory (50 steps held), then the same 139-step climb: ISI 189 steps.
    auto s = spike_steps(r.spikes[0], dt);
    ASSERT_GE(s.size(), 3u);
    EXPECT_EQ(s[1], 138 + 50 + 139);
    EXPECT_EQ(s[2], 138 + 2 * (50 + 139));
    EXPECT_EQ(r.summary.spikes, static_cast<std::int64_t>(s.size()));
    EXPECT_NEAR(r.summary.cv_isi, 0.0, 1e-12);
}

TEST(Snn, RefractoryPeriodGivesHandComputedSpikeSteps) {
    Network net(aot_options());
    auto p = net.add_population(single(5000, 2.0));  // +50 mV per step: crosses in one step whenever active
    net.add_spike_monitor(p);
    auto r = net.run(10);
    // Spike at step 0, 20 steps held, active again at step 21.
    EXPECT_EQ(spike_steps(r.spikes[0], 0.1), (std::vector<long>{0, 21, 42, 63, 84}));
    EXPECT_DOUBLE_EQ(r.spikes[0].times_ms[1], 21 * 0.1);
}

TEST(Snn, DelaysInStepsAndMillisecondsGiveHandComputedSpikeTimes) {
    Network net(aot_options());
    auto a = net.add_population(single(5000, 100));  // fires at step 0 only within 10 ms
    PopulationSpec bs = single(0, 100);
    bs.name = "B";
    bs.size = 3;
    auto b = net.add_population(bs);
    net.add_projection({.source = a, .target = b, .target_begin = 0, .target_end = 1, .probability = 1,
                        .weight = 1e4, .delay_steps = 7});
    net.add_projection({.source = a, .target = b, .target_begin = 1, .target_end = 2, .probability = 1,
                        .weight = 1e4, .delay_ms = 1.0});  // 1 + 10 steps (Brian2's rule)
    net.add_projection({.source = a, .target = b, .target_begin = 2, .target_end = 3, .probability = 1,
                        .weight = 1e4, .delay_steps = 1});  // Brian2's zero delay
    int m = net.add_spike_monitor(b);
    auto r = net.run(10);
    const auto& d = r.spikes[static_cast<std::size_t>(m)];
    ASSERT_EQ(d.ids.size(), 3u);
    EXPECT_EQ(d.ids, (std::vector<std::int32_t>{2, 0, 1}));
    EXPECT_EQ(spike_steps(d, 0.1), (std::vector<long>{1, 7, 11}));
    EXPECT_EQ(r.summary.synaptic_events, 3);
}

TEST(Snn, InhibitoryProjectionDelaysTheTarget) {
    // Same drive, one target also receives a strong inhibitory kick: it fires later.
    Network net(aot_options());
    auto a = net.add_population(single(5000, 100));
    PopulationSpec bs = single(20);
    bs.size = 2;
    auto b = net.add_population(bs);
    net.add_projection({.source = a, .target = b, .target_begin = 1, .target_end = 2, .probability = 1,
                        .weight = -20, .type = SynapseType::inhibitory});
    int m = net.add_spike_monitor(b);
    auto r = net.run(40);
    const auto& d = r.spikes[static_cast<std::size_t>(m)];
    double first[2] = {-1, -1};
    for (std::size_t k = d.ids.size(); k-- > 0;) first[d.ids[k]] = d.times_ms[k];
    EXPECT_EQ(std::lround(first[0] / 0.1), 138);
    ASSERT_GT(first[1], 0);
    EXPECT_GT(first[1], first[0] + 1);
}

TEST(Snn, FixedProbabilityAndIndegreeConnectivity) {
    Network net(aot_options(2));
    PopulationSpec ps = single(0);
    ps.size = 601;
    auto p = net.add_population(ps);
    net.add_projection({.source = p, .target = p, .probability = 0.1});
    net.add_projection({.source = p, .target = p, .connectivity = Connectivity::fixed_indegree, .indegree = 37,
                        .allow_autapses = false});
    net.add_projection({.source = p, .target = p, .source_begin = 5, .source_end = 9, .probability = 1,
                        .allow_autapses = false});
    net.add_projection({.source = p, .target = p, .probability = 0});
    net.run(0);
    {
        auto [rp, col] = net.connectivity(0);
        const double n = 601.0 * 601.0, mean = 0.1 * n, sd = std::sqrt(n * 0.1 * 0.9);
        EXPECT_NEAR(static_cast<double>(col.size()), mean, 6 * sd);
        for (std::size_t j = 0; j + 1 < rp.size(); ++j)
            for (auto s = rp[j] + 1; s < rp[j + 1]; ++s) ASSERT_LT(col[static_cast<std::size_t>(s - 1)], col[static_cast<std::size_t>(s)]);
    }
    {
        auto [rp, col] = net.connectivity(1);
        std::vector<int> indeg(601, 0);
        for (std::size_t j = 0; j + 1 < rp.size(); ++j)
            for (auto s = rp[j]; s < rp[j + 1]; ++s) {
                ASSERT_NE(col[static_cast<std::size_t>(s)], static_cast<std::int32_t>(j));  // no autapse
                if (s > rp[j]) {
                    ASSERT_LT(col[static_cast<std::size_t>(s - 1)], col[static_cast<std::size_t>(s)]);  // distinct
                }
                ++indeg[static_cast<std::size_t>(col[static_cast<std::size_t>(s)])];
            }
        for (int k : indeg) ASSERT_EQ(k, 37);
    }
    {
        auto [rp, col] = net.connectivity(2);
        EXPECT_EQ(col.size(), 4u * 600u);
        EXPECT_EQ(rp[5], 0);
        EXPECT_EQ(rp[6] - rp[5], 600);
        EXPECT_EQ(rp.back(), 2400);
    }
    EXPECT_EQ(net.connectivity(3).second.size(), 0u);
}

SimulationResult va_run(const std::string& model, int threads, std::vector<float>* v_out, bool jit = false,
                        bool heterogeneous = false) {
    NetworkOptions o = aot_options(threads, 123);
    o.use_jit = jit;
    Network net(o);
    auto p = add_vogels_abbott(net, model, 1003, 0.05);  // odd size: uneven thread chunks
    auto in = net.add_poisson_input({.size = 97, .rate_hz = 40});
    const double w_in = model == "cuba" ? 2.0 : 0.05;
    net.add_projection({.source = in, .target = p, .connectivity = Connectivity::fixed_indegree, .indegree = 5,
                        .weight = w_in, .delay_steps = 3, .weight_sd = heterogeneous ? w_in / 2 : 0.0,
                        .delay_max_steps = heterogeneous ? 12 : 0});
    if (heterogeneous) {  // recurrent: per-synapse delays only, and weights only
        net.add_projection({.source = p, .target = p, .source_end = 800, .probability = 0.02,
                            .weight = model == "cuba" ? 0.5 : 0.01, .delay_steps = 1, .delay_max_steps = 25});
        net.add_projection({.source = p, .target = p, .source_begin = 800, .probability = 0.05,
                            .weight = model == "cuba" ? -3.0 : 0.2, .type = SynapseType::inhibitory, .delay_steps = 2,
                            .weight_sd = model == "cuba" ? 2.0 : 0.1});
    }
    net.add_spike_monitor(in);
    net.add_rate_monitor(p);
    net.add_state_monitor({.population = p, .neurons = {0, 500, 1002}, .variables = {StateVariable::v, StateVariable::g_e, StateVariable::g_i}, .every_steps = 7});
    auto r = net.run(25);
    auto r2 = net.run(15);  // continuing
    r.spikes[0].times_ms.insert(r.spikes[0].times_ms.end(), r2.spikes[0].times_ms.begin(), r2.spikes[0].times_ms.end());
    r.spikes[0].ids.insert(r.spikes[0].ids.end(), r2.spikes[0].ids.begin(), r2.spikes[0].ids.end());
    if (v_out) *v_out = net.membrane_potential(p);
    return r;
}

void expect_same(const SimulationResult& a, const SimulationResult& b) {
    ASSERT_EQ(a.spikes.size(), b.spikes.size());
    for (std::size_t k = 0; k < a.spikes.size(); ++k) {
        EXPECT_EQ(a.spikes[k].ids, b.spikes[k].ids);
        EXPECT_EQ(a.spikes[k].times_ms, b.spikes[k].times_ms);
    }
    EXPECT_EQ(a.rates[0].rate_hz, b.rates[0].rate_hz);
    EXPECT_EQ(a.states[0].values, b.states[0].values);  // bitwise: float == (no NaN here)
    EXPECT_EQ(a.summary.synapses, b.summary.synapses);
    EXPECT_EQ(a.summary.synaptic_events, b.summary.synaptic_events);
}

TEST(Snn, BitIdenticalAtOneTwoAndFourThreads) {
    for (std::string model : {"cuba", "coba"}) {
        SCOPED_TRACE(model);
        std::vector<float> v1, v2, v4;
        auto r1 = va_run(model, 1, &v1), r2 = va_run(model, 2, &v2), r4 = va_run(model, 4, &v4);
        EXPECT_GT(r1.summary.spikes, 50);  // the comparison is not vacuous
        EXPECT_GT(r1.spikes[0].ids.size(), 50u);
        expect_same(r1, r2);
        expect_same(r1, r4);
        EXPECT_EQ(v1, v2);
        EXPECT_EQ(v1, v4);
    }
}

TEST(Snn, PerSynapseWeightsAndDelaysAreBitIdenticalAtOneTwoAndFourThreads) {
    for (std::string model : {"cuba", "coba"}) {
        SCOPED_TRACE(model);
        std::vector<float> v1, v2, v4;
        auto r1 = va_run(model, 1, &v1, false, true), r2 = va_run(model, 2, &v2, false, true),
             r4 = va_run(model, 4, &v4, false, true);
        EXPECT_GT(r1.summary.spikes, 50);
        expect_same(r1, r2);
        expect_same(r1, r4);
        EXPECT_EQ(v1, v2);
        EXPECT_EQ(v1, v4);
        // ... and they change the run (the per-synapse path is taken).
        std::vector<float> u1;
        va_run(model, 1, &u1, false, false);
        EXPECT_NE(u1, v1);
    }
}

TEST(Snn, HeterogeneousDelaysGiveHandComputedSpikeTimes) {
    // A fires at step 0 (and not again within 10 ms); each B neuron i gets one synapse from A with
    // its own delay d_i in [2, 9] and a weight that makes it fire in the step the input enters
    // (step d_i, as DelaysInStepsAndMillisecondsGiveHandComputedSpikeTimes: delay 7 -> step 7);
    // B's refractory period keeps it at one spike. d = 9 = D also exercises the ring's wrap.
    for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(threads);
        Network net(aot_options(threads));
        auto a = net.add_population(single(5000, 100));
        PopulationSpec bs = single(0, 100);
        bs.name = "B";
        bs.size = 40;
        auto b = net.add_population(bs);
        net.add_projection({.source = a, .target = b, .probability = 1, .weight = 1e4, .delay_steps = 2,
                            .delay_max_steps = 9});
        int m = net.add_spike_monitor(b);
        auto r = net.run(10);
        const std::vector<std::int32_t> d = net.synapse_delays(0);
        ASSERT_EQ(d.size(), 40u);
        EXPECT_EQ(net.connectivity(0).second.size(), 40u);
        std::set<std::int32_t> distinct(d.begin(), d.end());
        EXPECT_GE(distinct.size(), 6u);  // 40 draws over 8 values: not a uniform delay
        EXPECT_TRUE(distinct.count(9));
        std::set<std::pair<long, std::int32_t>> expected, got;
        for (std::int32_t i = 0; i < 40; ++i) {
            ASSERT_GE(d[static_cast<std::size_t>(i)], 2);
            ASSERT_LE(d[static_cast<std::size_t>(i)], 9);
            expected.insert({d[static_cast<std::size_t>(i)], i});
        }
        const auto& sp = r.spikes[static_cast<std::size_t>(m)];
        auto steps = spike_steps(sp, 0.1);
        for (std::size_t k = 0; k < steps.size(); ++k) got.insert({steps[k], sp.ids[k]});
        EXPECT_EQ(got.size(), steps.size());
        EXPECT_EQ(got, expected);
        // Monitor order: time-ordered, ids ascending within a step.
        for (std::size_t k = 1; k < steps.size(); ++k)
            ASSERT_TRUE(steps[k - 1] < steps[k] || (steps[k - 1] == steps[k] && sp.ids[k - 1] < sp.ids[k]));
    }
}

TEST(Snn, DelayRangeInMillisecondsUsesBrian2sRule) {
    Network net(aot_options());
    auto a = net.add_population(single(5000, 100));  // one spike, step 0
    PopulationSpec bs = single(0, 100);
    bs.size = 200;
    auto b = net.add_population(bs);
    net.add_projection({.source = a, .target = b, .probability = 1, .weight = 1e4, .delay_ms = 0.0,
                        .delay_max_ms = 0.4});  // steps 1 .. 1 + round(0.4/0.1) = 5
    int m = net.add_spike_monitor(b);
    auto r = net.run(2);
    auto d = net.synapse_delays(0);
    std::set<std::int32_t> distinct(d.begin(), d.end());
    EXPECT_EQ(distinct, (std::set<std::int32_t>{1, 2, 3, 4, 5}));
    const auto& sp = r.spikes[static_cast<std::size_t>(m)];
    ASSERT_EQ(sp.ids.size(), 200u);
    auto steps = spike_steps(sp, 0.1);
    for (std::size_t k = 0; k < steps.size(); ++k) EXPECT_EQ(steps[k], d[static_cast<std::size_t>(sp.ids[k])]);
}

TEST(Snn, PerSynapseWeightsFollowTheClippedNormalAndReachTheTargets) {
    Network net(aot_options(2));
    PopulationSpec ps = single(0);
    ps.size = 400;
    auto p = net.add_population(ps);
    PopulationSpec cob = single(0);
    cob.lif.synapse = SynapseModel::conductance;
    cob.size = 400;
    auto c = net.add_population(cob);
    net.add_projection({.source = p, .target = p, .probability = 0.5, .weight = 2.0, .weight_sd = 0.5});
    net.add_projection({.source = p, .target = p, .probability = 0.5, .weight = 0.1, .weight_sd = 1.0});
    net.add_projection({.source = p, .target = p, .probability = 0.5, .weight = -0.1, .type = SynapseType::inhibitory,
                        .weight_sd = 1.0});
    net.add_projection({.source = p, .target = c, .probability = 0.5, .weight = 0.0, .weight_sd = 0.3});
    net.add_projection({.source = p, .target = p, .probability = 0.5, .weight = 1.5});
    net.run(0);
    auto stats = [](const std::vector<float>& w) {
        double s = 0, s2 = 0;
        for (float x : w) s += x, s2 += static_cast<double>(x) * x;
        double n = static_cast<double>(w.size()), m = s / n;
        return std::pair{m, std::sqrt(s2 / n - m * m)};
    };
    auto w0 = net.synapse_weights(0);
    ASSERT_GT(w0.size(), 70000u);
    auto [m0, sd0] = stats(w0);
    EXPECT_NEAR(m0, 2.0, 0.01);   // 5σ of the mean of 8e4 draws: 0.5/283·5 ≈ 0.009
    EXPECT_NEAR(sd0, 0.5, 0.01);
    auto w1 = net.synapse_weights(1);  // normal(0.1, 1) clipped below at 0
    std::size_t zeros = 0;
    for (float x : w1) {
        ASSERT_GE(x, 0.0f);
        zeros += x == 0.0f;
    }
    const double p0 = 0.5 * std::erfc(0.1 / std::sqrt(2.0));  // P(N(0.1, 1) < 0) = 0.460
    EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(w1.size()), p0, 0.01);
    for (float x : net.synapse_weights(2)) ASSERT_LE(x, 0.0f);  // inhibitory: sign kept
    for (float x : net.synapse_weights(3)) ASSERT_GE(x, 0.0f);  // COBA stays valid
    for (float x : net.synapse_weights(4)) ASSERT_EQ(x, 1.5f);  // no weight_sd: the shared weight
    for (std::int32_t d : net.synapse_delays(4)) ASSERT_EQ(d, 1);
    EXPECT_NE(net.synapse_weights(0), w1);
    // A second network with the same seed draws the same weights; another seed others.
    Network same(aot_options(1)), other(aot_options(1, 8));
    for (Network* n : {&same, &other}) {
        auto q = n->add_population(ps);
        n->add_population(cob);
        n->add_projection({.source = q, .target = q, .probability = 0.5, .weight = 2.0, .weight_sd = 0.5});
        n->run(0);
    }
    EXPECT_EQ(same.synapse_weights(0), w0);
    EXPECT_NE(other.synapse_weights(0), w0);
}

TEST(Snn, PerSynapseWeightsAreWhatTheTargetsReceive) {
    // One source spike at step 0 to 50 targets with normal weights and delay 1: each target's
    // g_e after the arrival step is w_i times the same decay factor.
    Network net(aot_options());
    auto a = net.add_population(single(5000, 100));
    PopulationSpec bs = single(0, 100);
    bs.size = 50;
    bs.lif.v_thresh = 1e6;  // never fires
    auto b = net.add_population(bs);
    net.add_projection({.source = a, .target = b, .probability = 1, .weight = 3.0, .weight_sd = 1.0});
    std::vector<index_t> all(50);
    for (index_t i = 0; i < 50; ++i) all[static_cast<std::size_t>(i)] = i;
    net.add_state_monitor({.population = b, .neurons = all, .variables = {StateVariable::g_e}, .every_steps = 1});
    auto r = net.run(0.5);
    const auto w = net.synapse_weights(0);
    const auto& st = r.states[0];
    ASSERT_EQ(st.times_ms.size(), 5u);
    // Samples at steps 0..4 (state at the start of the step); the input enters at step 1.
    for (index_t i = 0; i < 50; ++i) EXPECT_EQ(st.values[static_cast<std::size_t>(i)], 0.0f);
    const float ref = st.values[static_cast<std::size_t>(2 * 50 + 0)] / w[0];
    EXPECT_GT(ref, 0.5f);
    for (std::size_t i = 0; i < 50; ++i) EXPECT_NEAR(st.values[2 * 50 + i], w[i] * ref, 1e-5 * std::abs(w[i]) + 1e-7) << i;
}

TEST(Snn, JitCompiledStepGivesTheSameNetworkRunAsAot) {
    test_support::TempDir dir;
    test_support::EnvGuard env("NEUROPERF_CACHE_DIR");
    env.set(dir.path().string());
    std::vector<float> va, vj;
    auto a = va_run("cuba", 2, &va, false), j = va_run("cuba", 2, &vj, true);
    expect_same(a, j);
    EXPECT_EQ(va, vj);
}

TEST(Snn, PoissonInputRate) {
    Network net(aot_options(2));
    auto in = net.add_poisson_input({.size = 5001, .rate_hz = 100});
    net.add_spike_monitor(in);
    auto r = net.run(100);
    const double mean = 5001 * 100 * 0.1, sd = std::sqrt(mean);
    EXPECT_NEAR(static_cast<double>(r.spikes[0].ids.size()), mean, 6 * sd);
    std::set<std::int32_t> ids(r.spikes[0].ids.begin(), r.spikes[0].ids.end());
    EXPECT_GT(ids.size(), 4900u);  // P(silent) = e^-10 per source
    // Another seed, another train.
    Network net2(aot_options(2, 8));
    auto in2 = net2.add_poisson_input({.size = 5001, .rate_hz = 100});
    net2.add_spike_monitor(in2);
    EXPECT_NE(net2.run(100).spikes[0].ids, r.spikes[0].ids);
}

TEST(Snn, ValidationErrorsNameTheArgument) {
    auto msg = [](auto f) { return expect_throw_msg<ValueError>(f); };
    EXPECT_NE(msg([] { Network n(NetworkOptions{.dt = 0}); }).find("dt"), std::string::npos);
    EXPECT_NE(msg([] { Network n(NetworkOptions{.num_threads = -1}); }).find("num_threads"), std::string::npos);
    Network net(aot_options());
    PopulationSpec bad = single(0);
    bad.lif.tau_m = -20;
    EXPECT_NE(msg([&] { net.add_population(bad); }).find("tau_m"), std::string::npos);
    bad = single(0);
    bad.lif.tau_e = 0.1;  // = dt
    EXPECT_NE(msg([&] { net.add_population(bad); }).find("tau_e"), std::string::npos);
    bad = single(0);
    bad.lif.v_reset = -40;
    EXPECT_NE(msg([&] { net.add_population(bad); }).find("v_reset"), std::string::npos);
    bad = single(0);
    bad.lif.refractory = -1;
    EXPECT_NE(msg([&] { net.add_population(bad); }).find("refractory"), std::string::npos);
    bad = single(0);
    bad.v_init_max = std::nan("");
    EXPECT_NE(msg([&] { net.add_population(bad); }).find("v_init_max"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_poisson_input({.size = 3, .rate_hz = -1}); }).find("rate_hz"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_poisson_input({.size = 3, .rate_hz = 20000}); }).find("rate_hz"), std::string::npos);
    auto p = net.add_population(single(0));
    auto in = net.add_poisson_input({.size = 4, .rate_hz = 5});
    EXPECT_NE(msg([&] { net.add_projection({.source = p, .target = p, .probability = 1.5}); }).find("probability"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = p, .target = p, .probability = -0.1}); }).find("probability"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = 9, .target = p}); }).find("source"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = p, .target = in}); }).find("target"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .source_end = 5}); }).find("source range"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .connectivity = Connectivity::fixed_indegree, .indegree = 5}); })
                  .find("indegree"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .delay_steps = 0}); }).find("delay"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .weight = INFINITY}); }).find("weight"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .weight_sd = -1}); }).find("weight_sd"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .weight_sd = NAN}); }).find("weight_sd"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .delay_steps = 5, .delay_max_steps = 4}); })
                  .find("delay_max_steps"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .delay_ms = 1.0, .delay_max_ms = 0.5}); })
                  .find("delay_max_ms"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = p, .delay_max_steps = (1 << 20) + 1}); })
                  .find("delay_max_steps"), std::string::npos);
    EXPECT_NE(msg([&] { net.synapse_weights(99); }).find("projection"), std::string::npos);
    EXPECT_NE(msg([&] { net.synapse_delays(-1); }).find("projection"), std::string::npos);
    PopulationSpec cob = single(0);
    cob.lif.synapse = SynapseModel::conductance;
    auto c = net.add_population(cob);
    EXPECT_NE(msg([&] { net.add_projection({.source = in, .target = c, .weight = -1}); }).find("weight"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_state_monitor({.population = p, .neurons = {1}}); }).find("neurons"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_state_monitor({.population = p, .neurons = {0}, .every_steps = 0}); }).find("every_steps"), std::string::npos);
    EXPECT_NE(msg([&] { net.add_spike_monitor(42); }).find("population"), std::string::npos);
    EXPECT_NE(msg([&] { net.run(-1); }).find("duration"), std::string::npos);
    EXPECT_NE(msg([&] { add_vogels_abbott(net, "hh", 10, 0.1); }).find("model"), std::string::npos);
    net.run(1);
    EXPECT_NE(msg([&] { net.add_population(single(0)); }).find("frozen"), std::string::npos);
}

TEST(Snn, MemoryBeyondTheLimitIsRefusedBeforeAllocating) {
    NetworkOptions o = aot_options();
    o.memory_limit_bytes = 8 << 20;
    Network net(o);
    auto p = add_vogels_abbott(net, "cuba", 4000, 0.02);  // spike monitor bound ≈ 4000 · 196 · 20 B
    EXPECT_GT(net.memory_estimate(1000).total(), o.memory_limit_bytes);
    EXPECT_LT(net.memory_estimate(10).total(), o.memory_limit_bytes);
    auto m = expect_throw_msg<ValueError>([&] { net.run(1000); });
    EXPECT_NE(m.find("memory_limit_bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("monitors"), std::string::npos) << m;
    EXPECT_EQ(net.num_synapses(), 0);  // nothing built
    // A bounded monitor fits; spikes past its capacity are counted, not stored.
    Network net2(o);
    auto p2 = add_vogels_abbott(net2, "cuba", 4000, 0.02, false);
    int mon = net2.add_spike_monitor(p2, 1000);
    auto r = net2.run(100);
    EXPECT_EQ(r.spikes[static_cast<std::size_t>(mon)].ids.size(), 1000u);
    EXPECT_EQ(r.spikes[static_cast<std::size_t>(mon)].dropped, r.summary.spikes - 1000);
    (void)p;
    // Per-synapse weights and delays are counted (4 bytes each per synapse, and longer rings).
    Network u(aot_options()), h(aot_options());
    for (Network* n : {&u, &h}) {
        PopulationSpec ps = single(0);
        ps.size = 1000;
        auto q = n->add_population(ps);
        n->add_projection({.source = q, .target = q, .probability = 0.1, .weight = 1,
                           .weight_sd = n == &h ? 0.1 : 0.0, .delay_max_steps = n == &h ? 10 : 0});
    }
    const double row_ptrs = 1001 * 8;  // the same synapse estimate in both: 12 vs 4 bytes each
    EXPECT_NEAR(static_cast<double>(h.memory_estimate(1).synapses) - row_ptrs,
                3.0 * (static_cast<double>(u.memory_estimate(1).synapses) - row_ptrs), 4.0);
    EXPECT_EQ(h.memory_estimate(1).state - u.memory_estimate(1).state, 1000 * 8 * 9);
}

TEST(Snn, VogelsAbbottCubaRateIsPlausible) {
    NetworkOptions o = aot_options(1, 1);  // one thread: quick also on a busy machine
    o.use_jit = true;
    Network net(o);
    add_vogels_abbott(net, "cuba", 4000, 0.02);
    auto r = net.run(200);
    const auto& s = r.summary;
    EXPECT_EQ(s.neurons, 4000);
    EXPECT_NEAR(static_cast<double>(s.synapses), 0.02 * 4000 * 4000, 6 * std::sqrt(0.02 * 0.98 * 16e6));
    // Brian2 2.x's CUBA example over its first 0.2 s (bench/peers/brian2_cuba.py): see docs/dev/snn.md.
    EXPECT_GT(s.mean_rate_hz, 5.0);
    EXPECT_LT(s.mean_rate_hz, 60.0);
    EXPECT_GT(s.cv_isi, 0.0);
    auto c0 = net.connectivity(0), c1 = net.connectivity(1);
    std::int64_t events = 0;
    for (std::int32_t j : r.spikes[0].ids)
        events += (c0.first[static_cast<std::size_t>(j) + 1] - c0.first[static_cast<std::size_t>(j)]) +
                  (c1.first[static_cast<std::size_t>(j) + 1] - c1.first[static_cast<std::size_t>(j)]);
    EXPECT_EQ(s.synaptic_events, events);
    EXPECT_GT(s.loop_seconds, 0);
}

}  // namespace
}  // namespace neuroperf
