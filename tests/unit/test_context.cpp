// The runtime context: immutable once made, per-object verbosity that never reaches other
// objects on the same context, and the Network on a context like every other class.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "neuroperf/cpu.hpp"
#include "neuroperf/dispatch.hpp"
#include "neuroperf/jit_compiler.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/network.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "runtime/context_impl.hpp"
#include "test_support.hpp"

namespace neuroperf {
namespace {

using test_support::TempDir;

// A quiet context whose log lines are collected.
struct CapturedLog {
    std::mutex mu;
    std::vector<std::string> lines;
    Context make(bool verbose = false) {
        ContextOptions o = test_support::quiet_opts();
        o.backend = "builtin";
        o.verbose = verbose;
        o.log = [this](std::string_view m) {
            std::lock_guard lock(mu);
            lines.emplace_back(m);
        };
        return make_context(o);
    }
    std::size_t size() {
        std::lock_guard lock(mu);
        return lines.size();
    }
};

MKLConfig builtin_config(bool verbose) {
    MKLConfig c;
    c.backend = "builtin";
    c.num_threads = 1;
    c.verbose = verbose;
    return c;
}

// The bug this guards against: a verbose optimizer used to set the shared context's verbose
// flag, so every other object on that context (the default one, through enable_*()) logged too.
TEST(Context, VerboseObjectLeavesTheContextAndOtherObjectsQuiet) {
    CapturedLog log;
    Context ctx = log.make();
    Array<float> a({8, 8});
    MKLOptimizer loud(builtin_config(true), ctx);
    ParallelConfig pc;
    pc.verbose = true;
    pc.num_threads = 1;
    ParallelProcessor loud_pp(pc, ctx);
    EXPECT_FALSE(ctx.verbose());
    const std::size_t after_construction = log.size();
    EXPECT_GE(after_construction, 2u);  // both constructors said what they are

    MKLOptimizer quiet(builtin_config(false), ctx);
    ParallelProcessor quiet_pp(ParallelConfig{.num_threads = 1}, ctx);
    (void)quiet.optimize_matrix_multiply<float>(a.view(), a.view());
    (void)quiet_pp.run_tasks("quiet", {1.0, 1.0}, true, [](std::size_t) {});
    ctx.log("context not verbose: not written");
    EXPECT_EQ(log.size(), after_construction);

    (void)loud.optimize_matrix_multiply<float>(a.view(), a.view());
    EXPECT_GT(log.size(), after_construction);
}

TEST(Context, VerboseContextMakesEveryObjectLog) {
    CapturedLog log;
    Context ctx = log.make(true);
    MKLOptimizer quiet(builtin_config(false), ctx);
    Array<float> a({8, 8});
    const std::size_t before = log.size();
    (void)quiet.optimize_matrix_multiply<float>(a.view(), a.view());
    EXPECT_GT(log.size(), before);
}

// Objects made, used and logged from many threads at once on one context: nothing in the
// context is written after make_context() (run under the tsan preset to check for races).
TEST(Context, ConcurrentVerboseObjectsOnOneContext) {
    CapturedLog log;
    Context ctx = log.make();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < 25; ++i) {
                    MKLOptimizer opt(builtin_config(t % 2 == 0), ctx);
                    if (ctx.verbose()) failures.fetch_add(1);
                    ctx.log("quiet");
                    (void)opt.num_threads();
                }
            } catch (...) {
                failures.fetch_add(1);
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_FALSE(ctx.verbose());
    EXPECT_EQ(log.size(), 50u);  // the 50 verbose constructions, nothing else
}

TEST(Context, OptionsAreFixedAndCompleted) {
    ContextOptions o = test_support::quiet_opts();
    o.num_threads = 3;
    Context ctx = make_context(o);
    EXPECT_EQ(ctx.num_threads(), 3);
    EXPECT_EQ(ctx.options().num_threads, 3);
    EXPECT_FALSE(ctx.options().cache_dir.empty());  // filled in from cache_dir()
    EXPECT_TRUE(static_cast<bool>(ctx.options().log));
    Context copy = ctx;  // copies share the one immutable context
    EXPECT_EQ(&ctx.options(), &copy.options());
}

// ContextOptions::isa: "auto" is NEUROPERF_ISA's variant or the widest the CPU runs; a name is
// that variant; an unknown name, or a variant the CPU cannot run, is a ValueError naming where it
// came from. The context's kernels, builtin GEMM and listing follow it.
TEST(Context, IsaOptionAndEnvironment) {
    test_support::EnvGuard env("NEUROPERF_ISA");
    ::unsetenv("NEUROPERF_ISA");
    ContextOptions o = test_support::quiet_opts();
    EXPECT_EQ(make_context(o).isa(), best_isa());
    for (Isa isa : supported_isas()) {
        o.isa = isa_name(isa);
        Context ctx = make_context(o);
        EXPECT_EQ(ctx.isa(), isa);
        for (const KernelFamily& f : kernel_families(ctx.isa())) EXPECT_EQ(f.runs, isa) << f.name;
        for (const BackendInfo& b : ctx.backends()) {
            if (b.name == "builtin") {
                EXPECT_NE(b.version.find(isa_name(isa)), std::string::npos) << b.version;
            }
        }
    }
    o.isa = "avx9";
    auto msg = test_support::expect_throw_msg<ValueError>([&] { make_context(o); });
    EXPECT_NE(msg.find("ContextOptions.isa"), std::string::npos) << msg;
    EXPECT_NE(msg.find("avx9"), std::string::npos) << msg;
    if (!isa_supported(Isa::avx512)) {
        o.isa = "avx512";
        msg = test_support::expect_throw_msg<ValueError>([&] { make_context(o); });
        EXPECT_NE(msg.find("cannot run"), std::string::npos) << msg;
    }
    o.isa = "auto";
    ::setenv("NEUROPERF_ISA", "generic", 1);
    EXPECT_EQ(make_context(o).isa(), Isa::generic);
    o.isa = isa_name(best_isa());  // an explicit option wins over the environment
    EXPECT_EQ(make_context(o).isa(), best_isa());
    o.isa = "auto";
    ::setenv("NEUROPERF_ISA", "sse9", 1);
    msg = test_support::expect_throw_msg<ValueError>([&] { make_context(o); });
    EXPECT_NE(msg.find("NEUROPERF_ISA"), std::string::npos) << msg;
}

TEST(Context, IsaNamesAndSupport) {
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) EXPECT_EQ(parse_isa(isa_name(isa), "x"), isa);
    EXPECT_NE(test_support::expect_throw_msg<ValueError>([] { parse_isa("AVX2", "field"); }).find("field"), std::string::npos);
    EXPECT_TRUE(isa_supported(Isa::generic));
    const IsaFeatures& cpu = cpu_info().isa;
    EXPECT_EQ(isa_supported(Isa::avx2), cpu.avx2 && cpu.fma && cpu.bmi1 && cpu.bmi2 && cpu.f16c && cpu.lzcnt && cpu.movbe);
    EXPECT_EQ(isa_supported(Isa::avx512), isa_supported(Isa::avx2) && cpu.avx512f && cpu.avx512bw && cpu.avx512cd &&
                                              cpu.avx512dq && cpu.avx512vl);
    const auto all = supported_isas();
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.front(), Isa::generic);
    EXPECT_EQ(all.back(), best_isa());
    // Every family lists the generic variant and runs the widest listed one not wider than asked.
    for (const KernelFamily& f : kernel_families(Isa::generic)) {
        EXPECT_EQ(f.runs, Isa::generic) << f.name;
        EXPECT_EQ(f.variants.front(), Isa::generic) << f.name;
    }
}

TEST(Context, ServicesAreMadeOncePerContext) {
    Context a = make_context(test_support::quiet_opts()), b = make_context(test_support::quiet_opts());
    int made = 0;
    auto make = [&] {
        ++made;
        return std::make_shared<int>(made);
    };
    int& first = runtime::impl_of(a).service<int>(make);
    int& again = runtime::impl_of(Context(a)).service<int>(make);
    int& other = runtime::impl_of(b).service<int>(make);
    EXPECT_EQ(&first, &again);
    EXPECT_NE(&first, &other);
    EXPECT_EQ(made, 2);
}

TEST(Context, NetworkRunsOnItsContext) {
    TempDir cache;
    ContextOptions o = test_support::quiet_opts();
    o.num_threads = 1;
    o.cache_dir = cache.path();
    Context ctx = make_context(o);
    Network net(NetworkOptions{.dt = 0.1, .seed = 3}, ctx);
    EXPECT_EQ(&net.context().options(), &ctx.options());
    add_vogels_abbott(net, "cuba", 400, 0.05);
    SimulationResult r = net.run(20.0);
    EXPECT_EQ(r.summary.threads, 1);  // options.num_threads = 0: the context's count
    if (r.summary.jit_compiled) {  // the population kernel went to the context's cache
        EXPECT_FALSE(jit_cache_entries(cache.path() / "jit").empty());
    }
}

}  // namespace
}  // namespace neuroperf
