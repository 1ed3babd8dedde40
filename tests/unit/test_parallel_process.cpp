// ParallelProcessor's "process" strategy: results identical to the thread strategy and to
// serial, worker failures (error, crash, kill, timeout) reported with the task and never
// hanging, shared-memory segments removed in every case, pool reuse.
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include <unistd.h>

#include <gtest/gtest.h>

#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "parallel_support.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using namespace neuroperf::parallel_test;
using test_support::EnvGuard;
using test_support::expect_throw_msg;
using test_support::quiet_opts;

namespace {

ParallelProcessor process_pp(int workers, double timeout = 600) {
    ParallelConfig cfg;
    cfg.num_threads = workers;
    cfg.parallel_strategy = "process";
    cfg.process_task_timeout = timeout;
    return ParallelProcessor(cfg, make_context(quiet_opts()));
}

// Shared-memory segments this process created and did not remove.
std::vector<std::string> our_segments() {
    std::vector<std::string> out;
    std::string prefix = "neuroperf-" + std::to_string(::getpid()) + "-";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec))
        if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path().filename().string());
    return out;
}

// Child processes of this process that are neuroperf workers.
std::vector<pid_t> worker_children() {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        std::string name = e.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::ifstream f(e.path() / "stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto open = line.find('('), close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        std::string comm = line.substr(open + 1, close - open - 1);
        std::istringstream rest(line.substr(close + 2));
        std::string state;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == ::getpid() && comm.starts_with("neuroperf-work")) out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

const ProcessPlugin kPlugin{NEUROPERF_TEST_PLUGIN_PATH, "neuroperf_test_cumsum"};

}  // namespace

template <class T>
void reservoirs_match_serial(bool shared) {
    std::vector<index_t> sizes{1, 2, 17, 40, 3}, steps{4, 0, 9, 6, 1};
    index_t d = 3;
    std::vector<Array<T>> x0, w_in, u;
    std::vector<CsrMatrix<T>> w;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
        index_t n = shared ? 17 : sizes[r];
        x0.push_back(filled<T>({n}, 10 + r, 0.3));
        u.push_back(filled<T>({steps[r], d}, 20 + r));
        if (!shared || r == 0) {
            w_in.push_back(filled<T>({n, d}, 30 + r, 0.5));
            auto dense = filled<T>({n, n}, 40 + r, 0.4);
            for (index_t i = 0; i < n * n; ++i)
                if (i % 3) dense.data()[i] = 0;
            w.push_back(CsrMatrix<T>::from_dense(dense.view()));
        }
    }
    std::vector<ArrayView<const T>> vx, vw, vu;
    for (auto& a : x0) vx.push_back(a.view());
    for (auto& a : w_in) vw.push_back(a.view());
    for (auto& a : u) vu.push_back(a.view());
    ReservoirOptions<T> o;
    o.leak_rate = T(0.8);
    auto bias = filled<T>({17}, 99, 0.1);
    if (shared) o.bias = bias.view();
    MKLConfig one;
    one.num_threads = 1;
    MKLOptimizer serial(one, make_context(quiet_opts()));
    for (int t : {1, 2, 4}) {
        auto p = process_pp(t);
        auto got = p.parallel_reservoir_computation<T>(vx, vw, std::span<const CsrMatrix<T>>(w), vu, o);
        ASSERT_EQ(got.size(), sizes.size());
        for (std::size_t r = 0; r < sizes.size(); ++r) {
            std::size_t q = shared ? 0 : r;
            auto expect = serial.run_reservoir<T>(vx[r], vw[q], w[q], vu[r], o);
            EXPECT_TRUE(bit_equal(got[r], expect)) << "workers " << t << " reservoir " << r;
        }
        auto rep = *p.get_performance_stats().last;
        EXPECT_EQ(rep.strategy, "process");
        EXPECT_EQ(rep.workers, t);
        EXPECT_GT(rep.pool_start_seconds, 0);
        EXPECT_GT(rep.dispatch_overhead_seconds, 0);
    }
    EXPECT_TRUE(our_segments().empty());
}

TEST(ParallelProcess, ReservoirsBitIdenticalToSerial) {
    reservoirs_match_serial<float>(false);
    reservoirs_match_serial<double>(true);
}

TEST(ParallelProcess, ReasoningMatchesThreads) {
    auto ctx = make_context(quiet_opts());
    std::vector<std::shared_ptr<const ReasoningCore>> cores;
    std::vector<Array<float>> inputs;
    for (int i = 0; i < 4; ++i) {
        ReservoirCoreSpec s;
        s.reservoir_size = 10 + 15 * i;
        s.input_dim = 2 + i;
        s.output_dim = 3;
        s.seed = static_cast<std::uint64_t>(i);
        s.leak_rate = 0.5f;
        auto core = std::make_shared<ReservoirReasoningCore>("c" + std::to_string(i), s, ctx);
        if (i == 2) core->set_readout(filled<float>({3, s.reservoir_size}, 5));  // a trained readout travels too
        cores.push_back(core);
        inputs.push_back(i == 3 ? filled<float>({s.input_dim}, 7) : filled<float>({5 + i, s.input_dim}, 8 + static_cast<std::uint64_t>(i)));
    }
    std::vector<ArrayView<const float>> views;
    for (auto& a : inputs) views.push_back(a.view());
    auto p = process_pp(2);
    auto first = p.parallel_multi_modal_reasoning(cores, views);
    auto second = p.parallel_multi_modal_reasoning(cores, views, false);
    EXPECT_EQ(second.report.pool_start_seconds, 0);  // the pool is reused
    EXPECT_FALSE(second.report.load_balanced);
    for (std::size_t i = 0; i < cores.size(); ++i) {
        auto expect = cores[i]->process(views[i]);
        EXPECT_TRUE(bit_equal(first.outputs[i], expect)) << i;
        EXPECT_TRUE(bit_equal(second.outputs[i], expect)) << i;
    }
    class Other : public ReasoningCore {
        std::string name() const override { return "other"; }
        Array<float> process(ArrayView<const float>) const override { return Array<float>({1}); }
    };
    auto m = expect_throw_msg<ValueError>([&] {
        p.parallel_multi_modal_reasoning({cores[0], std::make_shared<Other>()}, {views[0], views[0]});
    });
    EXPECT_NE(m.find("reasoning_cores[1] ('other')"), std::string::npos) << m;
    EXPECT_NE(m.find("ReservoirReasoningCore"), std::string::npos);
    EXPECT_TRUE(our_segments().empty());
}

TEST(ParallelProcess, PluginResultsAndErrors) {
    auto p = process_pp(2);
    Array<float> a({4}), b({2}), bad({3}), empty({0});
    for (index_t i = 0; i < 4; ++i) a(i) = static_cast<float>(i + 1);
    b(0) = 5;
    b(1) = 6;
    auto out = p.parallel_spike_processing({a.view(), b.view(), empty.view()}, kPlugin, 8);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0](3), 10.0f);
    EXPECT_EQ(out[1](1), 11.0f);
    EXPECT_EQ(out[2].size(), 0);
    bad(0) = -1;
    auto m = expect_throw_msg<TaskError>([&] { p.parallel_spike_processing({a.view(), bad.view()}, kPlugin, 8); });
    EXPECT_NE(m.find("task 1 (batch 1"), std::string::npos) << m;
    EXPECT_NE(m.find("returned 3"), std::string::npos);
    // The pool survives a task error: the next call reuses it.
    p.parallel_spike_processing({a.view()}, kPlugin, 8);
    EXPECT_EQ(p.get_performance_stats().last->pool_start_seconds, 0);
    m = expect_throw_msg<TaskError>([&] { p.parallel_spike_processing({a.view()}, ProcessPlugin{kPlugin.library, "nope"}, 8); });
    EXPECT_NE(m.find("nope"), std::string::npos);
    // Callables and dense reservoirs are refused with the list of what the process strategy runs.
    std::vector<int> ints{1};
    m = expect_throw_msg<ValueError>([&] { p.parallel_spike_processing(ints, [](int x) { return x; }); });
    EXPECT_NE(m.find("ProcessPlugin"), std::string::npos);
    auto x = filled<float>({3}, 1), win = filled<float>({3, 1}, 2), w = filled<float>({3, 3}, 3), u = filled<float>({2, 1}, 4);
    m = expect_throw_msg<ValueError>([&] { p.parallel_reservoir_computation<float>({x.view()}, {win.view()}, {w.view()}, {u.view()}); });
    EXPECT_NE(m.find("CSR"), std::string::npos);
    EXPECT_TRUE(our_segments().empty());
}

TEST(ParallelProcess, CrashedWorkerNamesTaskAndCleansUp) {
    auto p = process_pp(2);
    Array<float> ok({2}), crash({2});
    crash(0) = NAN;
    auto m = expect_throw_msg<WorkerError>([&] { p.parallel_spike_processing({ok.view(), crash.view(), ok.view()}, kPlugin, 4); });
    EXPECT_NE(m.find("task 1 (batch 1"), std::string::npos) << m;
    EXPECT_NE(m.find("signal 6"), std::string::npos) << m;
    EXPECT_TRUE(our_segments().empty());
    EXPECT_TRUE(worker_children().empty());  // the whole pool was killed and reaped
    // A new pool serves the next call.
    auto out = p.parallel_spike_processing({ok.view()}, kPlugin, 4);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_GT(p.get_performance_stats().last->pool_start_seconds, 0);
}

TEST(ParallelProcess, KilledWorkerMidTask) {
    auto p = process_pp(2);
    Array<float> hang({1}), ok({1});
    hang(0) = 1000;  // the plug-in sleeps 5 s
    p.parallel_spike_processing({ok.view()}, kPlugin, 1);  // pool up
    auto pids = worker_children();
    ASSERT_EQ(pids.size(), 2u);
    auto t0 = std::chrono::steady_clock::now();
    auto call = std::async(std::launch::async, [&] { return p.parallel_spike_processing({hang.view(), hang.view()}, kPlugin, 1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(our_segments().empty());  // the call's segment exists while it runs
    ::kill(pids[0], SIGKILL);
    auto m = expect_throw_msg<WorkerError>([&] { call.get(); });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(m.find("killed by signal 9"), std::string::npos) << m;
    EXPECT_NE(m.find("while running task"), std::string::npos) << m;
    EXPECT_LT(secs, 4.0);  // reported at once, not after the other worker's 5 s task
    EXPECT_TRUE(our_segments().empty());
    EXPECT_TRUE(worker_children().empty());
}

TEST(ParallelProcess, TimeoutKillsTheWorker) {
    auto p = process_pp(1, 0.3);
    Array<float> hang({1});
    hang(0) = 1000;
    auto m = expect_throw_msg<WorkerError>([&] { p.parallel_spike_processing({hang.view()}, kPlugin, 1); });
    EXPECT_NE(m.find("process_task_timeout = 0.3 s"), std::string::npos) << m;
    EXPECT_NE(m.find("task 0"), std::string::npos);
    EXPECT_TRUE(our_segments().empty());
    EXPECT_TRUE(worker_children().empty());
    ParallelConfig c;
    c.process_task_timeout = 0;
    expect_throw_msg<ValueError>([&] { c.validate(); });
}

TEST(ParallelProcess, WorkerLocation) {
    EnvGuard env("NEUROPERF_WORKER");
    env.set("/nonexistent/neuroperf-worker");
    auto p = process_pp(1);
    Array<float> a({1});
    auto m = expect_throw_msg<NotBuiltError>([&] { p.parallel_spike_processing({a.view()}, kPlugin, 1); });
    EXPECT_NE(m.find("NEUROPERF_WORKER"), std::string::npos);
    env.set("/bin/true");  // exits at once: never says it is ready
    m = expect_throw_msg<WorkerError>([&] { p.parallel_spike_processing({a.view()}, kPlugin, 1); });
    EXPECT_NE(m.find("did not start"), std::string::npos) << m;
    EXPECT_TRUE(worker_children().empty());
    EXPECT_TRUE(our_segments().empty());
}
