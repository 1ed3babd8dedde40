// Reservoir updates, per kernel variant and thread split: the activations' accuracy per
// precision_mode, every variant against the reference and the others (avx2 and avx512 bit for
// bit), 16-bit column indices, non-finite inputs, and bit-identical results for any thread
// count, split and steal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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
class ReservoirIsaTyped : public ::testing::Test {};
TYPED_TEST_SUITE(ReservoirIsaTyped, FloatTypes);

template <class T>
double ulps(T got, LD ref) {
    if (std::isnan(ref)) return std::isnan(got) ? 0 : 1e30;
    T r = static_cast<T>(ref);
    T spacing = std::nextafter(std::fabs(r), std::numeric_limits<T>::infinity()) - std::fabs(r);
    if (spacing == 0 || !std::isfinite(spacing)) return got == r ? 0 : 1e30;
    return double(std::fabs(LD(got) - ref) / LD(spacing));
}

template <class T>
std::vector<T> activation_inputs() {
    std::vector<T> v{T(0), T(-0.0), T(1e-30), T(-1e-6), T(0.1249), T(0.125), T(0.1251), T(0.5), T(-0.75), T(3),
                     T(-9.5), T(19.9), T(25), T(-40), T(100), T(-800), T(800),
                     std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity()};
    std::mt19937_64 rng(7);
    std::normal_distribution<double> dist(0, 3);
    for (int i = 0; i < 3000; ++i) v.push_back(static_cast<T>(dist(rng)));
    return v;
}

TYPED_TEST(ReservoirIsaTyped, ActivationAccuracyPerPrecision) {
    using T = TypeParam;
    constexpr bool is_float = std::is_same_v<T, float>;
    struct Mode {
        kernels::Precision p;
        double max_ulps;  // float: ≤ 1 ulp in every mode (evaluated in double); double high: libm
        double max_rel;   // double low / ep: relative bounds of the mode
    };
    // Double "high" is kernels/vmath.hpp's HA grade: tanh ≤ 1.08 ulp, sigmoid ≤ 2.33 ulp measured
    // (docs/results.md, "elementwise"); checked on every variant.
    std::vector<Mode> modes = {{kernels::Precision::high, is_float ? 1.0 : 2.5, 0}, {kernels::Precision::low, is_float ? 1.0 : 0, 1e-14},
                               {kernels::Precision::ep, is_float ? 1.0 : 0, 1e-8}};
    for (Isa isa : isas_here())
    for (Activation f : {Activation::tanh, Activation::sigmoid}) {
        for (const auto& m : modes) {
            auto in = activation_inputs<T>();
            auto z = in;
            kernels::apply_activation<T>(isa, f, m.p, static_cast<std::int64_t>(z.size()), z.data());
            for (std::size_t i = 0; i < in.size(); ++i) {
                LD ref = activate(f, LD(in[i]));
                if (m.max_ulps > 0) {
                    ASSERT_LE(ulps<T>(z[i], ref), (f == Activation::tanh && m.p == kernels::Precision::high && !is_float) ? 1.25 : m.max_ulps)
                        << activation_name(f) << " mode " << int(m.p) << " isa " << isa_name(isa) << " x=" << in[i] << " got " << z[i];
                } else {
                    ASSERT_LE(double(std::fabs(LD(z[i]) - ref)), m.max_rel * double(std::fabs(ref)) + 1e-300)
                        << activation_name(f) << " mode " << int(m.p) << " x=" << in[i] << " got " << z[i];
                }
            }
            kernels::apply_activation<T>(isa, f, m.p, 1, z.data());
            T nan = std::numeric_limits<T>::quiet_NaN();
            kernels::apply_activation<T>(isa, f, m.p, 1, &nan);
            EXPECT_TRUE(std::isnan(nan));
        }
        // tanh(-0) keeps its sign.
        T mz = T(-0.0);
        kernels::apply_activation<T>(isa, Activation::tanh, kernels::Precision::low, 1, &mz);
        EXPECT_TRUE(std::signbit(mz));
    }
}

TYPED_TEST(ReservoirIsaTyped, PrecisionModesThroughOptimizer) {
    using T = TypeParam;
    const index_t n = 100, d = 5;
    auto w = random_reservoir<T>(n, 0.2, 71);
    auto w_in = random_array<T>({n, d}, 72);
    auto u = random_array<T>({d}, 73);
    auto x = random_array<T>({n}, 74);
    std::vector<LD> mag;
    auto ref = reference_step<T>(x.view(), w_in.view(), w.view(), u.view(), ReservoirOptions<T>{}, &mag);
    for (const char* mode : {"high", "low", "ep"}) {
        auto y = make_opt(1, mode).optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view());
        LD extra = std::string(mode) == "ep" && !std::is_same_v<T, float> ? 1e-8L : 0;
        for (index_t i = 0; i < n; ++i)
            ASSERT_LE(std::fabs(LD(y(i)) - ref[static_cast<std::size_t>(i)]),
                      tolerance<T>(n, d, mag[static_cast<std::size_t>(i)]) + extra) << mode << " row " << i;
    }
}

// Every variant against the naive reference, on edge and prime sizes (521 spans three 256-row
// blocks), dense and CSR, every activation, with and without leak; and the sequence (16-bit
// column indices from 4 steps on) against repeated single steps.
TYPED_TEST(ReservoirIsaTyped, EveryIsaMatchesNaive) {
    using T = TypeParam;
    for (Isa isa : isas_here()) {
        auto opt = make_opt(1, "high", isa);
        std::uint64_t seed = 500;
        for (index_t n : {1, 2, 3, 13, 257, 521}) {
            const index_t d = 3;
            auto w = random_reservoir<T>(n, n < 20 ? 0.5 : 0.05, seed++);
            auto csr = CsrMatrix<T>::from_dense(w.view());
            auto w_in = random_array<T>({n, d}, seed++);
            auto u = random_array<T>({d}, seed++);
            auto x = random_array<T>({n}, seed++, 0.5);
            for (Activation f : kActivations) {
                for (T leak : {T(1), T(0.3)}) {
                    ReservoirOptions<T> o;
                    o.activation = f;
                    o.leak_rate = leak;
                    std::vector<LD> mag;
                    auto ref = reference_step<T>(x.view(), w_in.view(), w.view(), u.view(), o, &mag);
                    std::string what = std::string("isa ") + isa_name(isa) + " N=" + std::to_string(n) + " f=" +
                                       activation_name(f) + " leak=" + std::to_string(leak);
                    auto dense = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u.view(), o);
                    expect_close<T>(dense.view(), ref, mag, d, "dense " + what);
                    auto sparse = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
                    expect_close<T>(sparse.view(), ref, mag, d, "csr " + what);
                }
            }
            // Sequence with narrowed indices vs in-place steps (int32 indices). D = 1: the GEMM's
            // input term is one product, as in the step, so the two agree bit for bit.
            auto w_in1 = random_array<T>({n, 1}, seed++);
            auto inputs = random_array<T>({6, 1}, seed++);
            auto states = opt.run_reservoir<T>(x.view(), w_in1.view(), csr, inputs.view());
            auto xs = x.clone();
            for (index_t t = 0; t < 6; ++t) {
                ArrayView<const T> u_t(inputs.data() + t, {1});
                opt.reservoir_update_inplace<T>(xs.view(), w_in1.view(), csr, u_t);
                for (index_t i = 0; i < n; ++i) ASSERT_EQ(states(t, i), xs(i)) << "isa " << isa_name(isa) << " N=" << n << " t=" << t << " i=" << i;
            }
        }
    }
}

// The variants compute the same sums in the same order. avx2 and avx512 fuse the same
// multiply-adds, so they give the same bits; generic fuses none: within a few ulps of them.
// Dense and CSR, single steps and sequences, gathers on and off.
TYPED_TEST(ReservoirIsaTyped, IsasAgree) {
    using T = TypeParam;
    if (isas_here().size() < 2) GTEST_SKIP() << "one variant on this CPU";
    const index_t n = 389, d = 4;
    auto w = random_reservoir<T>(n, 0.1, 601);
    auto csr = CsrMatrix<T>::from_dense(w.view());
    auto w_in = random_array<T>({n, d}, 602);
    auto inputs = random_array<T>({5, d}, 603);
    auto x = random_array<T>({n}, 604, 0.5);
    std::vector<std::vector<Array<T>>> out;  // per variant: CSR sequence, dense sequence, CSR step, dense step
    for (Isa isa : isas_here()) {
        auto opt = make_opt(1, "high", isa);
        ArrayView<const T> u0(inputs.data(), {d});
        auto& cases = out.emplace_back();
        cases.push_back(opt.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view()));
        cases.push_back(opt.run_reservoir<T>(x.view(), w_in.view(), w.view(), inputs.view()));
        cases.push_back(opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u0));
        cases.push_back(opt.optimize_reservoir_update<T>(x.view(), w_in.view(), w.view(), u0));
    }
    for (std::size_t v = 1; v < out.size(); ++v)
        for (std::size_t k = 0; k < out[0].size(); ++k)
            for (index_t i = 0; i < out[0][k].size(); ++i) {
                const T a = out[v][k].data()[i], b = out[0][k].data()[i], c = out[1][k].data()[i];
                ASSERT_NEAR(double(a), double(b), 8 * double(std::numeric_limits<T>::epsilon()))
                    << isa_name(isas_here()[v]) << " against generic, case " << k << " element " << i;
                if (v >= 2) {
                    ASSERT_EQ(a, c) << "avx512 against avx2, case " << k << " element " << i;
                }
            }
}

// The sliced rows of a sequence (kernels/reservoir_slices.hpp: short rows grouped by length,
// transposed, gathered across rows) give the bits of the row-by-row sums: every row length
// 0..20 (slices, leftovers, long rows), ±0, NaN and ±Inf in the state, 16- and 32-bit indices.
TYPED_TEST(ReservoirIsaTyped, SlicedRowsBitIdentical) {
    using T = TypeParam;
    const index_t n = 613;
    std::mt19937_64 rng(77);
    std::vector<std::int64_t> ptr{0};
    std::vector<std::int32_t> col;
    std::vector<T> val;
    for (index_t i = 0; i < n; ++i) {
        const index_t len = i < 400 ? static_cast<index_t>(rng() % 9) : static_cast<index_t>(rng() % 21);
        std::vector<std::int32_t> cols;
        while (static_cast<index_t>(cols.size()) < len) {
            const auto c = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(n));
            if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
        }
        std::sort(cols.begin(), cols.end());
        for (auto c : cols) col.push_back(c), val.push_back(static_cast<T>(static_cast<double>(rng() % 2001) / 1000.0 - 1.0));
        ptr.push_back(static_cast<std::int64_t>(col.size()));
    }
    CsrMatrix<T> w(n, n, std::move(ptr), std::move(col), std::move(val));
    auto x0 = random_array<T>({n}, 78, 0.5);
    x0(5) = T(-0.0), x0(6) = T(0.0), x0(7) = std::numeric_limits<T>::quiet_NaN(), x0(8) = std::numeric_limits<T>::infinity();
    const index_t steps = 6;
    auto pre = random_array<T>({steps, n}, 79);
    for (Isa isa : isas_here()) {
        for (bool sixteen : {false, true}) {
            kernels::ReservoirStep<T> s;
            s.n = n;
            s.x_old = x0.data();
            s.input_pre = pre.data();
            s.activation = Activation::identity;  // keep the NaN / Inf rows apart from the others
            s.isa = isa;
            kernels::CsrRows<T> rows{w.row_ptr().data(), w.col_idx().data(), w.values().data()};
            if (sixteen) rows.col16 = w.col_idx16().data();
            Array<T> seq({steps, n});
            kernels::reservoir_sequence<T>(s, rows, steps, seq.data());  // sliced (≥ 4 steps, one thread)
            Array<T> one({n});
            std::vector<T> x(x0.data(), x0.data() + n);
            for (index_t q = 0; q < steps; ++q) {  // single steps: row by row
                kernels::ReservoirStep<T> st = s;
                st.x_old = x.data();
                st.x_new = one.data();
                st.input_pre = pre.data() + q * n;
                kernels::reservoir_step<T>(st, rows);
                for (index_t i = 0; i < n; ++i) {
                    if (std::isnan(one(i))) {  // a NaN's sign and payload depend on operand order
                        ASSERT_TRUE(std::isnan(seq(q, i))) << isa_name(isa) << " step " << q << " row " << i;
                        continue;
                    }
                    ASSERT_EQ(std::memcmp(&seq(q, i), &one(i), sizeof(T)), 0)
                        << isa_name(isa) << (sixteen ? " 16-bit" : " 32-bit") << " step " << q << " row " << i << ": "
                        << seq(q, i) << " vs " << one(i);
                }
                std::copy(one.data(), one.data() + n, x.begin());
            }
        }
    }
}

// Kernel level: 16-bit indices give the same bits as int32 ones (same order of the sums), up to
// the 65536-column boundary, and so does the gather loop for either index width; 65537 columns
// cannot be narrowed.
TYPED_TEST(ReservoirIsaTyped, NarrowIndicesBitIdentical) {
    using T = TypeParam;
    for (Isa isa : isas_here()) {
        for (index_t n : {1, 2, 3, 31, 521, 65536}) {
            // Up to k entries per row in increasing columns, the last one in column n − 1.
            const index_t k = std::min<index_t>(n, n >= 65536 ? 3 : 20);
            std::vector<std::int64_t> ptr(static_cast<std::size_t>(n) + 1);
            std::vector<std::int32_t> col;
            std::vector<T> val;
            std::mt19937_64 rng(static_cast<std::uint64_t>(n));
            std::normal_distribution<double> dist(0, 1.0 / std::sqrt(double(k)));
            for (index_t i = 0; i < n; ++i) {
                for (index_t j = 0; j < k; ++j) {
                    index_t c = (j * n) / k + static_cast<index_t>(rng() % static_cast<std::uint64_t>(std::max<index_t>(1, n / k)));
                    if (j == k - 1) c = n - 1;  // every row reads the last column (65535 at the boundary)
                    col.push_back(static_cast<std::int32_t>(std::min<index_t>(c, n - 1)));
                    val.push_back(static_cast<T>(dist(rng)));
                }
                // strictly increasing columns within the row
                std::sort(col.end() - k, col.end());
                col.erase(std::unique(col.end() - k, col.end()), col.end());
                val.resize(col.size());
                ptr[static_cast<std::size_t>(i) + 1] = static_cast<std::int64_t>(col.size());
            }
            CsrMatrix<T> w(n, n, std::move(ptr), std::move(col), std::move(val));
            ASSERT_EQ(w.col_idx().back(), n - 1);
            auto c16 = w.col_idx16();
            ASSERT_EQ(c16.size(), static_cast<std::size_t>(w.nnz()));
            EXPECT_EQ(c16.back(), static_cast<std::uint16_t>(n - 1));
            auto x0 = random_array<T>({n}, 700 + static_cast<std::uint64_t>(n), 0.5);
            const index_t steps = 3;
            auto pre = random_array<T>({steps, n}, 800 + static_cast<std::uint64_t>(n));
            kernels::ReservoirStep<T> s;
            s.n = n;
            s.x_old = x0.data();
            s.input_pre = pre.data();
            s.leak = T(0.7);
            s.isa = isa;
            kernels::CsrRows<T> rows{w.row_ptr().data(), w.col_idx().data(), w.values().data()};
            Array<T> wide({steps, n}), narrow({steps, n});
            kernels::reservoir_sequence<T>(s, rows, steps, wide.data());
            rows.col16 = c16.data();
            kernels::reservoir_sequence<T>(s, rows, steps, narrow.data());
            for (index_t i = 0; i < wide.size(); ++i)
                ASSERT_EQ(wide.data()[i], narrow.data()[i]) << "isa " << isa_name(isa) << " N=" << n << " element " << i;
            // The explicit vgatherdps/pd loops (avx2 and avx512, rows ≥ 16 / 8 entries), with
            // the 16-bit and then the 32-bit indices.
            rows.hw_gather = true;
            for (bool sixteen : {true, false}) {
                rows.col16 = sixteen ? c16.data() : nullptr;
                kernels::reservoir_sequence<T>(s, rows, steps, narrow.data());
                for (index_t i = 0; i < wide.size(); ++i) {
#if defined(__SANITIZE_ADDRESS__)
                    // The sanitizer build does not contract the lane loop's a·b + c into FMA as
                    // the release build does (see test_jit_reservoir.cpp); the intrinsic loop
                    // always fuses.
                    ASSERT_NEAR(double(wide.data()[i]), double(narrow.data()[i]), 64 * double(std::numeric_limits<T>::epsilon()))
                        << "hw gather, " << (sixteen ? 16 : 32) << "-bit, isa " << isa_name(isa) << " N=" << n << " element " << i;
#else
                    ASSERT_EQ(wide.data()[i], narrow.data()[i])
                        << "hw gather, " << (sixteen ? 16 : 32) << "-bit, isa " << isa_name(isa) << " N=" << n << " element " << i;
#endif
                }
            }
        }
    }
    // Beyond 65536 columns there is no 16-bit copy (the sequence reads col_idx).
    CsrMatrix<float> wide_cols(1, 65537, {0, 1}, {65536}, {1.0f});
    EXPECT_TRUE(wide_cols.col_idx16().empty());
}

// Non-finite values on every variant and the narrowed path: NaN propagates to the rows that
// see it, ±Inf saturate tanh and sigmoid, pass through relu and identity.
TYPED_TEST(ReservoirIsaTyped, NonFiniteOnEveryIsa) {
    using T = TypeParam;
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const index_t n = 7;
    // W: row i reads x[i] only (diagonal), so row 3 sees the NaN in x and no other row does.
    Array<T> wd({n, n});
    for (index_t i = 0; i < n; ++i) wd(i, i) = T(0.5);
    auto csr = CsrMatrix<T>::from_dense(wd.view());
    Array<T> w_in({n, 1});
    for (index_t i = 0; i < n; ++i) w_in(i, 0) = i % 2 == 0 ? T(1) : T(-1);
    auto x = random_array<T>({n}, 900, 0.1);
    x(3) = nan;
    for (Isa isa : isas_here()) {
        auto opt = make_opt(1, "high", isa);
        for (Activation f : kActivations) {
            ReservoirOptions<T> o;
            o.activation = f;
            Array<T> u({1});
            u(0) = inf;
            auto y = opt.optimize_reservoir_update<T>(x.view(), w_in.view(), csr, u.view(), o);
            for (index_t i = 0; i < n; ++i) {
                std::string what = std::string(activation_name(f)) + " isa " + isa_name(isa) + " row " + std::to_string(i);
                if (i == 3) {
                    EXPECT_TRUE(std::isnan(y(i))) << what;
                    continue;
                }
                T sign = i % 2 == 0 ? T(1) : T(-1);
                switch (f) {
                    case Activation::tanh: EXPECT_EQ(y(i), sign) << what; break;
                    case Activation::sigmoid: EXPECT_EQ(y(i), sign > 0 ? T(1) : T(0)) << what; break;
                    case Activation::relu: EXPECT_EQ(y(i), sign > 0 ? inf : T(0)) << what; break;
                    case Activation::identity: EXPECT_EQ(y(i), sign * inf) << what; break;
                }
            }
        }
        // The sequence (narrowed indices): a NaN state row stays NaN, the others stay finite.
        Array<T> inputs({5, 1});
        for (index_t t = 0; t < 5; ++t) inputs(t, 0) = T(0.1) * T(t);
        auto states = opt.run_reservoir<T>(x.view(), w_in.view(), csr, inputs.view());
        for (index_t t = 0; t < 5; ++t)
            for (index_t i = 0; i < n; ++i)
                EXPECT_EQ(std::isnan(states(t, i)), i == 3) << "isa " << isa_name(isa) << " t=" << t << " i=" << i;
    }
}

// CsrMatrix::col_idx16: the narrowed indices equal col_idx, are computed once and shared by
// copies, absent above 65536 columns and for moved-from matrices; concurrent first calls agree.
TYPED_TEST(ReservoirIsaTyped, CachedNarrowIndices) {
    using T = TypeParam;
    for (index_t n : {0, 1, 2, 3, 31, 257}) {
        auto csr = CsrMatrix<T>::from_dense(random_reservoir<T>(n, 0.3, 900 + static_cast<std::uint64_t>(n)).view());
        auto c16 = csr.col_idx16();
        ASSERT_EQ(c16.size(), csr.col_idx().size()) << "N=" << n;
        for (std::size_t e = 0; e < c16.size(); ++e) ASSERT_EQ(c16[e], csr.col_idx()[e]) << "N=" << n << " entry " << e;
        if (c16.empty()) continue;
        EXPECT_EQ(csr.col_idx16().data(), c16.data()) << "N=" << n << ": narrowed again";
        CsrMatrix<T> copy = csr;
        EXPECT_EQ(copy.col_idx16().data(), c16.data()) << "N=" << n << ": the copy does not share the cache";
        CsrMatrix<T> moved = std::move(copy);
        EXPECT_EQ(moved.col_idx16().data(), c16.data());
        EXPECT_TRUE(copy.col_idx16().empty());  // NOLINT(bugprone-use-after-move): documented state
    }
    // The boundary: 65536 columns narrow (the last index 65535), 65537 do not.
    CsrMatrix<T> edge(1, 65536, {0, 2}, {0, 65535}, {T(1), T(2)});
    ASSERT_EQ(edge.col_idx16().size(), 2u);
    EXPECT_EQ(edge.col_idx16()[1], 65535);
    CsrMatrix<T> wide(1, 65537, {0, 1}, {65536}, {T(1)});
    EXPECT_TRUE(wide.col_idx16().empty());
    // Concurrent first calls: one narrowing, one pointer.
    auto big = CsrMatrix<T>::from_dense(random_reservoir<T>(300, 0.5, 910).view());
    const std::uint16_t* seen[4] = {};
    std::vector<std::thread> pool;
    for (int k = 0; k < 4; ++k) pool.emplace_back([&, k] { seen[k] = big.col_idx16().data(); });
    for (auto& th : pool) th.join();
    for (int k = 1; k < 4; ++k) EXPECT_EQ(seen[k], seen[0]);
}

// run_reservoir reads the cached 16-bit indices: a second call (cache warm), a fresh matrix with
// the same arrays (cache cold) and the values changed in place between calls (the cache holds
// only indices) all give the states of the int32 path, bit for bit.
TYPED_TEST(ReservoirIsaTyped, SequenceWithCachedIndices) {
    using T = TypeParam;
    auto opt = make_opt();
    const index_t n = 211, d = 3, steps = 6;  // steps ≥ 4: the narrowed path
    auto w = CsrMatrix<T>::from_dense(random_reservoir<T>(n, 0.2, 920).view());
    auto w_in = random_array<T>({n, d}, 921);
    auto inputs = random_array<T>({steps, d}, 922);
    auto x0 = random_array<T>({n}, 923, 0.5);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.8);
    // The reference: the kernel's sequence over the int32 indices after the same GEMM.
    auto reference = [&](const CsrMatrix<T>& m) {
        Array<T> pre({steps, n}), out({steps, n});
        opt.matrix_multiply_into<T>(inputs.view(), w_in.view(), pre.view(), false, true);
        kernels::ReservoirStep<T> s;
        s.n = n;
        s.x_old = x0.data();
        s.input_pre = pre.data();
        s.leak = o.leak_rate;
        s.isa = opt.context().isa();
        kernels::CsrRows<T> rows{m.row_ptr().data(), m.col_idx().data(), m.values().data()};
        kernels::reservoir_sequence<T>(s, rows, steps, out.data());
        return out;
    };
    auto check = [&](const Array<T>& got, const Array<T>& want, const char* what) {
        for (index_t i = 0; i < got.size(); ++i) ASSERT_EQ(got.data()[i], want.data()[i]) << what << " element " << i;
    };
    auto cold = opt.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view(), o);
    ASSERT_FALSE(w.col_idx16().empty());
    auto warm = opt.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view(), o);
    check(cold, reference(w), "cold cache");
    check(warm, cold, "warm cache");
    for (auto& v : w.values()) v = -v * T(0.5);
    auto changed = opt.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view(), o);
    check(changed, reference(w), "values changed after caching");
}

// Small sequences on 2 threads: with single-threaded steps (below kReservoirParallelWork) the
// GEMM runs on one thread below kReservoirGemmParallelWork; the states equal the 1-thread
// call's bit for bit on both sides of the thresholds.
TYPED_TEST(ReservoirIsaTyped, SmallSequenceThreadsBitIdentical) {
    using T = TypeParam;
    constexpr double g = kernels::kReservoirGemmParallelWork;
    EXPECT_EQ(kernels::reservoir_gemm_threads(g - 1, 1, 2), 1);
    EXPECT_EQ(kernels::reservoir_gemm_threads(g, 1, 2), 2);
    EXPECT_EQ(kernels::reservoir_gemm_threads(g - 1, 2, 2), 2);  // steps keep the worker busy anyway
    EXPECT_EQ(kernels::reservoir_gemm_threads(1e12, 1, 1), 1);
    EXPECT_EQ(kernels::reservoir_gemm_threads(1e12, 2, 1), 1);
    auto one = make_opt(1), two = make_opt(2);
    for (index_t n : {1, 2, 3, 97, 500, 1500}) {  // 1500 at d = 0.05: parallel steps, 2-thread GEMM
        for (index_t steps : {1, 5, 40}) {
            const index_t d = 50;
            const double density = n == 1500 ? 0.05 : 0.02;
            auto w = CsrMatrix<T>::from_dense(random_reservoir<T>(n, density, 930 + static_cast<std::uint64_t>(n)).view());
            if (n == 1500) {
                ASSERT_GT(kernels::reservoir_threads(double(w.nnz()) + 4.0 * double(n), 2, n), 1);
            }
            auto w_in = random_array<T>({n, d}, 931);
            auto inputs = random_array<T>({steps, d}, 932);
            auto x0 = random_array<T>({n}, 933, 0.5);
            auto a = one.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view());
            auto b = two.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view());
            for (index_t i = 0; i < a.size(); ++i)
                ASSERT_EQ(a.data()[i], b.data()[i]) << "N=" << n << " T=" << steps << " element " << i;
        }
    }
}

// The thread split: contiguous whole-block ranges of about equal stored entries.
TEST(ReservoirSplit, RangesBalanceStoredEntries) {
    using kernels::kReservoirBlock;
    using kernels::reservoir_block_split;
    EXPECT_EQ(reservoir_block_split(0, nullptr, 0, 2), 0);
    EXPECT_EQ(reservoir_block_split(0, nullptr, 2, 2), 0);
    // Dense (uniform rows): 40 blocks → 20 + 20; 3 threads over 7 blocks: ranges cover 0..7 in order.
    EXPECT_EQ(reservoir_block_split(40 * kReservoirBlock, nullptr, 1, 2), 20);
    for (int nt : {1, 2, 3, 5}) {
        std::int64_t prev = 0;
        for (int id = 0; id <= nt; ++id) {
            std::int64_t b = reservoir_block_split(7 * kReservoirBlock - 3, nullptr, id, nt);
            EXPECT_GE(b, prev) << "nt=" << nt << " id=" << id;
            prev = b;
        }
        EXPECT_EQ(prev, 7) << "nt=" << nt;
    }
    // Skewed CSR: the first 2 of 8 blocks hold 90% of the entries → thread 0 gets 1 block of
    // heavy rows, not 4 blocks.
    const std::int64_t n = 8 * kReservoirBlock;
    std::vector<std::int64_t> ptr(static_cast<std::size_t>(n) + 1, 0);
    for (std::int64_t r = 0; r < n; ++r) ptr[static_cast<std::size_t>(r) + 1] = ptr[static_cast<std::size_t>(r)] + (r < 2 * kReservoirBlock ? 90 : 3);
    EXPECT_EQ(reservoir_block_split(n, ptr.data(), 1, 2), 1);
    EXPECT_EQ(reservoir_block_split(n, ptr.data(), 2, 2), 8);
}

// Skewed rows on 1 and 2 threads (the cost-weighted split): bit for bit the same states.
TYPED_TEST(ReservoirIsaTyped, SkewedRowsThreadsBitIdentical) {
    using T = TypeParam;
    auto one = make_opt(1), two = make_opt(2);
    const index_t n = 1300, d = 4, steps = 5;
    std::vector<std::int64_t> ptr(static_cast<std::size_t>(n) + 1, 0);
    std::vector<std::int32_t> col;
    std::vector<T> val;
    std::mt19937_64 rng(940);
    for (index_t i = 0; i < n; ++i) {
        const index_t k = i < 300 ? 400 : 7;  // heavy rows first
        for (index_t j = 0; j < k; ++j) {
            col.push_back(static_cast<std::int32_t>((j * n) / k + static_cast<index_t>(rng() % static_cast<std::uint64_t>(n / k))));
            val.push_back(static_cast<T>((static_cast<double>(rng() % 2001) - 1000.0) / (1000.0 * std::sqrt(double(k)))));
        }
        ptr[static_cast<std::size_t>(i) + 1] = static_cast<std::int64_t>(col.size());
    }
    CsrMatrix<T> w(n, n, std::move(ptr), std::move(col), std::move(val));
    ASSERT_GT(kernels::reservoir_threads(double(w.nnz()) + 4.0 * double(n), 2, n), 1);
    ASSERT_EQ(kernels::reservoir_block_split(n, w.row_ptr().data(), 1, 2), 1);  // not the equal-count 3
    auto w_in = random_array<T>({n, d}, 941);
    auto inputs = random_array<T>({steps, d}, 942);
    auto x0 = random_array<T>({n}, 943, 0.5);
    auto u = random_array<T>({d}, 944);
    auto a = one.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view());
    auto b = two.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view());
    for (index_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << "sequence element " << i;
    auto c = one.optimize_reservoir_update<T>(x0.view(), w_in.view(), w, u.view());
    auto e = two.optimize_reservoir_update<T>(x0.view(), w_in.view(), w, u.view());
    for (index_t i = 0; i < n; ++i) ASSERT_EQ(c(i), e(i)) << "single step row " << i;
}


// More threads than CPUs (5 on this 2-vCPU machine): threads are descheduled mid-step, and the
// others take the rest of their block ranges. Whoever runs a block, the states are the 1-thread
// states bit for bit, at every step of a long sequence, call after call.
TYPED_TEST(ReservoirIsaTyped, StolenBlocksBitIdentical) {
    using T = TypeParam;
    auto one = make_opt(1), five = make_opt(5);
    const index_t n = 23 * kernels::kReservoirBlock + 7, d = 3, steps = 40;  // 24 blocks, the last short
    auto dense = random_reservoir<T>(n, 0.004, 950);
    auto w = CsrMatrix<T>::from_dense(dense.view());
    ASSERT_EQ(kernels::reservoir_threads(double(w.nnz()) + 4.0 * double(n), 5, n), 5);
    auto w_in = random_array<T>({n, d}, 951);
    auto inputs = random_array<T>({steps, d}, 952);
    auto x0 = random_array<T>({n}, 953, 0.5);
    ReservoirOptions<T> o;
    o.leak_rate = T(0.7);
    auto ref = one.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view(), o);
    for (int call = 0; call < 3; ++call) {
        auto got = five.run_reservoir<T>(x0.view(), w_in.view(), w, inputs.view(), o);
        ASSERT_EQ(got.size(), ref.size());
        for (index_t i = 0; i < ref.size(); ++i)
            ASSERT_EQ(got.data()[i], ref.data()[i]) << "call " << call << ", step " << i / n << ", row " << i % n;
    }
}

}  // namespace
