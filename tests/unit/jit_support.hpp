// Helpers of the JIT tests (test_jit_spike.cpp, test_jit_cache.cpp, test_jit_conv.cpp): a context
// whose log is collected, small LIF specs, a random recurrent network run by a kernel.
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

namespace neuroperf::jit_test {

namespace fs = std::filesystem;

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

inline JITConfig verbose_config() {
    JITConfig c;
    c.verbose = true;
    return c;
}

inline LifSpec small_spec(index_t n, SynapseModel model, std::int32_t max_delay = 1, std::int32_t uniform_delay = 1) {
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
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double rtol, const char* what) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], rtol * (1 + std::abs(double(want[i])))) << what << "[" << i << "]";
}


}  // namespace neuroperf::jit_test
