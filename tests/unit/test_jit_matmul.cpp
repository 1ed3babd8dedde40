// JIT matrix multiply kernel: libxsmm's JIT for small shapes, the context's GEMM otherwise,
// against a naive long-double product at edge sizes in both dtypes; zero sizes, strided views,
// argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "neuroperf/jit_compiler.hpp"
#include "test_support.hpp"

using namespace neuroperf;

namespace {

bool libxsmm_built_in(const Context& ctx) {
    for (const auto& b : ctx.backends())
        if (b.name == "libxsmm") return b.available;
    return false;
}

template <class T>
void matmul_case(const JITCompiler& jit, index_t m, index_t n, index_t k, bool expect_xsmm) {
    SCOPED_TRACE(testing::Message() << (sizeof(T) == 4 ? "f32" : "f64") << " M=" << m << " N=" << n << " K=" << k);
    std::mt19937_64 rng(static_cast<std::uint64_t>(m * 10007 + n * 101 + k));
    std::normal_distribution<double> nd;
    Array<T> a({m, k}), b({k, n});
    for (index_t i = 0; i < m * k; ++i) a.data()[i] = static_cast<T>(nd(rng));
    for (index_t i = 0; i < k * n; ++i) b.data()[i] = static_cast<T>(nd(rng));
    auto kern = jit.compile_matrix_multiply_kernel<T>(m, n, k);
    EXPECT_EQ(kern.is_compiled(), expect_xsmm) << kern.fallback_reason();
    EXPECT_EQ(kern.m(), m);
    EXPECT_NE(kern.source().find("no source"), std::string::npos);
    std::vector<T> c(static_cast<std::size_t>(m * n), T(-7));
    kern(a.data(), b.data(), c.data());
    const double eps = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
    for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
            long double s = 0, mag = 0;
            for (index_t q = 0; q < k; ++q) {
                long double p = static_cast<long double>(a(i, q)) * b(q, j);
                s += p;
                mag += std::fabs(p);
            }
            ASSERT_NEAR(static_cast<double>(c[static_cast<std::size_t>(i * n + j)]), static_cast<double>(s),
                        4 * eps * static_cast<double>(k + 1) * static_cast<double>(mag) + 1e-300)
                << "C(" << i << ", " << j << ")";
        }
}

}  // namespace

TEST(JitMatmul, EdgeSizesMatchNaiveBothDtypes) {
    auto ctx = make_context(test_support::quiet_opts());
    const bool xsmm = libxsmm_built_in(ctx);
    JITCompiler jit(JITConfig{}, ctx);
    for (index_t s : {1, 2, 3, 5, 7, 13, 64, 100}) {
        matmul_case<double>(jit, s, s, s, xsmm && s <= 64);
        matmul_case<float>(jit, s, s, s, xsmm && s <= 64);
    }
    for (auto [m, n, k] : {std::tuple<index_t, index_t, index_t>{3, 5, 7}, {13, 1, 64}, {100, 7, 3}, {2, 100, 13}, {1, 1, 65}}) {
        const bool small = std::max({m, n, k}) <= 64;
        matmul_case<double>(jit, m, n, k, xsmm && small);
        matmul_case<float>(jit, m, n, k, xsmm && small);
    }
    JITCompiler off(JITConfig{.enable_jit = false}, ctx);
    matmul_case<double>(off, 5, 5, 5, false);
    EXPECT_NE(off.compile_matrix_multiply_kernel<double>(5, 5, 5).fallback_reason().find("disabled"), std::string::npos);
}

TEST(JitMatmul, ZeroSizesViewsAndErrors) {
    JITCompiler jit(JITConfig{}, make_context(test_support::quiet_opts()));
    // K = 0: C = 0; M = 0 or N = 0: nothing written.
    auto k0 = jit.compile_matrix_multiply_kernel<double>(2, 3, 0);
    std::vector<double> c(6, 5.0);
    k0(nullptr, nullptr, c.data());
    for (double v : c) EXPECT_EQ(v, 0.0);
    auto m0 = jit.compile_matrix_multiply_kernel<float>(0, 3, 4);
    m0(nullptr, nullptr, nullptr);
    // Views: a transposed (strided) operand, NaN propagates.
    Array<double> at({4, 3}), b({4, 2});
    for (index_t i = 0; i < 12; ++i) at.data()[i] = static_cast<double>(i) - 5;
    for (index_t i = 0; i < 8; ++i) b.data()[i] = 0.5 * static_cast<double>(i);
    b(0, 1) = std::nan("");
    const index_t shape[] = {3, 4}, strides[] = {1, 3};
    ArrayView<const double> a(at.data(), shape, strides);
    auto kern = jit.compile_matrix_multiply_kernel<double>(3, 2, 4);
    Array<double> out = kern(a, b.view());
    for (index_t i = 0; i < 3; ++i) {
        double s = 0;
        for (index_t q = 0; q < 4; ++q) s += a(i, q) * b(q, 0);
        EXPECT_DOUBLE_EQ(out(i, 0), s);
        EXPECT_TRUE(std::isnan(out(i, 1)));
    }
    using test_support::expect_throw_msg;
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { (void)kern(b.view(), b.view()); }).find("a:"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { (void)kern(a, a); }).find("b:"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ValueError>([&] { (void)jit.compile_matrix_multiply_kernel<double>(2, -1, 2); }).find("N"), std::string::npos);
}
