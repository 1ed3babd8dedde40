// MKLOptimizer façade: config validation, matrix multiply on any layout, backend selection and
// logging, fast math, precision modes, threads and the benchmark report (affinity:
// test_mkl_affinity.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <omp.h>
#include <sched.h>

#include <nlohmann/json.hpp>

#include "mkl_support.hpp"
#include "test_support.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace fs = std::filesystem;
using namespace neuroperf;

using namespace neuroperf::mkl_test;

// ---------------------------------------------------------------- config
TEST(OptimizerConfig, ValidateNamesFieldAndValue) {
    MKLConfig c;
    EXPECT_NO_THROW(c.validate());
    c.num_threads = -3;
    auto m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("num_threads"), std::string::npos) << m;
    EXPECT_NE(m.find("-3"), std::string::npos) << m;
    c = {};
    c.thread_affinity = "sideways";
    m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("thread_affinity"), std::string::npos) << m;
    EXPECT_NE(m.find("sideways"), std::string::npos) << m;
    c = {};
    c.precision_mode = "medium";
    m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("precision_mode"), std::string::npos) << m;
    EXPECT_NE(m.find("medium"), std::string::npos) << m;
    c = {};
    c.backend = "cublas";
    m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("backend"), std::string::npos) << m;
    EXPECT_NE(m.find("cublas"), std::string::npos) << m;
    EXPECT_THROW(MKLOptimizer(c, make_context(quiet_opts())), ValueError);
}

// ---------------------------------------------------------------- matrix multiply
template <class T>
void multiply_suite() {
    auto opt = make_opt();
    std::mt19937 rng(11);
    struct S { index_t m, n, k; };
    for (S s : {S{0, 0, 0}, S{0, 3, 4}, S{3, 0, 4}, S{3, 4, 0}, S{1, 1, 1}, S{5, 7, 3}, S{17, 9, 33}, S{64, 65, 63},
                S{100, 30, 70}})
        for (int t = 0; t < 4; ++t) {
            bool ta = t & 1, tb = t & 2;
            SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k << " ta=" << ta << " tb=" << tb);
            Array<T> a(ta ? std::initializer_list<index_t>{s.k, s.m} : std::initializer_list<index_t>{s.m, s.k});
            Array<T> b(tb ? std::initializer_list<index_t>{s.n, s.k} : std::initializer_list<index_t>{s.k, s.n});
            fill_random<T>(a.view(), rng);
            fill_random<T>(b.view(), rng);
            Array<T> c = opt.template optimize_matrix_multiply<T>(a.view(), b.view(), ta, tb);
            EXPECT_EQ(c.shape(0), s.m);
            EXPECT_EQ(c.shape(1), s.n);
            expect_product<T>(a.view(), b.view(), c.view(), ta, tb);
            // Into an array holding garbage: every element written (zeros when k = 0).
            Array<T> into({s.m, s.n});
            into.fill(std::numeric_limits<T>::quiet_NaN());
            opt.template matrix_multiply_into<T>(a.view(), b.view(), into.view(), ta, tb);
            expect_product<T>(a.view(), b.view(), into.view(), ta, tb);
        }
}
TEST(OptimizerMultiply, ShapesFloat) { multiply_suite<float>(); }
TEST(OptimizerMultiply, ShapesDouble) { multiply_suite<double>(); }

template <class T>
void layouts_suite() {
    auto opt = make_opt();
    std::mt19937 rng(12);
    for (index_t m : {1, 7, 40})
        for (index_t n : {1, 5, 33})
            for (index_t k : {1, 6, 70}) {
                SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k);
                // Strided A: every second column of a wider array.
                Array<T> abig({m, 2 * k});
                fill_random<T>(abig.view(), rng);
                ArrayView<const T> a = ArrayView<const T>(abig.view()).slice(1, 0, 2 * k, 2);
                // Column-major B: transposed view of a C-order n×k array.
                Array<T> bt({n, k});
                fill_random<T>(bt.view(), rng);
                ArrayView<const T> b = ArrayView<const T>(bt.view()).transposed();
                // 1. new array
                Array<T> c = opt.template optimize_matrix_multiply<T>(a, b);
                expect_product<T>(a, b, c.view(), false, false);
                // 2. column-major out
                Array<T> ct({n, m});
                ct.fill(std::numeric_limits<T>::quiet_NaN());
                ArrayView<T> outc = ct.view().transposed();
                opt.template matrix_multiply_into<T>(a, b, outc);
                expect_product<T>(a, b, outc, false, false);
                // 3. fully strided out (both strides != 1), with untouched gaps
                Array<T> big({2 * m, 2 * n});
                big.fill(T(77));
                ArrayView<T> outs = big.view().slice(0, 0, 2 * m, 2).slice(1, 0, 2 * n, 2);
                opt.template matrix_multiply_into<T>(a, b, outs);
                expect_product<T>(a, b, outs, false, false);
                for (index_t i = 0; i < 2 * m; ++i)
                    for (index_t j = 0; j < 2 * n; ++j)
                        if (i % 2 || j % 2) {
                            ASSERT_EQ(big(i, j), T(77)) << i << "," << j;
                        }
                // 4. transposes through strided views
                Array<T> c2 = opt.template optimize_matrix_multiply<T>(b, a, true, true);  // (bᵀ)(aᵀ) = (ab)ᵀ
                expect_product<T>(b, a, c2.view(), true, true);
            }
}
TEST(OptimizerMultiply, LayoutsFloat) { layouts_suite<float>(); }
TEST(OptimizerMultiply, LayoutsDouble) { layouts_suite<double>(); }

TEST(OptimizerMultiply, Errors) {
    auto opt = make_opt();
    Array<double> a({3, 4}), b({5, 2}), b2({4, 2});
    auto m = expect_throw_msg<ShapeError>([&] { opt.optimize_matrix_multiply<double>(a.view(), b.view()); });
    EXPECT_EQ(m.rfind("b", 0), 0u) << m;
    Array<double> out({3, 3});
    m = expect_throw_msg<ShapeError>([&] { opt.matrix_multiply_into<double>(a.view(), b2.view(), out.view()); });
    EXPECT_NE(m.find("out"), std::string::npos) << m;
    // out overlapping a
    Array<double> sq({4, 4});
    m = expect_throw_msg<ValueError>(
        [&] { opt.matrix_multiply_into<double>(sq.view(), sq.view(), sq.view()); });
    EXPECT_NE(m.find("out"), std::string::npos) << m;
    Array<double> big({8, 4});
    ArrayView<const double> top = ArrayView<const double>(big.view()).slice(0, 0, 4);
    m = expect_throw_msg<ValueError>(
        [&] { opt.matrix_multiply_into<double>(top, sq.view(), big.view().slice(0, 2, 6)); });
    // non-overlapping halves of the same buffer are fine
    EXPECT_NO_THROW(opt.matrix_multiply_into<double>(top, sq.view(), big.view().slice(0, 4, 8)));
    // dtype mix
    Array<float> af({3, 4});
    m = expect_throw_msg<ShapeError>(
        [&] { opt.optimize_matrix_multiply(DynView::of(af.view()), DynView::of(b2.view())); });
    EXPECT_NE(m.find("float"), std::string::npos) << m;
    DynArray r = opt.optimize_matrix_multiply(DynView::of(a.view()), DynView::of(b2.view()));
    EXPECT_EQ(r.dtype(), DType::float64);
    EXPECT_EQ(r.layout().shape[0], 3);
    EXPECT_EQ(r.layout().shape[1], 2);
    // rank 1
    Array<double> v({4});
    m = expect_throw_msg<ShapeError>([&] { opt.optimize_matrix_multiply<double>(v.view(), b2.view()); });
    EXPECT_EQ(m.rfind("a", 0), 0u) << m;
    m = expect_throw_msg<ShapeError>([&] { opt.optimize_matrix_multiply<double>(a.view(), v.view()); });
    EXPECT_EQ(m.rfind("b", 0), 0u) << m;
}

// ---------------------------------------------------------------- backend & logging
TEST(OptimizerBackend, ExplicitBackendAndVerboseLog) {
    MKLConfig cfg;
    cfg.backend = "builtin";
    auto opt = make_opt(cfg);
    EXPECT_EQ(opt.backend_for<float>(100, 100, 100), "builtin");
    EXPECT_EQ(opt.backend_for<double>(4, 4, 4), "builtin");

    std::vector<std::string> msgs;
    auto o = quiet_opts();
    o.log = [&](std::string_view s) { msgs.emplace_back(s); };
    MKLConfig vc;
    vc.verbose = true;
    MKLOptimizer vopt(vc, make_context(o));
    Array<float> a({8, 8}), b({8, 8});
    vopt.optimize_matrix_multiply<float>(a.view(), b.view());
    bool found = false;
    for (const auto& s : msgs) found |= s.find("matrix_multiply") != std::string::npos;
    EXPECT_TRUE(found);

    msgs.clear();
    MKLOptimizer qopt(MKLConfig{}, make_context(o));
    qopt.optimize_matrix_multiply<float>(a.view(), b.view());
    for (const auto& s : msgs) EXPECT_EQ(s.find("matrix_multiply"), std::string::npos) << s;
}

// ---------------------------------------------------------------- fast math
TEST(OptimizerFastMath, DenormalsFlushed) {
    Array<float> a({1, 1}), b({1, 1});
    a(0, 0) = 1e-39f;
    b(0, 0) = 1.0f;
    ASSERT_TRUE(std::fpclassify(a(0, 0)) == FP_SUBNORMAL);
    MKLConfig fast;
    fast.enable_fast_math = true;
    MKLConfig ieee;
    ieee.enable_fast_math = false;
    for (const char* be : {"auto", "builtin"}) {
        SCOPED_TRACE(be);
        fast.backend = be;
        ieee.backend = be;
        EXPECT_EQ(make_opt(fast).optimize_matrix_multiply<float>(a.view(), b.view())(0, 0), 0.0f);
        EXPECT_EQ(make_opt(ieee).optimize_matrix_multiply<float>(a.view(), b.view())(0, 0), 1e-39f);
    }
    // The caller's floating-point state is restored afterwards.
    volatile float tiny = 1e-39f;
    volatile float one = 1.0f;
    EXPECT_EQ(tiny * one, 1e-39f);
}

// Fast math is a property of every MKLOptimizer call, not only of the GEMM.
TEST(OptimizerFastMath, AppliesToSpikeAndReservoirKernels) {
    MKLConfig fast;
    fast.enable_fast_math = true;
    fast.num_threads = 1;
    MKLConfig ieee = fast;
    ieee.enable_fast_math = false;
    const float tiny = 1e-39f;  // subnormal
    // Convolution: a one-sample train with a one-tap kernel.
    Array<float> train({1}), tap({1});
    train(0) = tiny;
    tap(0) = 1.0f;
    EXPECT_EQ(make_opt(fast).optimize_spike_convolution<float>(train.view(), tap.view(), "full")(0), 0.0f);
    EXPECT_EQ(make_opt(ieee).optimize_spike_convolution<float>(train.view(), tap.view(), "full")(0), tiny);
    // Batch (event path: one active input whose weight row is subnormal).
    Array<float> w({1, 1});
    w(0, 0) = tiny;
    std::vector<std::vector<std::int32_t>> spikes{{0}};
    EXPECT_EQ(make_opt(fast).optimize_batch_processing<float>(spikes, w.view())(0, 0), 0.0f);
    EXPECT_EQ(make_opt(ieee).optimize_batch_processing<float>(spikes, w.view())(0, 0), tiny);
    // Reservoir step with identity activation: x' = W_in·u = tiny.
    Array<float> x({1}), w_in({1, 1}), w_res({1, 1}), u({1});
    w_in(0, 0) = tiny;
    u(0) = 1.0f;
    ReservoirOptions<float> o;
    o.activation = Activation::identity;
    EXPECT_EQ(make_opt(fast).optimize_reservoir_update<float>(x.view(), w_in.view(), w_res.view(), u.view(), o)(0), 0.0f);
    EXPECT_EQ(make_opt(ieee).optimize_reservoir_update<float>(x.view(), w_in.view(), w_res.view(), u.view(), o)(0), tiny);
}

// ---------------------------------------------------------------- precision modes
namespace {
template <class T>
struct ErrStats {
    long double max_rel = 0;
    T worst_x = 0;
};

template <class T>
std::vector<T> precision_inputs() {
    std::vector<T> xs;
    const int n = 10000;
    for (int i = 0; i <= n; ++i) xs.push_back(static_cast<T>(-10.0 + 20.0 * i / n));
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-10, 10);
    for (int i = 0; i < 2000; ++i) xs.push_back(static_cast<T>(u(rng)));
    for (double e : {0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.3, -0.3, 20.0, -20.0, 80.0, -80.0}) xs.push_back(static_cast<T>(e));
    return xs;
}

// Max relative error of f over xs against a long double reference (finite references only).
template <class T, class F>
ErrStats<T> measure(const Array<T>& y, const std::vector<T>& xs, F ref_fn) {
    ErrStats<T> st;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        long double ref = ref_fn(static_cast<long double>(xs[i]));
        long double got = y.data()[i];
        if (!std::isfinite(static_cast<double>(static_cast<T>(ref)))) continue;
        long double scale = std::max<long double>(std::fabs(ref), std::numeric_limits<T>::min());
        long double rel = std::fabs(got - ref) / scale;
        if (!(rel <= st.max_rel)) {  // NaN also lands here
            st.max_rel = std::isnan(static_cast<double>(rel)) ? std::numeric_limits<long double>::infinity() : rel;
            st.worst_x = xs[i];
        }
    }
    return st;
}

template <class T>
void precision_suite() {
    const auto xs = precision_inputs<T>();
    Array<T> x({static_cast<index_t>(xs.size())});
    for (std::size_t i = 0; i < xs.size(); ++i) x(static_cast<index_t>(i)) = xs[i];
    const long double eps = std::numeric_limits<T>::epsilon();
    const bool is_f = std::is_same_v<T, float>;
    struct Mode { const char* name; long double bound; };
    std::vector<Mode> modes{{"high", 2.0L * eps},
                            {"low", is_f ? 8.0L * eps : 1e-13L},
                            {"ep", is_f ? 1e-3L : 1e-7L}};
    long double high_tanh = 0, high_exp = 0, ep_tanh = 0, ep_exp = 0;
    for (const auto& md : modes) {
        MKLConfig cfg;
        cfg.precision_mode = md.name;
        auto opt = make_opt(cfg);
        auto yt = opt.vector_tanh<T>(x.view());
        auto ye = opt.vector_exp<T>(x.view());
        auto st = measure<T>(yt, xs, [](long double v) { return std::tanh(v); });
        auto se = measure<T>(ye, xs, [](long double v) { return std::exp(v); });
        EXPECT_LE(st.max_rel, md.bound) << md.name << " tanh: max rel error " << static_cast<double>(st.max_rel)
                                        << " (" << static_cast<double>(st.max_rel / eps) << " eps) at x="
                                        << st.worst_x;
        EXPECT_LE(se.max_rel, md.bound) << md.name << " exp: max rel error " << static_cast<double>(se.max_rel)
                                        << " (" << static_cast<double>(se.max_rel / eps) << " eps) at x="
                                        << se.worst_x;
        if (std::string(md.name) == "high") high_tanh = st.max_rel, high_exp = se.max_rel;
        if (std::string(md.name) == "ep") ep_tanh = st.max_rel, ep_exp = se.max_rel;

        // Special values.
        const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
        Array<T> sp({9});
        T vals[9] = {nan, inf, -inf, T(100), T(-100), T(1000), T(-1000), T(0), T(20)};
        for (int i = 0; i < 9; ++i) sp(i) = vals[i];
        auto te = opt.vector_exp<T>(sp.view());
        auto tt = opt.vector_tanh<T>(sp.view());
        EXPECT_TRUE(std::isnan(te(0))) << md.name;
        EXPECT_TRUE(std::isnan(tt(0))) << md.name;
        EXPECT_EQ(te(1), inf) << md.name;
        EXPECT_EQ(te(2), T(0)) << md.name;
        EXPECT_EQ(tt(1), T(1)) << md.name;
        EXPECT_EQ(tt(2), T(-1)) << md.name;
        if (is_f) {
            EXPECT_EQ(te(3), inf) << md.name << " exp(100) float overflows";
        } else {
            EXPECT_NEAR(static_cast<double>(te(3)) / std::exp(100.0), 1.0, static_cast<double>(md.bound)) << md.name;
        }
        if (is_f) {
            EXPECT_TRUE(te(4) >= T(0) && te(4) < T(1e-40)) << md.name << " exp(-100) float is subnormal: " << te(4);
        } else {
            EXPECT_NEAR(static_cast<double>(te(4)) / std::exp(-100.0), 1.0, static_cast<double>(md.bound)) << md.name;
        }
        EXPECT_EQ(te(5), inf) << md.name;
        EXPECT_EQ(te(6), T(0)) << md.name;
        EXPECT_EQ(te(7), T(1)) << md.name;
        EXPECT_EQ(tt(7), T(0)) << md.name;
        EXPECT_EQ(tt(3), T(1)) << md.name;
        EXPECT_EQ(tt(4), T(-1)) << md.name;
        EXPECT_NEAR(static_cast<double>(tt(8)), 1.0, static_cast<double>(md.bound)) << md.name;
    }
    EXPECT_GT(ep_tanh, high_tanh) << "precision_mode=ep does not change tanh";
    EXPECT_GT(ep_exp, high_exp) << "precision_mode=ep does not change exp";
    std::printf("[precision %s] max rel error: high tanh %.3g exp %.3g; ep tanh %.3g exp %.3g\n", is_f ? "float" : "double",
                static_cast<double>(high_tanh), static_cast<double>(high_exp), static_cast<double>(ep_tanh),
                static_cast<double>(ep_exp));
}
}  // namespace

TEST(OptimizerPrecision, ModesFloat) { precision_suite<float>(); }
TEST(OptimizerPrecision, ModesDouble) { precision_suite<double>(); }

// ---------------------------------------------------------------- threads & benchmark
TEST(OptimizerThreads, NumThreadsAndBenchmark) {
    MKLConfig cfg;
    cfg.num_threads = 1;
    auto opt = make_opt(cfg);
    EXPECT_EQ(opt.num_threads(), 1);
    EXPECT_EQ(opt.context().gemm_on<float>("builtin", opt.num_threads()).threads(), 1);
    MKLConfig cfg2;
    cfg2.num_threads = 2;
    auto opt2 = make_opt(cfg2);
    EXPECT_EQ(opt2.num_threads(), 2);

    TempDir dir;
    auto rep = opt.benchmark_performance({8, 16}, 2, dir.path() / "r.json");
    ASSERT_EQ(rep.entries.size(), 4u);
    for (const auto& e : rep.entries) {
        EXPECT_GT(e.optimized_seconds, 0);
        EXPECT_GT(e.baseline_seconds, 0);
        EXPECT_GT(e.speedup, 0);
        EXPECT_FALSE(e.backend.empty());
    }
    EXPECT_EQ(rep.threads, 1);
    auto text = read_file(dir.path() / "r.json");
    ASSERT_TRUE(text.has_value());
    auto j = nlohmann::json::parse(*text);
    ASSERT_TRUE(j.contains("benchmarks"));
    std::set<std::string> names;
    for (const auto& r : j["benchmarks"]) names.insert(r.at("name").get<std::string>());
    EXPECT_TRUE(names.count("sgemm/auto/n=8/threads=1")) << j["benchmarks"].dump();
    EXPECT_TRUE(names.count("dgemm/auto/n=16/threads=1")) << j["benchmarks"].dump();
    EXPECT_THROW(opt.benchmark_performance({8}, 0), ValueError);
    EXPECT_THROW(opt.benchmark_performance({0}, 1), ValueError);
}

