// JIT reservoir update kernel: the AOT step (MKLOptimizer::reservoir_update_inplace) against a
// naive long-double reference, the compiled kernel bit-identical to it (dense and CSR, bias,
// leak, every activation and precision, float and double, edge sizes), fast math within
// tolerance, NaN propagation, the no-argument default and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/jit_compiler.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::quiet_context;
using test_support::TempDir;

namespace {


MKLOptimizer make_opt(const std::string& precision, Isa isa) {
    MKLConfig cfg;
    cfg.num_threads = 1;
    cfg.precision_mode = precision;
    cfg.backend = "builtin";
    return MKLOptimizer(cfg, test_support::isa_context(isa));
}

long double act_ref(Activation f, long double z) {
    switch (f) {
        case Activation::tanh: return std::tanh(z);
        case Activation::identity: return z;
        case Activation::relu: return z < 0 ? 0.0L : z;
        case Activation::sigmoid: return 1.0L / (1.0L + std::exp(-z));
    }
    return z;
}

template <class T>
struct Operands {
    index_t n, d;
    Array<T> x, w_in, w, u, b;
    CsrMatrix<T> csr;
    Operands(index_t n_, index_t d_, std::uint64_t seed, double density) : n(n_), d(d_), x({n_}), w_in({n_, d_}), w({n_, n_}), u({d_}), b({n_}) {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> nd;
        std::uniform_real_distribution<double> ud;
        for (index_t i = 0; i < n; ++i) x(i) = static_cast<T>(nd(rng));
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < d; ++j) w_in(i, j) = static_cast<T>(nd(rng));
        for (index_t i = 0; i < n; ++i)
            for (index_t j = 0; j < n; ++j) w(i, j) = ud(rng) < density ? static_cast<T>(nd(rng)) : T(0);
        for (index_t j = 0; j < d; ++j) u(j) = static_cast<T>(nd(rng));
        for (index_t i = 0; i < n; ++i) b(i) = static_cast<T>(0.5 * nd(rng));
        csr = CsrMatrix<T>::from_dense(w.view());
    }
};

template <class T>
void reservoir_case(const JITCompiler& jit, ReservoirKernelSpec spec, std::uint64_t seed) {
    SCOPED_TRACE(fmt::format("{} N={} D={} a={} {} {} {} {}", sizeof(T) == 4 ? "f32" : "f64", spec.num_neurons, spec.input_dim,
                             spec.leak_rate, activation_name(spec.activation), spec.sparse ? "csr" : "dense",
                             spec.has_bias ? "bias" : "-", spec.precision));
    const index_t n = spec.num_neurons, d = spec.input_dim;
    Operands<T> op(n, d, seed, spec.sparse ? 0.2 : 1.0);
    // AOT step through the public MKLOptimizer call.
    ReservoirOptions<T> o;
    o.leak_rate = static_cast<T>(spec.leak_rate);
    o.activation = spec.activation;
    if (spec.has_bias) o.bias = op.b.view();
    Array<T> x_aot = Array<T>::copy_of(op.x.view());
    auto opt = make_opt(spec.precision, jit.context().isa());  // the AOT variant the kernel mirrors
    if (spec.sparse) opt.reservoir_update_inplace<T>(x_aot.view(), op.w_in.view(), op.csr, op.u.view(), o);
    else opt.reservoir_update_inplace<T>(x_aot.view(), op.w_in.view(), op.w.view(), op.u.view(), o);
    // Naive reference.
    const double eps = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
    const long double a = static_cast<T>(spec.leak_rate);
    for (index_t i = 0; i < n; ++i) {
        long double z = spec.has_bias ? static_cast<long double>(op.b(i)) : 0.0L;
        long double mag = std::fabs(z);
        for (index_t j = 0; j < d; ++j) z += static_cast<long double>(op.w_in(i, j)) * op.u(j), mag += std::fabs(static_cast<long double>(op.w_in(i, j)) * op.u(j));
        for (index_t j = 0; j < n; ++j) z += static_cast<long double>(op.w(i, j)) * op.x(j), mag += std::fabs(static_cast<long double>(op.w(i, j)) * op.x(j));
        long double want = (1 - a) * op.x(i) + a * act_ref(spec.activation, z);
        double tol = 8 * eps * (static_cast<double>(n + d) * static_cast<double>(mag) + 2 + std::fabs(static_cast<double>(op.x(i))));
        if (spec.precision == "ep") tol += 1e-8;
        ASSERT_NEAR(static_cast<double>(x_aot(i)), static_cast<double>(want), tol) << "row " << i;
    }
    // Compiled kernel: bit-identical.
    auto k = jit.compile_reservoir_update_kernel<T>(spec);
    ASSERT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(k.key().size(), 32u);
    Array<T> x_jit = Array<T>::copy_of(op.x.view());
    ArrayView<const T> bias = spec.has_bias ? op.b.view() : ArrayView<const T>{};
    if (spec.sparse) k(x_jit.view(), op.w_in.view(), op.csr, op.u.view(), bias);
    else k(x_jit.view(), op.w_in.view(), op.w.view(), op.u.view(), bias);
    for (index_t i = 0; i < n; ++i) {
#if defined(__SANITIZE_ADDRESS__)
        // The sanitizer build compiles the AOT step at -O2 with instrumentation: GCC vectorises
        // its dot tails differently there (other FMA contraction), so only the release build's
        // AOT code is reproduced bit for bit; here within rounding.
        ASSERT_NEAR(static_cast<double>(x_jit(i)), static_cast<double>(x_aot(i)),
                    8 * eps * static_cast<double>(n + d + 2) * (1 + std::fabs(static_cast<double>(x_aot(i))))) << "row " << i;
#else
        ASSERT_EQ(std::memcmp(&x_jit(i), &x_aot(i), sizeof(T)), 0) << "row " << i << ": jit " << x_jit(i) << " aot " << x_aot(i);
#endif
    }
}

ReservoirKernelSpec rspec(index_t n, index_t d, double a, Activation f, bool sparse, bool bias, const char* precision = "high") {
    ReservoirKernelSpec s;
    s.num_neurons = n;
    s.input_dim = d;
    s.leak_rate = a;
    s.activation = f;
    s.sparse = sparse;
    s.has_bias = bias;
    s.precision = precision;
    return s;
}

}  // namespace

TEST(JitReservoir, DoubleBitIdenticalToAot) {
    TempDir dir;
    JITCompiler jit(JITConfig{}, quiet_context(dir.path()));
    reservoir_case<double>(jit, rspec(1, 1, 1.0, Activation::tanh, false, false), 1);
    reservoir_case<double>(jit, rspec(37, 3, 0.3, Activation::tanh, false, true), 2);
    reservoir_case<double>(jit, rspec(300, 5, 0.7, Activation::tanh, false, false, "low"), 3);
    reservoir_case<double>(jit, rspec(300, 2, 0.5, Activation::sigmoid, true, true), 4);
    reservoir_case<double>(jit, rspec(7, 0, 1.0, Activation::relu, false, false), 5);
    reservoir_case<double>(jit, rspec(50, 2, 0.9, Activation::sigmoid, true, false, "ep"), 6);
}

TEST(JitReservoir, FloatBitIdenticalToAot) {
    TempDir dir;
    JITCompiler jit(JITConfig{}, quiet_context(dir.path()));
    reservoir_case<float>(jit, rspec(3, 1, 1.0, Activation::tanh, false, false), 11);
    reservoir_case<float>(jit, rspec(300, 4, 0.3, Activation::tanh, false, true), 12);
    reservoir_case<float>(jit, rspec(129, 2, 0.9, Activation::sigmoid, true, false), 13);
    reservoir_case<float>(jit, rspec(13, 1, 0.25, Activation::identity, true, true), 14);
    reservoir_case<float>(jit, rspec(2, 3, 0.6, Activation::relu, false, true, "ep"), 15);
}

// On every variant the compiled step mirrors that variant's AOT step (generic unfused; avx2 with
// 256-bit fused halves and AVX2 gathers; avx512): dense and CSR, both types.
TEST(JitReservoir, BitIdenticalToAotOnEveryIsa) {
    for (Isa isa : test_support::isas_here()) {
        SCOPED_TRACE(isa_name(isa));
        TempDir dir;
        ContextOptions o = test_support::quiet_opts();
        o.cache_dir = dir.path();
        o.isa = isa_name(isa);
        JITCompiler jit(JITConfig{}, make_context(o));
        reservoir_case<double>(jit, rspec(300, 5, 0.7, Activation::tanh, false, true), 21);
        reservoir_case<double>(jit, rspec(300, 2, 0.5, Activation::sigmoid, true, true), 22);
        reservoir_case<float>(jit, rspec(300, 4, 0.3, Activation::tanh, false, true), 23);
        reservoir_case<float>(jit, rspec(257, 2, 0.9, Activation::relu, true, false), 24);
    }
}

TEST(JitReservoir, DefaultsStridedStateNanAndFallback) {
    TempDir dir;
    auto ctx = quiet_context(dir.path());
    JITCompiler jit(JITConfig{}, ctx), aot(JITConfig{.enable_jit = false}, ctx);
    auto k = jit.compile_reservoir_update_kernel();  // the API's no-argument call: N = 100, D = 1, double
    ASSERT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(k.spec().num_neurons, 100);
    EXPECT_NE(k.source().find("N=100"), std::string::npos);
    EXPECT_EQ(k.source().find("#include"), std::string::npos);
    auto ka = aot.compile_reservoir_update_kernel();
    EXPECT_FALSE(ka.is_compiled());
    EXPECT_NE(ka.fallback_reason().find("disabled"), std::string::npos);
    EXPECT_FALSE(ka.source().empty());
    // Strided state (every other element), NaN in one input weight row.
    Operands<double> op(100, 1, 21, 0.1);
    op.w_in(5, 0) = std::nan("");
    Array<double> big1({200}), big2({200});
    for (index_t i = 0; i < 200; ++i) big1(i) = big2(i) = i % 2 ? 99.0 : op.x(i / 2);
    const index_t shape1[] = {100}, stride1[] = {2};
    ArrayView<double> s1(big1.data(), shape1, stride1), s2(big2.data(), shape1, stride1);
    k(s1, op.w_in.view(), op.w.view(), op.u.view());
    ka(s2, op.w_in.view(), op.w.view(), op.u.view());
    EXPECT_TRUE(std::isnan(big1(10)) && std::isnan(big2(10)));
    for (index_t i = 0; i < 200; ++i) {
        if (i == 10) continue;
#if defined(__SANITIZE_ADDRESS__)
        ASSERT_NEAR(big1(i), big2(i), 1e-13 * (1 + std::fabs(big2(i)))) << i;  // see reservoir_case
#else
        ASSERT_EQ(std::memcmp(&big1(i), &big2(i), sizeof(double)), 0) << i << ": " << big1(i) << " vs " << big2(i);
#endif
        if (i % 2) {
            ASSERT_EQ(big1(i), 99.0);
        }
    }
    // W_in given transposed (for D = 1 still contiguous in effect): same result as the AOT kernel.
    Array<double> wt({1, 100});
    for (index_t i = 0; i < 100; ++i) wt(0, i) = op.w_in(i, 0) == op.w_in(i, 0) ? op.w_in(i, 0) : 0.0;
    const index_t shape2[] = {100, 1}, stride2[] = {1, 100};
    ArrayView<const double> wtv(wt.data(), shape2, stride2);
    Array<double> y1 = Array<double>::copy_of(op.x.view()), y2 = Array<double>::copy_of(op.x.view());
    k(y1.view(), wtv, op.w.view(), op.u.view());
    ka(y2.view(), wtv, op.w.view(), op.u.view());
#if defined(__SANITIZE_ADDRESS__)
    for (index_t i = 0; i < 100; ++i) EXPECT_NEAR(y1(i), y2(i), 1e-13 * (1 + std::fabs(y2(i)))) << i;  // see reservoir_case
#else
    for (index_t i = 0; i < 100; ++i) EXPECT_EQ(std::memcmp(&y1(i), &y2(i), sizeof(double)), 0) << i << ": " << y1(i) << " vs " << y2(i);
#endif
}

// The fast-math kernel (other key) against the strict one on the same operands, within `tol`.
template <class T>
void fast_math_case(index_t n, index_t d, double leak, Activation act, std::uint64_t seed, double tol, bool sparse = false,
                    Isa isa = best_isa()) {
    TempDir dir;
    ContextOptions o = test_support::quiet_opts();
    o.cache_dir = dir.path();
    o.isa = isa_name(isa);
    auto ctx = make_context(o);
    JITCompiler fm(JITConfig{.enable_fastmath = true}, ctx), strict(JITConfig{}, ctx);
    auto spec = rspec(n, d, leak, act, sparse, true);
    auto kf = fm.compile_reservoir_update_kernel<T>(spec);
    auto ks = strict.compile_reservoir_update_kernel<T>(spec);
    ASSERT_TRUE(kf.is_compiled()) << kf.fallback_reason();
    EXPECT_NE(kf.key(), ks.key());
    // Hardware gathers (builtins of the context's variant) only where that variant has them,
    // fast math or not.
    const bool has_512 = kf.source().find("__builtin_ia32_gathersiv16sf") != std::string::npos ||
                         kf.source().find("__builtin_ia32_gathersiv8df") != std::string::npos;
    const bool has_256 = kf.source().find("gatherd_p") != std::string::npos;
    EXPECT_EQ(has_512, sparse && isa == Isa::avx512);
    EXPECT_EQ(has_256, sparse && isa == Isa::avx2);
    Operands<T> op(n, d, seed, sparse ? 0.2 : 1.0);
    Array<T> y1 = Array<T>::copy_of(op.x.view()), y2 = Array<T>::copy_of(op.x.view());
    if (sparse) {
        kf(y1.view(), op.w_in.view(), op.csr, op.u.view(), op.b.view());
        ks(y2.view(), op.w_in.view(), op.csr, op.u.view(), op.b.view());
    } else {
        kf(y1.view(), op.w_in.view(), op.w.view(), op.u.view(), op.b.view());
        ks(y2.view(), op.w_in.view(), op.w.view(), op.u.view(), op.b.view());
    }
    for (index_t i = 0; i < n; ++i) ASSERT_NEAR(y1(i), y2(i), tol) << i;
}

TEST(JitReservoir, FastMathWithinTolerance) { fast_math_case<float>(200, 3, 0.4, Activation::tanh, 31, 200 * 3e-7 * 4); }

// CSR rows under fast math on every variant: generic (or an AVX2-only CPU) must not get
// AVX-512 gathers, which fast math once implied.
TEST(JitReservoir, FastMathSparseOnEveryIsa) {
    for (Isa isa : test_support::isas_here()) {
        SCOPED_TRACE(isa_name(isa));
        fast_math_case<float>(203, 3, 0.4, Activation::tanh, 33, 203 * 0.2 * 3e-7 * 8, true, isa);
        fast_math_case<double>(97, 2, 0.7, Activation::sigmoid, 34, 1e-12, true, isa);
    }
}

TEST(JitReservoir, BadArguments) {
    JITCompiler jit(JITConfig{.enable_jit = false});
    using test_support::expect_throw_msg;
    auto bad = [&](ReservoirKernelSpec s, const char* field) {
        EXPECT_NE(expect_throw_msg<ValueError>([&] { (void)jit.compile_reservoir_update_kernel<double>(s); }).find(field), std::string::npos);
    };
    ReservoirKernelSpec s;
    s.num_neurons = 0;
    bad(s, "num_neurons");
    s = {};
    s.input_dim = -1;
    bad(s, "input_dim");
    s = {};
    s.leak_rate = 0;
    bad(s, "leak_rate");
    s.leak_rate = std::nan("");
    bad(s, "leak_rate");
    s = {};
    s.precision = "max";
    bad(s, "precision");
    auto k = jit.compile_reservoir_update_kernel<double>(rspec(4, 2, 1.0, Activation::tanh, false, false));
    Operands<double> op(4, 2, 1, 1.0), wrong(5, 2, 1, 1.0);
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { k(wrong.x.view(), op.w_in.view(), op.w.view(), op.u.view()); }).find("state"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { k(op.x.view(), wrong.w_in.view(), op.w.view(), op.u.view()); }).find("input_weights"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { k(op.x.view(), op.w_in.view(), wrong.w.view(), op.u.view()); }).find("reservoir_weights"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ShapeError>([&] { k(op.x.view(), op.w_in.view(), op.w.view(), op.b.view()); }).find("input"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ValueError>([&] { k(op.x.view(), op.w_in.view(), op.w.view(), op.u.view(), op.b.view()); }).find("bias"), std::string::npos);
    EXPECT_NE(expect_throw_msg<ValueError>([&] { k(op.x.view(), op.w_in.view(), op.csr, op.u.view()); }).find("CsrMatrix"), std::string::npos);
}

// Every tail length of the row sums (the AOT tail's rounding depends on it) in both dtypes.
TEST(JitReservoir, TailLengthsBitIdentical) {
    TempDir dir;
    JITCompiler jit(JITConfig{}, quiet_context(dir.path()));
    for (index_t n : {4, 5, 8, 12, 15, 17, 21})
        reservoir_case<double>(jit, rspec(n, n / 2 + 1, 1.0, Activation::identity, false, false), 40 + static_cast<std::uint64_t>(n));
    for (index_t n : {7, 8, 15, 16, 23, 24, 31, 33, 45})
        reservoir_case<float>(jit, rspec(n, n / 3 + 1, 1.0, Activation::identity, false, false), 80 + static_cast<std::uint64_t>(n));
}

// The generated code's shapes: rows in groups of four with a partial last group (N mod 4 ≠ 0),
// W·x with whole lane blocks and an input term with them too (D ≥ 16 / 32), and a W over 8 MB,
// which streams one row at a time through a loop unrolled twice (an odd count of lane blocks
// leaves one for the remainder).
TEST(JitReservoir, RowGroupsAndStreamingBitIdentical) {
    TempDir dir;
    JITCompiler jit(JITConfig{}, quiet_context(dir.path()));
    reservoir_case<double>(jit, rspec(45, 40, 0.3, Activation::tanh, false, true), 51);
    reservoir_case<float>(jit, rspec(67, 70, 0.6, Activation::sigmoid, false, true), 52);
    reservoir_case<double>(jit, rspec(1045, 2, 0.3, Activation::tanh, false, true), 53);  // 8.7 MB, 65 blocks + 5
    reservoir_case<float>(jit, rspec(1470, 2, 1.0, Activation::tanh, false, false), 54);  // 8.6 MB, 45 blocks + 30
}

// Fast math in double (exp's rounding by rint) stays within rounding of the strict kernel.
TEST(JitReservoir, FastMathDoubleSigmoidWithinTolerance) {
    fast_math_case<double>(99, 5, 0.5, Activation::sigmoid, 32, 1e-12);
}

// enable_parallel_loops shares the row blocks among OpenMP threads: still bit-identical.
TEST(JitReservoir, ParallelLoopsBitIdentical) {
    TempDir dir;
    JITCompiler jit(JITConfig{.enable_parallel_loops = true}, quiet_context(dir.path()));
    reservoir_case<double>(jit, rspec(600, 3, 0.3, Activation::tanh, false, true), 91);
    auto k = jit.compile_reservoir_update_kernel<double>(rspec(600, 3, 0.3, Activation::tanh, false, true));
    EXPECT_NE(k.source().find("omp parallel for"), std::string::npos);
}

// CSR rows long enough for the gather loop (60 entries per row at N = 300), with each compiler
// present: both accept the gather builtins of the generated code, and both give the AOT bits.
TEST(JitReservoir, CsrGatherBothCompilersBitIdentical) {
    const int compilers = test_support::for_each_jit_compiler([](const std::string& cxx) {
        TempDir dir;
        JITCompiler jit(JITConfig{}, quiet_context(dir.path()));
        ASSERT_NE(jit.compiler_description().find(cxx == "g++" ? "g++" : "clang"), std::string::npos)
            << jit.compiler_description();
        reservoir_case<float>(jit, rspec(300, 3, 0.4, Activation::tanh, true, true), 61);
        reservoir_case<double>(jit, rspec(300, 3, 0.4, Activation::tanh, true, false), 62);
    });
    if (compilers == 0) GTEST_SKIP() << "neither g++ nor clang++ on PATH";
}
