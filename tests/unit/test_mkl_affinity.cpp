// MKLOptimizer: thread affinity plans for every policy and topology, the current topology, the
// workers pinned per policy, and OpenMP's own binding kept.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <omp.h>
#include <sched.h>

#include <nlohmann/json.hpp>

#include "mkl_support.hpp"
#include "test_support.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace fs = std::filesystem;
using namespace neuroperf;

using namespace neuroperf::mkl_test;

// ---------------------------------------------------------------- affinity plans
namespace {
std::vector<CpuTopologyEntry> synthetic_topology() {
    std::vector<CpuTopologyEntry> t;
    for (int pkg = 0; pkg < 2; ++pkg)
        for (int core = 0; core < 2; ++core)
            for (int smt = 0; smt < 2; ++smt) t.push_back({pkg * 4 + core * 2 + smt, pkg, core});
    return t;
}
int pkg_of(int cpu) { return cpu / 4; }
int core_of(int cpu) { return cpu / 2; }  // global core id
}  // namespace

TEST(OptimizerAffinity, PlanPolicies) {
    auto topo = synthetic_topology();
    EXPECT_EQ(affinity_plan("compact", 4, topo), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(affinity_plan("compact", 2, topo), (std::vector<int>{0, 1}));
    EXPECT_EQ(affinity_plan("scatter", 2, topo), (std::vector<int>{0, 4}));
    auto sc4 = affinity_plan("scatter", 4, topo);
    ASSERT_EQ(sc4.size(), 4u);
    EXPECT_NE(pkg_of(sc4[0]), pkg_of(sc4[1]));
    EXPECT_NE(pkg_of(sc4[2]), pkg_of(sc4[3]));
    std::set<int> sc_cores;
    for (int c : sc4) sc_cores.insert(core_of(c));
    EXPECT_EQ(sc_cores.size(), 4u);

    auto b2 = affinity_plan("balanced", 2, topo);
    ASSERT_EQ(b2.size(), 2u);
    EXPECT_NE(pkg_of(b2[0]), pkg_of(b2[1]));
    auto b4 = affinity_plan("balanced", 4, topo);
    ASSERT_EQ(b4.size(), 4u);
    std::set<int> cores, pk0;
    for (int c : b4) cores.insert(core_of(c));
    EXPECT_EQ(cores.size(), 4u) << "two threads on one core";
    int in_pkg0 = 0;
    for (int c : b4) in_pkg0 += pkg_of(c) == 0;
    EXPECT_EQ(in_pkg0, 2);
    auto b8 = affinity_plan("balanced", 8, topo);
    EXPECT_EQ(std::set<int>(b8.begin(), b8.end()).size(), 8u);

    EXPECT_TRUE(affinity_plan("none", 4, topo).empty());
    EXPECT_THROW(affinity_plan("sideways", 2, topo), ValueError);
    auto w = affinity_plan("compact", 10, topo);
    ASSERT_EQ(w.size(), 10u);
    EXPECT_EQ(w[8], 0);
    EXPECT_EQ(w[9], 1);
    auto s10 = affinity_plan("scatter", 10, topo);
    ASSERT_EQ(s10.size(), 10u);
    EXPECT_EQ(std::set<int>(s10.begin(), s10.begin() + 8).size(), 8u);
    EXPECT_EQ(s10[8], s10[0]);
    for (int c : affinity_plan("balanced", 3, topo)) EXPECT_TRUE(c >= 0 && c < 8);
}

TEST(OptimizerAffinity, CurrentTopology) {
    auto t = current_cpu_topology();
    EXPECT_FALSE(t.empty());
    EXPECT_EQ(static_cast<int>(t.size()), cpu_info().affinity_cpus);
}

// ---------------------------------------------------------------- worker pinning
namespace {
int worker_cpu_count() {
    int count = -1;
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 1) {
            cpu_set_t set;
            CPU_ZERO(&set);
            if (sched_getaffinity(0, sizeof(set), &set) == 0) count = CPU_COUNT(&set);
        }
    }
    return count;
}
}  // namespace

TEST(OptimizerAffinity, WorkersPinned) {
    cpu_set_t proc;
    CPU_ZERO(&proc);
    ASSERT_EQ(sched_getaffinity(0, sizeof(proc), &proc), 0);
    int ncpu = CPU_COUNT(&proc);
    if (ncpu < 2) GTEST_SKIP() << "needs 2 CPUs, have " << ncpu;
    Array<double> a({256, 256}), b({256, 256});
    std::mt19937 rng(4);
    fill_random<double>(a.view(), rng);
    fill_random<double>(b.view(), rng);

    MKLConfig cfg;
    cfg.num_threads = 2;
    cfg.thread_affinity = "compact";
    auto opt = make_opt(cfg);
    auto c = opt.optimize_matrix_multiply<double>(a.view(), b.view());
    EXPECT_EQ(worker_cpu_count(), 1);

    cfg.thread_affinity = "none";
    auto opt2 = make_opt(cfg);
    auto c2 = opt2.optimize_matrix_multiply<double>(a.view(), b.view());
    EXPECT_EQ(worker_cpu_count(), ncpu);
    for (index_t i = 0; i < 256; i += 51) EXPECT_DOUBLE_EQ(c(i, i), c2(i, i));
}

// Child side of OptimizerAffinity.RuntimeBindingKept (run with OMP_PROC_BIND=true): libgomp has
// bound this initial thread to its first place, yet every CPU of the process counts, and a
// multi-threaded call leaves the runtime's one-place-per-thread binding alone.
TEST(OptimizerAffinityChild, RuntimeBinding) {
    const char* expect = std::getenv("NEUROPERF_AFFINITY_CHILD_CPUS");
    if (!expect) GTEST_SKIP() << "helper of OptimizerAffinity.RuntimeBindingKept";
    const int n = std::atoi(expect);
    ASSERT_NE(omp_get_proc_bind(), omp_proc_bind_false);
    EXPECT_EQ(available_cpus(), n);
    EXPECT_EQ(cpu_info().affinity_cpus, n);
    EXPECT_EQ(default_context().num_threads(), n);

    Array<double> a({256, 256}), b({256, 256});
    std::mt19937 rng(5);
    fill_random<double>(a.view(), rng);
    fill_random<double>(b.view(), rng);
    MKLConfig cfg;
    cfg.num_threads = 2;  // "balanced": would pin workers from the initial thread's one-CPU mask
    auto c = make_opt(cfg).optimize_matrix_multiply<double>(a.view(), b.view());
    expect_product<double>(a.view(), b.view(), c.view(), false, false);
    std::vector<int> cpu_of(2, -1), mask_size(2, -1);
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof(set), &set) == 0) {
            mask_size[static_cast<std::size_t>(t)] = CPU_COUNT(&set);
            for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
                if (CPU_ISSET(cpu, &set)) cpu_of[static_cast<std::size_t>(t)] = cpu;
        }
    }
    EXPECT_EQ(mask_size[0], 1);
    EXPECT_EQ(mask_size[1], 1);
    EXPECT_NE(cpu_of[0], cpu_of[1]) << "both threads bound to CPU " << cpu_of[0];
}

TEST(OptimizerAffinity, RuntimeBindingKept) {
    cpu_set_t proc;
    CPU_ZERO(&proc);
    ASSERT_EQ(sched_getaffinity(0, sizeof(proc), &proc), 0);
    const int ncpu = CPU_COUNT(&proc);
    if (ncpu < 2) GTEST_SKIP() << "needs 2 CPUs, have " << ncpu;
    test_support::EnvGuard bind("OMP_PROC_BIND"), places("OMP_PLACES"), threads("OMP_NUM_THREADS"),
        child("NEUROPERF_AFFINITY_CHILD_CPUS");
    bind.set("true");
    places.unset();
    threads.unset();
    child.set(std::to_string(ncpu));
    test_support::TempDir dir;
    auto r = run_process({std::filesystem::read_symlink("/proc/self/exe").string(),
                          "--gtest_filter=OptimizerAffinityChild.RuntimeBinding"},
                         {.stdout_file = dir.path() / "child.log", .stderr_to_stdout = true});
    ASSERT_TRUE(r.started) << r.error;
    EXPECT_EQ(r.exit_code, 0) << read_file((dir.path() / "child.log").string()).value_or("");
}

