// BLAS layer: every available backend's GEMM against a naive reference, size buckets, the
// registry's search rules, backend requests, calibration cache and thread settings.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "blas/calibration.hpp"
#include "blas/registry.hpp"
#include "neuroperf/blas.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"

namespace fs = std::filesystem;
using namespace neuroperf;
using neuroperf::test_support::EnvGuard;
using neuroperf::test_support::TempDir;
using neuroperf::test_support::quiet_opts;

namespace {

struct GemmCase {
    index_t m, n, k;
    bool ta, tb;
    double alpha, beta;
    bool nan_c;  // C pre-filled with NaN (beta must be 0)
};

// Runs one GEMM with padded leading dimensions and checks it elementwise against a naive
// long double loop with the BLIS-style bound c·k·eps·(|alpha|·(|A||B|) + |beta|·|C0|).
template <class T>
void check_gemm(const GemmKernel<T>& gemm, const GemmCase& g, std::mt19937& rng, int* failures) {
    const index_t pad = 3;
    index_t ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;
    index_t br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
    index_t lda = ac + pad, ldb = bc + pad, ldc = g.n + 2;
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<T> a(static_cast<std::size_t>(std::max<index_t>(1, ar * lda)), T(-999));
    std::vector<T> b(static_cast<std::size_t>(std::max<index_t>(1, br * ldb)), T(-999));
    std::vector<T> c(static_cast<std::size_t>(std::max<index_t>(1, g.m * ldc)), T(12345));
    for (index_t i = 0; i < ar; ++i)
        for (index_t j = 0; j < ac; ++j) a[static_cast<std::size_t>(i * lda + j)] = static_cast<T>(u(rng));
    for (index_t i = 0; i < br; ++i)
        for (index_t j = 0; j < bc; ++j) b[static_cast<std::size_t>(i * ldb + j)] = static_cast<T>(u(rng));
    for (index_t i = 0; i < g.m; ++i)
        for (index_t j = 0; j < g.n; ++j)
            c[static_cast<std::size_t>(i * ldc + j)] =
                g.nan_c ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(u(rng));
    std::vector<T> c0 = c;
    auto A = [&](index_t i, index_t p) -> long double {
        return g.ta ? a[static_cast<std::size_t>(p * lda + i)] : a[static_cast<std::size_t>(i * lda + p)];
    };
    auto B = [&](index_t p, index_t j) -> long double {
        return g.tb ? b[static_cast<std::size_t>(j * ldb + p)] : b[static_cast<std::size_t>(p * ldb + j)];
    };
    gemm(g.ta, g.tb, g.m, g.n, g.k, static_cast<T>(g.alpha), a.data(), lda, b.data(), ldb,
         static_cast<T>(g.beta), c.data(), ldc);
    const long double eps = std::numeric_limits<T>::epsilon();
    for (index_t i = 0; i < g.m; ++i)
        for (index_t j = 0; j < g.n; ++j) {
            long double s = 0, sa = 0;
            for (index_t p = 0; p < g.k; ++p) {
                long double x = A(i, p), y = B(p, j);
                s += x * y;
                sa += std::fabs(x * y);
            }
            auto idx = static_cast<std::size_t>(i * ldc + j);
            long double cz = g.beta == 0 ? 0.0L : static_cast<long double>(c0[idx]);
            long double ref = static_cast<long double>(g.alpha) * s + static_cast<long double>(g.beta) * cz;
            long double bound = 4.0L * static_cast<long double>(g.k + 1) * eps *
                                (std::fabs(static_cast<long double>(g.alpha)) * sa +
                                 std::fabs(static_cast<long double>(g.beta)) * std::fabs(cz));
            long double got = c[idx];
            bool ok = std::isfinite(static_cast<double>(got)) && std::fabs(got - ref) <= bound;
            if (!ok && ++*failures <= 5)
                ADD_FAILURE() << gemm.backend() << " threads=" << gemm.threads() << " m=" << g.m << " n=" << g.n
                              << " k=" << g.k << " ta=" << g.ta << " tb=" << g.tb << " alpha=" << g.alpha
                              << " beta=" << g.beta << " nanC=" << g.nan_c << " at (" << i << "," << j
                              << "): got " << static_cast<double>(got) << " want " << static_cast<double>(ref)
                              << " bound " << static_cast<double>(bound);
        }
    // Padding of C untouched.
    for (index_t i = 0; i < g.m; ++i)
        for (index_t j = g.n; j < ldc; ++j)
            if (c[static_cast<std::size_t>(i * ldc + j)] != T(12345) && ++*failures <= 5)
                ADD_FAILURE() << gemm.backend() << ": wrote C padding at (" << i << "," << j << ") m=" << g.m
                              << " n=" << g.n << " k=" << g.k;
}

template <class T>
void run_backend_gemm_suite() {
    auto ctx = make_context(quiet_opts());
    std::vector<std::tuple<index_t, index_t, index_t>> shapes;
    for (index_t s : {0, 1, 2, 3, 5, 9, 17, 64, 100}) shapes.emplace_back(s, s, s);
    for (auto t : std::vector<std::tuple<index_t, index_t, index_t>>{
             {17, 3, 100}, {1, 257, 5}, {100, 1, 64}, {0, 5, 3}, {5, 0, 3}, {5, 3, 0}, {65, 9, 3}, {3, 64, 65}, {2, 70, 1}})
        shapes.push_back(t);
    std::mt19937 rng(1234);
    int tested = 0;
    for (const auto& info : ctx.backends()) {
        if (!info.available) continue;
        ++tested;
        SCOPED_TRACE("backend " + info.name);
        for (int threads : {1, 2}) {
            GemmKernel<T> gemm = ctx.gemm_on<T>(info.name, threads);
            ASSERT_TRUE(static_cast<bool>(gemm));
            EXPECT_EQ(std::string(gemm.backend()), info.name);
            EXPECT_EQ(gemm.threads(), threads);
            int failures = 0;
            for (auto [m, n, k] : shapes)
                for (int t = 0; t < 4; ++t) {
                    bool ta = t & 1, tb = t & 2;
                    check_gemm<T>(gemm, {m, n, k, ta, tb, 1.0, 0.0, true}, rng, &failures);
                    check_gemm<T>(gemm, {m, n, k, ta, tb, 2.5, -1.0, false}, rng, &failures);
                    check_gemm<T>(gemm, {m, n, k, ta, tb, 1.0, 1.0, false}, rng, &failures);
                }
            // One large case per thread count (beyond libxsmm's limit and the blocking sizes).
            check_gemm<T>(gemm, {257, 257, 257, threads == 2, false, 1.0, 0.0, true}, rng, &failures);
            check_gemm<T>(gemm, {130, 257, 70, false, threads == 2, 2.5, -1.0, false}, rng, &failures);
            EXPECT_EQ(failures, 0);
        }
    }
    EXPECT_GE(tested, 1);
}

template <class T>
void run_backend_nan_inf() {
    auto ctx = make_context(quiet_opts());
    for (const auto& info : ctx.backends()) {
        if (!info.available) continue;
        for (int threads : {1, 2})
            for (index_t s : {9, 64, 100}) {
                SCOPED_TRACE(info.name + " threads=" + std::to_string(threads) + " n=" + std::to_string(s));
                auto gemm = ctx.gemm_on<T>(info.name, threads);
                std::vector<T> a(static_cast<std::size_t>(s * s)), b(static_cast<std::size_t>(s * s)),
                    c(static_cast<std::size_t>(s * s), std::numeric_limits<T>::quiet_NaN());
                std::mt19937 rng(5);
                std::uniform_real_distribution<double> u(0.5, 1.0);  // positive, nonzero
                for (auto& x : a) x = static_cast<T>(u(rng));
                for (auto& x : b) x = static_cast<T>(u(rng));
                index_t rn = s / 3, ri = s - 2;
                a[static_cast<std::size_t>(rn * s + 1)] = std::numeric_limits<T>::quiet_NaN();
                a[static_cast<std::size_t>(ri * s + s - 1)] = std::numeric_limits<T>::infinity();
                gemm(false, false, s, s, s, T(1), a.data(), s, b.data(), s, T(0), c.data(), s);
                for (index_t i = 0; i < s; ++i)
                    for (index_t j = 0; j < s; ++j) {
                        T v = c[static_cast<std::size_t>(i * s + j)];
                        if (i == rn) EXPECT_TRUE(std::isnan(v)) << i << "," << j << " = " << v;
                        else if (i == ri) EXPECT_TRUE(std::isinf(v) && v > 0) << i << "," << j << " = " << v;
                        else EXPECT_TRUE(std::isfinite(v)) << i << "," << j << " = " << v;
                    }
            }
    }
}

}  // namespace

TEST(BlasGemm, AllBackendsFloat) { run_backend_gemm_suite<float>(); }
TEST(BlasGemm, AllBackendsDouble) { run_backend_gemm_suite<double>(); }
TEST(BlasGemm, NanInfPropagateFloat) { run_backend_nan_inf<float>(); }
TEST(BlasGemm, NanInfPropagateDouble) { run_backend_nan_inf<double>(); }

TEST(BlasGemm, LibxsmmLimitReported) {
    auto ctx = make_context(quiet_opts());
    for (const auto& info : ctx.backends()) {
        if (info.name == "libxsmm" && info.available) {
            EXPECT_EQ(info.max_gemm_dim, 64);
        } else if (info.name == "builtin") {
            EXPECT_TRUE(info.available);
        }
    }
}

TEST(BlasBucket, Edges) {
    EXPECT_EQ(gemm_bucket(12, 12, 12), 0);
    EXPECT_EQ(gemm_bucket(13, 13, 13), 1);
    EXPECT_EQ(gemm_bucket(24, 24, 24), 1);
    EXPECT_EQ(gemm_bucket(25, 24, 24), 2);
    EXPECT_EQ(gemm_bucket(0, 5, 3), 0);
    EXPECT_EQ(gemm_bucket(0, 0, 0), 0);
    EXPECT_EQ(gemm_bucket(1000000, 1000000, 1000000), 7);
    EXPECT_EQ(gemm_bucket(INT64_MAX, INT64_MAX, INT64_MAX), 7);
    EXPECT_EQ(gemm_bucket(1, 1, 1728), 0);  // 12^3
    EXPECT_EQ(gemm_bucket(1, 1, 1729), 1);
    // Thin: few rows streaming a large B.
    EXPECT_EQ(gemm_bucket(16, 2048, 2048), kGemmThinBucket);
    EXPECT_EQ(gemm_bucket(64, 1024, 1024), kGemmThinBucket);
    EXPECT_EQ(gemm_bucket(1, 4000, 4000), kGemmThinBucket);
    EXPECT_EQ(gemm_bucket(65, 1024, 1024), 6);   // cube root 408
    EXPECT_EQ(gemm_bucket(16, 1023, 1024), 5);   // B below the thin panel: cube root 256
}

// ---------------------------------------------------------------- Registry search rules
TEST(BlasRegistry, LibrariesMissing) {
    TempDir empty;
    EnvGuard lp("NEUROPERF_LIBRARY_PATH"), mk("NEUROPERF_MKL_LIBRARY"), ob("NEUROPERF_OPENBLAS_LIBRARY"),
        bl("NEUROPERF_BLIS_LIBRARY"), nb("NEUROPERF_BLAS");
    mk.unset();
    ob.unset();
    bl.unset();
    nb.unset();
    lp.set(empty.path().string());
    {
        blas::Registry reg;
        for (const auto& be : reg.backends()) {
            if (be->info.name == "mkl" || be->info.name == "openblas" || be->info.name == "blis") {
                EXPECT_FALSE(be->info.available) << be->info.name;
                EXPECT_FALSE(be->info.reason.empty()) << be->info.name;
                EXPECT_EQ(reg.find(be->info.name), nullptr);
            }
        }
        EXPECT_TRUE(reg.builtin(best_isa()).info.available);
        EXPECT_EQ(reg.builtin(best_isa()).info.name, "builtin");
        EXPECT_NE(reg.find("builtin"), nullptr);
        // The registry still computes: through its builtin row. (Contexts share the process's
        // registry, created before this test changed the environment; a whole process without
        // BLAS libraries is tested through the CLI in tests/python/test_cli.py.)
        const auto& bi = reg.builtin(best_isa());
        GemmKernel<double> gemm(bi.gemm<double>(), &bi, "builtin", 1);
        std::vector<double> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c(4, 0.0);
        gemm(false, false, 2, 2, 2, 1.0, a.data(), 2, b.data(), 2, 0.0, c.data(), 2);
        EXPECT_EQ(c, (std::vector<double>{19, 22, 43, 50}));
    }
}

TEST(BlasRegistry, ExplicitLibraryMissing) {
    EnvGuard ob("NEUROPERF_OPENBLAS_LIBRARY");
    ob.set("/nonexistent/lib.so");
    blas::Registry reg;
    bool seen = false;
    for (const auto& be : reg.backends())
        if (be->info.name == "openblas") {
            seen = true;
            EXPECT_FALSE(be->info.available);
            EXPECT_FALSE(be->info.reason.empty());
            const auto& r = be->info.reason;
            EXPECT_TRUE(r.find("/nonexistent/lib.so") != std::string::npos ||
                        r.find("NEUROPERF_OPENBLAS_LIBRARY") != std::string::npos)
                << "reason does not say which file/variable was used: " << r;
        }
    EXPECT_TRUE(seen);
}

TEST(BlasRegistry, BrokenLibrary) {
    TempDir dir;
    {
        std::ofstream f(dir.path() / "libopenblas.so.0", std::ios::binary);
        std::mt19937 rng(3);
        for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(rng()));
    }
    EnvGuard lp("NEUROPERF_LIBRARY_PATH"), ob("NEUROPERF_OPENBLAS_LIBRARY");
    ob.unset();
    lp.set(dir.path().string());
    blas::Registry reg;
    for (const auto& be : reg.backends())
        if (be->info.name == "openblas") {
            EXPECT_FALSE(be->info.available);
            EXPECT_FALSE(be->info.reason.empty());
        }
    EXPECT_TRUE(reg.builtin(best_isa()).info.available);
    // And pointing the explicit variable at the garbage file.
    ob.set((dir.path() / "libopenblas.so.0").string());
    lp.unset();
    blas::Registry reg2;
    for (const auto& be : reg2.backends())
        if (be->info.name == "openblas") {
            EXPECT_FALSE(be->info.available);
            EXPECT_NE(be->info.reason.find("loaded"), std::string::npos) << be->info.reason;
        }
}

// ---------------------------------------------------------------- Backend requests
TEST(BlasRequest, EnvBuiltin) {
    EnvGuard nb("NEUROPERF_BLAS");
    nb.set("builtin");
    auto ctx = make_context(quiet_opts());
    EXPECT_EQ(ctx.backend_request(), "builtin");
    auto ch = ctx.choices();
    EXPECT_EQ(ch.size(), static_cast<std::size_t>(2 * kGemmBuckets));
    for (const auto& c : ch) {
        EXPECT_EQ(c.backend, "builtin");
        EXPECT_NE(c.why.find("NEUROPERF_BLAS"), std::string::npos) << c.why;
    }
    EXPECT_EQ(std::string(ctx.gemm<float>(500, 500, 500).backend()), "builtin");
}

TEST(BlasRequest, InvalidRequests) {
    EnvGuard nb("NEUROPERF_BLAS");
    nb.set("nonsense");
    try {
        make_context(quiet_opts());
        ADD_FAILURE() << "NEUROPERF_BLAS=nonsense accepted";
    } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("nonsense"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("NEUROPERF_BLAS"), std::string::npos) << e.what();
    }
    nb.unset();
    auto o = quiet_opts();
    o.backend = "nonsense";
    EXPECT_THROW(make_context(o), ValueError);
    auto o2 = quiet_opts();
    o2.num_threads = -1;
    EXPECT_THROW(make_context(o2), ValueError);
    auto o3 = quiet_opts();
    o3.backend = "builtin";
    EXPECT_NO_THROW(make_context(o3));
}

// ---------------------------------------------------------------- Calibration cache
TEST(BlasCalibration, WritesAndRebuildsCorruptCache) {
    TempDir dir;
    EnvGuard nb("NEUROPERF_BLAS");
    nb.unset();
    ContextOptions o;
    o.cache_dir = dir.path();
    o.calibrate = true;
    o.num_threads = 1;
    o.log = [](std::string_view) {};
    fs::path file = dir.path() / "blas-calibration.json";
    {
        auto ctx = make_context(o);
        ctx.calibrate();
        auto text = read_file(file);
        ASSERT_TRUE(text.has_value());
        auto j = nlohmann::json::parse(*text);
        EXPECT_TRUE(j.contains("format"));
        ASSERT_TRUE(j.contains("entries"));
        EXPECT_EQ(j["entries"].size(), 1u);
        for (const auto& c : ctx.choices()) {
            EXPECT_FALSE(c.backend.empty());
            EXPECT_NE(c.why.find("calibrated"), std::string::npos) << c.why;
        }
    }
    write_file_atomic(file, "{not json");
    {
        auto ctx = make_context(o);
        ctx.calibrate(false);
        auto text = read_file(file);
        ASSERT_TRUE(text.has_value());
        nlohmann::json j;
        EXPECT_NO_THROW(j = nlohmann::json::parse(*text)) << *text;
        EXPECT_TRUE(j.contains("entries"));
    }
}

TEST(BlasCalibration, EntryNamingUnavailableBackendIgnored) {
    TempDir dir, empty;
    EnvGuard lp("NEUROPERF_LIBRARY_PATH"), ob("NEUROPERF_OPENBLAS_LIBRARY");
    ob.unset();
    lp.set(empty.path().string());
    blas::Registry reg;  // openblas unavailable
    ASSERT_EQ(reg.find("openblas"), nullptr);
    std::string key = blas::calibration_key(reg, 1, best_isa());
    fs::path file = dir.path() / "blas-calibration.json";
    blas::Calibration cal;
    for (auto& row : cal.best) row.fill("builtin");
    for (auto& row : cal.why) row.fill("handmade");
    blas::store_calibration(file, key, cal);
    auto loaded = blas::load_calibration(file, key, reg);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->best[1][3], "builtin");
    EXPECT_EQ(loaded->why[0][0], "handmade");
    EXPECT_FALSE(blas::load_calibration(file, key + "other", reg).has_value());
    // Handcrafted: one entry names openblas.
    auto j = nlohmann::json::parse(*read_file(file));
    j["entries"][key]["dgemm"][2]["backend"] = "openblas";
    write_file_atomic(file, j.dump());
    EXPECT_FALSE(blas::load_calibration(file, key, reg).has_value());
    j["entries"][key]["dgemm"][2]["backend"] = "no-such-backend";
    write_file_atomic(file, j.dump());
    EXPECT_FALSE(blas::load_calibration(file, key, reg).has_value());
    write_file_atomic(file, "{not json");
    EXPECT_FALSE(blas::load_calibration(file, key, reg).has_value());
    EXPECT_FALSE(blas::load_calibration(dir.path() / "missing.json", key, reg).has_value());
    // store over a corrupt file replaces it.
    blas::store_calibration(file, key, cal);
    EXPECT_TRUE(blas::load_calibration(file, key, reg).has_value());
}

// ---------------------------------------------------------------- Threads
TEST(BlasThreads, OmpNumThreadsEnv) {
    EnvGuard omp("OMP_NUM_THREADS");
    omp.set("1");
    EXPECT_EQ(make_context(quiet_opts()).num_threads(), 1);
    omp.set("3,2");
    EXPECT_EQ(make_context(quiet_opts()).num_threads(), 3);
    omp.set("garbage");
    EXPECT_EQ(make_context(quiet_opts()).num_threads(), available_cpus());
    omp.set("-4");
    EXPECT_EQ(make_context(quiet_opts()).num_threads(), available_cpus());
    omp.set("");
    EXPECT_EQ(make_context(quiet_opts()).num_threads(), available_cpus());
    omp.unset();
    auto o = quiet_opts();
    o.num_threads = 2;
    auto ctx = make_context(o);
    EXPECT_EQ(ctx.num_threads(), 2);
    EXPECT_EQ(ctx.gemm_on<float>("builtin").threads(), 2);
    EXPECT_EQ(ctx.gemm_on<float>("builtin", 1).threads(), 1);
    // Immutable: other thread counts are other contexts.
    o.num_threads = -2;
    EXPECT_THROW(make_context(o), ValueError);
    EXPECT_EQ(ctx.num_threads(), 2);
    o.num_threads = 1;
    EXPECT_EQ(make_context(o).num_threads(), 1);
    EXPECT_EQ(make_context(o).gemm<double>(8, 8, 8).threads(), 1);
    o.num_threads = 0;
    EXPECT_EQ(make_context(o).num_threads(), available_cpus());
    EXPECT_EQ(ctx.num_threads(), 2);
}
