// ParallelProcessor: reasoning cores and multi-modal calls, monitoring, work stealing, plug-ins,
// oversubscription, the benchmark, optimizers nested inside tasks.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <cstring>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "neuroperf/sparse.hpp"
#include "parallel_support.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::EnvGuard;
using test_support::expect_throw_msg;
using test_support::quiet_opts;
using namespace neuroperf::parallel_test;

namespace {
// A core that burns `units` of deterministic work and returns its sum: for order/exception tests.
class CountingCore : public ReasoningCore {
public:
    CountingCore(std::string name, int throw_on = -1) : name_(std::move(name)), throw_on_(throw_on) {}
    std::string name() const override { return name_; }
    Array<float> process(ArrayView<const float> input) const override {
        if (input.size() > 0 && static_cast<int>(input(0)) == throw_on_) throw ValueError("core " + name_ + " refused");
        Array<float> out({1});
        double s = 0;
        for (index_t i = 0; i < input.size(); ++i) s += input.data()[i];
        out(0) = static_cast<float>(s);
        return out;
    }

private:
    std::string name_;
    int throw_on_;
};
}  // namespace

TEST(ReservoirReasoningCore, MatchesNaiveEsn) {
    ReservoirCoreSpec spec;
    spec.reservoir_size = 17;
    spec.input_dim = 3;
    spec.output_dim = 2;
    spec.density = 0.3;
    spec.leak_rate = 0.6f;
    ReservoirReasoningCore core("visual", spec, test_context());
    EXPECT_EQ(core.name(), "visual");
    auto u = filled<float>({5, 3}, 9);
    auto y = core.process(u.view());
    ASSERT_EQ(y.shape(0), 5);
    ASSERT_EQ(y.shape(1), 2);
    auto w = core.reservoir_weights().to_dense();
    auto win = core.input_weights();
    auto wout = core.readout_weights();
    std::vector<double> x(17, 0.0), nx(17);
    for (index_t t = 0; t < 5; ++t) {
        for (index_t i = 0; i < 17; ++i) {
            double z = 0;
            for (index_t j = 0; j < 3; ++j) z += double(win(i, j)) * u(t, j);
            for (index_t j = 0; j < 17; ++j) z += double(w(i, j)) * x[static_cast<std::size_t>(j)];
            nx[static_cast<std::size_t>(i)] = 0.4 * x[static_cast<std::size_t>(i)] + 0.6 * std::tanh(z);
        }
        x = nx;
        for (index_t o = 0; o < 2; ++o) {
            double s = 0;
            for (index_t i = 0; i < 17; ++i) s += double(wout(o, i)) * x[static_cast<std::size_t>(i)];
            EXPECT_NEAR(y(t, o), s, 1e-5) << t << "," << o;
        }
    }
    // A rank-1 input is one step; an empty sequence gives 0 × O.
    auto one = core.process(u.view().slice(0, 0, 1).transposed().transposed());
    auto row0 = filled<float>({5, 3}, 9);
    Array<float> v({3});
    for (index_t j = 0; j < 3; ++j) v(j) = row0(0, j);
    auto y1 = core.process(v.view());
    EXPECT_EQ(y1.shape(0), 1);
    EXPECT_NEAR(y1(0, 1), y(0, 1), 1e-6);  // a 1-row GEMM may sum in another order
    EXPECT_NEAR(one(0, 0), y(0, 0), 1e-6);
    Array<float> empty({0, 3});
    EXPECT_EQ(core.process(empty.view()).shape(0), 0);
    EXPECT_EQ(core.estimate_cost(u.view()), 5.0 * (double(core.reservoir_weights().nnz()) + 17.0 * 5.0));
    // Errors.
    Array<float> wrong({4, 2});
    auto m = expect_throw_msg<ShapeError>([&] { core.process(wrong.view()); });
    EXPECT_NE(m.find("visual"), std::string::npos);
    expect_throw_msg<ShapeError>([&] { core.set_readout(Array<float>({2, 16})); });
    ReservoirCoreSpec bad = spec;
    bad.density = 0;
    expect_throw_msg<ValueError>([&] { ReservoirReasoningCore("b", bad, test_context()); });
    bad = spec;
    bad.reservoir_size = 0;
    expect_throw_msg<ValueError>([&] { ReservoirReasoningCore("b", bad, test_context()); });
}

TEST(ParallelProcessor, MultiModalReasoningMatchesSerial) {
    auto ctx = test_context();
    std::vector<std::shared_ptr<const ReasoningCore>> cores;
    std::vector<Array<float>> inputs;
    index_t sizes[] = {8, 40, 13, 100, 2};
    for (int i = 0; i < 5; ++i) {
        ReservoirCoreSpec s;
        s.reservoir_size = sizes[i];
        s.input_dim = 2 + i;
        s.output_dim = 3;
        s.seed = static_cast<std::uint64_t>(i);
        cores.push_back(std::make_shared<ReservoirReasoningCore>(fmt::format("core{}", i), s, ctx));
        inputs.push_back(filled<float>({3 + 2 * i, 2 + i}, 50 + static_cast<std::uint64_t>(i)));
    }
    std::vector<ArrayView<const float>> views;
    for (auto& a : inputs) views.push_back(a.view());
    std::vector<Array<float>> expect;
    for (std::size_t i = 0; i < cores.size(); ++i) expect.push_back(cores[i]->process(views[i]));
    for (int t : {1, 2, 4})
        for (bool lb : {true, false}) {
            auto p = processor(t);
            for (int call = 0; call < 2; ++call) {  // the second call schedules on measured costs
                auto res = p.parallel_multi_modal_reasoning(cores, views, lb);
                ASSERT_EQ(res.outputs.size(), cores.size());
                for (std::size_t i = 0; i < cores.size(); ++i) EXPECT_TRUE(bit_equal(res.outputs[i], expect[i])) << t << " " << i;
                EXPECT_EQ(res.report.load_balanced, lb);
                EXPECT_EQ(res.report.workers, std::min(t, 5));
                EXPECT_EQ(res.report.tasks.size(), 5u);
            }
        }
}

TEST(ParallelProcessor, MultiModalReasoningErrors) {
    auto p = processor(2);
    std::vector<std::shared_ptr<const ReasoningCore>> cores{std::make_shared<CountingCore>("a"),
                                                           std::make_shared<CountingCore>("b", 7)};
    Array<float> a({3}), b({3});
    b(0) = 7;
    auto m = expect_throw_msg<ValueError>([&] { p.parallel_multi_modal_reasoning(cores, {a.view()}); });
    EXPECT_NE(m.find("input_data_list: expected 2"), std::string::npos);
    m = expect_throw_msg<ValueError>([&] { p.parallel_multi_modal_reasoning({cores[0], nullptr}, {a.view(), a.view()}); });
    EXPECT_NE(m.find("reasoning_cores[1]"), std::string::npos);
    m = expect_throw_msg<TaskError>([&] { p.parallel_multi_modal_reasoning(cores, {a.view(), b.view()}); });
    EXPECT_NE(m.find("task 1"), std::string::npos);
    EXPECT_NE(m.find("core b refused"), std::string::npos);
    auto ok = p.parallel_multi_modal_reasoning(cores, {a.view(), a.view()});
    EXPECT_EQ(ok.outputs[1](0), 0.0f);
}

TEST(ParallelProcessor, MonitoringAndVerboseLog) {
    std::vector<std::string> lines;
    std::mutex mu;
    auto o = quiet_opts();
    o.log = [&](std::string_view s) {
        std::lock_guard lock(mu);
        lines.emplace_back(s);
    };
    ParallelConfig cfg;  // the context is not verbose: the config's verbose turns its log on
    cfg.num_threads = 2;
    cfg.verbose = true;
    ParallelProcessor p(cfg, make_context(o));
    EXPECT_EQ(p.get_performance_stats().calls, 0u);
    EXPECT_FALSE(p.get_performance_stats().last.has_value());
    std::vector<int> batches{1, 2, 3, 4, 5, 6, 7, 8};
    auto work = [](int b) {
        std::this_thread::sleep_for(std::chrono::microseconds(200 * b));
        return b;
    };
    p.parallel_spike_processing(batches, work);
    auto r = p.run_tasks("custom_op", {1, 2, 3}, false, [](std::size_t i) {
        std::this_thread::sleep_for(std::chrono::microseconds(100 * (i + 1)));
    });
    EXPECT_EQ(r.operation, "custom_op");
    EXPECT_FALSE(r.load_balanced);
    ASSERT_EQ(r.tasks.size(), 3u);
    double sum_tasks = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(r.tasks[i].index, i);
        EXPECT_GT(r.tasks[i].seconds, 0);
        EXPECT_EQ(r.tasks[i].estimated_cost, double(i + 1));
        sum_tasks += r.tasks[i].seconds;
    }
    double busy = r.worker_busy_seconds[0] + r.worker_busy_seconds[1];
    EXPECT_NEAR(busy, sum_tasks, 1e-12);
    EXPECT_NEAR(r.serial_seconds, sum_tasks, 1e-12);
    EXPECT_GE(r.imbalance, 1.0);
    EXPECT_GT(r.wall_seconds, 0);
    EXPECT_NEAR(r.speedup_estimate, r.serial_seconds / r.wall_seconds, 1e-12);
    EXPECT_EQ(r.scheduled_makespan, 3);  // static blocks {0,1} {2}: loads 3 and 3
    EXPECT_NE(r.worker_thread_ids[0], r.worker_thread_ids[1]);
    auto s = p.get_performance_stats();
    EXPECT_EQ(s.calls, 2u);
    EXPECT_EQ(s.tasks, 11u);
    EXPECT_GT(s.speedup, 0);
    EXPECT_GE(s.max_imbalance, s.mean_imbalance);
    ASSERT_TRUE(s.last.has_value());
    EXPECT_EQ(s.last->operation, "custom_op");
    bool saw_summary = false, saw_plan = false, saw_ctor = false;
    for (const auto& l : lines) {
        saw_ctor |= l.find("ParallelProcessor: 2 worker(s), strategy thread") != std::string::npos;
        saw_summary |= l.find("spike_processing: 8 tasks on 2 thread worker(s)") != std::string::npos;
        saw_plan |= l.find("custom_op: 3 tasks, static schedule") != std::string::npos;
    }
    EXPECT_TRUE(saw_summary);
    EXPECT_TRUE(saw_plan);
    EXPECT_TRUE(saw_ctor);
    p.reset_performance_stats();
    EXPECT_EQ(p.get_performance_stats().calls, 0u);
    // Copies share the record.
    ParallelProcessor copy = p;
    copy.run_tasks("x", {1}, true, [](std::size_t) {});
    EXPECT_EQ(p.get_performance_stats().calls, 1u);
}

TEST(ParallelProcessor, StealingBalancesMisestimatedTasks) {
    // Estimates say every task is equal; really task 0 is long. LPT deals round-robin, so
    // without stealing worker 0 would also run tasks 2, 4, 6; with stealing worker 1 takes them.
    auto p = processor(2);
    std::vector<double> costs(8, 1.0);
    auto r = p.run_tasks("steal", costs, true, [](std::size_t i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 80 : 5));
    });
    EXPECT_GE(r.steals, 1u);
    for (std::size_t i = 1; i < 8; ++i) EXPECT_EQ(r.tasks[i].worker, 1) << i;
    EXPECT_EQ(r.tasks[0].worker, 0);
    auto off = processor(2, false).run_tasks("static", costs, true, [](std::size_t) {});
    EXPECT_EQ(off.steals, 0u);
}

TEST(ParallelProcessor, PluginOnThreads) {
    auto p = processor(2);
    Array<float> a({4}), b({2}), bad({3});
    for (index_t i = 0; i < 4; ++i) a(i) = static_cast<float>(i + 1);
    b(0) = 5;
    b(1) = 6;
    ProcessPlugin plug{NEUROPERF_TEST_PLUGIN_PATH, "neuroperf_test_cumsum"};
    auto out = p.parallel_spike_processing({a.view(), b.view()}, plug, 8);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].size(), 4);
    EXPECT_EQ(out[0](3), 10.0f);
    EXPECT_EQ(out[1](1), 11.0f);
    bad(0) = -1;
    auto m = expect_throw_msg<TaskError>([&] { p.parallel_spike_processing({a.view(), bad.view()}, plug, 8); });
    EXPECT_NE(m.find("task 1"), std::string::npos);
    EXPECT_NE(m.find("returned 3"), std::string::npos);
    m = expect_throw_msg<ValueError>([&] { p.parallel_spike_processing({a.view()}, ProcessPlugin{"/nonexistent.so", "f"}, 8); });
    EXPECT_NE(m.find("plugin.library"), std::string::npos);
    m = expect_throw_msg<ValueError>([&] { p.parallel_spike_processing({a.view()}, ProcessPlugin{plug.library, "nope"}, 8); });
    EXPECT_NE(m.find("plugin.symbol"), std::string::npos);
}

TEST(ParallelProcessor, NoOversubscription) {
    // With OMP_NUM_THREADS=2 and the BLAS present, at most 2 threads may burn CPU during a call:
    // per-thread CPU time (schedstat) before and after, threads using ≥ 10% of the wall time
    // count as busy (idle OpenMP workers of earlier, larger teams must not spin meanwhile).
    EnvGuard env("OMP_NUM_THREADS");
    env.set("2");
    auto ctx = make_context(quiet_opts());
    ParallelProcessor p({}, ctx);
    ASSERT_EQ(p.num_threads(), 2);
    constexpr index_t n = 600, d = 20, steps = 600;
    std::vector<CsrMatrix<float>> w;
    std::vector<Array<float>> win, u, x0;
    for (int r = 0; r < 8; ++r) {
        ReservoirCoreSpec s;
        s.reservoir_size = n;
        s.input_dim = d;
        s.seed = static_cast<std::uint64_t>(r);
        ReservoirReasoningCore c("r", s, ctx);
        w.push_back(c.reservoir_weights());
        win.push_back(Array<float>::copy_of(c.input_weights()));
        u.push_back(filled<float>({steps, d}, static_cast<std::uint64_t>(r)));
        x0.push_back(Array<float>({n}));
    }
    std::vector<ArrayView<const float>> vx, vw, vu;
    for (int r = 0; r < 8; ++r) {
        vx.push_back(x0[static_cast<std::size_t>(r)].view());
        vw.push_back(win[static_cast<std::size_t>(r)].view());
        vu.push_back(u[static_cast<std::size_t>(r)].view());
    }
    p.parallel_reservoir_computation<float>(vx, vw, std::span<const CsrMatrix<float>>(w), vu);  // warm
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let earlier teams' spinners sleep
    auto before = thread_cpu_ns();
    auto t0 = std::chrono::steady_clock::now();
    p.parallel_reservoir_computation<float>(vx, vw, std::span<const CsrMatrix<float>>(w), vu);
    double wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    auto after = thread_cpu_ns();
    int busy = 0;
    std::string detail;
    for (const auto& [tid, ns] : after) {
        double used = ns - (before.count(tid) ? before[tid] : 0.0);
        if (used >= 0.1 * wall_ns) ++busy;
        detail += fmt::format(" {}:{:.0f}%", tid, 100 * used / wall_ns);
    }
    EXPECT_LE(busy, 2) << "busy threads during the call:" << detail;
    EXPECT_GE(busy, 1);
    auto r = *p.get_performance_stats().last;
    EXPECT_EQ(r.workers, 2);
    std::set<long> ids(r.worker_thread_ids.begin(), r.worker_thread_ids.end());
    EXPECT_EQ(ids.size(), 2u);
}

TEST(ParallelProcessor, BenchmarkParallelPerformance) {
    ParallelConfig cfg;
    cfg.num_threads = 2;
    ParallelProcessor p(cfg, test_context());
    test_support::TempDir dir;
    auto path = dir.path() / "parallel.json";
    auto rep = p.benchmark_parallel_performance({8, 21}, 1, path);
    // sizes × threads 1..2 × strategies (thread, and process when the worker is present)
    ASSERT_TRUE(rep.entries.size() == 4u || rep.entries.size() == 8u) << rep.entries.size();
    for (const auto& e : rep.entries) {
        EXPECT_GT(e.seconds, 0);
        if (e.threads == 1) {
            EXPECT_EQ(e.speedup, 1.0);
        }
        EXPECT_NEAR(e.efficiency, e.speedup / e.threads, 1e-12);
    }
    EXPECT_EQ(rep.entries[0].size, 8);
    auto j = nlohmann::json::parse(std::ifstream(path));
    ASSERT_EQ(j["benchmarks"].size(), rep.entries.size());
    EXPECT_EQ(j["benchmarks"][1]["name"], "reservoirs/thread/K=8/N=8/density=0.1/threads=2");
    EXPECT_TRUE(j["benchmarks"][1].contains("speedup"));
    expect_throw_msg<ValueError>([&] { p.benchmark_parallel_performance({8}, 0); });
    expect_throw_msg<ValueError>([&] { p.benchmark_parallel_performance({0}, 1); });
}

TEST(ParallelProcessor, MultiThreadedOptimizerInsideTasks) {
    // A task may call a multi-threaded MKLOptimizer: inside the team it runs on one thread
    // (nested regions are inactive) and gives the same result as outside.
    MKLConfig mc;
    mc.num_threads = 2;
    MKLOptimizer opt(mc, test_context());
    std::vector<Array<float>> mats;
    for (std::uint64_t i = 0; i < 6; ++i) mats.push_back(filled<float>({96, 96}, i + 1));
    std::vector<Array<float>> expect;
    for (const auto& m : mats) expect.push_back(opt.optimize_matrix_multiply<float>(m.view(), m.view()));
    auto got = processor(2).parallel_spike_processing(mats, [&](const Array<float>& m) {
        return opt.optimize_matrix_multiply<float>(m.view(), m.view());
    });
    for (std::size_t i = 0; i < mats.size(); ++i)
        for (index_t j = 0; j < expect[i].size(); ++j)
            ASSERT_NEAR(got[i].data()[j], expect[i].data()[j], 1e-3f * (1 + std::fabs(expect[i].data()[j]))) << i;
}

