// JIT compiler: the spike processing kernel (AOT against a naive reference and the exact
// solution; compiled bit-identical to AOT), the cache (hits, keys, corrupt/truncated/foreign
// entries, read-only directory, 8 processes × 40 concurrent loads), the fallbacks (no compiler,
// failing compiler, JIT disabled) and optimize_memory_layout.
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
#include "kernels/lif.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::EnvGuard;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

// A context on a private cache directory whose log lines are collected.
struct LoggedContext {
    std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
    std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
    Context ctx;
    explicit LoggedContext(const fs::path& cache) : ctx(make(cache, lines, mu)) {}
    static Context make(const fs::path& cache, std::shared_ptr<std::vector<std::string>> lines, std::shared_ptr<std::mutex> mu) {
        ContextOptions o = test_support::quiet_opts();
        o.cache_dir = cache;
        o.log = [lines, mu](std::string_view m) {
            std::lock_guard lock(*mu);
            lines->emplace_back(m);
        };
        return make_context(o);
    }
    int count(const std::string& needle) const {
        std::lock_guard lock(*mu);
        int n = 0;
        for (const auto& l : *lines) n += l.find(needle) != std::string::npos;
        return n;
    }
    std::string all() const {
        std::lock_guard lock(*mu);
        std::string s;
        for (const auto& l : *lines) s += l + "\n";
        return s;
    }
};

JITConfig verbose_config() {
    JITConfig c;
    c.verbose = true;
    return c;
}

LifSpec small_spec(index_t n, SynapseModel model, std::int32_t max_delay = 1, std::int32_t uniform_delay = 1) {
    LifSpec s;
    s.synapse = model;
    s.num_neurons = n;
    s.exc_count = n * 3 / 4;
    s.max_delay = max_delay;
    s.uniform_delay = uniform_delay;
    s.i_ext = 15;  // drive above threshold so the network fires
    s.refractory = 0.5;
    return s;
}

// A random recurrent network with its state; run() advances it with a kernel.
template <class T>
struct Net {
    LifSpec spec;
    std::vector<T> v, ge, gi, ring_e, ring_i;
    std::vector<std::int32_t> rf, spikes, delays;
    std::vector<std::int64_t> rp;
    std::vector<std::int32_t> col;
    std::vector<T> w;
    std::vector<std::vector<std::int32_t>> record;  // spikes per step

    Net(const LifSpec& s, std::uint64_t seed, double density = 0.3) : spec(s) {
        auto n = static_cast<std::size_t>(s.num_neurons);
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<double> u(0, 1);
        v.resize(n);
        ge.resize(n);
        gi.resize(n);
        rf.resize(n);
        spikes.resize(n);
        for (auto& x : v) x = static_cast<T>(-60 + 12 * u(rng));
        for (auto& x : ge) x = static_cast<T>(u(rng));
        ring_e.assign(n * static_cast<std::size_t>(s.max_delay), T(0));
        ring_i.assign(ring_e.size(), T(0));
        rp.push_back(0);
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < n; ++j)
                if (u(rng) < density) {
                    col.push_back(static_cast<std::int32_t>(j));
                    // COBA conductances are positive (the reversal potential gives the sign).
                    bool exc = static_cast<index_t>(i) < s.excitatory();
                    double x = s.synapse == SynapseModel::conductance ? (exc ? 0.3 : 0.6) * u(rng) : (exc ? 2.0 : -3.0) * u(rng);
                    w.push_back(static_cast<T>(x));
                    delays.push_back(1 + static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(s.max_delay)));
                }
            rp.push_back(static_cast<std::int64_t>(col.size()));
        }
    }
    SpikeStepArgs<T> args(std::int64_t step, std::int64_t b, std::int64_t e) {
        return {v.data(), ge.data(), gi.data(), rf.data(), ring_e.data(), ring_i.data(), spikes.data(), 0,
                rp.data(), col.data(), w.data(), delays.data(), ring_e.data(), ring_i.data(), b, e, step};
    }
    // `split`: update in two halves, then propagate each half's spikes (as a threaded engine would).
    std::int64_t now = 0;  // next step

    template <class K>
    void run(const K& kernel, int steps, bool split = false) {
        for (int q = 0; q < steps; ++q) {
            const std::int64_t t = now++;
            std::vector<std::int32_t> fired;
            if (!split) {
                auto a = args(t, 0, spec.num_neurons);
                kernel(a);
                fired.assign(spikes.begin(), spikes.begin() + a.num_spikes);
            } else {
                // Every update of step t before any propagation of step t: with delay D the
                // slot written, (t + D) mod D, is the slot the update reads.
                std::int64_t mid = spec.num_neurons / 2;
                std::vector<SpikeStepArgs<T>> parts;
                for (auto [b, e] : {std::pair<std::int64_t, std::int64_t>{0, mid}, {mid, spec.num_neurons}}) {
                    parts.push_back(args(t, b, e));
                    parts.back().spikes = spikes.data() + b;
                    kernel.update(parts.back());
                }
                for (auto& a : parts) {
                    kernel.propagate(a);
                    fired.insert(fired.end(), a.spikes, a.spikes + a.num_spikes);
                }
            }
            record.push_back(std::move(fired));
        }
    }
};

template <class T>
bool bits_equal(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Deliberately naive step, written from the equations (constants derived here, in long double).
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

template <class T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double rtol, const char* what) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], rtol * (1 + std::abs(double(want[i])))) << what << "[" << i << "]";
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

// ---------------------------------------------------------------- cache

TEST(JitCache, HitInProcessThenFromDisk) {
    TempDir dir;
    auto spec = small_spec(33, SynapseModel::current);
    std::string key;
    {
        LoggedContext lc(dir.path());
        JITCompiler jit(verbose_config(), lc.ctx);
        auto k1 = jit.compile_spike_processing_kernel<float>(spec);
        ASSERT_TRUE(k1.is_compiled()) << k1.fallback_reason();
        auto k2 = jit.compile_spike_processing_kernel<float>(spec);
        EXPECT_EQ(k1.key(), k2.key());
        EXPECT_EQ(lc.count("compiled spike_processing"), 1) << lc.all();
        EXPECT_EQ(lc.count("loaded"), 0);
        key = k1.key();
        EXPECT_EQ(key.size(), 32u);
        EXPECT_NE(k1.source().find(key), std::string::npos) << "the source records its key";
    }
    EXPECT_TRUE(fs::exists(dir.path() / "jit" / (key + ".so")));
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_TRUE(k.is_compiled());
    EXPECT_EQ(k.key(), key);
    EXPECT_EQ(lc.count("loaded spike_processing"), 1) << lc.all();
    EXPECT_EQ(lc.count("compiled"), 0) << lc.all();

    auto entries = jit_cache_entries(dir.path() / "jit");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].key, key);
    EXPECT_EQ(entries[0].kernel, "spike_processing");
    EXPECT_TRUE(entries[0].valid);
    EXPECT_EQ(clear_jit_cache(dir.path() / "jit"), 1);
    EXPECT_TRUE(jit_cache_entries(dir.path() / "jit").empty());
}

TEST(JitCache, KeysChangeWithEveryInput) {
    TempDir dir;
    LoggedContext lc(dir.path());
    auto spec = small_spec(16, SynapseModel::current);
    auto key_with = [&](JITConfig cfg, const LifSpec& s) {
        JITCompiler jit(cfg, lc.ctx);
        auto k = jit.compile_spike_processing_kernel<float>(s);
        EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
        return k.key();
    };
    JITConfig base;
    std::string k0 = key_with(base, spec);
    JITConfig fm = base;
    fm.enable_fastmath = true;
    JITConfig par = base;
    par.enable_parallel_loops = true;
    LifSpec s2 = spec;
    s2.tau_m = 20.000000001;
    EXPECT_NE(k0, key_with(fm, spec));
    EXPECT_NE(k0, key_with(par, spec));
    EXPECT_NE(k0, key_with(base, s2));
    {
        JITCompiler jit(base, lc.ctx);
        EXPECT_NE(k0, jit.compile_spike_processing_kernel<double>(spec).key());
    }
    // Compiler, flags and CPU: the key function itself.
    jit::Toolchain a;
    a.identity = "clang++|14";
    jit::Toolchain b = a;
    b.identity = "g++|12";
    std::vector<std::string> flags{"-O3"};
    auto ka = jit::cache_key("body", a, flags, "cpu-avx512");
    EXPECT_NE(ka, jit::cache_key("body", b, flags, "cpu-avx512"));
    EXPECT_NE(ka, jit::cache_key("body", a, {"-O2"}, "cpu-avx512"));
    EXPECT_NE(ka, jit::cache_key("body", a, flags, "cpu-avx2"));
    EXPECT_NE(ka, jit::cache_key("body2", a, flags, "cpu-avx512"));
    EXPECT_EQ(ka, jit::cache_key("body", a, flags, "cpu-avx512"));
    // A different compiler in the environment gives a different key.
    if (!find_program("g++").empty() && !find_program("clang++").empty()) {
        EnvGuard cxx("NEUROPERF_CXX");
        cxx.set("g++");
        LoggedContext other(dir.path());
        JITCompiler jit(base, other.ctx);
        auto k = jit.compile_spike_processing_kernel<float>(spec);
        EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
        EXPECT_NE(k.key(), k0);
    }
}

namespace {

// Compiles once in a fresh context, damages the cache entry with `damage`, and checks that a
// new context rebuilds it (log says why) and still gets a compiled kernel.
void check_rebuilt(const std::function<void(const fs::path& so, const fs::path& rec)>& damage, const std::string& why) {
    TempDir dir;
    auto spec = small_spec(9, SynapseModel::current);
    std::string key;
    {
        LoggedContext lc(dir.path());
        key = JITCompiler(verbose_config(), lc.ctx).compile_spike_processing_kernel<float>(spec).key();
        ASSERT_EQ(key.size(), 32u) << lc.all();
    }
    auto so = dir.path() / "jit" / (key + ".so"), rec = dir.path() / "jit" / (key + ".rec");
    damage(so, rec);
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(lc.count("rebuilding"), 1) << lc.all();
    EXPECT_NE(lc.all().find(why), std::string::npos) << lc.all();
    EXPECT_EQ(lc.count("compiled spike_processing"), 1) << lc.all();
    struct stat st{};
    ASSERT_EQ(::stat(so.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::geteuid());
    // And the rebuilt kernel computes what the AOT kernel does.
    Net<float> a(spec, 3), b = a;
    a.run(k, 30);
    b.run(JITCompiler(JITConfig{.enable_jit = false}, lc.ctx).compile_spike_processing_kernel<float>(spec), 30);
    EXPECT_TRUE(bits_equal(a.v, b.v));
}

void overwrite(const fs::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

}  // namespace

TEST(JitCache, TruncatedLibraryRebuilt) {
    check_rebuilt([](const fs::path& so, const fs::path&) { fs::resize_file(so, fs::file_size(so) / 2); }, "truncated");
}
TEST(JitCache, CorruptLibraryRebuilt) {
    check_rebuilt([](const fs::path& so, const fs::path&) {
        std::string text = read_file(so).value();
        std::vector<char> bytes(text.begin(), text.end());
        for (std::size_t i = 64; i < bytes.size(); i += 97) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
        overwrite(so, std::string(bytes.begin(), bytes.end()));
    }, "checksum");
}
TEST(JitCache, CorruptRecordRebuilt) {
    check_rebuilt([](const fs::path&, const fs::path& rec) { overwrite(rec, "garbage\n"); }, "damaged");
}
TEST(JitCache, MissingRecordRebuilt) {
    check_rebuilt([](const fs::path&, const fs::path& rec) { fs::remove(rec); }, ".rec");
}
TEST(JitCache, GroupWritableEntryNotLoaded) {
    check_rebuilt([](const fs::path& so, const fs::path&) { ::chmod(so.c_str(), 0775); }, "writable by group or others");
}
TEST(JitCache, OtherUsersEntryNeverLoaded) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
    check_rebuilt([](const fs::path& so, const fs::path& rec) {
        ASSERT_EQ(::chown(so.c_str(), 65534, 65534), 0);
        ASSERT_EQ(::chown(rec.c_str(), 65534, 65534), 0);
    }, "belongs to another user");
}

TEST(JitCache, UnwritableCacheDirUsesPrivateTempDir) {
    TempDir dir;
    // A cache "directory" below a regular file can never be created (even by root).
    overwrite(dir.path() / "file", "x");
    LoggedContext lc(dir.path() / "file" / "cache");
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(small_spec(5, SynapseModel::current));
    EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(lc.count("private temporary directory"), 1) << lc.all();
    auto d = jit.cache_directory();
    EXPECT_NE(d.string().find("neuroperf-jit-"), std::string::npos) << d;
}

TEST(JitCache, ReadOnlyCacheDir) {
    TempDir dir;
    auto spec = small_spec(6, SynapseModel::current);
    {
        LoggedContext lc(dir.path());
        ASSERT_TRUE(JITCompiler(verbose_config(), lc.ctx).compile_spike_processing_kernel<float>(spec).is_compiled());
    }
    ::chmod((dir.path() / "jit").c_str(), 0555);
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    // The existing entry still loads from the read-only directory; a new kernel compiles
    // somewhere writable (a private directory unless we are root, who may write anyway).
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(spec).is_compiled());
    EXPECT_EQ(lc.count("loaded spike_processing"), 1) << lc.all();
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(7, SynapseModel::current)).is_compiled()) << lc.all();
    if (::geteuid() != 0) {
        EXPECT_EQ(lc.count("private temporary directory"), 1) << lc.all();
    }
    ::chmod((dir.path() / "jit").c_str(), 0755);
}

TEST(JitCache, CacheOffCompilesPrivately) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig cfg = verbose_config();
    cfg.cache_compiled_functions = false;
    JITCompiler jit(cfg, lc.ctx);
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(5, SynapseModel::current)).is_compiled());
    EXPECT_TRUE(jit_cache_entries(dir.path() / "jit").empty());
}

// ---------------------------------------------------------------- fallbacks

namespace {
void check_fallback(const std::string& why) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx);  // not verbose: the warning must still be given
    auto spec = small_spec(20, SynapseModel::conductance);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    auto k2 = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_FALSE(k.is_compiled());
    EXPECT_NE(k.fallback_reason().find(why), std::string::npos) << k.fallback_reason();
    EXPECT_EQ(lc.count("warning: jit"), 1) << lc.all();
    EXPECT_FALSE(k.source().empty());
    Net<float> a(spec, 1), b = a;
    a.run(k2, 20);
    b.run(JITCompiler(JITConfig{.enable_jit = false}, lc.ctx).compile_spike_processing_kernel<float>(spec), 20);
    EXPECT_TRUE(bits_equal(a.v, b.v));
}
}  // namespace

TEST(JitFallback, NoCompilerOnPath) {
    EnvGuard path("PATH"), cxx("NEUROPERF_CXX");
    path.set("");
    cxx.unset();
    check_fallback("no C++ compiler");
}
TEST(JitFallback, CompilerThatFails) {
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set("/bin/false");
    check_fallback("--version failed");
}
TEST(JitFallback, CompileError) {
    // A "compiler" that answers --version but fails to compile.
    TempDir dir;
    auto script = dir.path() / "badcxx";
    overwrite(script, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bad compiler 1.0'; exit 0; fi\necho 'error: no' >&2\nexit 3\n");
    ::chmod(script.c_str(), 0755);
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set(script.string());
    check_fallback("exit status 3");
}
TEST(JitFallback, MissingNamedCompiler) {
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set("/nonexistent/clang++");
    check_fallback("NEUROPERF_CXX");
}

// ---------------------------------------------------------------- concurrency across processes

// Child side of ManyProcessesLoadOneKey: 40 loads, each in a new context (so through the disk
// cache, not the in-process registry); exit status = number of failures.
TEST(JitChild, FortyLoads) {
    const char* dir = std::getenv("NEUROPERF_JIT_CHILD_DIR");
    if (!dir) GTEST_SKIP() << "helper of JitCache.ManyProcessesLoadOneKey";
    auto spec = small_spec(40, SynapseModel::current);
    int failures = 0;
    for (int i = 0; i < 40; ++i) {
        ContextOptions o = test_support::quiet_opts();
        o.cache_dir = dir;
        JITCompiler jit(JITConfig{}, make_context(o));
        auto k = jit.compile_spike_processing_kernel<float>(spec);
        Net<float> a(spec, 2);
        a.run(k, 3);
        if (!k.is_compiled() || !std::isfinite(a.v[0])) ++failures;
    }
    EXPECT_EQ(failures, 0);
}

TEST(JitCache, ManyProcessesLoadOneKey) {
    TempDir dir;
    EnvGuard child("NEUROPERF_JIT_CHILD_DIR");
    child.set(dir.path().string());
    // Start all 8 before waiting on any: they race for the first compile.
    std::vector<std::thread> threads;
    std::vector<ProcessResult> results(8);
    for (int p = 0; p < 8; ++p)
        threads.emplace_back([&, p] {
            results[static_cast<std::size_t>(p)] = run_process(
                {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=JitChild.FortyLoads"},
                {.stdout_file = dir.path() / fmt::format("child{}.log", p), .stderr_to_stdout = true});
        });
    for (auto& t : threads) t.join();
    for (int p = 0; p < 8; ++p) {
        EXPECT_TRUE(results[static_cast<std::size_t>(p)].started);
        EXPECT_EQ(results[static_cast<std::size_t>(p)].exit_code, 0)
            << read_file(dir.path() / fmt::format("child{}.log", p)).value_or("");
    }
    auto entries = jit_cache_entries(dir.path() / "jit");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_TRUE(entries[0].valid);
}

// ---------------------------------------------------------------- memory layout

TEST(JitLayout, RowColumnBlocked) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    for (auto [r, c] : {std::pair<index_t, index_t>{0, 0}, {1, 1}, {3, 5}, {65, 130}}) {
        Array<double> a({r, c});
        for (index_t i = 0; i < r * c; ++i) a.data()[i] = static_cast<double>(i) + 0.5;
        auto row = jit.optimize_memory_layout<double>(a.view(), "row_major");
        EXPECT_FALSE(row.copied);
        EXPECT_EQ(row.view.data(), a.data());
        auto col = jit.optimize_memory_layout<double>(a.view(), "column_major");
        EXPECT_EQ(col.view.shape(0), r);
        EXPECT_EQ(col.view.stride(0), 1);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(col.view.data()) % 64, 0u);
        auto blk = jit.optimize_memory_layout<double>(a.view(), "blocked");
        index_t tc = (c + 63) / 64;
        for (index_t i = 0; i < r; ++i)
            for (index_t j = 0; j < c; ++j) {
                ASSERT_EQ(col.view(i, j), a(i, j));
                ASSERT_EQ(blk.view.data()[((i / 64) * tc + j / 64) * 4096 + (i % 64) * 64 + j % 64], a(i, j));
            }
        // Already column-major: no copy.
        auto again = jit.optimize_memory_layout<double>(col.view, "column_major");
        EXPECT_FALSE(again.copied);
        auto back = jit.optimize_memory_layout<double>(col.view, "row_major");
        if (r > 1 && c > 1) {
            EXPECT_TRUE(back.copied);
        }
        for (index_t i = 0; i < r; ++i)
            for (index_t j = 0; j < c; ++j) ASSERT_EQ(back.view(i, j), a(i, j));
    }
    Array<float> a({2, 2});
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.optimize_memory_layout<float>(a.view(), "diagonal"); });
    Array<float> r3({2, 2, 2});
    test_support::expect_throw_msg<ShapeError>([&] { (void)jit.optimize_memory_layout<float>(r3.view(), "row_major"); });
}


// ---------------------------------------------------------------- convolution

namespace {

// numpy.convolve(x, h, mode) written from its definition, in long double.
std::vector<long double> naive_convolve(const std::vector<double>& x, const std::vector<double>& h, const std::string& mode) {
    const std::size_t n = x.size(), k = h.size();
    std::vector<long double> full(n + k - 1, 0.0L);
    for (std::size_t p = 0; p < n; ++p)
        for (std::size_t q = 0; q < k; ++q) full[p + q] += static_cast<long double>(x[p]) * h[q];
    const std::size_t m = std::min(n, k), big = std::max(n, k);
    std::size_t start = 0, len = n + k - 1;
    if (mode == "same") start = (m - 1) / 2, len = big;
    if (mode == "valid") start = m - 1, len = big - m + 1;
    return {full.begin() + static_cast<std::ptrdiff_t>(start), full.begin() + static_cast<std::ptrdiff_t>(start + len)};
}

template <class T>
void conv_case(const JITCompiler& jit, const JITCompiler& aot, std::int64_t n, std::int64_t k, const std::string& mode,
               bool compile) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(n * 1000 + k));
    std::normal_distribution<double> d;
    std::vector<double> xd(static_cast<std::size_t>(n)), hd(static_cast<std::size_t>(k));
    for (auto& v : xd) v = static_cast<T>(d(rng));
    for (auto& v : hd) v = static_cast<T>(d(rng));
    Array<T> x({n}), h({k});
    for (std::int64_t i = 0; i < n; ++i) x(i) = static_cast<T>(xd[static_cast<std::size_t>(i)]);
    for (std::int64_t i = 0; i < k; ++i) h(i) = static_cast<T>(hd[static_cast<std::size_t>(i)]);
    auto want = naive_convolve(xd, hd, mode);
    auto ka = aot.compile_convolution_kernel<T>(h.view(), n, mode);
    ASSERT_EQ(ka.output_length(), static_cast<index_t>(want.size()));
    Array<T> ya = ka(x.view());
    const double eps = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
    for (std::size_t j = 0; j < want.size(); ++j)
        ASSERT_NEAR(ya(static_cast<index_t>(j)), static_cast<double>(want[j]), 4 * eps * static_cast<double>(std::min(n, k)) * (1 + std::abs(static_cast<double>(want[j]))))
            << "n=" << n << " k=" << k << " mode=" << mode << " j=" << j;
    if (!compile) return;
    auto kj = jit.compile_convolution_kernel<T>(h.view(), n, mode);
    ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
    Array<T> yj = kj(x.view());
    ASSERT_EQ(yj.size(), ya.size());
    EXPECT_EQ(std::memcmp(yj.data(), ya.data(), static_cast<std::size_t>(ya.size()) * sizeof(T)), 0)
        << "n=" << n << " k=" << k << " mode=" << mode;
}

}  // namespace

TEST(JitConvolution, AotMatchesNumpyAndJitIsBitIdentical) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    for (const char* mode : {"full", "same", "valid"}) {
        for (std::int64_t n : {1, 2, 3, 7, 64, 97})
            for (std::int64_t k : {1, 2, 3, 5, 31, 200}) conv_case<double>(jit, aot, n, k, mode, false);
        for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 2}, {2, 3}, {97, 31}, {1000, 17}, {50, 200}}) {
            conv_case<float>(jit, aot, n, k, mode, true);
        }
        conv_case<double>(jit, aot, 333, 7, mode, true);
        // The register-tiled strict kernel: whole 8-vector blocks, single vectors and edges,
        // up to its 16-tap limit ({1000, 17} above: just past it, the looped kernel).
        conv_case<float>(jit, aot, 1000, 16, mode, true);
        conv_case<float>(jit, aot, 515, 15, mode, true);
        conv_case<double>(jit, aot, 700, 16, mode, true);
        conv_case<double>(jit, aot, 700, 13, mode, true);
        conv_case<float>(jit, aot, 2001, 1, mode, true);
    }
}

// The strict tiled kernel's FMA builtins with each compiler present: both compile them and both
// give the AOT bits.
TEST(JitConvolution, StrictTiledBothCompilers) {
    const int compilers = test_support::for_each_jit_compiler([](const std::string&) {
        TempDir dir;
        LoggedContext lc(dir.path());
        JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
        conv_case<float>(jit, aot, 300, 12, "same", true);
        conv_case<double>(jit, aot, 300, 12, "same", true);
    });
    if (compilers == 0) GTEST_SKIP() << "neither g++ nor clang++ on PATH";
}

// Non-finite samples through the strict kernels: NaN and ±Inf reach the outputs whose window
// holds them, as in the AOT kernel (bit for bit elsewhere, NaN where it has NaN).
TEST(JitConvolution, StrictNonFiniteAsAot) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    for (std::int64_t k : {9, 40}) {
        const std::int64_t n = 700;
        Array<float> x({n}), h({k});
        for (std::int64_t i = 0; i < n; ++i) x(i) = std::cos(0.11f * static_cast<float>(i));
        for (std::int64_t i = 0; i < k; ++i) h(i) = std::exp(-0.05f * static_cast<float>(i));
        x(150) = std::numeric_limits<float>::quiet_NaN();
        x(400) = std::numeric_limits<float>::infinity();
        x(402) = -std::numeric_limits<float>::infinity();
        auto kj = jit.compile_convolution_kernel<float>(h.view(), n, "full");
        ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
        EXPECT_EQ(kj.source().find("register-tiled") != std::string::npos, jit::conv_tiled(k, false, jit::aot_uses_fma()));
        auto ka = aot.compile_convolution_kernel<float>(h.view(), n, "full");
        Array<float> yj = kj(x.view()), ya = ka(x.view());
        ASSERT_EQ(yj.size(), ya.size());
        std::int64_t nans = 0;
        for (index_t j = 0; j < ya.size(); ++j) {
            ASSERT_EQ(std::isnan(yj(j)), std::isnan(ya(j))) << "k=" << k << " j=" << j;
            if (std::isnan(ya(j))) ++nans;
            else ASSERT_EQ(std::memcmp(&yj(j), &ya(j), sizeof(float)), 0) << "k=" << k << " j=" << j << ": " << yj(j) << " vs " << ya(j);
        }
        EXPECT_GE(nans, k) << "the NaN's window, and Inf − Inf where both infinities meet";
    }
}

TEST(JitConvolution, FastMathWithinToleranceAndNaN) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig fm;
    fm.enable_fastmath = true;
    JITCompiler jit(fm, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    const std::int64_t n = 500, k = 40;
    Array<float> x({2, n}), h({k});
    for (std::int64_t i = 0; i < 2 * n; ++i) x.data()[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::int64_t i = 0; i < k; ++i) h(i) = std::exp(-0.1f * static_cast<float>(i));
    x(1, 250) = std::numeric_limits<float>::quiet_NaN();
    auto kj = jit.compile_convolution_kernel<float>(h.view(), n, "same");
    ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
    auto ka = aot.compile_convolution_kernel<float>(h.view(), n, "same");
    Array<float> yj = kj(x.view()), ya = ka(x.view());
    ASSERT_EQ(yj.shape(0), 2);
    for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t j = 0; j < n; ++j) {
            float a = ya(c, j), b = yj(c, j);
            ASSERT_EQ(std::isnan(a), std::isnan(b)) << c << "," << j;
            if (!std::isnan(a)) {
                ASSERT_NEAR(a, b, 1e-5f * 10) << c << "," << j;
            }
        }
    // Strided input (every other sample) gives the same as the contiguous copy.
    Array<float> wide({2 * n});
    for (std::int64_t i = 0; i < n; ++i) wide(2 * i) = x(0, i);
    auto strided = kj(wide.view().slice(0, 0, 2 * n, 2));
    for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(strided(j), yj(0, j));
}

TEST(JitConvolution, BadArguments) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    Array<double> h({3});
    EXPECT_NE(test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 10, "middle"); }).find("mode"), std::string::npos);
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 0, "full"); });
    Array<double> empty({0});
    test_support::expect_throw_msg<ShapeError>([&] { (void)jit.compile_convolution_kernel<double>(empty.view(), 5, "full"); });
    h(1) = std::numeric_limits<double>::infinity();
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 5, "full"); });
    h(1) = 0;
    auto k = jit.compile_convolution_kernel<double>(h.view(), 5, "full");
    Array<double> x({4});
    auto msg = test_support::expect_throw_msg<ShapeError>([&] { (void)k(x.view()); });
    EXPECT_NE(msg.find("(5)"), std::string::npos) << msg;
}

TEST(JitCompilerApi, BenchmarkRows) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx);
    auto rows = jit.benchmark_jit_performance({10}, 1);
    std::vector<std::string> names;
    for (const auto& r : rows) {
        names.push_back(r.name);
        EXPECT_GT(r.seconds, 0) << r.name;
    }
    for (const char* want : {"compile/spike_processing/cold/N=10", "load/spike_processing/warm_disk/N=10",
                             "load/spike_processing/warm_memory/N=10", "spike_processing/jit/N=10", "spike_processing/aot/N=10"})
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.benchmark_jit_performance({0}, 1); });
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.benchmark_jit_performance({10}, 0); });
}

TEST(JitCache, GroupWritableUmaskStillPersistent) {
    TempDir dir;
    mode_t old = ::umask(002);
    {
        LoggedContext lc(dir.path() / "cache");
        JITCompiler jit(verbose_config(), lc.ctx);
        EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(4, SynapseModel::current)).is_compiled());
        EXPECT_EQ(jit.cache_directory(), dir.path() / "cache" / "jit") << lc.all();
    }
    ::umask(old);
    EXPECT_EQ(jit_cache_entries(dir.path() / "cache" / "jit").size(), 1u);
}
