// ParallelProcessor: configuration, order and bit-identity of results at 1/2/4 threads,
// exception propagation and cancellation, monitoring, thread-count handling, oversubscription.
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
#include "test_support.hpp"

using namespace neuroperf;
using test_support::EnvGuard;
using test_support::expect_throw_msg;
using test_support::quiet_opts;

namespace {

Context test_context(int threads = 0) {
    auto o = quiet_opts();
    o.num_threads = threads;
    return make_context(o);
}

ParallelProcessor processor(int threads, bool balance = true, std::string strategy = "thread") {
    ParallelConfig cfg;
    cfg.num_threads = threads;
    cfg.enable_load_balancing = balance;
    cfg.parallel_strategy = std::move(strategy);
    return ParallelProcessor(cfg, test_context());
}

template <class T>
Array<T> filled(std::initializer_list<index_t> shape, std::uint64_t seed, double scale = 1.0) {
    Array<T> a(shape);
    std::uint64_t s = seed;
    for (index_t i = 0; i < a.size(); ++i) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        a.data()[i] = static_cast<T>(scale * (static_cast<double>(s >> 11) * 0x1.0p-53 * 2.0 - 1.0));
    }
    return a;
}

template <class T>
CsrMatrix<T> sparse(index_t n, std::uint64_t seed) {
    auto d = filled<T>({n, n}, seed, 0.5);
    for (index_t i = 0; i < n * n; ++i)
        if ((static_cast<std::uint64_t>(i) * 2654435761u + seed) % 5 != 0) d.data()[i] = 0;
    return CsrMatrix<T>::from_dense(d.view());
}

template <class T>
bool bit_equal(const Array<T>& a, const Array<T>& b) {
    return a.layout().shape == b.layout().shape && a.rank() == b.rank() &&
           std::equal(a.data(), a.data() + a.size(), b.data(), [](T x, T y) { return std::memcmp(&x, &y, sizeof(T)) == 0; });
}

// CPU time (ns) each thread of this process has used so far.
std::map<long, double> thread_cpu_ns() {
    std::map<long, double> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        long tid = std::stol(e.path().filename().string());
        std::ifstream ss(e.path() / "schedstat");
        double ns = 0;
        if (ss >> ns) {
            out[tid] = ns;
            continue;
        }
        std::ifstream st(e.path() / "stat");  // fallback: utime + stime in clock ticks
        std::string line;
        std::getline(st, line);
        auto rp = line.rfind(')');
        std::istringstream rest(line.substr(rp + 2));
        std::string f;
        double ut = 0, stime = 0;
        for (int field = 3; rest >> f; ++field) {
            if (field == 14) ut = std::stod(f);
            if (field == 15) { stime = std::stod(f); break; }
        }
        out[tid] = (ut + stime) * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return out;
}

std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

}  // namespace

TEST(ParallelConfig, Validation) {
    ParallelConfig c;
    c.validate();
    c.num_threads = -1;
    auto m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("num_threads"), std::string::npos);
    c = {};
    c.parallel_strategy = "jax_pmap";
    m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("\"thread\""), std::string::npos);
    EXPECT_NE(m.find("\"process\""), std::string::npos);
    EXPECT_NE(m.find("Python"), std::string::npos);
    c.parallel_strategy = "mpi";
    m = expect_throw_msg<ValueError>([&] { c.validate(); });
    EXPECT_NE(m.find("\"mpi\""), std::string::npos);
    c = {};
    for (double t : {0.0, -0.5, 1.5, double(NAN)}) {
        c.load_balance_threshold = t;
        m = expect_throw_msg<ValueError>([&] { c.validate(); });
        EXPECT_NE(m.find("load_balance_threshold"), std::string::npos);
    }
    c = {};
    c.chunk_size = -2;
    expect_throw_msg<ValueError>([&] { c.validate(); });
    c = {};
    c.parallel_strategy = "jax_pmap";
    expect_throw_msg<ValueError>([&] { ParallelProcessor p(c, test_context()); });
    expect_throw_msg<ValueError>([&] { enable_parallel_processing(c); });
}

TEST(ParallelProcessor, ThreadCountFromEnvironment) {
    EnvGuard env("OMP_NUM_THREADS");
    env.set("3");
    ParallelProcessor p({}, make_context(quiet_opts()));
    EXPECT_EQ(p.num_threads(), 3);
    ParallelConfig c;
    c.num_threads = 2;
    EXPECT_EQ(ParallelProcessor(c, make_context(quiet_opts())).num_threads(), 2);
    env.set("1");
    ParallelProcessor one({}, make_context(quiet_opts()));
    EXPECT_EQ(one.num_threads(), 1);
    auto r = one.run_tasks("t", {1, 1, 1}, true, [](std::size_t) {});
    EXPECT_EQ(r.workers, 1);
    EXPECT_EQ(r.strategy, "serial");
}

TEST(ParallelProcessor, SpikeProcessingOrderAtOneTwoFourThreads) {
    for (std::size_t n : {0u, 1u, 2u, 3u, 17u, 64u}) {
        std::vector<Array<float>> batches;
        for (std::size_t i = 0; i < n; ++i) batches.push_back(filled<float>({static_cast<index_t>(i % 7 + 1), 5}, i + 1));
        auto f = [](const Array<float>& b) {
            double s = 0;
            for (index_t i = 0; i < b.size(); ++i) s += b.data()[i] * (i + 1);
            return s;
        };
        std::vector<double> serial;
        for (const auto& b : batches) serial.push_back(f(b));
        for (int t : {1, 2, 4}) {
            for (bool balance : {true, false}) {
                auto out = processor(t, balance).parallel_spike_processing(batches, f);
                ASSERT_EQ(out.size(), n);
                for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(out[i], serial[i]) << "n=" << n << " t=" << t << " i=" << i;
            }
        }
    }
}

TEST(ParallelProcessor, SpikeProcessingExtraArgumentsAndStdFunction) {
    std::vector<int> batches{1, 2, 3, 4, 5};
    auto p = processor(2);
    auto out = p.parallel_spike_processing(batches, [](int b, int scale, const std::string& tag) {
        return tag + std::to_string(b * scale);
    }, 10, std::string("x"));
    EXPECT_EQ(out, (std::vector<std::string>{"x10", "x20", "x30", "x40", "x50"}));
    std::function<long(const int&)> sq = [](const int& b) { return long(b) * b; };
    EXPECT_EQ(p.parallel_spike_processing(batches, sq), (std::vector<long>{1, 4, 9, 16, 25}));
}

TEST(ParallelProcessor, ExceptionNamesTaskAndCancelsTheRest) {
    for (int t : {1, 2, 4}) {
        std::vector<int> batches(200);
        std::iota(batches.begin(), batches.end(), 0);
        std::atomic<int> ran{0};
        auto p = processor(t);
        try {
            p.parallel_spike_processing(batches, [&](int b) {
                ++ran;
                if (b == 0) throw ShapeError("batch zero is bad");
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                return b;
            });
            ADD_FAILURE() << "no exception";
        } catch (const TaskError& e) {
            EXPECT_EQ(e.task_index(), 0u);
            EXPECT_NE(std::string(e.what()).find("task 0"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("batch zero is bad"), std::string::npos);
            EXPECT_THROW(std::rethrow_exception(e.original()), ShapeError);
        }
        // Every worker finishes at most the task it had started: far fewer than 200 ran.
        EXPECT_LE(ran.load(), 2 * t) << "threads " << t;
        // The processor is usable afterwards.
        auto ok = p.parallel_spike_processing(batches, [](int b) { return b + 1; });
        EXPECT_EQ(ok.back(), 200);
    }
}

TEST(ParallelProcessor, ExceptionInLaterTaskAndNonStdException) {
    auto p = processor(2);
    std::vector<int> batches{0, 1, 2, 3, 4, 5, 6};
    auto m = expect_throw_msg<TaskError>([&] {
        p.parallel_spike_processing(batches, [](int b) {
            if (b == 5) throw std::runtime_error("five");
            return b;
        });
    });
    EXPECT_NE(m.find("task 5: five"), std::string::npos) << m;
    m = expect_throw_msg<TaskError>([&] {
        p.parallel_spike_processing(batches, [](int b) {
            if (b == 3) throw 42;
            return b;
        });
    });
    EXPECT_NE(m.find("task 3"), std::string::npos);
    EXPECT_NE(m.find("unknown exception"), std::string::npos);
}

TEST(ParallelProcessor, NoLeakedThreads) {
    auto p = processor(4);
    std::vector<int> batches(50, 1);
    auto call = [&](bool fail) {
        try {
            p.parallel_spike_processing(batches, [fail](int b) {
                if (fail) throw ValueError("x");
                return b;
            });
        } catch (const TaskError&) {
        }
    };
    call(false);
    call(true);
    std::size_t after_first = thread_count();
    for (int i = 0; i < 20; ++i) call(i % 2 == 0);
    EXPECT_EQ(thread_count(), after_first);  // the OpenMP team is reused, nothing piles up
}

TEST(ParallelProcessor, ProcessStrategyRejectsCallables) {
    auto p = processor(2, true, "process");
    std::vector<int> batches{1, 2};
    auto m = expect_throw_msg<ValueError>([&] { p.parallel_spike_processing(batches, [](int b) { return b; }); });
    EXPECT_NE(m.find("parallel_reservoir_computation"), std::string::npos) << m;
    EXPECT_NE(m.find("ReservoirReasoningCore"), std::string::npos);
    EXPECT_NE(m.find("ProcessPlugin"), std::string::npos);
    EXPECT_NE(m.find("\"thread\""), std::string::npos);
}

template <class T>
void check_reservoirs_bit_identical(bool csr, bool shared) {
    std::vector<index_t> sizes{1, 2, 17, 64, 3};
    std::vector<index_t> steps{4, 0, 9, 6, 1};
    index_t d = 3;
    std::size_t k = sizes.size();
    std::vector<Array<T>> x0, w_in, dense, u;
    std::vector<CsrMatrix<T>> w;
    for (std::size_t r = 0; r < k; ++r) {
        index_t n = shared ? 17 : sizes[r];
        x0.push_back(filled<T>({n}, 10 + r, 0.3));
        u.push_back(filled<T>({steps[r], d}, 20 + r));
        if (!shared || r == 0) {
            w_in.push_back(filled<T>({n, d}, 30 + r, 0.5));
            w.push_back(sparse<T>(n, 40 + r));
            dense.push_back(w.back().to_dense());
        }
    }
    std::vector<ArrayView<const T>> vx0, vwin, vdense, vu;
    for (auto& a : x0) vx0.push_back(a.view());
    for (auto& a : w_in) vwin.push_back(a.view());
    for (auto& a : dense) vdense.push_back(a.view());
    for (auto& a : u) vu.push_back(a.view());
    ReservoirOptions<T> opts;
    opts.leak_rate = T(0.7);
    MKLConfig one;
    one.num_threads = 1;
    MKLOptimizer serial(one, test_context());
    std::vector<Array<T>> expect;
    for (std::size_t r = 0; r < k; ++r) {
        std::size_t q = shared ? 0 : r;
        expect.push_back(csr ? serial.run_reservoir<T>(vx0[r], vwin[q], w[q], vu[r], opts)
                             : serial.run_reservoir<T>(vx0[r], vwin[q], vdense[q], vu[r], opts));
    }
    for (int t : {1, 2, 4}) {
        auto p = processor(t);
        auto got = csr ? p.parallel_reservoir_computation<T>(vx0, vwin, std::span<const CsrMatrix<T>>(w), vu, opts)
                       : p.parallel_reservoir_computation<T>(vx0, vwin, vdense, vu, opts);
        ASSERT_EQ(got.size(), k);
        for (std::size_t r = 0; r < k; ++r)
            EXPECT_TRUE(bit_equal(got[r], expect[r])) << "threads " << t << " reservoir " << r << " csr " << csr;
        EXPECT_EQ(p.get_performance_stats().last->operation, "reservoir_computation");
    }
}

TEST(ParallelProcessor, ReservoirsBitIdenticalToSerial) {
    for (bool csr : {true, false})
        for (bool shared : {true, false}) {
            check_reservoirs_bit_identical<float>(csr, shared);
            check_reservoirs_bit_identical<double>(csr, shared);
        }
}

TEST(ParallelProcessor, ReservoirsEmptyAndErrors) {
    auto p = processor(2);
    std::vector<CsrMatrix<float>> none;
    EXPECT_TRUE(p.parallel_reservoir_computation<float>({}, {}, std::span<const CsrMatrix<float>>(none), {}).empty());
    auto x = filled<float>({4}, 1), win = filled<float>({4, 2}, 2), u = filled<float>({3, 2}, 3);
    std::vector<CsrMatrix<float>> w{sparse<float>(4, 4)};
    std::span<const CsrMatrix<float>> ws(w);
    // Lists of the wrong length.
    auto m = expect_throw_msg<ValueError>([&] { p.parallel_reservoir_computation<float>({x.view(), x.view()}, {win.view()}, ws, {u.view()}); });
    EXPECT_NE(m.find("input_spikes_list"), std::string::npos);
    std::vector<CsrMatrix<float>> w3{sparse<float>(4, 1), sparse<float>(4, 2), sparse<float>(4, 3)};
    m = expect_throw_msg<ValueError>([&] {
        p.parallel_reservoir_computation<float>({x.view(), x.view()}, {win.view()}, std::span<const CsrMatrix<float>>(w3),
                                                {u.view(), u.view()});
    });
    EXPECT_NE(m.find("reservoir_weights: expected 1 (shared) or 2"), std::string::npos) << m;
    // A shape error names the reservoir.
    auto x5 = filled<float>({5}, 1);
    m = expect_throw_msg<ShapeError>([&] { p.parallel_reservoir_computation<float>({x.view(), x5.view()}, {win.view()}, ws, {u.view(), u.view()}); });
    EXPECT_NE(m.find("reservoir_states[1]"), std::string::npos) << m;
    auto ubad = filled<float>({3, 5}, 3);
    m = expect_throw_msg<ShapeError>([&] { p.parallel_reservoir_computation<float>({x.view()}, {win.view()}, ws, {ubad.view()}); });
    EXPECT_NE(m.find("input_spikes_list[0]"), std::string::npos) << m;
    // A bad leak rate fails inside the task: TaskError naming it, with run_reservoir's message.
    ReservoirOptions<float> bad;
    bad.leak_rate = 2;
    m = expect_throw_msg<TaskError>([&] { p.parallel_reservoir_computation<float>({x.view()}, {win.view()}, ws, {u.view()}, bad); });
    EXPECT_NE(m.find("task 0"), std::string::npos);
    EXPECT_NE(m.find("leak_rate"), std::string::npos);
}

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
