// Helpers of the reservoir tests (test_reservoir.cpp, test_reservoir_isa.cpp): optimizers on
// quiet contexts, random operands, and the naive long-double reference step with its tolerance.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "neuroperf/error.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "test_support.hpp"

namespace neuroperf::reservoir_test {

using test_support::isas_here;
using FloatTypes = ::testing::Types<float, double>;

using LD = long double;

inline MKLOptimizer make_opt(int threads = 1, const std::string& precision = "high", Isa isa = best_isa()) {
    MKLConfig cfg;
    cfg.num_threads = threads;
    cfg.precision_mode = precision;
    cfg.backend = "builtin";  // no calibration in unit tests
    ContextOptions o;
    o.calibrate = false;
    o.num_threads = threads;
    o.isa = isa_name(isa);
    o.log = [](std::string_view) {};
    return MKLOptimizer(cfg, make_context(o));
}

template <class T>
Array<T> random_array(std::initializer_list<index_t> shape, std::uint64_t seed, double scale = 1.0) {
    Array<T> a(shape);
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> dist(0.0, scale);
    for (index_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<T>(dist(rng));
    return a;
}

// Dense N×N with about `density` of the entries non-zero, scaled so W·x stays O(1).
template <class T>
Array<T> random_reservoir(index_t n, double density, std::uint64_t seed) {
    Array<T> w({n, n});
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> keep(0, 1);
    std::normal_distribution<double> dist(0.0, 1.0 / std::sqrt(std::max(1.0, density * double(n))));
    for (index_t i = 0; i < w.size(); ++i) {
        bool k = keep(rng) < density;
        double v = dist(rng);
        w.data()[i] = k ? static_cast<T>(v) : T(0);
    }
    return w;
}

inline LD activate(Activation f, LD z) {
    switch (f) {
        case Activation::tanh: return std::tanh(z);
        case Activation::identity: return z;
        case Activation::relu: return z < 0 ? 0 : z;
        case Activation::sigmoid: return 1 / (1 + std::exp(-z));
    }
    return z;
}

// Naive reference of one step; also returns per row the magnitude Σ|terms| for the tolerance.
template <class T>
std::vector<LD> reference_step(ArrayView<const T> x, ArrayView<const T> w_in, ArrayView<const T> w, ArrayView<const T> u,
                               const ReservoirOptions<T>& o, std::vector<LD>* magnitude = nullptr) {
    index_t n = x.shape(0), d = w_in.shape(1);
    std::vector<LD> out(static_cast<std::size_t>(n));
    if (magnitude) magnitude->assign(static_cast<std::size_t>(n), 0);
    for (index_t i = 0; i < n; ++i) {
        LD z = 0, m = 0;
        for (index_t j = 0; j < d; ++j) z += LD(w_in(i, j)) * LD(u(j)), m += std::fabs(LD(w_in(i, j)) * LD(u(j)));
        for (index_t j = 0; j < n; ++j) z += LD(w(i, j)) * LD(x(j)), m += std::fabs(LD(w(i, j)) * LD(x(j)));
        if (o.bias.data()) z += LD(o.bias(i)), m += std::fabs(LD(o.bias(i)));
        LD a = o.leak_rate;
        out[static_cast<std::size_t>(i)] = a == 1 ? activate(o.activation, z) : (1 - a) * LD(x(i)) + a * activate(o.activation, z);
        if (magnitude) (*magnitude)[static_cast<std::size_t>(i)] = m;
    }
    return out;
}

template <class T>
LD tolerance(index_t n, index_t d, LD magnitude) {
    LD eps = std::numeric_limits<T>::epsilon();
    return eps * (LD(n + d + 4) * magnitude + 4);
}

template <class T>
void expect_close(ArrayView<const T> got, const std::vector<LD>& ref, const std::vector<LD>& mag, index_t d,
                  const std::string& what) {
    index_t n = static_cast<index_t>(ref.size());
    ASSERT_EQ(got.shape(0), n) << what;
    for (index_t i = 0; i < n; ++i) {
        LD r = ref[static_cast<std::size_t>(i)];
        LD tol = tolerance<T>(n, d, mag[static_cast<std::size_t>(i)]);
        ASSERT_LE(std::fabs(LD(got(i)) - r), tol) << what << " row " << i << ": got " << got(i) << ", want " << double(r);
    }
}

const Activation kActivations[] = {Activation::tanh, Activation::identity, Activation::relu, Activation::sigmoid};

}  // namespace neuroperf::reservoir_test
