// Spike convolution: every algorithm and mode against a naive long-double numpy.convolve, hard-coded
// numpy outputs, the exact recursive filter of the families, the cost model's choices, errors.
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
#include "kernels/isa.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/mkl_optimizer.hpp"

using namespace neuroperf;
namespace k = neuroperf::kernels;

namespace {

MKLOptimizer make_opt(int threads) {
    ContextOptions o;
    o.calibrate = false;
    o.log = [](std::string_view) {};
    MKLConfig cfg;
    cfg.num_threads = threads;
    return MKLOptimizer(cfg, make_context(std::move(o)));
}

// numpy.convolve written from its definition: the shorter operand slides over the longer one.
std::vector<long double> naive(const std::vector<long double>& a0, const std::vector<long double>& v0,
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

double max_abs(const std::vector<long double>& v) {
    long double m = 0;
    for (auto x : v) m = std::max(m, std::fabs(x));
    return static_cast<double>(m);
}

const std::vector<std::string> kModes{"full", "same", "valid"};
const std::vector<std::string> kTapAlgos{"direct", "event", "fft", "auto"};

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
TYPED_TEST(ConvolutionTyped, ExponentialRowsBlockBoundaries) {
    using T = TypeParam;
    const double eps = std::numeric_limits<T>::epsilon();
    for (int threads : {1, 2}) {
        auto opt = make_opt(threads);
        for (long n : {1L, 2L, 3L, 7L, 8L, 9L, 15L, 16L, 17L, 31L, 255L, 256L, 257L, 521L}) {
            for (auto fam : {ExponentialKernel(3, 1), ExponentialKernel(1.5, 1, 1), ExponentialKernel(9, 0.5, 300)}) {
                long L = static_cast<long>(k::family_length<T>(fam));
                auto taps = k::family_taps(SpikeKernel{fam.family, fam.tau, fam.dt, L}, L);
                std::vector<long double> h(taps.begin(), taps.end());
                const long C = 3;
                std::vector<T> x(static_cast<std::size_t>(C * n));
                for (long c = 0; c < C; ++c) {
                    auto r = spikes<T>(n, 0.2, 40 + static_cast<std::uint64_t>(n * 3 + c), c == 1);
                    std::copy(r.begin(), r.end(), x.begin() + c * n);
                }
                ArrayView<const T> xv(x.data(), {C, n});
                ConvolutionOptions o;
                o.algorithm = "iir";
                for (const auto& mode : kModes) {
                    auto y = opt.optimize_spike_convolution<T>(xv, fam, mode, o);
                    for (long c = 0; c < C; ++c) {
                        std::vector<T> row(x.begin() + c * n, x.begin() + (c + 1) * n);
                        auto ref = naive(widen(row), h, mode);
                        ASSERT_EQ(y.shape(1), static_cast<index_t>(ref.size()));
                        double tol = 64 * eps * (max_abs(widen(row)) + 1) * std::sqrt(static_cast<double>(n + L)) *
                                     (fam.tau / fam.dt + 1);
                        for (std::size_t j = 0; j < ref.size(); ++j)
                            ASSERT_NEAR(static_cast<double>(y(c, static_cast<index_t>(j))), static_cast<double>(ref[j]), tol)
                                << "n=" << n << " L=" << L << " " << mode << " c=" << c << " j=" << j << " threads=" << threads;
                    }
                }
            }
        }
    }
    auto opt = make_opt(1);
    const long n = 700, s = 300;  // second chunk, mid-block
    std::vector<T> x(n, T(0));
    for (long t = 0; t < n; t += 5) x[static_cast<std::size_t>(t)] = 1;
    x[s] = std::numeric_limits<T>::infinity();
    ConvolutionOptions o;
    o.algorithm = "iir";
    auto y = opt.optimize_spike_convolution<T>(ArrayView<const T>(x.data(), {n}), ExponentialKernel(4, 1), "full", o);
    for (long t = 0; t < s; ++t) ASSERT_TRUE(std::isfinite(y(t))) << t;
    for (long t = s + 1; t < y.size(); ++t) ASSERT_TRUE(std::isnan(y(t)) || std::isinf(y(t))) << t;
}

// Byte spike trains (bool 0/1 or counts): exactly the floating-point path's result on the same
// values, for every algorithm, mode, layout (channels × time, time × channels, strided), channel
// counts 0-37 (blocks of channels are widened per thread) and one or two threads.
TYPED_TEST(ConvolutionTyped, ByteTrainsEqualFloatTrains) {
    using T = TypeParam;
    for (int threads : {1, 2}) {
        auto opt = make_opt(threads);
        for (long C : {0L, 1L, 3L, 37L}) {
            for (long n : {1L, 2L, 17L, 300L}) {
                std::vector<std::uint8_t> x8(static_cast<std::size_t>(C * n * 2));
                std::mt19937_64 rng(static_cast<std::uint64_t>(C * 1000 + n));
                for (auto& v : x8) v = static_cast<std::uint8_t>(rng() % 10 == 0 ? 1 + rng() % 3 : 0);
                std::vector<T> xf(x8.begin(), x8.end());
                // Every other time step of a C × 2n buffer: a strided view.
                std::array<index_t, 2> shape{C, n}, strides{2 * n, 2};
                ArrayView<const std::uint8_t> v8(x8.data(), shape, strides);
                ArrayView<const T> vf(xf.data(), shape, strides);
                auto taps = random_taps<T>(5, 7);
                ArrayView<const T> hv(taps.data(), {5});
                for (const auto& mode : kModes) {
                    for (const std::string algo : {"auto", "direct", "event", "fft"}) {
                        ConvolutionOptions o;
                        o.algorithm = algo;
                        auto a = opt.optimize_spike_convolution<T>(v8, hv, mode, o);
                        auto b = opt.optimize_spike_convolution<T>(vf, hv, mode, o);
                        ASSERT_EQ(a.size(), b.size());
                        for (index_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << algo << " " << mode;
                        ConvolutionOptions ot = o;
                        ot.time_axis = 0;
                        auto at = opt.optimize_spike_convolution<T>(v8.transposed(), hv, mode, ot);
                        ASSERT_EQ(at.size(), b.size());
                        for (index_t c = 0; c < C; ++c)
                            for (index_t j = 0; j < b.shape(1); ++j) ASSERT_EQ(at(j, c), b(c, j)) << algo << " " << mode;
                    }
                    // The families widen into contiguous rows: compare with contiguous float rows
                    // (a strided float input takes the transposed-tile recursion, rounded differently).
                    std::vector<T> rows(static_cast<std::size_t>(C * n));
                    for (long c = 0; c < C; ++c)
                        for (long t = 0; t < n; ++t) rows[static_cast<std::size_t>(c * n + t)] = vf(c, t);
                    ArrayView<const T> vr(rows.data(), {C, n});
                    for (auto fam : {ExponentialKernel(4, 1), AlphaKernel(3, 1)}) {
                        auto a = opt.optimize_spike_convolution<T>(v8, fam, mode);
                        auto b = opt.optimize_spike_convolution<T>(vr, fam, mode);
                        ASSERT_EQ(a.size(), b.size());
                        for (index_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << mode;
                    }
                }
            }
        }
    }
    // Errors name the argument, as for float trains.
    auto opt = make_opt(1);
    std::vector<std::uint8_t> x8(4, 1);
    std::vector<T> h{1};
    EXPECT_THROW(opt.optimize_spike_convolution<T>(ArrayView<const std::uint8_t>(x8.data(), {1, 2, 2}),
                                                   ArrayView<const T>(h.data(), {1})),
                 ShapeError);
    EXPECT_THROW(opt.optimize_spike_convolution<T>(ArrayView<const std::uint8_t>(x8.data(), {4}),
                                                   ArrayView<const T>(h.data(), {1}), "middle"),
                 ValueError);
}

// Results of 32 MiB and more are streamed to memory (non-temporal stores) by the recursive and
// event paths: a 1000 × 8400 float32 result equals, row by row, the same channels convolved one at
// a time (small results, cached stores), including a misaligned row start (odd row length).
TEST(ConvolutionStreaming, LargeResultsEqualSmallOnes) {
    auto opt = make_opt(2);
    for (long n : {8400L, 8401L}) {
        const long C = 1000;
        std::vector<float> x(static_cast<std::size_t>(C * n), 0.0f);
        std::mt19937_64 rng(5);
        for (auto& v : x) v = rng() % 64 == 0 ? 1.0f : 0.0f;
        ArrayView<const float> xv(x.data(), {C, n});
        std::vector<float> taps(30);
        for (std::size_t i = 0; i < taps.size(); ++i) taps[i] = std::exp(-0.1f * static_cast<float>(i));
        ArrayView<const float> hv(taps.data(), {30});
        auto yi = opt.optimize_spike_convolution<float>(xv, ExponentialKernel(6, 1), "same");
        ConvolutionOptions ev;
        ev.algorithm = "event";
        auto ye = opt.optimize_spike_convolution<float>(xv, hv, "same", ev);
        for (long c : {0L, 1L, 2L, 499L, 998L, 999L}) {
            ArrayView<const float> row(x.data() + c * n, {n});
            auto ri = opt.optimize_spike_convolution<float>(row, ExponentialKernel(6, 1), "same");
            auto re = opt.optimize_spike_convolution<float>(row, hv, "same", ev);
            for (long t = 0; t < n; ++t) {
                ASSERT_EQ(yi(c, t), ri(t)) << "iir c=" << c << " t=" << t << " n=" << n;
                ASSERT_EQ(ye(c, t), re(t)) << "event c=" << c << " t=" << t << " n=" << n;
            }
        }
    }
}

// The event path's spike search has a baseline and an AVX-512 variant (kernels/isa.hpp): both
// give the same result, including NaN samples, -0 (not a spike) and lengths around 8/16.
TYPED_TEST(ConvolutionTyped, EventSearchSameOnBothIsas) {
    using T = TypeParam;
    auto opt = make_opt(1);
    ConvolutionOptions ev;
    ev.algorithm = "event";
    std::vector<T> taps{1, 2, 3};
    ArrayView<const T> hv(taps.data(), {3});
    for (long n : {1L, 7L, 8L, 9L, 15L, 16L, 17L, 33L, 1000L}) {
        auto x = spikes<T>(n, 0.1, 77 + static_cast<std::uint64_t>(n), true);
        x[static_cast<std::size_t>(n / 2)] = T(-0.0);
        if (n > 3) x[3] = std::numeric_limits<T>::quiet_NaN();
        ArrayView<const T> xv(x.data(), {n});
        std::vector<Array<T>> out;
        {
            neuroperf::test_support::IsaGuard guard;
            for (auto isa : neuroperf::test_support::isas_here()) {
                ASSERT_TRUE(k::set_kernel_isa(isa));
                out.push_back(opt.optimize_spike_convolution<T>(xv, hv, "full", ev));
            }
        }
        for (std::size_t v = 1; v < out.size(); ++v) {
            ASSERT_EQ(out[0].size(), out[v].size());
            for (index_t i = 0; i < out[0].size(); ++i)
                ASSERT_EQ(std::memcmp(&out[0].data()[i], &out[v].data()[i], sizeof(T)), 0) << "n=" << n << " i=" << i;
        }
        auto ref = naive(widen(x), widen(taps), "full");
        for (index_t i = 0; i < out[0].size(); ++i) {
            double r = static_cast<double>(ref[static_cast<std::size_t>(i)]);
            if (std::isnan(r)) {
                ASSERT_TRUE(std::isnan(static_cast<double>(out[0].data()[i]))) << "n=" << n << " i=" << i;
            } else {
                ASSERT_NEAR(static_cast<double>(out[0].data()[i]), r, 1e-5 * (1 + std::fabs(r))) << "n=" << n << " i=" << i;
            }
        }
    }
}

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
