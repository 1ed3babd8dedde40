// Helpers of the convolution tests (test_convolution.cpp, test_convolution_paths.cpp): optimizers
// on quiet contexts, a naive long-double numpy.convolve, random trains and taps, tolerances.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <array>

#include "kernels/convolution.hpp"
#include "test_support.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/mkl_optimizer.hpp"



namespace neuroperf::conv_test {

inline MKLOptimizer make_opt(int threads, Isa isa = best_isa()) {
    ContextOptions o;
    o.calibrate = false;
    o.isa = isa_name(isa);
    o.log = [](std::string_view) {};
    MKLConfig cfg;
    cfg.num_threads = threads;
    return MKLOptimizer(cfg, make_context(std::move(o)));
}

// numpy.convolve written from its definition: the shorter operand slides over the longer one.
inline std::vector<long double> naive(const std::vector<long double>& a0, const std::vector<long double>& v0,
                               const std::string& mode) {
    auto a = a0, v = v0;
    if (v.size() > a.size()) std::swap(a, v);
    long n = static_cast<long>(a.size()), m = static_cast<long>(v.size());
    std::vector<long double> full(static_cast<std::size_t>(n + m - 1), 0.0L);
    for (long t = 0; t < n + m - 1; ++t)
        for (long i = 0; i < m; ++i)
            if (t - i >= 0 && t - i < n) full[static_cast<std::size_t>(t)] += v[static_cast<std::size_t>(i)] * a[static_cast<std::size_t>(t - i)];
    if (mode == "full") return full;
    long start = mode == "same" ? (m - 1) / 2 : m - 1;
    long len = mode == "same" ? n : n - m + 1;
    return {full.begin() + start, full.begin() + start + len};
}

template <class T>
std::vector<long double> widen(const std::vector<T>& v) {
    return {v.begin(), v.end()};
}

template <class T>
std::vector<T> spikes(long n, double p, std::uint64_t seed, bool real_valued = false) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> nd;
    std::vector<T> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = u(rng) < p ? static_cast<T>(real_valued ? nd(rng) : 1.0) : T(0);
    return x;
}

template <class T>
std::vector<T> random_taps(long k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd;
    std::vector<T> h(static_cast<std::size_t>(k));
    for (auto& v : h) v = static_cast<T>(nd(rng));
    return h;
}

// |error| bound: a few ulps per multiply-add of the window (direct, event, iir) or of the whole
// transform (fft: error spreads over n + k samples).
template <class T>
double tolerance(long n, long kk, double max_x, double max_h, const std::string& algo) {
    double eps = std::numeric_limits<T>::epsilon();
    double terms = algo == "fft" ? static_cast<double>(n + kk) : static_cast<double>(kk);
    return 8 * eps * (terms + 32) * max_x * max_h + std::numeric_limits<T>::min();
}

inline double max_abs(const std::vector<long double>& v) {
    long double m = 0;
    for (auto x : v) m = std::max(m, std::fabs(x));
    return static_cast<double>(m);
}

const std::vector<std::string> kModes{"full", "same", "valid"};
const std::vector<std::string> kTapAlgos{"direct", "event", "fft", "auto"};

}  // namespace neuroperf::conv_test
