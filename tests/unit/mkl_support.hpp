// Helpers of the MKLOptimizer tests (test_mkl_optimizer.cpp, test_mkl_affinity.cpp): an optimizer
// on a quiet context, random operands and a naive long-double product check.
#pragma once

#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "neuroperf/mkl_optimizer.hpp"
#include "test_support.hpp"

namespace neuroperf::mkl_test {

using test_support::EnvGuard;
using test_support::expect_throw_msg;
using test_support::quiet_opts;
using test_support::TempDir;

inline MKLOptimizer make_opt(MKLConfig cfg = {}) { return MKLOptimizer(std::move(cfg), make_context(quiet_opts())); }

template <class T>
void fill_random(ArrayView<T> v, std::mt19937& rng) {
    std::uniform_real_distribution<double> u(-1, 1);
    for (index_t i = 0; i < v.shape(0); ++i)
        for (index_t j = 0; j < v.shape(1); ++j) v(i, j) = static_cast<T>(u(rng));
}

// Checks out == op(a)·op(b) elementwise against a naive long double product.
template <class T>
void expect_product(ArrayView<const T> a, ArrayView<const T> b, ArrayView<const T> out, bool ta, bool tb) {
    index_t m = ta ? a.shape(1) : a.shape(0), k = ta ? a.shape(0) : a.shape(1);
    index_t n = tb ? b.shape(0) : b.shape(1);
    ASSERT_EQ(out.shape(0), m);
    ASSERT_EQ(out.shape(1), n);
    const long double eps = std::numeric_limits<T>::epsilon();
    int bad = 0;
    for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
            long double s = 0, sa = 0;
            for (index_t p = 0; p < k; ++p) {
                long double x = ta ? a(p, i) : a(i, p), y = tb ? b(j, p) : b(p, j);
                s += x * y;
                sa += std::fabs(x * y);
            }
            long double got = out(i, j);
            if (!(std::fabs(got - s) <= 4.0L * static_cast<long double>(k + 1) * eps * sa) && ++bad <= 5)
                ADD_FAILURE() << "m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb << " at ("
                              << i << "," << j << "): got " << static_cast<double>(got) << " want "
                              << static_cast<double>(s);
        }
}

}  // namespace neuroperf::mkl_test
