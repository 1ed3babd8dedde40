// The compiled reservoir step's double "high" tanh and sigmoid (without fast math the generated
// step calls the AOT step's activation, vmath.hpp's Grade::high, through its ABI, so a wrong
// pointer or precision code in the arguments shows here) against long-double references over the
// whole range: tiny and subnormal arguments, both sides of the 0.75 switch, the ±20 / ±745
// clamps, ±Inf and NaN. One neuron, W = 0, W_in = 1, leak 1: the step returns f(u).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::TempDir;

namespace {

void check_activation(Activation f) {
    TempDir dir;
    ContextOptions o = test_support::quiet_opts();
    o.cache_dir = dir.path();
    JITCompiler jit(JITConfig{}, make_context(o));
    ReservoirKernelSpec spec;
    spec.num_neurons = 1;
    spec.input_dim = 1;
    spec.activation = f;
    auto k = jit.compile_reservoir_update_kernel<double>(spec);
    ASSERT_TRUE(k.is_compiled()) << k.fallback_reason();
    ASSERT_EQ(k.source().find("tanh("), std::string::npos) << "libm call left in the source";
    Array<double> x({1}), w_in({1, 1}), w({1, 1}), u({1});
    w_in(0, 0) = 1;
    w(0, 0) = 0;
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> args = {0.0, -0.0, 5e-324, -1e-310, 1e-300, 1e-20, 1e-8, 0.01, 0.1, 0.125, 0.5, 0.7499999,
                                0.75, 0.7500001, 1.0, 2.0, 5.0, 10.0, 19.99, 20.0, 20.5, 40.0, 300.0, 700.0, 708.5,
                                745.0, 745.2, 750.0, 1e300, inf};
    for (int i = 0; i < 400; ++i) args.push_back(-30.0 + 0.15 * i + 1e-3 * i * i / 400.0);
    const std::size_t base = args.size();
    for (std::size_t i = 0; i < base; ++i) args.push_back(-args[i]);
    for (double z : args) {
        x(0) = 0.25;
        u(0) = z;
        k(x.view(), w_in.view(), w.view(), u.view());
        long double zl = z, want = f == Activation::tanh ? std::tanh(zl) : 1.0L / (1.0L + std::exp(-zl));
        const double got = x(0);
        // ≤ 3 ulp of the result (the formulas measure 1.1 / 2.3 ulp), at least one subnormal ulp.
        const double tol = std::max(3 * std::abs(static_cast<double>(want)) * 1.1102230246251565e-16, 5e-324);
        ASSERT_NEAR(got, static_cast<double>(want), tol) << activation_name(f) << "(" << z << ")";
    }
    x(0) = 0.25;
    u(0) = std::numeric_limits<double>::quiet_NaN();
    k(x.view(), w_in.view(), w.view(), u.view());
    EXPECT_TRUE(std::isnan(x(0)));
}

}  // namespace

TEST(JitReservoirHigh, TanhOverTheRange) { check_activation(Activation::tanh); }

TEST(JitReservoirHigh, SigmoidOverTheRange) { check_activation(Activation::sigmoid); }
