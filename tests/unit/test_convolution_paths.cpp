// Spike convolution, the special paths: the exponential family's time-vectorised rows at block
// boundaries, byte trains, non-temporal output for large results, the event search per ISA.
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
class ConvolutionPathsTyped : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ConvolutionPathsTyped, Types);

TYPED_TEST(ConvolutionPathsTyped, ExponentialRowsBlockBoundaries) {
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
TYPED_TEST(ConvolutionPathsTyped, ByteTrainsEqualFloatTrains) {
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

// The event path on every variant (the spike search: scalar blocks, AVX2 movemask, AVX-512
// mask compare): against the naive sum, including NaN samples, -0 (not a spike) and lengths
// around 8/16; avx2 and avx512 (both fusing the multiply-adds) bit for bit.
TYPED_TEST(ConvolutionPathsTyped, EventSearchOnEveryIsa) {
    using T = TypeParam;
    ConvolutionOptions ev;
    ev.algorithm = "event";
    std::vector<T> taps{1, 2, 3};
    ArrayView<const T> hv(taps.data(), {3});
    for (long n : {1L, 7L, 8L, 9L, 15L, 16L, 17L, 33L, 1000L}) {
        auto x = spikes<T>(n, 0.1, 77 + static_cast<std::uint64_t>(n), true);
        x[static_cast<std::size_t>(n / 2)] = T(-0.0);
        if (n > 3) x[3] = std::numeric_limits<T>::quiet_NaN();
        ArrayView<const T> xv(x.data(), {n});
        const auto isas = neuroperf::test_support::isas_here();
        std::vector<Array<T>> out;
        for (Isa isa : isas) out.push_back(make_opt(1, isa).optimize_spike_convolution<T>(xv, hv, "full", ev));
        if (out.size() == 3) {
            for (index_t i = 0; i < out[1].size(); ++i)
                ASSERT_EQ(std::memcmp(&out[1].data()[i], &out[2].data()[i], sizeof(T)), 0) << "avx2 vs avx512, n=" << n << " i=" << i;
        }
        auto ref = naive(widen(x), widen(taps), "full");
        for (std::size_t v = 0; v < out.size(); ++v) {
            ASSERT_EQ(out[v].size(), static_cast<index_t>(ref.size()));
            for (index_t i = 0; i < out[v].size(); ++i) {
                double r = static_cast<double>(ref[static_cast<std::size_t>(i)]);
                if (std::isnan(r)) {
                    ASSERT_TRUE(std::isnan(static_cast<double>(out[v].data()[i]))) << isa_name(isas[v]) << " n=" << n << " i=" << i;
                } else {
                    ASSERT_NEAR(static_cast<double>(out[v].data()[i]), r, 1e-5 * (1 + std::fabs(r)))
                        << isa_name(isas[v]) << " n=" << n << " i=" << i;
                }
            }
        }
    }
}

}  // namespace
