// JIT compiler, FIR convolution kernel (AOT against numpy's rules, compiled bit-identical, both
// compilers, non-finite samples, fast math) and optimize_memory_layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jit/conv_codegen.hpp"
#include "jit/registry.hpp"
#include "jit_support.hpp"
#include "kernels/lif.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using namespace neuroperf::jit_test;
using test_support::EnvGuard;
using test_support::TempDir;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- memory layout

TEST(JitLayout, RowColumnBlocked) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    for (auto [r, c] : {std::pair<index_t, index_t>{0, 0}, {1, 1}, {3, 5}, {65, 130}}) {
        Array<double> a({r, c});
        for (index_t i = 0; i < r * c; ++i) a.data()[i] = static_cast<double>(i) + 0.5;
        auto row = jit.optimize_memory_layout<double>(a.view(), "row_major");
        EXPECT_FALSE(row.copied);
        EXPECT_EQ(row.view.data(), a.data());
        auto col = jit.optimize_memory_layout<double>(a.view(), "column_major");
        EXPECT_EQ(col.view.shape(0), r);
        EXPECT_EQ(col.view.stride(0), 1);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(col.view.data()) % 64, 0u);
        auto blk = jit.optimize_memory_layout<double>(a.view(), "blocked");
        index_t tc = (c + 63) / 64;
        for (index_t i = 0; i < r; ++i)
            for (index_t j = 0; j < c; ++j) {
                ASSERT_EQ(col.view(i, j), a(i, j));
                ASSERT_EQ(blk.view.data()[((i / 64) * tc + j / 64) * 4096 + (i % 64) * 64 + j % 64], a(i, j));
            }
        // Already column-major: no copy.
        auto again = jit.optimize_memory_layout<double>(col.view, "column_major");
        EXPECT_FALSE(again.copied);
        auto back = jit.optimize_memory_layout<double>(col.view, "row_major");
        if (r > 1 && c > 1) {
            EXPECT_TRUE(back.copied);
        }
        for (index_t i = 0; i < r; ++i)
            for (index_t j = 0; j < c; ++j) ASSERT_EQ(back.view(i, j), a(i, j));
    }
    Array<float> a({2, 2});
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.optimize_memory_layout<float>(a.view(), "diagonal"); });
    Array<float> r3({2, 2, 2});
    test_support::expect_throw_msg<ShapeError>([&] { (void)jit.optimize_memory_layout<float>(r3.view(), "row_major"); });
}


// ---------------------------------------------------------------- convolution

namespace {

// numpy.convolve(x, h, mode) written from its definition, in long double.
std::vector<long double> naive_convolve(const std::vector<double>& x, const std::vector<double>& h, const std::string& mode) {
    const std::size_t n = x.size(), k = h.size();
    std::vector<long double> full(n + k - 1, 0.0L);
    for (std::size_t p = 0; p < n; ++p)
        for (std::size_t q = 0; q < k; ++q) full[p + q] += static_cast<long double>(x[p]) * h[q];
    const std::size_t m = std::min(n, k), big = std::max(n, k);
    std::size_t start = 0, len = n + k - 1;
    if (mode == "same") start = (m - 1) / 2, len = big;
    if (mode == "valid") start = m - 1, len = big - m + 1;
    return {full.begin() + static_cast<std::ptrdiff_t>(start), full.begin() + static_cast<std::ptrdiff_t>(start + len)};
}

template <class T>
void conv_case(const JITCompiler& jit, const JITCompiler& aot, std::int64_t n, std::int64_t k, const std::string& mode,
               bool compile) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(n * 1000 + k));
    std::normal_distribution<double> d;
    std::vector<double> xd(static_cast<std::size_t>(n)), hd(static_cast<std::size_t>(k));
    for (auto& v : xd) v = static_cast<T>(d(rng));
    for (auto& v : hd) v = static_cast<T>(d(rng));
    Array<T> x({n}), h({k});
    for (std::int64_t i = 0; i < n; ++i) x(i) = static_cast<T>(xd[static_cast<std::size_t>(i)]);
    for (std::int64_t i = 0; i < k; ++i) h(i) = static_cast<T>(hd[static_cast<std::size_t>(i)]);
    auto want = naive_convolve(xd, hd, mode);
    auto ka = aot.compile_convolution_kernel<T>(h.view(), n, mode);
    ASSERT_EQ(ka.output_length(), static_cast<index_t>(want.size()));
    Array<T> ya = ka(x.view());
    const double eps = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
    for (std::size_t j = 0; j < want.size(); ++j)
        ASSERT_NEAR(ya(static_cast<index_t>(j)), static_cast<double>(want[j]), 4 * eps * static_cast<double>(std::min(n, k)) * (1 + std::abs(static_cast<double>(want[j]))))
            << "n=" << n << " k=" << k << " mode=" << mode << " j=" << j;
    if (!compile) return;
    auto kj = jit.compile_convolution_kernel<T>(h.view(), n, mode);
    ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
    Array<T> yj = kj(x.view());
    ASSERT_EQ(yj.size(), ya.size());
    EXPECT_EQ(std::memcmp(yj.data(), ya.data(), static_cast<std::size_t>(ya.size()) * sizeof(T)), 0)
        << "n=" << n << " k=" << k << " mode=" << mode;
}

}  // namespace

TEST(JitConvolution, AotMatchesNumpyAndJitIsBitIdentical) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    for (const char* mode : {"full", "same", "valid"}) {
        for (std::int64_t n : {1, 2, 3, 7, 64, 97})
            for (std::int64_t k : {1, 2, 3, 5, 31, 200}) conv_case<double>(jit, aot, n, k, mode, false);
        for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 2}, {2, 3}, {97, 31}, {1000, 17}, {50, 200}}) {
            conv_case<float>(jit, aot, n, k, mode, true);
        }
        conv_case<double>(jit, aot, 333, 7, mode, true);
        // The register-tiled strict kernel: whole 8-vector blocks, single vectors and edges,
        // up to its 16-tap limit ({1000, 17} above: just past it, the looped kernel).
        conv_case<float>(jit, aot, 1000, 16, mode, true);
        conv_case<float>(jit, aot, 515, 15, mode, true);
        conv_case<double>(jit, aot, 700, 16, mode, true);
        conv_case<double>(jit, aot, 700, 13, mode, true);
        conv_case<float>(jit, aot, 2001, 1, mode, true);
    }
}

// The strict tiled kernel's FMA builtins with each compiler present: both compile them and both
// give the AOT bits.
TEST(JitConvolution, StrictTiledBothCompilers) {
    const int compilers = test_support::for_each_jit_compiler([](const std::string&) {
        TempDir dir;
        LoggedContext lc(dir.path());
        JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
        conv_case<float>(jit, aot, 300, 12, "same", true);
        conv_case<double>(jit, aot, 300, 12, "same", true);
    });
    if (compilers == 0) GTEST_SKIP() << "neither g++ nor clang++ on PATH";
}

// Non-finite samples through the strict kernels: NaN and ±Inf reach the outputs whose window
// holds them, as in the AOT kernel (bit for bit elsewhere, NaN where it has NaN).
TEST(JitConvolution, StrictNonFiniteAsAot) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    for (std::int64_t k : {9, 40}) {
        const std::int64_t n = 700;
        Array<float> x({n}), h({k});
        for (std::int64_t i = 0; i < n; ++i) x(i) = std::cos(0.11f * static_cast<float>(i));
        for (std::int64_t i = 0; i < k; ++i) h(i) = std::exp(-0.05f * static_cast<float>(i));
        x(150) = std::numeric_limits<float>::quiet_NaN();
        x(400) = std::numeric_limits<float>::infinity();
        x(402) = -std::numeric_limits<float>::infinity();
        auto kj = jit.compile_convolution_kernel<float>(h.view(), n, "full");
        ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
        EXPECT_EQ(kj.source().find("register-tiled") != std::string::npos, jit::conv_tiled(k, false, jit::aot_uses_fma(lc.ctx.isa()), lc.ctx.isa()));
        auto ka = aot.compile_convolution_kernel<float>(h.view(), n, "full");
        Array<float> yj = kj(x.view()), ya = ka(x.view());
        ASSERT_EQ(yj.size(), ya.size());
        std::int64_t nans = 0;
        for (index_t j = 0; j < ya.size(); ++j) {
            ASSERT_EQ(std::isnan(yj(j)), std::isnan(ya(j))) << "k=" << k << " j=" << j;
            if (std::isnan(ya(j))) ++nans;
            else ASSERT_EQ(std::memcmp(&yj(j), &ya(j), sizeof(float)), 0) << "k=" << k << " j=" << j << ": " << yj(j) << " vs " << ya(j);
        }
        EXPECT_GE(nans, k) << "the NaN's window, and Inf − Inf where both infinities meet";
    }
}

TEST(JitConvolution, FastMathWithinToleranceAndNaN) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig fm;
    fm.enable_fastmath = true;
    JITCompiler jit(fm, lc.ctx), aot(JITConfig{.enable_jit = false}, lc.ctx);
    const std::int64_t n = 500, k = 40;
    Array<float> x({2, n}), h({k});
    for (std::int64_t i = 0; i < 2 * n; ++i) x.data()[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::int64_t i = 0; i < k; ++i) h(i) = std::exp(-0.1f * static_cast<float>(i));
    x(1, 250) = std::numeric_limits<float>::quiet_NaN();
    auto kj = jit.compile_convolution_kernel<float>(h.view(), n, "same");
    ASSERT_TRUE(kj.is_compiled()) << kj.fallback_reason();
    auto ka = aot.compile_convolution_kernel<float>(h.view(), n, "same");
    Array<float> yj = kj(x.view()), ya = ka(x.view());
    ASSERT_EQ(yj.shape(0), 2);
    for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t j = 0; j < n; ++j) {
            float a = ya(c, j), b = yj(c, j);
            ASSERT_EQ(std::isnan(a), std::isnan(b)) << c << "," << j;
            if (!std::isnan(a)) {
                ASSERT_NEAR(a, b, 1e-5f * 10) << c << "," << j;
            }
        }
    // Strided input (every other sample) gives the same as the contiguous copy.
    Array<float> wide({2 * n});
    for (std::int64_t i = 0; i < n; ++i) wide(2 * i) = x(0, i);
    auto strided = kj(wide.view().slice(0, 0, 2 * n, 2));
    for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(strided(j), yj(0, j));
}

TEST(JitConvolution, BadArguments) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    Array<double> h({3});
    EXPECT_NE(test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 10, "middle"); }).find("mode"), std::string::npos);
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 0, "full"); });
    Array<double> empty({0});
    test_support::expect_throw_msg<ShapeError>([&] { (void)jit.compile_convolution_kernel<double>(empty.view(), 5, "full"); });
    h(1) = std::numeric_limits<double>::infinity();
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.compile_convolution_kernel<double>(h.view(), 5, "full"); });
    h(1) = 0;
    auto k = jit.compile_convolution_kernel<double>(h.view(), 5, "full");
    Array<double> x({4});
    auto msg = test_support::expect_throw_msg<ShapeError>([&] { (void)k(x.view()); });
    EXPECT_NE(msg.find("(5)"), std::string::npos) << msg;
}

