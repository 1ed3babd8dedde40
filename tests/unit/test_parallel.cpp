// ParallelProcessor: configuration, order and bit-identity of results at 1/2/4 threads,
// exception propagation and cancellation, thread-count handling, reservoirs.
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

