// Spike convolution: every algorithm and mode against a naive long-double numpy.convolve, hard-coded
// numpy outputs, 2-D inputs, the exact recursive filter of the families, NaN, the cost model's
// choices, errors.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <array>

#include "kernels/convolution.hpp"
#include "conv_support.hpp"
#include "test_support.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/mkl_optimizer.hpp"

using namespace neuroperf;
namespace k = neuroperf::kernels;

using namespace neuroperf::conv_test;

namespace {

template <class T>
class ConvolutionTyped : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ConvolutionTyped, Types);

// ------------------------------------------------------------------ hard-coded numpy outputs
struct NumpyCase {
    std::vector<double> x, h;
    std::string mode;
    std::vector<double> expected;
};

TYPED_TEST(ConvolutionTyped, MatchesNumpyOutputs) {
    using T = TypeParam;
    // numpy 2.4.6: numpy.convolve(x, h, mode).tolist()
    std::vector<NumpyCase> cases{
        {{1, 2, 3, 4, 5}, {1, 0.5, 0.25}, "full", {1.0, 2.5, 4.25, 6.0, 7.75, 3.5, 1.25}},
        {{1, 2, 3, 4, 5}, {1, 0.5, 0.25}, "same", {2.5, 4.25, 6.0, 7.75, 3.5}},
        {{1, 2, 3, 4, 5}, {1, 0.5, 0.25}, "valid", {4.25, 6.0, 7.75}},
        {{1, 2, 3}, {1, 2, 3, 4, 5, 6}, "full", {1, 4, 10, 16, 22, 28, 27, 18}},
        {{1, 2, 3}, {1, 2, 3, 4, 5, 6}, "same", {4, 10, 16, 22, 28, 27}},
        {{1, 2, 3}, {1, 2, 3, 4, 5, 6}, "valid", {10, 16, 22, 28}},
        {{2}, {3}, "full", {6}},
        {{2}, {3}, "same", {6}},
        {{2}, {3}, "valid", {6}},
        {{1, -1, 2, 0}, {0.5, 2}, "full", {0.5, 1.5, -1.0, 4.0, 0.0}},
        {{1, -1, 2, 0}, {0.5, 2}, "same", {0.5, 1.5, -1.0, 4.0}},
        {{1, -1, 2, 0}, {0.5, 2}, "valid", {1.5, -1.0, 4.0}},
        {{0, 1, 0, 0, 2, 0, 1}, {1, 2, 3, 4}, "full", {0, 1, 2, 3, 6, 4, 7, 10, 3, 4}},
        {{0, 1, 0, 0, 2, 0, 1}, {1, 2, 3, 4}, "same", {1, 2, 3, 6, 4, 7, 10}},
        {{0, 1, 0, 0, 2, 0, 1}, {1, 2, 3, 4}, "valid", {3, 6, 4, 7}},
    };
    auto opt = make_opt(1);
    for (const auto& c : cases) {
        std::vector<T> x(c.x.begin(), c.x.end()), h(c.h.begin(), c.h.end());
        ArrayView<const T> xv(x.data(), {static_cast<index_t>(x.size())});
        ArrayView<const T> hv(h.data(), {static_cast<index_t>(h.size())});
        for (const auto& algo : kTapAlgos) {
            ConvolutionOptions o;
            o.algorithm = algo;
            auto y = opt.optimize_spike_convolution<T>(xv, hv, c.mode, o);
            ASSERT_EQ(y.rank(), 1);
            ASSERT_EQ(y.shape(0), static_cast<index_t>(c.expected.size())) << c.mode << " " << algo;
            for (std::size_t j = 0; j < c.expected.size(); ++j)
                EXPECT_NEAR(static_cast<double>(y(static_cast<index_t>(j))), c.expected[j], 1e-5)
                    << c.mode << " " << algo << " j=" << j;
        }
    }
}

// ------------------------------------------------------------------ every algorithm, mode, length
TYPED_TEST(ConvolutionTyped, AllAlgorithmsModesLengthsMatchNaive) {
    using T = TypeParam;
    auto opt = make_opt(2);
    const std::vector<long> ns{1, 2, 3, 7, 13, 64, 101};
    const std::vector<long> ks{1, 2, 3, 5, 17, 31, 150};
    std::uint64_t seed = 1;
    for (long n : ns)
        for (long kk : ks)
            for (double p : {0.1, 1.0}) {
                auto x = spikes<T>(n, p, seed++, p == 1.0);
                auto h = random_taps<T>(kk, seed++);
                ArrayView<const T> xv(x.data(), {n});
                ArrayView<const T> hv(h.data(), {kk});
                double mx = max_abs(widen(x)), mh = max_abs(widen(h));
                for (const auto& mode : kModes) {
                    auto ref = naive(widen(x), widen(h), mode);
                    for (const auto& algo : kTapAlgos) {
                        ConvolutionOptions o;
                        o.algorithm = algo;
                        auto y = opt.optimize_spike_convolution<T>(xv, hv, mode, o);
                        ASSERT_EQ(y.shape(0), static_cast<index_t>(ref.size())) << n << " " << kk << " " << mode;
                        double tol = tolerance<T>(n, kk, mx, mh, algo);
                        for (std::size_t j = 0; j < ref.size(); ++j)
                            ASSERT_NEAR(static_cast<double>(y(static_cast<index_t>(j))), static_cast<double>(ref[j]), tol)
                                << "n=" << n << " k=" << kk << " mode=" << mode << " algo=" << algo << " j=" << j;
                    }
                }
            }
}

// ------------------------------------------------------------------ 2-D, both axes, strided
TYPED_TEST(ConvolutionTyped, TwoDimensionalBothAxesAndStrides) {
    using T = TypeParam;
    auto opt = make_opt(2);
    const long C = 37, n = 211, kk = 23;
    auto h = random_taps<T>(kk, 7);
    ArrayView<const T> hv(h.data(), {kk});
    // Storage C × n (channels × time) and its transpose n × C, plus a strided view of a
    // 2C × 3n buffer (every other channel, every third step).
    std::vector<T> ct(static_cast<std::size_t>(C * n)), tc(static_cast<std::size_t>(C * n)),
        big(static_cast<std::size_t>(2 * C * 3 * n), T(-7));
    std::vector<std::vector<long double>> rows(static_cast<std::size_t>(C));
    for (long c = 0; c < C; ++c) {
        auto x = spikes<T>(n, c % 2 ? 0.05 : 1.0, 100 + static_cast<std::uint64_t>(c), c % 3 == 0);
        rows[static_cast<std::size_t>(c)] = widen(x);
        for (long t = 0; t < n; ++t) {
            ct[static_cast<std::size_t>(c * n + t)] = x[static_cast<std::size_t>(t)];
            tc[static_cast<std::size_t>(t * C + c)] = x[static_cast<std::size_t>(t)];
            big[static_cast<std::size_t>(2 * c * 3 * n + 3 * t)] = x[static_cast<std::size_t>(t)];
        }
    }
    ArrayView<const T> v_ct(ct.data(), {C, n});
    ArrayView<const T> v_tc(tc.data(), {n, C});
    ArrayView<const T> v_big = ArrayView<const T>(big.data(), {2 * C, 3 * n}).slice(0, 0, 2 * C, 2).slice(1, 0, 3 * n, 3);
    ASSERT_EQ(v_big.shape(0), C);
    ASSERT_EQ(v_big.shape(1), n);
    double mh = max_abs(widen(h));
    for (const auto& mode : kModes)
        for (const auto& algo : kTapAlgos) {
            ConvolutionOptions o;
            o.algorithm = algo;
            auto y1 = opt.optimize_spike_convolution<T>(v_ct, hv, mode, o);
            auto y3 = opt.optimize_spike_convolution<T>(v_big, hv, mode, o);
            auto y4 = opt.optimize_spike_convolution<T>(v_ct.transposed(), hv, mode, [&] { auto q = o; q.time_axis = 0; return q; }());
            o.time_axis = 0;
            auto y2 = opt.optimize_spike_convolution<T>(v_tc, hv, mode, o);
            for (long c = 0; c < C; ++c) {
                auto ref = naive(rows[static_cast<std::size_t>(c)], widen(h), mode);
                long len = static_cast<long>(ref.size());
                ASSERT_EQ(y1.shape(0), C);
                ASSERT_EQ(y1.shape(1), len);
                ASSERT_EQ(y2.shape(0), len);
                ASSERT_EQ(y2.shape(1), C);
                double tol = tolerance<T>(n, kk, max_abs(rows[static_cast<std::size_t>(c)]) + 1e-30, mh, algo);
                for (long j = 0; j < len; ++j) {
                    double r = static_cast<double>(ref[static_cast<std::size_t>(j)]);
                    ASSERT_NEAR(static_cast<double>(y1(c, j)), r, tol) << mode << " " << algo << " c=" << c << " j=" << j;
                    ASSERT_NEAR(static_cast<double>(y2(j, c)), r, tol) << mode << " " << algo << " c=" << c << " j=" << j;
                    ASSERT_NEAR(static_cast<double>(y3(c, j)), r, tol) << mode << " " << algo << " c=" << c << " j=" << j;
                    ASSERT_NEAR(static_cast<double>(y4(j, c)), r, tol) << mode << " " << algo << " c=" << c << " j=" << j;
                }
            }
        }
}

// ------------------------------------------------------------------ every kernel variant
// Direct, event and the recursive filters (rows in place, the time-major tiles, the exponential
// family along time) on each variant against the naive sum; direct and event on avx2 and avx512
// (the same fused multiply-adds) bit for bit.
TYPED_TEST(ConvolutionTyped, EveryIsaMatchesNaive) {
    using T = TypeParam;
    const long C = 5, n = 333;
    std::vector<T> x(static_cast<std::size_t>(C * n));
    std::vector<std::vector<long double>> rows;
    for (long c = 0; c < C; ++c) {
        auto r = spikes<T>(n, 0.2, 70 + static_cast<std::uint64_t>(c), c % 2 == 0);
        std::copy(r.begin(), r.end(), x.begin() + c * n);
        rows.push_back(widen(r));
    }
    ArrayView<const T> xv(x.data(), {C, n});
    auto h = random_taps<T>(23, 71);
    ArrayView<const T> hv(h.data(), {23});
    const double eps = std::numeric_limits<T>::epsilon();
    std::vector<Array<T>> direct, event;
    for (Isa isa : test_support::isas_here()) {
        auto opt = make_opt(1, isa);
        for (const std::string algo : {"direct", "event"}) {
            ConvolutionOptions o;
            o.algorithm = algo;
            auto y = opt.optimize_spike_convolution<T>(xv, hv, "same", o);
            for (long c = 0; c < C; ++c) {
                auto ref = naive(rows[static_cast<std::size_t>(c)], widen(h), "same");
                double tol = tolerance<T>(n, 23, max_abs(rows[static_cast<std::size_t>(c)]), max_abs(widen(h)), algo);
                for (std::size_t j = 0; j < ref.size(); ++j)
                    ASSERT_NEAR(static_cast<double>(y(c, static_cast<index_t>(j))), static_cast<double>(ref[j]), tol)
                        << isa_name(isa) << " " << algo << " c=" << c << " j=" << j;
            }
            (algo == "direct" ? direct : event).push_back(std::move(y));
        }
        for (const SpikeKernel& fam : {SpikeKernel(ExponentialKernel(7, 1)), SpikeKernel(AlphaKernel(4, 1))}) {
            long L = static_cast<long>(k::family_length<T>(fam));
            auto taps = k::family_taps(SpikeKernel{fam.family, fam.tau, fam.dt, L}, L);
            std::vector<long double> hf(taps.begin(), taps.end());
            ConvolutionOptions o;
            o.algorithm = "iir";
            auto y = opt.optimize_spike_convolution<T>(xv, fam, "full", o);
            ConvolutionOptions ot = o;
            ot.time_axis = 0;
            auto yt = opt.optimize_spike_convolution<T>(xv.transposed(), fam, "full", ot);
            for (long c = 0; c < C; ++c) {
                auto ref = naive(rows[static_cast<std::size_t>(c)], hf, "full");
                double tol = 64 * eps * (max_abs(rows[static_cast<std::size_t>(c)]) + 1) * std::sqrt(double(n)) * 8;
                for (std::size_t j = 0; j < ref.size(); ++j) {
                    ASSERT_NEAR(static_cast<double>(y(c, static_cast<index_t>(j))), static_cast<double>(ref[j]), tol)
                        << isa_name(isa) << " iir tau=" << fam.tau << " c=" << c << " j=" << j;
                    ASSERT_NEAR(static_cast<double>(yt(static_cast<index_t>(j), c)), static_cast<double>(ref[j]), tol)
                        << isa_name(isa) << " iir time-major tau=" << fam.tau << " c=" << c << " j=" << j;
                }
            }
        }
    }
    if (direct.size() == 3) {
        for (index_t i = 0; i < direct[1].size(); ++i) {
            ASSERT_EQ(std::memcmp(&direct[1].data()[i], &direct[2].data()[i], sizeof(T)), 0) << "direct avx2 vs avx512 at " << i;
            ASSERT_EQ(std::memcmp(&event[1].data()[i], &event[2].data()[i], sizeof(T)), 0) << "event avx2 vs avx512 at " << i;
        }
    }
}

// ------------------------------------------------------------------ families: IIR vs truncated FIR
TYPED_TEST(ConvolutionTyped, FamiliesIirEqualsTruncatedFir) {
    using T = TypeParam;
    auto opt = make_opt(2);
    const long C = 19, n = 600;
    std::vector<T> x(static_cast<std::size_t>(C * n));
    std::vector<std::vector<long double>> rows;
    for (long c = 0; c < C; ++c) {
        auto r = spikes<T>(n, c % 2 ? 0.02 : 0.3, 900 + static_cast<std::uint64_t>(c), c % 4 == 0);
        std::copy(r.begin(), r.end(), x.begin() + c * n);
        rows.push_back(widen(r));
    }
    ArrayView<const T> xv(x.data(), {C, n});
    std::vector<SpikeKernel> fams{ExponentialKernel(5, 1),      ExponentialKernel(20, 1, 50), AlphaKernel(4, 0.5),
                                  AlphaKernel(3, 1, 7),         ExponentialKernel(2, 1, 1),   AlphaKernel(2, 1, 2),
                                  ExponentialKernel(60, 1)};  // last: kernel longer than the signal
    for (const auto& fam : fams) {
        long L = static_cast<long>(k::family_length<T>(fam));
        auto taps = k::family_taps(SpikeKernel{fam.family, fam.tau, fam.dt, L}, L);
        std::vector<long double> h(taps.begin(), taps.end());
        long double sum_h = 0;
        for (auto v : h) sum_h += std::fabs(v);
        for (const auto& mode : kModes) {
            std::vector<std::vector<long double>> refs;
            for (long c = 0; c < C; ++c) refs.push_back(naive(rows[static_cast<std::size_t>(c)], h, mode));
            for (const std::string algo : {"iir", "direct", "event", "fft", "auto"}) {
                ConvolutionOptions o;
                o.algorithm = algo;
                auto y = opt.optimize_spike_convolution<T>(xv, fam, mode, o);
                // The same trains as a time × channels view (the transposed-tile path of iir).
                ConvolutionOptions ot = o;
                ot.time_axis = 0;
                auto yt = opt.optimize_spike_convolution<T>(xv.transposed(), fam, mode, ot);
                for (long c = 0; c < C; ++c) {
                    const auto& ref = refs[static_cast<std::size_t>(c)];
                    ASSERT_EQ(y.shape(1), static_cast<index_t>(ref.size()));
                    double mx = max_abs(rows[static_cast<std::size_t>(c)]);
                    double eps = std::numeric_limits<T>::epsilon();
                    // Recursion: rounding of each step decays with the kernel, bounded by Σ|h|.
                    double tol = algo == "iir" ? 16 * eps * (static_cast<double>(sum_h) + 8) * mx * std::sqrt(static_cast<double>(n))
                                               : tolerance<T>(n, L, mx, 1.0, algo);
                    tol += std::numeric_limits<T>::min();
                    for (std::size_t j = 0; j < ref.size(); ++j)
                        ASSERT_NEAR(static_cast<double>(y(c, static_cast<index_t>(j))), static_cast<double>(ref[j]), tol)
                            << "tau=" << fam.tau << " L=" << L << " " << mode << " " << algo << " c=" << c << " j=" << j;
                    for (std::size_t j = 0; j < ref.size(); ++j)
                        ASSERT_NEAR(static_cast<double>(yt(static_cast<index_t>(j), c)), static_cast<double>(ref[j]), tol)
                            << "time-major tau=" << fam.tau << " " << mode << " " << algo << " c=" << c << " j=" << j;
                }
            }
        }
    }
}

TYPED_TEST(ConvolutionTyped, FamilyLengthAndTaps) {
    using T = TypeParam;
    const double eps = std::is_same_v<T, float> ? 1e-7 : 1e-15;
    for (auto fam : {ExponentialKernel(20, 1), ExponentialKernel(3.3, 0.1), AlphaKernel(20, 1), AlphaKernel(1, 0.37)}) {
        auto L = k::family_length<T>(fam);
        auto h = k::family_taps(fam, L + 1);
        EXPECT_LT(h[static_cast<std::size_t>(L)], eps);        // first sample dropped is below
        EXPECT_GE(h[static_cast<std::size_t>(L - 1)], eps);    // last kept is not
    }
    EXPECT_EQ(k::family_length<T>(ExponentialKernel(20, 1)), (std::is_same_v<T, float> ? 323 : 691));
    EXPECT_EQ(k::family_length<T>(AlphaKernel(2, 1, 9)), 9);
    auto a = k::family_taps(AlphaKernel(2, 0.5, 10), 10);
    EXPECT_DOUBLE_EQ(a[0], 0.0);
    EXPECT_DOUBLE_EQ(a[4], 1.0);  // peak at t = τ
    auto e = k::family_taps(ExponentialKernel(2, 0.5, 10), 10);
    EXPECT_DOUBLE_EQ(e[0], 1.0);
    EXPECT_DOUBLE_EQ(e[4], std::exp(-1.0));
}

// ------------------------------------------------------------------ NaN
TYPED_TEST(ConvolutionTyped, NanPropagates) {
    using T = TypeParam;
    auto opt = make_opt(1);
    const long n = 40, kk = 4, s = 17;
    std::vector<T> x(n, T(0));
    x[5] = 1;
    x[s] = std::numeric_limits<T>::quiet_NaN();  // the only "spike" near it: the event path must not skip it
    std::vector<T> h{1, 2, 3, 4};
    ArrayView<const T> xv(x.data(), {n});
    ArrayView<const T> hv(h.data(), {kk});
    for (const auto& algo : kTapAlgos) {
        ConvolutionOptions o;
        o.algorithm = algo;
        auto y = opt.optimize_spike_convolution<T>(xv, hv, "full", o);
        for (long t = s; t < s + kk; ++t) EXPECT_TRUE(std::isnan(y(t))) << algo << " t=" << t;
        if (algo != "fft")  // the FFT spreads a NaN over the whole channel (documented)
            for (long t = 0; t < n + kk - 1; ++t)
                if (t < s || t >= s + kk) {
                    EXPECT_FALSE(std::isnan(y(t))) << algo << " t=" << t;
                }
    }
    for (const std::string algo : {"iir", "event", "direct"}) {
        ConvolutionOptions o;
        o.algorithm = algo;
        auto y = opt.optimize_spike_convolution<T>(xv, ExponentialKernel(2, 1, 6), "full", o);
        for (long t = s; t < s + 6; ++t) EXPECT_TRUE(std::isnan(y(t))) << algo << " t=" << t;
        EXPECT_FALSE(std::isnan(y(s - 1))) << algo;
    }
}

// The exponential family on time-contiguous rows runs vectorised along time in blocks of
// 64 bytes and chunks of 256 steps: lengths around those boundaries, every mode, one and two
// threads, against the naive truncated-kernel convolution; a NaN late in a chunk leaves every
// earlier output finite and everything after it NaN.
// ------------------------------------------------------------------ errors
TEST(ConvolutionErrors, ClearMessages) {
    auto opt = make_opt(1);
    std::vector<double> x{1, 0, 1}, h{1, 2};
    ArrayView<const double> xv(x.data(), {3}), hv(h.data(), {2}), empty(x.data(), {0});
    try {
        opt.optimize_spike_convolution<double>(xv, hv, "middle");
        FAIL() << "no throw";
    } catch (const ValueError& e) {
        std::string m = e.what();
        for (const char* s : {"full", "same", "valid", "middle"}) EXPECT_NE(m.find(s), std::string::npos) << m;
    }
    EXPECT_THROW(opt.optimize_spike_convolution<double>(empty, hv), ValueError);
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, empty), ValueError);
    ConvolutionOptions bad;
    bad.algorithm = "winograd";
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, hv, "full", bad), ValueError);
    bad.algorithm = "iir";
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, hv, "full", bad), ValueError);
    ConvolutionOptions axis;
    axis.time_axis = 2;
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, hv, "full", axis), ValueError);
    std::vector<double> m(6);
    ArrayView<const double> m2(m.data(), {2, 3});
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, m2), ShapeError);
    ArrayView<const double> m3(m.data(), {1, 2, 3});
    EXPECT_THROW(opt.optimize_spike_convolution<double>(m3, hv), ShapeError);
    EXPECT_THROW(ExponentialKernel(0, 1), ValueError);
    EXPECT_THROW(AlphaKernel(1, -1), ValueError);
    EXPECT_THROW(ExponentialKernel(1, 1, -3), ValueError);
    EXPECT_THROW(ExponentialKernel(std::nan(""), 1), ValueError);
    EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, ExponentialKernel(1e12, 1)), ValueError);  // > 2^31 taps
    if (!k::fft_available()) {
        ConvolutionOptions f;
        f.algorithm = "fft";
        EXPECT_THROW(opt.optimize_spike_convolution<double>(xv, hv, "full", f), NotBuiltError);
    }
    // Zero channels: an empty result of the right shape, no error.
    ArrayView<const double> none(x.data(), {0, 3});
    auto y = opt.optimize_spike_convolution<double>(none, hv, "full");
    EXPECT_EQ(y.shape(0), 0);
    EXPECT_EQ(y.shape(1), 4);
}

TEST(ConvolutionVerbose, LogsTheAlgorithm) {
    std::vector<std::string> msgs;
    ContextOptions o;
    o.calibrate = false;
    o.log = [&](std::string_view s) { msgs.emplace_back(s); };
    MKLConfig cfg;
    cfg.verbose = true;
    cfg.num_threads = 1;
    MKLOptimizer opt(cfg, make_context(o));
    std::vector<double> x(100, 0.0);
    x[3] = 1;
    ArrayView<const double> xv(x.data(), {100});
    opt.optimize_spike_convolution<double>(xv, ExponentialKernel(10, 1), "same");
    bool found = false;
    for (const auto& s : msgs)
        found |= s.find("spike_convolution") != std::string::npos && s.find("algorithm ") != std::string::npos;
    EXPECT_TRUE(found);
    msgs.clear();
    ConvolutionOptions forced;
    forced.algorithm = "iir";
    opt.optimize_spike_convolution<double>(xv, ExponentialKernel(10, 1), "same", forced);
    ASSERT_FALSE(msgs.empty());
    EXPECT_NE(msgs.back().find("algorithm iir (forced)"), std::string::npos) << msgs.back();
}

// ------------------------------------------------------------------ geometry and cost model
TEST(ConvolutionGeometry, NumpyRules) {
    auto g = k::conv_geometry(k::ConvMode::same, 3, 6);
    EXPECT_EQ(g.offset, 1);
    EXPECT_EQ(g.out_len, 6);
    g = k::conv_geometry(k::ConvMode::valid, 3, 6);
    EXPECT_EQ(g.offset, 2);
    EXPECT_EQ(g.out_len, 4);
    g = k::conv_geometry(k::ConvMode::full, 3, 6);
    EXPECT_EQ(g.offset, 0);
    EXPECT_EQ(g.out_len, 8);
    g = k::conv_geometry(k::ConvMode::same, 10, 4);
    EXPECT_EQ(g.offset, 1);
    EXPECT_EQ(g.out_len, 10);
    EXPECT_THROW(k::conv_geometry(k::ConvMode::full, 0, 3), ValueError);
}

TEST(ConvolutionCostModel, Choices) {
    k::ConvProblem p;
    p.n = 10000, p.channels = 1000, p.mode = k::ConvMode::same, p.fft_available = true;
    // Short kernel, dense input: direct.
    p.k = 5, p.density = 1.0;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::direct);
    // 100 taps, 2% spikes: event scatter.
    p.k = 100, p.density = 0.02;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::event);
    // Long kernel, dense input: FFT; without FFTW: not FFT.
    p.k = 2000, p.density = 0.5;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::fft);
    p.fft_available = false;
    EXPECT_NE(k::choose_conv_algorithm(p), k::ConvAlgorithm::fft);
    p.fft_available = true;
    // Exponential family (τ = 20 steps, 691 taps), 2% spikes: recursive filter; also alpha.
    p.k = 691, p.density = 0.02, p.family = true;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::iir);
    p.alpha = true;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::iir);
    // A 3-tap family on very sparse trains: the scatter is cheaper than running the recursion.
    p.k = 3, p.density = 0.001, p.alpha = false;
    EXPECT_EQ(k::choose_conv_algorithm(p), k::ConvAlgorithm::event);
    // Pure function: same inputs, same choice; the iir never without a family.
    p.family = false;
    for (double d : {0.0, 0.01, 0.1, 1.0}) {
        p.density = d;
        EXPECT_NE(k::choose_conv_algorithm(p), k::ConvAlgorithm::iir);
        EXPECT_EQ(k::choose_conv_algorithm(p), k::choose_conv_algorithm(p));
    }
}

}  // namespace
