// JIT compiler, its cache and fallbacks: hits, keys, corrupt/truncated/foreign entries, read-only
// directory, 8 processes × 40 concurrent loads; no compiler, failing compiler, JIT disabled; the
// benchmark's rows.
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

// ---------------------------------------------------------------- cache

TEST(JitCache, HitInProcessThenFromDisk) {
    TempDir dir;
    auto spec = small_spec(33, SynapseModel::current);
    std::string key;
    {
        LoggedContext lc(dir.path());
        JITCompiler jit(verbose_config(), lc.ctx);
        auto k1 = jit.compile_spike_processing_kernel<float>(spec);
        ASSERT_TRUE(k1.is_compiled()) << k1.fallback_reason();
        auto k2 = jit.compile_spike_processing_kernel<float>(spec);
        EXPECT_EQ(k1.key(), k2.key());
        EXPECT_EQ(lc.count("compiled spike_processing"), 1) << lc.all();
        EXPECT_EQ(lc.count("loaded"), 0);
        key = k1.key();
        EXPECT_EQ(key.size(), 32u);
        EXPECT_NE(k1.source().find(key), std::string::npos) << "the source records its key";
    }
    EXPECT_TRUE(fs::exists(dir.path() / "jit" / (key + ".so")));
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_TRUE(k.is_compiled());
    EXPECT_EQ(k.key(), key);
    EXPECT_EQ(lc.count("loaded spike_processing"), 1) << lc.all();
    EXPECT_EQ(lc.count("compiled"), 0) << lc.all();

    auto entries = jit_cache_entries(dir.path() / "jit");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].key, key);
    EXPECT_EQ(entries[0].kernel, "spike_processing");
    EXPECT_TRUE(entries[0].valid);
    EXPECT_EQ(clear_jit_cache(dir.path() / "jit"), 1);
    EXPECT_TRUE(jit_cache_entries(dir.path() / "jit").empty());
}

TEST(JitCache, KeysChangeWithEveryInput) {
    TempDir dir;
    LoggedContext lc(dir.path());
    auto spec = small_spec(16, SynapseModel::current);
    auto key_with = [&](JITConfig cfg, const LifSpec& s) {
        JITCompiler jit(cfg, lc.ctx);
        auto k = jit.compile_spike_processing_kernel<float>(s);
        EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
        return k.key();
    };
    JITConfig base;
    std::string k0 = key_with(base, spec);
    JITConfig fm = base;
    fm.enable_fastmath = true;
    JITConfig par = base;
    par.enable_parallel_loops = true;
    LifSpec s2 = spec;
    s2.tau_m = 20.000000001;
    EXPECT_NE(k0, key_with(fm, spec));
    EXPECT_NE(k0, key_with(par, spec));
    EXPECT_NE(k0, key_with(base, s2));
    {
        JITCompiler jit(base, lc.ctx);
        EXPECT_NE(k0, jit.compile_spike_processing_kernel<double>(spec).key());
    }
    // Compiler, flags and CPU: the key function itself.
    jit::Toolchain a;
    a.identity = "clang++|14";
    jit::Toolchain b = a;
    b.identity = "g++|12";
    std::vector<std::string> flags{"-O3"};
    auto ka = jit::cache_key("body", a, flags, "cpu-avx512");
    EXPECT_NE(ka, jit::cache_key("body", b, flags, "cpu-avx512"));
    EXPECT_NE(ka, jit::cache_key("body", a, {"-O2"}, "cpu-avx512"));
    EXPECT_NE(ka, jit::cache_key("body", a, flags, "cpu-avx2"));
    EXPECT_NE(ka, jit::cache_key("body2", a, flags, "cpu-avx512"));
    EXPECT_EQ(ka, jit::cache_key("body", a, flags, "cpu-avx512"));
    // A different compiler in the environment gives a different key.
    if (!find_program("g++").empty() && !find_program("clang++").empty()) {
        EnvGuard cxx("NEUROPERF_CXX");
        cxx.set("g++");
        LoggedContext other(dir.path());
        JITCompiler jit(base, other.ctx);
        auto k = jit.compile_spike_processing_kernel<float>(spec);
        EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
        EXPECT_NE(k.key(), k0);
    }
}

namespace {

// Compiles once in a fresh context, damages the cache entry with `damage`, and checks that a
// new context rebuilds it (log says why) and still gets a compiled kernel.
void check_rebuilt(const std::function<void(const fs::path& so, const fs::path& rec)>& damage, const std::string& why) {
    TempDir dir;
    auto spec = small_spec(9, SynapseModel::current);
    std::string key;
    {
        LoggedContext lc(dir.path());
        key = JITCompiler(verbose_config(), lc.ctx).compile_spike_processing_kernel<float>(spec).key();
        ASSERT_EQ(key.size(), 32u) << lc.all();
    }
    auto so = dir.path() / "jit" / (key + ".so"), rec = dir.path() / "jit" / (key + ".rec");
    damage(so, rec);
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(lc.count("rebuilding"), 1) << lc.all();
    EXPECT_NE(lc.all().find(why), std::string::npos) << lc.all();
    EXPECT_EQ(lc.count("compiled spike_processing"), 1) << lc.all();
    struct stat st{};
    ASSERT_EQ(::stat(so.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::geteuid());
    // And the rebuilt kernel computes what the AOT kernel does.
    Net<float> a(spec, 3), b = a;
    a.run(k, 30);
    b.run(JITCompiler(JITConfig{.enable_jit = false}, lc.ctx).compile_spike_processing_kernel<float>(spec), 30);
    EXPECT_TRUE(bits_equal(a.v, b.v));
}

void overwrite(const fs::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

}  // namespace

TEST(JitCache, TruncatedLibraryRebuilt) {
    check_rebuilt([](const fs::path& so, const fs::path&) { fs::resize_file(so, fs::file_size(so) / 2); }, "truncated");
}
TEST(JitCache, CorruptLibraryRebuilt) {
    check_rebuilt([](const fs::path& so, const fs::path&) {
        std::string text = read_file(so).value();
        std::vector<char> bytes(text.begin(), text.end());
        for (std::size_t i = 64; i < bytes.size(); i += 97) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
        overwrite(so, std::string(bytes.begin(), bytes.end()));
    }, "checksum");
}
TEST(JitCache, CorruptRecordRebuilt) {
    check_rebuilt([](const fs::path&, const fs::path& rec) { overwrite(rec, "garbage\n"); }, "damaged");
}
TEST(JitCache, MissingRecordRebuilt) {
    check_rebuilt([](const fs::path&, const fs::path& rec) { fs::remove(rec); }, ".rec");
}
TEST(JitCache, GroupWritableEntryNotLoaded) {
    check_rebuilt([](const fs::path& so, const fs::path&) { ::chmod(so.c_str(), 0775); }, "writable by group or others");
}
TEST(JitCache, OtherUsersEntryNeverLoaded) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
    check_rebuilt([](const fs::path& so, const fs::path& rec) {
        ASSERT_EQ(::chown(so.c_str(), 65534, 65534), 0);
        ASSERT_EQ(::chown(rec.c_str(), 65534, 65534), 0);
    }, "belongs to another user");
}

TEST(JitCache, UnwritableCacheDirUsesPrivateTempDir) {
    TempDir dir;
    // A cache "directory" below a regular file can never be created (even by root).
    overwrite(dir.path() / "file", "x");
    LoggedContext lc(dir.path() / "file" / "cache");
    JITCompiler jit(verbose_config(), lc.ctx);
    auto k = jit.compile_spike_processing_kernel<float>(small_spec(5, SynapseModel::current));
    EXPECT_TRUE(k.is_compiled()) << k.fallback_reason();
    EXPECT_EQ(lc.count("private temporary directory"), 1) << lc.all();
    auto d = jit.cache_directory();
    EXPECT_NE(d.string().find("neuroperf-jit-"), std::string::npos) << d;
}

TEST(JitCache, ReadOnlyCacheDir) {
    TempDir dir;
    auto spec = small_spec(6, SynapseModel::current);
    {
        LoggedContext lc(dir.path());
        ASSERT_TRUE(JITCompiler(verbose_config(), lc.ctx).compile_spike_processing_kernel<float>(spec).is_compiled());
    }
    ::chmod((dir.path() / "jit").c_str(), 0555);
    LoggedContext lc(dir.path());
    JITCompiler jit(verbose_config(), lc.ctx);
    // The existing entry still loads from the read-only directory; a new kernel compiles
    // somewhere writable (a private directory unless we are root, who may write anyway).
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(spec).is_compiled());
    EXPECT_EQ(lc.count("loaded spike_processing"), 1) << lc.all();
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(7, SynapseModel::current)).is_compiled()) << lc.all();
    if (::geteuid() != 0) {
        EXPECT_EQ(lc.count("private temporary directory"), 1) << lc.all();
    }
    ::chmod((dir.path() / "jit").c_str(), 0755);
}

TEST(JitCache, CacheOffCompilesPrivately) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITConfig cfg = verbose_config();
    cfg.cache_compiled_functions = false;
    JITCompiler jit(cfg, lc.ctx);
    EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(5, SynapseModel::current)).is_compiled());
    EXPECT_TRUE(jit_cache_entries(dir.path() / "jit").empty());
}

// ---------------------------------------------------------------- fallbacks

namespace {
void check_fallback(const std::string& why) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx);  // not verbose: the warning must still be given
    auto spec = small_spec(20, SynapseModel::conductance);
    auto k = jit.compile_spike_processing_kernel<float>(spec);
    auto k2 = jit.compile_spike_processing_kernel<float>(spec);
    EXPECT_FALSE(k.is_compiled());
    EXPECT_NE(k.fallback_reason().find(why), std::string::npos) << k.fallback_reason();
    EXPECT_EQ(lc.count("warning: jit"), 1) << lc.all();
    EXPECT_FALSE(k.source().empty());
    Net<float> a(spec, 1), b = a;
    a.run(k2, 20);
    b.run(JITCompiler(JITConfig{.enable_jit = false}, lc.ctx).compile_spike_processing_kernel<float>(spec), 20);
    EXPECT_TRUE(bits_equal(a.v, b.v));
}
}  // namespace

TEST(JitFallback, NoCompilerOnPath) {
    EnvGuard path("PATH"), cxx("NEUROPERF_CXX");
    path.set("");
    cxx.unset();
    check_fallback("no C++ compiler");
}
TEST(JitFallback, CompilerThatFails) {
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set("/bin/false");
    check_fallback("--version failed");
}
TEST(JitFallback, CompileError) {
    // A "compiler" that answers --version but fails to compile.
    TempDir dir;
    auto script = dir.path() / "badcxx";
    overwrite(script, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bad compiler 1.0'; exit 0; fi\necho 'error: no' >&2\nexit 3\n");
    ::chmod(script.c_str(), 0755);
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set(script.string());
    check_fallback("exit status 3");
}
TEST(JitFallback, MissingNamedCompiler) {
    EnvGuard cxx("NEUROPERF_CXX");
    cxx.set("/nonexistent/clang++");
    check_fallback("NEUROPERF_CXX");
}

// ---------------------------------------------------------------- concurrency across processes

// Child side of ManyProcessesLoadOneKey: 40 loads, each in a new context (so through the disk
// cache, not the in-process registry); exit status = number of failures.
TEST(JitChild, FortyLoads) {
    const char* dir = std::getenv("NEUROPERF_JIT_CHILD_DIR");
    if (!dir) GTEST_SKIP() << "helper of JitCache.ManyProcessesLoadOneKey";
    auto spec = small_spec(40, SynapseModel::current);
    int failures = 0;
    for (int i = 0; i < 40; ++i) {
        ContextOptions o = test_support::quiet_opts();
        o.cache_dir = dir;
        JITCompiler jit(JITConfig{}, make_context(o));
        auto k = jit.compile_spike_processing_kernel<float>(spec);
        Net<float> a(spec, 2);
        a.run(k, 3);
        if (!k.is_compiled() || !std::isfinite(a.v[0])) ++failures;
    }
    EXPECT_EQ(failures, 0);
}

TEST(JitCache, ManyProcessesLoadOneKey) {
    TempDir dir;
    EnvGuard child("NEUROPERF_JIT_CHILD_DIR");
    child.set(dir.path().string());
    // Start all 8 before waiting on any: they race for the first compile.
    std::vector<std::thread> threads;
    std::vector<ProcessResult> results(8);
    for (int p = 0; p < 8; ++p)
        threads.emplace_back([&, p] {
            results[static_cast<std::size_t>(p)] = run_process(
                {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=JitChild.FortyLoads"},
                {.stdout_file = dir.path() / fmt::format("child{}.log", p), .stderr_to_stdout = true});
        });
    for (auto& t : threads) t.join();
    for (int p = 0; p < 8; ++p) {
        EXPECT_TRUE(results[static_cast<std::size_t>(p)].started);
        EXPECT_EQ(results[static_cast<std::size_t>(p)].exit_code, 0)
            << read_file(dir.path() / fmt::format("child{}.log", p)).value_or("");
    }
    auto entries = jit_cache_entries(dir.path() / "jit");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_TRUE(entries[0].valid);
}


TEST(JitCompilerApi, BenchmarkRows) {
    TempDir dir;
    LoggedContext lc(dir.path());
    JITCompiler jit(JITConfig{}, lc.ctx);
    auto rows = jit.benchmark_jit_performance({10}, 1);
    std::vector<std::string> names;
    for (const auto& r : rows) {
        names.push_back(r.name);
        EXPECT_GT(r.seconds, 0) << r.name;
    }
    for (const char* want : {"compile/spike_processing/cold/N=10", "load/spike_processing/warm_disk/N=10",
                             "load/spike_processing/warm_memory/N=10", "spike_processing/jit/N=10", "spike_processing/aot/N=10"})
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.benchmark_jit_performance({0}, 1); });
    test_support::expect_throw_msg<ValueError>([&] { (void)jit.benchmark_jit_performance({10}, 0); });
}

TEST(JitCache, GroupWritableUmaskStillPersistent) {
    TempDir dir;
    mode_t old = ::umask(002);
    {
        LoggedContext lc(dir.path() / "cache");
        JITCompiler jit(verbose_config(), lc.ctx);
        EXPECT_TRUE(jit.compile_spike_processing_kernel<float>(small_spec(4, SynapseModel::current)).is_compiled());
        EXPECT_EQ(jit.cache_directory(), dir.path() / "cache" / "jit") << lc.all();
    }
    ::umask(old);
    EXPECT_EQ(jit_cache_entries(dir.path() / "cache" / "jit").size(), 1u);
}

