// Reservoir updates (MKLOptimizer::optimize_reservoir_update, reservoir_update_inplace,
// run_reservoir) against a naive long-double reference: dense and CSR, float and double, every
// activation, leak and bias, odd sizes, strided views, threads, NaN, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/reservoir.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "reservoir_support.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using namespace neuroperf::reservoir_test;

namespace {

template <class T>
class ReservoirTyped : public ::testing::Test {};
TYPED_TEST_SUITE(ReservoirTyped, FloatTypes);

TYPED_TEST(ReservoirTyped, DenseAndCsrMatchNaive) {
    using T = TypeParam;
    auto opt = make_opt();
    std::uint64_t seed = 1;
    for (index_t n : {1, 2, 3, 17, 100, 257}) {
        for (index_t d : {1, 5}) {
            auto w = random_reservoir<T>(n, 0.3, seed++);
            auto csr = CsrMatrix<T>::from_dense(w.view());
            auto w_in = random_array<T>({n, d}, seed++);
            auto u = random_array<T>({d}, seed++);
            auto x = random_array<T>({n}, seed++, 0.5);
            auto b = random_array<T>({n}, seed++, 0.2);
            for (Activation f : kActivations) {
                for (T leak : {T(1), T(0.3)}) {
                    for (bool with_bias : {false, true}) {
                        ReservoirOptions<T> o;
                        o.activation = f;
                        o.leak_rate = leak;
                        if (with_bias) o.bias = b.view();
                        std::vector<LD> mag;
                        auto ref = reference_step<T>(x.view(), w_in.view(), w.view(), u.view(), o, &mag);
                        std::string what = std::string("N=") + std::to_string(n) + " D=" + std::to_string(d) + " f=" +
                                           activation_name(f) + " leak=" + std::to_string(leak) + " bias=" + std::to_string(with_bias);
                        auto dense = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
                        expect_close<T>(dense.view(), ref, mag, d, "dense " + what);
                        auto sparse = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
                        expect_close<T>(sparse.view(), ref, mag, d, "csr " + what);
                    }
                }
            }
        }
    }
}

TYPED_TEST(ReservoirTyped, StridedViews) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 37, d = 5;
    auto w_store = random_reservoir<T>(n, 0.5, 11);     // used transposed: no unit stride on columns
    auto w_in_store = random_array<T>({n, 2 * d}, 12);  // every other column
    auto u_store = random_array<T>({3 * d}, 13);        // every third element
    auto x_store = random_array<T>({2 * n}, 14, 0.5);
    auto b_store = random_array<T>({2 * n}, 15, 0.2);
    ArrayView<const T> w = w_store.view().transposed();
    ArrayView<const T> w_in = w_in_store.view().slice(1, 0, 2 * d, 2);
    ArrayView<const T> u = u_store.view().slice(0, 1, 3 * d, 3);
    ArrayView<const T> x = x_store.view().slice(0, 0, 2 * n, 2);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.7);
    o.bias = ArrayView<const T>(b_store.view()).slice(0, 1, 2 * n, 2);
    std::vector<LD> mag;
    auto ref = reference_step<T>(x, w_in, w, u, o, &mag);
    expect_close<T>(opt.optimize_reservoir_update<T>(x, w_in, w, u, o).view(), ref, mag, d, "dense strided");
    auto w_dense = Array<T>::copy_of(w);
    auto csr = CsrMatrix<T>::from_dense(w_dense.view());
    expect_close<T>(opt.optimize_reservoir_update<T>(x, w_in, csr, u, o).view(), ref, mag, d, "csr strided");
    // In place on a strided state.
    auto x_copy = x_store.clone();
    ArrayView<T> xs = x_copy.view().slice(0, 0, 2 * n, 2);
    opt.reservoir_update_inplace<T>(xs, w_in, w, u, o);
    expect_close<T>(ArrayView<const T>(xs), ref, mag, d, "dense strided in place");
    for (index_t i = 0; i < n; ++i) EXPECT_EQ(x_copy(2 * i + 1), x_store(2 * i + 1)) << "untouched gap " << i;
}

TYPED_TEST(ReservoirTyped, InPlaceEqualsReturning) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 257, d = 5;
    auto w = random_reservoir<T>(n, 0.1, 21);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    auto w_in = random_array<T>({n, d}, 22);
    auto u = random_array<T>({d}, 23);
    auto x = random_array<T>({n}, 24, 0.5);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.4);
    for (Activation f : kActivations) {
        o.activation = f;
        auto ret = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
        auto inplace = x.clone();
        opt.reservoir_update_inplace<T>(inplace.view(), w_in.view(), w.view(), u.view(), o);
        for (index_t i = 0; i < n; ++i) ASSERT_EQ(ret(i), inplace(i)) << "dense " << activation_name(f) << " row " << i;
        auto ret_csr = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
        auto inplace_csr = x.clone();
        opt.reservoir_update_inplace<T>(inplace_csr.view(), w_in.view(), csr, u.view(), o);
        for (index_t i = 0; i < n; ++i) ASSERT_EQ(ret_csr(i), inplace_csr(i)) << "csr " << activation_name(f) << " row " << i;
    }
}

TYPED_TEST(ReservoirTyped, SequenceEqualsRepeatedSteps) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 100, d = 5, steps = 20;
    auto w = random_reservoir<T>(n, 0.1, 31);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    auto w_in = random_array<T>({n, d}, 32);
    auto inputs = random_array<T>({steps, d}, 33);
    auto x0 = random_array<T>({n}, 34, 0.5);
    auto b = random_array<T>({n}, 35, 0.2);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.5);
    o.bias = b.view();
    auto states = opt.run_reservoir<T>(x0.view(), w_in.view(), w.view(), inputs.view(), o);
    auto states_csr = opt.run_reservoir<T>(x0.view(), w_in.view(), csr, inputs.view(), o);
    ASSERT_EQ(states.shape(0), steps);
    ASSERT_EQ(states.shape(1), n);
    auto x = x0.clone();
    // The GEMM sums W_in·u in another order than the step: allow a few eps per step (tanh
    // contracts, leak 0.5 keeps errors from growing).
    LD tol = LD(std::numeric_limits<T>::epsilon()) * 64 * (n + d);
    for (index_t t = 0; t < steps; ++t) {
        ArrayView<const T> u_t(inputs.data() + t * d, {d});
        opt.reservoir_update_inplace<T>(x.view(), w_in.view(), w.view(), u_t, o);
        for (index_t i = 0; i < n; ++i) {
            ASSERT_NEAR(double(states(t, i)), double(x(i)), double(tol)) << "dense t=" << t << " i=" << i;
            ASSERT_NEAR(double(states_csr(t, i)), double(x(i)), double(tol)) << "csr t=" << t << " i=" << i;
        }
    }
}

TYPED_TEST(ReservoirTyped, ThreadCountsBitIdentical) {
    using T = TypeParam;
    auto one = make_opt(1), two = make_opt(2);
    const index_t n = 1500, d = 5;  // work ≥ kReservoirParallelWork: the 2-thread run is parallel
    auto w = random_reservoir<T>(n, 0.05, 41);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    ASSERT_GT(kernels::reservoir_threads(double(csr.nnz()) + double(n * d), 2, n), 1);
    auto w_in = random_array<T>({n, d}, 42);
    auto u = random_array<T>({d}, 43);
    auto x = random_array<T>({n}, 44, 0.5);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.9);
    auto a = one.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
    auto b = two.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
    auto c = one.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
    auto e = two.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
    for (index_t i = 0; i < n; ++i) {
        ASSERT_EQ(a(i), b(i)) << "dense row " << i;
        ASSERT_EQ(c(i), e(i)) << "csr row " << i;
    }
    // The sequence: same GEMM (builtin) at both counts, so the states agree bit for bit too.
    auto inputs = random_array<T>({4, d}, 45);
    auto s1 = one.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view(), o);
    auto s2 = two.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view(), o);
    for (index_t i = 0; i < s1.size(); ++i) ASSERT_EQ(s1.data()[i], s2.data()[i]) << "sequence element " << i;
}

TYPED_TEST(ReservoirTyped, NaNPropagates) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 17, d = 5;
    auto w = random_reservoir<T>(n, 0.5, 51);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    auto w_in = random_array<T>({n, d}, 52);
    auto u = random_array<T>({d}, 53);
    auto x = random_array<T>({n}, 54);
    u(2) = std::numeric_limits<T>::quiet_NaN();
    for (Activation f : kActivations) {
        ReservoirOptions<T> o;
        o.activation = f;
        o.leak_rate = T(0.5);
        auto y = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
        auto ys = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
        for (index_t i = 0; i < n; ++i) {
            EXPECT_TRUE(std::isnan(y(i))) << activation_name(f) << " dense row " << i;
            EXPECT_TRUE(std::isnan(ys(i))) << activation_name(f) << " csr row " << i;
        }
    }
    // Inf in the state: tanh saturates rows that see it only through W, NaN never appears from
    // a finite pre-activation.
    auto inputs = random_array<T>({3, d}, 55);
    inputs(1, 0) = std::numeric_limits<T>::quiet_NaN();
    auto states = opt.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view());
    for (index_t i = 0; i < n; ++i) {
        EXPECT_FALSE(std::isnan(states(0, i))) << "before the NaN input, row " << i;
        EXPECT_TRUE(std::isnan(states(1, i))) << "at the NaN input, row " << i;
    }
}

TYPED_TEST(ReservoirTyped, EmptyReservoir) {
    using T = TypeParam;
    auto opt = make_opt();
    Array<T> x({0}), w({0, 0}), w_in({0, 3}), u({3}), inputs({4, 3});
    CsrMatrix<T> csr(0, 0);
    EXPECT_EQ(opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view()).size(), 0);
    EXPECT_EQ(opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view()).size(), 0);
    opt.reservoir_update_inplace<T>(x.view(), w_in.view(), csr, u.view());
    auto s = opt.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view());
    EXPECT_EQ(s.shape(0), 4);
    EXPECT_EQ(s.shape(1), 0);
    // D = 0: no input term, state' = f(W·x).
    Array<T> w_in0({3, 0}), u0({0}), in0({2, 0});
    auto x_r = random_array<T>({3}, 81);
    auto w_r = random_array<T>({3, 3}, 82);
    auto one = opt.optimize_reservoir_update<T>(x_r.view(), w_in0.view(), w_r.view(), u0.view());
    auto seq = opt.run_reservoir<T>(x_r.view(), w_in0.view(), w_r.view(), in0.view());
    for (index_t i = 0; i < 3; ++i) {
        LD z = 0;
        for (index_t j = 0; j < 3; ++j) z += LD(w_r(i, j)) * LD(x_r(j));
        EXPECT_NEAR(double(one(i)), double(std::tanh(z)), 1e-5) << i;
        EXPECT_EQ(seq(0, i), one(i)) << i;
    }
    // No steps: a 0 × N result.
    Array<T> x3({3}), w3({3, 3}), w_in3({3, 3}), none({0, 3});
    auto s0 = opt.run_reservoir<T>(x3.view(), w_in3.view(), w3.view(), none.view());
    EXPECT_EQ(s0.shape(0), 0);
    EXPECT_EQ(s0.shape(1), 3);
}

template <class F>
void expect_error_naming(F&& call, const std::string& arg, bool shape_error) {
    try {
        call();
        ADD_FAILURE() << "no exception for " << arg;
    } catch (const ShapeError& e) {
        EXPECT_TRUE(shape_error) << "ShapeError for " << arg << ": " << e.what();
        EXPECT_NE(std::string(e.what()).find(arg), std::string::npos) << e.what();
    } catch (const ValueError& e) {
        EXPECT_FALSE(shape_error) << "ValueError for " << arg << ": " << e.what();
        EXPECT_NE(std::string(e.what()).find(arg), std::string::npos) << e.what();
    }
}

TYPED_TEST(ReservoirTyped, ErrorsNameTheArgument) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 4, d = 2;
    auto w = random_array<T>({n, n}, 61);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    auto w_in = random_array<T>({n, d}, 62);
    auto u = random_array<T>({d}, 63);
    auto x = random_array<T>({n}, 64);
    auto inputs = random_array<T>({3, d}, 65);
    Array<T> x2({2, 2}), w_bad({n, n + 1}), w_in_bad({n + 1, d}), u_bad({d + 1}), b_bad({n - 1}), in_bad({3, d + 1});
    CsrMatrix<T> csr_bad(n, n + 1);
    auto X = x.view();
    auto upd = [&](ArrayView<const T> xs, ArrayView<const T> wi, ArrayView<const T> ww, ArrayView<const T> uu,
                   ReservoirOptions<T> o = {}) { return opt.optimize_reservoir_update<T>(xs, wi, ww, uu, o); };
    expect_error_naming([&] { upd(x2.view(), w_in.view(), w.view(), u.view()); }, "reservoir_state", true);
    expect_error_naming([&] { upd(X, w_in.view(), w_bad.view(), u.view()); }, "reservoir_weights", true);
    expect_error_naming([&] { opt.optimize_reservoir_update<T>(X, w_in.view(), csr_bad, u.view()); }, "reservoir_weights", true);
    expect_error_naming([&] { upd(X, w_in_bad.view(), w.view(), u.view()); }, "input_weights", true);
    expect_error_naming([&] { upd(X, w_in.view(), w.view(), u_bad.view()); }, "input_spikes", true);
    ReservoirOptions<T> o;
    o.bias = b_bad.view();
    expect_error_naming([&] { upd(X, w_in.view(), w.view(), u.view(), o); }, "options.bias", true);
    for (T leak : {T(0), T(-0.5), T(1.5), std::numeric_limits<T>::quiet_NaN()}) {
        ReservoirOptions<T> ol;
        ol.leak_rate = leak;
        expect_error_naming([&] { upd(X, w_in.view(), w.view(), u.view(), ol); }, "options.leak_rate", false);
        expect_error_naming([&] { opt.run_reservoir<T>(X, w_in.view(), csr, inputs.view(), ol); }, "options.leak_rate", false);
    }
    expect_error_naming([&] { opt.run_reservoir<T>(X, w_in.view(), csr, in_bad.view()); }, "inputs", true);
    expect_error_naming([&] { opt.run_reservoir<T>(x2.view(), w_in.view(), w.view(), inputs.view()); }, "state0", true);
    // Non-finite weights: only with check_finite.
    ReservoirOptions<T> of;
    of.check_finite = true;
    auto w_inf = w.clone();
    w_inf(1, 2) = std::numeric_limits<T>::infinity();
    auto csr_inf = CsrMatrix<T>::from_dense(w_inf.view());
    auto w_in_nan = w_in.clone();
    w_in_nan(0, 1) = std::numeric_limits<T>::quiet_NaN();
    expect_error_naming([&] { upd(X, w_in.view(), w_inf.view(), u.view(), of); }, "reservoir_weights", false);
    expect_error_naming([&] { opt.optimize_reservoir_update<T>(X, w_in.view(), csr_inf, u.view(), of); }, "reservoir_weights", false);
    expect_error_naming([&] { upd(X, w_in_nan.view(), w.view(), u.view(), of); }, "input_weights", false);
    EXPECT_NO_THROW(upd(X, w_in.view(), w_inf.view(), u.view()));
    // In place: the state must not overlap the weights.
    auto big = random_array<T>({n + 1, n}, 66);
    ArrayView<T> state_in_w(big.data() + n, {n});  // row 1 of W
    ArrayView<const T> w_view(big.data(), {n, n});
    expect_error_naming([&] { opt.reservoir_update_inplace<T>(state_in_w, w_in.view(), w_view, u.view()); }, "reservoir_weights", false);
}

TEST(ReservoirActivation, ParseAndName) {
    for (Activation a : kActivations) EXPECT_EQ(parse_activation(activation_name(a)), a);
    try {
        parse_activation("softmax");
        ADD_FAILURE();
    } catch (const ValueError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("softmax"), std::string::npos);
        EXPECT_NE(m.find("sigmoid"), std::string::npos);
    }
}

// Error in units of T's spacing at the reference value.
}  // namespace
