// JIT compiler, spike processing kernel: the spec's validation, the AOT kernel against a naive
// reference and the exact solution, the compiled kernel bit-identical to the AOT one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jit/conv_codegen.hpp"
#include "jit/registry.hpp"
#include "jit_support.hpp"
#include "kernels/lif.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using namespace neuroperf::jit_test;
using test_support::EnvGuard;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

template <class T>
void naive_step(Net<T>& net, std::int64_t t) {
    const auto& s = net.spec;
    using LD = long double;
    const LD dt = s.dt, tm = s.tau_m, te = s.tau_e, ti = s.tau_i;
    auto prop = [&](LD ts) { return ts == tm ? dt / tm * std::exp(-dt / tm) : ts / (ts - tm) * (std::exp(-dt / ts) - std::exp(-dt / tm)); };
    const auto n = s.num_neurons;
    const auto D = s.max_delay;
    std::vector<std::int32_t> fired;
    for (index_t i = 0; i < n; ++i) {
        auto slot = static_cast<std::size_t>((t % D) * n + i);
        LD ge = LD(net.ge[i]) + net.ring_e[slot], gi = LD(net.gi[i]) + net.ring_i[slot];
        net.ring_e[slot] = net.ring_i[slot] = 0;
        LD v = net.v[i];
        LD vinf0 = LD(s.v_rest) + s.i_ext;
        if (net.rf[i] > 0) {
            net.rf[i] -= 1;
        } else {
            if (s.synapse == SynapseModel::current) {
                v = vinf0 + (v - vinf0) * std::exp(-dt / tm) + ge * prop(te) + gi * prop(ti);
            } else {
                LD g = 1 + ge + gi;
                LD vinf = (vinf0 + ge * s.e_exc + gi * s.e_inh) / g;
                v = vinf + (v - vinf) * std::exp(-dt / tm * g);
            }
            if (v >= LD(static_cast<T>(s.v_thresh))) {
                v = s.v_reset;
                net.rf[i] = s.refractory_steps();
                fired.push_back(static_cast<std::int32_t>(i));
            }
        }
        net.v[i] = static_cast<T>(v);
        net.ge[i] = static_cast<T>(ge * std::exp(-dt / te));
        net.gi[i] = static_cast<T>(gi * std::exp(-dt / ti));
    }
    for (auto j : fired) {
        auto& ring = j < s.excitatory() ? net.ring_e : net.ring_i;
        for (auto k = net.rp[j]; k < net.rp[j + 1]; ++k) {
            std::int64_t d = s.uniform_delay > 0 ? s.uniform_delay : net.delays[k];
            ring[static_cast<std::size_t>(((t + d) % D) * n + net.col[k])] += net.w[k];
        }
    }
    net.record.push_back(fired);
}


}  // namespace

// ---------------------------------------------------------------- spec

TEST(JitSpec, InvalidFieldsNamed) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    auto bad = [&](auto mutate, const char* field) {
        LifSpec s = small_spec(4, SynapseModel::current);
        mutate(s);
        auto msg = test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_spike_processing_kernel<float>(s); });
        EXPECT_NE(msg.find(field), std::string::npos) << msg;
    };
    bad([](LifSpec& s) { s.dt = 0; }, "LifSpec.dt");
    bad([](LifSpec& s) { s.tau_m = -1; }, "LifSpec.tau_m");
    bad([](LifSpec& s) { s.v_thresh = std::numeric_limits<double>::quiet_NaN(); }, "LifSpec.v_thresh");
    bad([](LifSpec& s) { s.num_neurons = -3; }, "LifSpec.num_neurons");
    bad([](LifSpec& s) { s.exc_count = 5; }, "LifSpec.exc_count");
    bad([](LifSpec& s) { s.max_delay = 0; }, "LifSpec.max_delay");
    bad([](LifSpec& s) { s.uniform_delay = 2; }, "LifSpec.uniform_delay");
    bad([](LifSpec& s) { s.refractory = -1; }, "LifSpec.refractory");
    auto k = jit.compile_spike_processing_kernel<float>(small_spec(4, SynapseModel::current));
    std::vector<float> buf(4);
    SpikeStepArgs<float> a;
    a.begin = 0;
    a.end = 5;
    auto msg = test_support::expect_throw_msg<ValueError>([&] { k.update(a); });
    EXPECT_NE(msg.find("end=5"), std::string::npos) << msg;
    a.end = 2;
    a.step = -1;
    test_support::expect_throw_msg<ValueError>([&] { k(a); });
}

// ---------------------------------------------------------------- AOT kernel

template <class T>
void aot_matches_naive(SynapseModel model, std::int32_t d, std::int32_t uniform) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    for (index_t n : {0, 1, 2, 3, 7, 13, 64}) {
        auto spec = small_spec(n, model, d, uniform);
        auto kernel = jit.compile_spike_processing_kernel<T>(spec);
        EXPECT_FALSE(kernel.is_compiled());
        Net<T> a(spec, 7 + static_cast<std::uint64_t>(n));
        // Step by step from the same state: rounding differences must not accumulate into a
        // spike-time difference, so the reference restarts from the kernel's state every step.
        for (int t = 0; t < 60; ++t) {
            Net<T> b = a;
            a.run(kernel, 1);
            naive_step(b, t);
            const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
            expect_close(a.v, b.v, tol, "v");
            expect_close(a.ge, b.ge, tol, "ge");
            expect_close(a.gi, b.gi, tol, "gi");
            expect_close(a.ring_e, b.ring_e, tol, "ring_e");
            ASSERT_EQ(a.rf, b.rf) << "n=" << n << " t=" << t;
            ASSERT_EQ(a.record.back(), b.record.back()) << "n=" << n << " t=" << t;
        }
    }
}

TEST(JitSpikeAot, CubaMatchesNaiveFloat) { aot_matches_naive<float>(SynapseModel::current, 1, 1); }
TEST(JitSpikeAot, CubaMatchesNaiveDouble) { aot_matches_naive<double>(SynapseModel::current, 1, 1); }
TEST(JitSpikeAot, CobaMatchesNaiveFloat) { aot_matches_naive<float>(SynapseModel::conductance, 1, 1); }
TEST(JitSpikeAot, CobaMatchesNaiveDouble) { aot_matches_naive<double>(SynapseModel::conductance, 1, 1); }
TEST(JitSpikeAot, DelaysMatchNaive) {
    aot_matches_naive<double>(SynapseModel::current, 5, 0);
    aot_matches_naive<float>(SynapseModel::conductance, 4, 3);
}

TEST(JitSpikeAot, CubaIsExactSolution) {
    // One neuron below threshold with g_e(0) = 3 mV: v(t) − v∞ = (v0 − v∞)e^{−t/τm}
    //   + g0·τe/(τe − τm)·(e^{−t/τe} − e^{−t/τm}); after 1000 steps of 0.1 ms.
    LifSpec s;
    s.num_neurons = 1;
    s.v_thresh = 100;
    JITCompiler jit(JITConfig{.enable_jit = false});
    auto k = jit.compile_spike_processing_kernel<double>(s);
    std::vector<double> v{-55}, ge{3}, gi{0}, ie{0}, ii{0};
    std::vector<std::int32_t> rf{0}, sp{0};
    SpikeStepArgs<double> a{v.data(), ge.data(), gi.data(), rf.data(), ie.data(), ii.data(), sp.data(), 0,
                            nullptr, nullptr, nullptr, nullptr, ie.data(), ii.data(), 0, 1, 0};
    for (int t = 0; t < 1000; ++t, ++a.step) k.update(a);
    double T = 100, tm = 20, te = 5;
    double want = -60 + 5 * std::exp(-T / tm) + 3 * te / (te - tm) * (std::exp(-T / te) - std::exp(-T / tm));
    EXPECT_NEAR(v[0], want, 1e-12);
    EXPECT_NEAR(ge[0], 3 * std::exp(-T / te), 1e-15);
}

TEST(JitSpikeAot, NanAndInfPropagateWithoutSpikes) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    auto spec = small_spec(3, SynapseModel::current);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    std::vector<float> v{std::numeric_limits<float>::quiet_NaN(), -55, std::numeric_limits<float>::infinity()}, ge(3), gi(3), ie(3), ii(3);
    std::vector<std::int32_t> rf(3), sp(3);
    SpikeStepArgs<float> a{v.data(), ge.data(), gi.data(), rf.data(), ie.data(), ii.data(), sp.data(), 0,
                           nullptr, nullptr, nullptr, nullptr, ie.data(), ii.data(), 0, 3, 0};
    k.update(a);
    EXPECT_TRUE(std::isnan(v[0]));
    ASSERT_EQ(a.num_spikes, 1);  // +Inf is above threshold: it fires and resets
    EXPECT_EQ(sp[0], 2);
    EXPECT_EQ(v[2], -60.f);
}

// ---------------------------------------------------------------- compiled kernel

template <class T>
void jit_bit_identical(SynapseModel model, std::int32_t d, std::int32_t uniform, bool parallel = false) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig cfg = verbose_config();
    cfg.enable_parallel_loops = parallel;
    JITCompiler jit(cfg, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    for (index_t n : {1, 3, 17, 257}) {
        auto spec = small_spec(n, model, d, uniform);
        auto kj = jit.compile_spike_processing_kernel<T>(spec);
        ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason() << "\n" << lc.all();
        auto ka = aot.compile_spike_processing_kernel<T>(spec);
        Net<T> a(spec, 11 + static_cast<std::uint64_t>(n)), b = a, c = a;
        a.run(kj, 80);
        b.run(ka, 80);
        c.run(kj, 80, /*split=*/true);
        std::size_t total = 0;
        for (const auto& r : b.record) total += r.size();
        if (n >= 17) {
            EXPECT_GT(total, 0u) << "the test network should fire";
        }
        EXPECT_TRUE(bits_equal(a.v, b.v)) << "n=" << n;
        EXPECT_TRUE(bits_equal(a.ge, b.ge));
        EXPECT_TRUE(bits_equal(a.gi, b.gi));
        EXPECT_TRUE(bits_equal(a.ring_e, b.ring_e));
        EXPECT_TRUE(bits_equal(a.ring_i, b.ring_i));
        EXPECT_EQ(a.rf, b.rf);
        EXPECT_EQ(a.record, b.record);
        // Split ranges: same states; the per-step spike lists are the halves concatenated.
        EXPECT_TRUE(bits_equal(c.v, b.v));
        EXPECT_EQ(c.record, b.record);
    }
}

// The LIF step's variants fuse nothing (kernels/lif.cpp): the AOT step of every variant and the
// kernel compiled for every variant give the same bits, CUBA and COBA, float and double.
template <class T>
void every_isa_bit_identical(SynapseModel model) {
    const auto spec = small_spec(257, model, 3, 0);
    std::vector<Net<T>> nets;
    for (Isa isa : test_support::isas_here()) {
        TempDir dir;
        ContextOptions o = test_support::quiet_opts();
        o.cache_dir = dir.path();
        o.isa = isa_name(isa);
        Context ctx = make_context(o);
        JITCompiler jit(JITConfig{}, ctx), aot(JITConfig{.enable_jit = false}, ctx);
        auto kj = jit.compile_spike_processing_kernel<T>(spec);
        ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
        auto ka = aot.compile_spike_processing_kernel<T>(spec);
        for (const auto& k : {kj, ka}) {
            Net<T> net(spec, 5);
            net.run(k, 60);
            nets.push_back(std::move(net));
        }
    }
    std::size_t total = 0;
    for (const auto& r : nets[0].record) total += r.size();
    EXPECT_GT(total, 0u) << "the test network should fire";
    for (std::size_t i = 1; i < nets.size(); ++i) {
        EXPECT_TRUE(bits_equal(nets[i].v, nets[0].v)) << "run " << i;
        EXPECT_TRUE(bits_equal(nets[i].ge, nets[0].ge)) << "run " << i;
        EXPECT_TRUE(bits_equal(nets[i].ring_e, nets[0].ring_e)) << "run " << i;
        EXPECT_EQ(nets[i].record, nets[0].record) << "run " << i;
    }
}

TEST(JitSpike, EveryIsaBitIdenticalCuba) { every_isa_bit_identical<float>(SynapseModel::current); }
TEST(JitSpike, EveryIsaBitIdenticalCoba) { every_isa_bit_identical<double>(SynapseModel::conductance); }

TEST(JitSpike, CubaFloatBitIdenticalToAot) { jit_bit_identical<float>(SynapseModel::current, 1, 1); }
TEST(JitSpike, CubaDoubleBitIdenticalToAot) { jit_bit_identical<double>(SynapseModel::current, 1, 1); }
TEST(JitSpike, CobaFloatBitIdenticalToAot) { jit_bit_identical<float>(SynapseModel::conductance, 1, 1); }
TEST(JitSpike, CobaDoubleBitIdenticalToAot) { jit_bit_identical<double>(SynapseModel::conductance, 1, 1); }
TEST(JitSpike, DelayRingsBitIdenticalToAot) {
    jit_bit_identical<float>(SynapseModel::current, 6, 0);
    jit_bit_identical<double>(SynapseModel::conductance, 3, 2);
}
TEST(JitSpike, ParallelLoopsBitIdenticalToAot) { jit_bit_identical<float>(SynapseModel::current, 2, 1, true); }

TEST(JitSpike, FastMathWithinTolerance) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig cfg;
    cfg.enable_fastmath = true;
    JITCompiler jit(cfg, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    auto spec = small_spec(50, SynapseModel::conductance);
    auto kj = jit.compile_spike_processing_kernel<double>(spec);
    ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
    auto ka = aot.compile_spike_processing_kernel<double>(spec);
    Net<double> a(spec, 5), b = a;
    // A few steps only: fast math may move a spike by one step once trajectories drift apart.
    a.run(kj, 5);
    b.run(ka, 5);
    expect_close(a.v, b.v, 1e-12, "v");
    EXPECT_EQ(a.record, b.record);
}

TEST(JitSpike, SourceHasNoIncludesAndBakesConstants) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    auto spec = small_spec(123, SynapseModel::current);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_EQ(k.source().find("#include"), std::string::npos);
    EXPECT_NE(k.source().find("123LL"), std::string::npos);
    EXPECT_TRUE(k.key().empty());
    EXPECT_NE(k.fallback_reason().find("enable_jit"), std::string::npos);
}

