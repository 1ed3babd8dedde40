// The runtime context: immutable once made, per-object verbosity that never reaches other
// objects on the same context, and the Network on a context like every other class.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
