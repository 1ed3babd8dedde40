// optimize_batch_processing: both paths against a naive reference on dense 0/1 and real-valued
// batches and on index lists, any strides, edge sizes; bit-identical event results at any thread
// count and batch grouping; the cost model's decisions; NaN handling; error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/batch.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using kernels::BatchPath;
using neuroperf::test_support::EnvGuard;

namespace {

Context quiet_context() {
    static Context ctx = [] {
        ContextOptions o;
        o.calibrate = false;
        o.log = [](std::string_view) {};
        return make_context(std::move(o));
    }();
    return ctx;
}

MKLOptimizer optimizer(int threads) {
    MKLConfig cfg;
    cfg.num_threads = threads;
    return MKLOptimizer(cfg, quiet_context());
}

template <class T>
Array<T> random_weights(index_t n, index_t m, std::uint64_t seed) {
    Array<T> w({n, m});
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> d;
    for (index_t i = 0; i < w.size(); ++i) w.data()[i] = static_cast<T>(d(rng));
    return w;
}

template <class T>
Array<T> random_spikes(index_t b, index_t n, double p, bool real_valued, std::uint64_t seed) {
    Array<T> s({b, n});
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u;
    for (index_t i = 0; i < s.size(); ++i)
        if (u(rng) < p) s.data()[i] = real_valued ? static_cast<T>(u(rng) * 4 - 2) : T(1);
    return s;
}

// Deliberately naive: Σ_i s[b][i]·W[i][j] in long double, plus Σ|s||W| for the tolerance.
template <class T>
void naive(ArrayView<const T> s, ArrayView<const T> w, std::vector<long double>& ref, std::vector<long double>& mag) {
    index_t B = s.shape(0), N = s.shape(1), M = w.shape(1);
    ref.assign(static_cast<std::size_t>(B * M), 0);
    mag.assign(static_cast<std::size_t>(B * M), 0);
    for (index_t b = 0; b < B; ++b)
        for (index_t j = 0; j < M; ++j)
            for (index_t i = 0; i < N; ++i) {
                long double x = static_cast<long double>(s(b, i)) * static_cast<long double>(w(i, j));
                ref[static_cast<std::size_t>(b * M + j)] += x;
                mag[static_cast<std::size_t>(b * M + j)] += std::fabs(x);
            }
}

template <class T>
void expect_matches(const Array<T>& got, ArrayView<const T> s, ArrayView<const T> w, const std::string& what) {
    std::vector<long double> ref, mag;
    naive(s, w, ref, mag);
    ASSERT_EQ(got.rank(), 2) << what;
    ASSERT_EQ(got.shape(0), s.shape(0)) << what;
    ASSERT_EQ(got.shape(1), w.shape(1)) << what;
    const long double eps = std::numeric_limits<T>::epsilon();
    for (index_t b = 0; b < got.shape(0); ++b)
        for (index_t j = 0; j < got.shape(1); ++j) {
            auto k = static_cast<std::size_t>(b * got.shape(1) + j);
            long double tol = 4 * eps * (mag[k] + 1e-30L) * static_cast<long double>(s.shape(1) + 1);
            ASSERT_LE(std::fabs(static_cast<long double>(got(b, j)) - ref[k]), tol) << what << " at (" << b << ", " << j << ")";
        }
}

template <class T>
bool bit_equal(const Array<T>& a, const Array<T>& b) {
    if (a.size() != b.size()) return false;
    for (index_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(T)) != 0) return false;
    return true;
}

template <class T>
class BatchTyped : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(BatchTyped, Types);

TYPED_TEST(BatchTyped, DenseMatchesNaiveOnEveryPath) {
    using T = TypeParam;
    auto opt = optimizer(2);
    std::uint64_t seed = 1;
    for (index_t B : {0, 1, 2, 3, 64})
        for (index_t N : {1, 7, 61})
            for (index_t M : {1, 13, 67})
                for (double p : {0.0, 0.01, 0.1, 0.5, 1.0})
                    for (bool real : {false, true}) {
                        auto w = random_weights<T>(N, M, ++seed);
                        auto s = random_spikes<T>(B, N, p, real, ++seed);
                        for (auto path : {BatchPath::automatic, BatchPath::gemm, BatchPath::event}) {
                            auto what = ::testing::PrintToString(std::vector<double>{double(B), double(N), double(M), p}) +
                                        (real ? " real " : " 0/1 ") + kernels::batch_path_name(path);
                            auto out = api::batch_processing<T>(opt, s.view(), w.view(), path);
                            expect_matches<T>(out, s.view(), w.view(), what);
                        }
                    }
}

TYPED_TEST(BatchTyped, SeveralColumnTilesMatchNaive) {
    using T = TypeParam;
    // N large enough that the W panel (N × tile) limits the tile width: 3-5 column tiles.
    const index_t B = 5, N = 5000, M = 1999;
    auto w = random_weights<T>(N, M, 21);
    for (bool real : {false, true}) {
        auto s = random_spikes<T>(B, N, 0.2, real, 22);  // touches all of W: panel-limited tiles
        auto out = api::batch_processing<T>(optimizer(2), s.view(), w.view(), BatchPath::event);
        expect_matches<T>(out, s.view(), w.view(), real ? "tiles real" : "tiles 0/1");
    }
}

TYPED_TEST(BatchTyped, StridedViewsOfBatchesAndWeights) {
    using T = TypeParam;
    auto opt = optimizer(2);
    const index_t B = 5, N = 31, M = 23;
    auto wbig = random_weights<T>(2 * N, 3 * M, 7);
    auto sbig = random_spikes<T>(2 * B, 2 * N, 0.2, true, 8);
    auto w = wbig.view().slice(0, 1, 2 * N, 2).slice(1, 0, 3 * M, 3);  // row stride 6M, column stride 3
    auto s = sbig.view().slice(0, 0, 2 * B, 2).slice(1, 1, 2 * N, 2);
    auto wt_store = random_weights<T>(M, N, 9);
    auto wt = wt_store.view().transposed();  // column-major W
    auto st_store = random_spikes<T>(N, B, 0.3, false, 10);
    auto st = st_store.view().transposed();
    for (auto path : {BatchPath::automatic, BatchPath::gemm, BatchPath::event}) {
        ArrayView<const T> cw = w, cs = s, cwt = wt, cst = st;
        expect_matches<T>(api::batch_processing<T>(opt, cs, cw, path), cs, cw, "strided");
        expect_matches<T>(api::batch_processing<T>(opt, cst, cwt, path), cst, cwt, "transposed");
    }
}

TYPED_TEST(BatchTyped, IndexListsWithEmptyListsAndDuplicates) {
    using T = TypeParam;
    auto opt = optimizer(2);
    const index_t N = 11, M = 37;
    auto w = random_weights<T>(N, M, 3);
    std::vector<std::vector<std::int32_t>> lists{{}, {3}, {10, 0, 3, 3}, {}, {5, 5, 5, 1, 2, 4, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
    Array<T> dense({static_cast<index_t>(lists.size()), N});  // duplicates count twice
    for (std::size_t b = 0; b < lists.size(); ++b) {
        for (auto i : lists[b]) {
            dense(static_cast<index_t>(b), i) += T(1);
        }
    }
    for (auto path : {BatchPath::automatic, BatchPath::gemm, BatchPath::event}) {
        auto out = api::batch_processing<T>(opt, lists, w.view(), path);
        expect_matches<T>(out, dense.view(), w.view(), std::string("lists ") + kernels::batch_path_name(path));
    }
    auto pub = opt.optimize_batch_processing<T>(lists, w.view());
    expect_matches<T>(pub, dense.view(), w.view(), "public lists");
    // No lists at all: a 0 × M result.
    auto none = opt.optimize_batch_processing<T>(std::vector<std::vector<std::int32_t>>{}, w.view());
    EXPECT_EQ(none.shape(0), 0);
    EXPECT_EQ(none.shape(1), M);
}

TYPED_TEST(BatchTyped, EventPathIsBitIdenticalAcrossThreadsAndGrouping) {
    using T = TypeParam;
    // Large enough for a thread team (>= 4e6 accumulated elements), several tiles and row chunks.
    const index_t B = 70, N = 3000, M = 2001;
    auto w = random_weights<T>(N, M, 11);
    for (bool real : {false, true}) {
        auto s = random_spikes<T>(B, N, 0.3, real, 12);
        auto one = api::batch_processing<T>(optimizer(1), s.view(), w.view(), BatchPath::event);
        auto two = api::batch_processing<T>(optimizer(2), s.view(), w.view(), BatchPath::event);
        auto three = api::batch_processing<T>(optimizer(3), s.view(), w.view(), BatchPath::event);
        EXPECT_TRUE(bit_equal(one, two)) << (real ? "real" : "0/1");
        EXPECT_TRUE(bit_equal(one, three)) << (real ? "real" : "0/1");
        // A batch row alone (group of one, four-row folding) gives the same bits as in a group.
        for (index_t b : {0, 37, 69}) {
            auto row = s.view().slice(0, b, b + 1);
            auto single = api::batch_processing<T>(optimizer(2), row, w.view(), BatchPath::event);
            for (index_t j = 0; j < M; ++j)
                ASSERT_EQ(std::memcmp(&single(0, j), &two(b, j), sizeof(T)), 0) << "row " << b << " col " << j;
        }
    }
}

// The event kernel on every variant: the naive sum within the bound, avx2 and avx512 (the same
// fused multiply-adds) bit for bit; 0/1 spikes add without products, so every variant agrees.
TYPED_TEST(BatchTyped, EventPathOnEveryIsa) {
    using T = TypeParam;
    const index_t B = 21, N = 301, M = 67;
    auto w = random_weights<T>(N, M, 31);
    for (bool real : {false, true}) {
        auto s = random_spikes<T>(B, N, 0.2, real, 32);
        std::vector<Array<T>> out;
        for (Isa isa : test_support::isas_here()) {
            MKLConfig cfg;
            cfg.num_threads = 1;
            out.push_back(api::batch_processing<T>(MKLOptimizer(cfg, test_support::isa_context(isa)), s.view(), w.view(),
                                                   BatchPath::event));
            expect_matches<T>(out.back(), s.view(), w.view(), std::string(isa_name(isa)) + (real ? " real" : " 0/1"));
        }
        if (out.size() == 3) {
            EXPECT_TRUE(bit_equal(out[1], out[2])) << "avx2 vs avx512, " << (real ? "real" : "0/1");
        }
        if (!real) {
            for (std::size_t v = 1; v < out.size(); ++v) EXPECT_TRUE(bit_equal(out[0], out[v])) << "0/1 spikes, variant " << v;
        }
    }
}

TEST(BatchDecision, CrossoverFollowsTheCostModel) {
    using kernels::choose_batch_path;
    const auto f32 = DType::float32, f64 = DType::float64;
    // The targets: sparse batches of a 4000 × 4000 layer go event-driven.
    EXPECT_EQ(choose_batch_path(1, 4000, 4000, 80, f32, 2), BatchPath::event);
    EXPECT_EQ(choose_batch_path(64, 4000, 4000, 64 * 80, f32, 2), BatchPath::event);
    EXPECT_EQ(choose_batch_path(64, 4000, 4000, 64 * 80, f64, 1), BatchPath::event);
    // Dense batches go to the GEMM.
    EXPECT_EQ(choose_batch_path(64, 4000, 4000, 64 * 4000, f32, 2), BatchPath::gemm);
    EXPECT_EQ(choose_batch_path(256, 1024, 1024, 256 * 900, f32, 2), BatchPath::gemm);
    EXPECT_EQ(choose_batch_path(64, 4000, 4000, 64 * 2000, f64, 1), BatchPath::gemm);
    // One batch row: the GEMM is a memory-bound GEMV that streams (and packs) all of W, while the
    // event path reads only the active rows once, in cache-friendly 4-row folds: event throughout.
    EXPECT_EQ(choose_batch_path(1, 4000, 4000, 4000, f32, 2), BatchPath::event);
    // No events at all: nothing to add, the event path wins.
    EXPECT_EQ(choose_batch_path(64, 4000, 4000, 0, f32, 2), BatchPath::event);
    // Monotone in density: one crossover, between the measured 7 % and 50 %.
    for (index_t B : {16, 64, 256})
        for (auto dt : {f32, f64})
            for (int t : {1, 2}) {
                const index_t N = 2000, M = 2000;
                bool seen_gemm = false;
                double crossover = 1.0;
                for (int k = 0; k <= 100; ++k) {
                    auto nnz = static_cast<index_t>(static_cast<double>(B * N) * k / 100.0);
                    auto path = choose_batch_path(B, N, M, nnz, dt, t);
                    if (path == BatchPath::gemm && !seen_gemm) crossover = k / 100.0;
                    if (seen_gemm) {
                        EXPECT_EQ(path, BatchPath::gemm) << "B=" << B << " k=" << k;
                    }
                    seen_gemm = seen_gemm || path == BatchPath::gemm;
                }
                EXPECT_GE(crossover, 0.05) << "B=" << B << " threads=" << t;
                EXPECT_LE(crossover, 0.6) << "B=" << B << " threads=" << t;
            }
}

TEST(BatchDecision, EnvironmentOverride) {
    EnvGuard env("NEUROPERF_BATCH_PATH");
    auto opt = optimizer(1);
    auto w = random_weights<float>(5, 4, 1);
    auto s = random_spikes<float>(2, 5, 0.5, false, 2);
    for (const char* v : {"auto", "gemm", "event"}) {
        env.set(v);
        expect_matches<float>(opt.optimize_batch_processing<float>(s.view(), w.view()), s.view(), w.view(), v);
    }
    env.set("sparse");
    try {
        (void)opt.optimize_batch_processing<float>(s.view(), w.view());
        FAIL() << "no error";
    } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("NEUROPERF_BATCH_PATH"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("\"sparse\""), std::string::npos) << e.what();
    }
}

TEST(BatchNonFinite, PropagatesThroughUsedRowsAndSpikes) {
    auto opt = optimizer(1);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    Array<float> w({3, 4});
    w.fill(1.f);
    w(1, 2) = nan;
    w(2, 0) = inf;
    Array<float> s({3, 3});
    s(0, 1) = 1;  // uses the NaN row
    s(1, 2) = 1;  // uses the Inf row
    s(2, 0) = nan;  // NaN spike value
    for (auto path : {BatchPath::gemm, BatchPath::event}) {
        auto out = api::batch_processing<float>(opt, s.view(), w.view(), path);
        EXPECT_TRUE(std::isnan(out(0, 2))) << kernels::batch_path_name(path);
        EXPECT_TRUE(std::isnan(out(1, 0)) || out(1, 0) == inf);  // Inf, or 0·Inf = NaN on the dense path
        for (index_t j = 0; j < 4; ++j) EXPECT_TRUE(std::isnan(out(2, j)));
    }
    // Documented difference: a NaN in a row no batch uses reaches the dense product (0·NaN) but
    // not the event-driven one, which treats inactive inputs as structural zeros (as scipy.sparse).
    Array<float> s2({1, 3});
    s2(0, 0) = 1;
    auto dense = api::batch_processing<float>(opt, s2.view(), w.view(), BatchPath::gemm);
    auto event = api::batch_processing<float>(opt, s2.view(), w.view(), BatchPath::event);
    EXPECT_TRUE(std::isnan(dense(0, 2)));
    EXPECT_EQ(event(0, 2), 1.f);
    EXPECT_EQ(event(0, 0), 1.f);
    auto e1 = api::batch_processing<float>(opt, s.view(), w.view(), BatchPath::event);
    EXPECT_EQ(e1(1, 0), inf);
    EXPECT_EQ(e1(0, 0), 1.f);
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "<no error>";
}

TEST(BatchErrors, NameTheArgumentExpectedAndActual) {
    auto opt = optimizer(1);
    Array<float> w({5, 3}), s({2, 5}), s1({5}), w3({5, 3, 1}), wbad({6, 3});
    auto msg = error_of([&] { (void)opt.optimize_batch_processing<float>(s1.view(), w.view()); });
    EXPECT_NE(msg.find("spike_batches: expected a rank-2 array"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(5,)"), std::string::npos) << msg;
    EXPECT_THROW((void)opt.optimize_batch_processing<float>(s1.view(), w.view()), ShapeError);

    msg = error_of([&] { (void)opt.optimize_batch_processing<float>(s.view(), w3.view()); });
    EXPECT_NE(msg.find("weight_matrix: expected a rank-2 array"), std::string::npos) << msg;

    msg = error_of([&] { (void)opt.optimize_batch_processing<float>(s.view(), wbad.view()); });
    EXPECT_NE(msg.find("weight_matrix: expected N = 5 rows"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(2, 5)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(6, 3)"), std::string::npos) << msg;
    EXPECT_THROW((void)opt.optimize_batch_processing<float>(s.view(), wbad.view()), ShapeError);

    std::vector<std::vector<std::int32_t>> lists{{0, 1}, {4, 2, 5}};
    msg = error_of([&] { (void)opt.optimize_batch_processing<float>(lists, w.view()); });
    EXPECT_NE(msg.find("spike_indices[1][2]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[0, 5)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got 5"), std::string::npos) << msg;
    EXPECT_THROW((void)opt.optimize_batch_processing<float>(lists, w.view()), ValueError);

    lists = {{-1}};
    msg = error_of([&] { (void)opt.optimize_batch_processing<float>(lists, w.view()); });
    EXPECT_NE(msg.find("spike_indices[0][0]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got -1"), std::string::npos) << msg;

    msg = error_of([&] { (void)opt.optimize_batch_processing<float>(lists, w3.view()); });
    EXPECT_NE(msg.find("weight_matrix: expected a rank-2 array"), std::string::npos) << msg;
}

TEST(BatchEdges, EmptyExtents) {
    auto opt = optimizer(2);
    Array<double> w0({0, 4}), s0({3, 0}), w({4, 0}), s({3, 4});
    auto a = opt.optimize_batch_processing<double>(s0.view(), w0.view());  // N = 0: zeros
    ASSERT_EQ(a.shape(0), 3);
    ASSERT_EQ(a.shape(1), 4);
    for (index_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.data()[i], 0.0);
    auto b = opt.optimize_batch_processing<double>(s.view(), w.view());  // M = 0
    EXPECT_EQ(b.shape(0), 3);
    EXPECT_EQ(b.shape(1), 0);
}

}  // namespace
