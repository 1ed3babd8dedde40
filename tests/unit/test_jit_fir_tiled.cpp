// The register-tiled fast-math FIR kernel (jit/conv_codegen.cpp): against a naive long-double
// convolution at sizes that hit every part of it (no full block, full blocks plus the one-vector
// and scalar remainders, edges on both sides, fewer and more taps than a vector's lanes, the
// looped kernel beyond kTiledMaxTaps), float and double, every mode; NaN propagation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "jit/conv_codegen.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::quiet_context;
using test_support::TempDir;

namespace {


// numpy.convolve(x, h, mode) from its definition, in long double, with Σ|x·h| for the bound.
void naive(const std::vector<double>& x, const std::vector<double>& h, const std::string& mode, std::vector<long double>& y,
           std::vector<long double>& mag) {
    const std::size_t n = x.size(), k = h.size();
    std::vector<long double> full(n + k - 1, 0.0L), fmag(n + k - 1, 0.0L);
    for (std::size_t p = 0; p < n; ++p)
        for (std::size_t q = 0; q < k; ++q) {
            full[p + q] += static_cast<long double>(x[p]) * h[q];
            fmag[p + q] += std::fabs(static_cast<long double>(x[p]) * h[q]);
        }
    const std::size_t m = std::min(n, k), big = std::max(n, k);
    std::size_t start = 0, len = n + k - 1;
    if (mode == "same") start = (m - 1) / 2, len = big;
    if (mode == "valid") start = m - 1, len = big - m + 1;
    y.assign(full.begin() + static_cast<std::ptrdiff_t>(start), full.begin() + static_cast<std::ptrdiff_t>(start + len));
    mag.assign(fmag.begin() + static_cast<std::ptrdiff_t>(start), fmag.begin() + static_cast<std::ptrdiff_t>(start + len));
}

template <class T>
void tiled_case(const JITCompiler& jit, std::int64_t n, std::int64_t k, const std::string& mode) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(n * 7919 + k));
    std::normal_distribution<double> d;
    std::vector<double> xd(static_cast<std::size_t>(n)), hd(static_cast<std::size_t>(k));
    Array<T> x({n}), h({k});
    for (std::int64_t i = 0; i < n; ++i) x(i) = static_cast<T>(xd[static_cast<std::size_t>(i)] = static_cast<T>(d(rng)));
    for (std::int64_t i = 0; i < k; ++i) h(i) = static_cast<T>(hd[static_cast<std::size_t>(i)] = static_cast<T>(d(rng)));
    std::vector<long double> want, mag;
    naive(xd, hd, mode, want, mag);
    auto kernel = jit.compile_convolution_kernel<T>(h.view(), n, mode);
    ASSERT_TRUE(kernel.is_compiled()) << kernel.fallback_reason();
    EXPECT_EQ(kernel.source().find("register-tiled") != std::string::npos, jit::conv_tiled(k, true, true, jit.context().isa())) << "k=" << k;
    ASSERT_EQ(kernel.output_length(), static_cast<index_t>(want.size()));
    Array<T> y = kernel(x.view());
    const double eps = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
    for (std::size_t j = 0; j < want.size(); ++j)
        ASSERT_NEAR(static_cast<double>(y(static_cast<index_t>(j))), static_cast<double>(want[j]),
                    4 * eps * static_cast<double>(std::min(n, k)) * static_cast<double>(mag[j]) + 1e-300)
            << "n=" << n << " k=" << k << " mode=" << mode << " j=" << j;
}

}  // namespace

TEST(JitFirTiled, MatchesNaiveAtEdgeSizes) {
    TempDir dir;
    JITConfig fm;
    fm.enable_fastmath = true;
    JITCompiler jit(fm, quiet_context(dir.path()));
    // float: 16 lanes, blocks of 128 outputs; double: 8 lanes, blocks of 64.
    for (const char* mode : {"valid", "full", "same"}) {
        // (2, 3): no block; 131: one block + scalar tail; 401 × 17: blocks, one-vector and
        // scalar remainders, taps > lanes; 129 taps: the looped kernel.
        for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{2, 3}, {131, 3}, {401, 17}, {1000, 129}})
            tiled_case<float>(jit, n, k, mode);
        for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{67, 5}, {523, 9}}) tiled_case<double>(jit, n, k, mode);
    }
}

TEST(JitFirTiled, NanAndInfPropagate) {
    TempDir dir;
    JITConfig fm;
    fm.enable_fastmath = true;
    JITCompiler jit(fm, quiet_context(dir.path()));
    const std::int64_t n = 600, k = 12;
    Array<float> x({n}), h({k});
    for (std::int64_t i = 0; i < n; ++i) x(i) = std::cos(0.1f * static_cast<float>(i));
    for (std::int64_t i = 0; i < k; ++i) h(i) = 1.0f / static_cast<float>(i + 1);
    x(300) = std::numeric_limits<float>::quiet_NaN();
    x(450) = std::numeric_limits<float>::infinity();
    auto kernel = jit.compile_convolution_kernel<float>(h.view(), n, "valid");
    ASSERT_TRUE(kernel.is_compiled()) << kernel.fallback_reason();
    Array<float> y = kernel(x.view());
    for (std::int64_t j = 0; j < y.size(); ++j) {
        const std::int64_t s = j + k - 1;  // output j reads x[s − k + 1 .. s]
        const bool hits_nan = s >= 300 && s - k + 1 <= 300, hits_inf = s >= 450 && s - k + 1 <= 450;
        if (hits_nan) {
            ASSERT_TRUE(std::isnan(y(j))) << j;
        } else if (hits_inf) {
            ASSERT_TRUE(std::isinf(y(j)) && y(j) > 0) << j;
        } else {
            ASSERT_TRUE(std::isfinite(y(j))) << j;
        }
    }
}
