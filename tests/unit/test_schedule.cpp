// Pure scheduling functions (include/neuroperf/schedule.hpp) and the executor's stealing rule,
// against known optimal schedules and a deliberately naive exhaustive reference.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "neuroperf/error.hpp"
#include "neuroperf/schedule.hpp"
#include "parallel/executor.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using test_support::expect_throw_msg;

namespace {

// Every assignment of n tasks to w workers (w^n of them): the naive optimum.
double brute_force_optimum(const std::vector<double>& costs, std::size_t w) {
    std::size_t n = costs.size();
    std::size_t total = 1;
    for (std::size_t i = 0; i < n; ++i) total *= w;
    double best = INFINITY;
    for (std::size_t code = 0; code < total; ++code) {
        std::vector<double> loads(w, 0.0);
        std::size_t c = code;
        for (std::size_t i = 0; i < n; ++i, c /= w) loads[c % w] += costs[i];
        best = std::min(best, *std::max_element(loads.begin(), loads.end()));
    }
    return n == 0 ? 0.0 : best;
}

// Every task appears exactly once, loads are the sums of the queues' costs.
void expect_consistent(const Schedule& s, const std::vector<double>& costs, std::size_t workers) {
    ASSERT_EQ(s.queues.size(), workers);
    ASSERT_EQ(s.loads.size(), workers);
    std::vector<int> seen(costs.size(), 0);
    for (std::size_t w = 0; w < workers; ++w) {
        double load = 0;
        for (std::size_t t : s.queues[w]) {
            ASSERT_LT(t, costs.size());
            ++seen[t];
            load += costs[t];
        }
        EXPECT_DOUBLE_EQ(load, s.loads[w]);
    }
    for (int v : seen) EXPECT_EQ(v, 1);
    double mx = s.loads.empty() ? 0.0 : *std::max_element(s.loads.begin(), s.loads.end());
    EXPECT_DOUBLE_EQ(s.makespan, mx);
}

}  // namespace

TEST(Schedule, LptPowersOfTwoIsOptimal) {
    std::vector<double> c{1, 2, 4, 8, 16, 32, 64};
    auto s = lpt_schedule(c, 2);
    expect_consistent(s, c, 2);
    EXPECT_EQ(s.makespan, 64);
    EXPECT_EQ(s.queues[0], (std::vector<std::size_t>{6}));
    EXPECT_EQ(s.queues[1], (std::vector<std::size_t>{5, 4, 3, 2, 1, 0}));  // decreasing cost order
    EXPECT_EQ(optimal_makespan(c, 2), 64);
    EXPECT_NEAR(s.imbalance(), 64.0 / 63.5, 1e-12);
}

TEST(Schedule, LptKnownSuboptimalCase) {
    // Graham's example: LPT gives 11, the optimum {5,4},{5,4},{3,3,3} is 9.
    std::vector<double> c{5, 5, 4, 4, 3, 3, 3};
    EXPECT_EQ(lpt_schedule(c, 3).makespan, 11);
    EXPECT_EQ(optimal_makespan(c, 3), 9);
    EXPECT_EQ(brute_force_optimum(c, 3), 9);
}

TEST(Schedule, TiesGoToLowerIndexAndLowerWorker) {
    std::vector<double> c{1, 1, 1, 1, 1};
    auto s = lpt_schedule(c, 2);
    EXPECT_EQ(s.queues[0], (std::vector<std::size_t>{0, 2, 4}));
    EXPECT_EQ(s.queues[1], (std::vector<std::size_t>{1, 3}));
    EXPECT_EQ(s.makespan, 3);
}

TEST(Schedule, ZeroCostTasks) {
    std::vector<double> c{0, 0, 0};
    auto s = lpt_schedule(c, 2);
    expect_consistent(s, c, 2);
    EXPECT_EQ(s.makespan, 0);
    EXPECT_EQ(s.imbalance(), 1.0);
    EXPECT_EQ(optimal_makespan(c, 2), 0);
    std::vector<double> mixed{0, 5, 0, 3};
    auto m = lpt_schedule(mixed, 2);
    expect_consistent(m, mixed, 2);
    EXPECT_EQ(m.makespan, 5);
}

TEST(Schedule, MoreWorkersThanTasks) {
    std::vector<double> c{3, 7, 2};
    auto s = lpt_schedule(c, 5);
    expect_consistent(s, c, 5);
    EXPECT_EQ(s.makespan, 7);
    for (std::size_t w = 0; w < 5; ++w) EXPECT_LE(s.queues[w].size(), 1u);
    EXPECT_EQ(optimal_makespan(c, 5), 7);
    auto st = static_schedule(c, 5);
    expect_consistent(st, c, 5);
}

TEST(Schedule, EmptyAndSingle) {
    auto s = lpt_schedule({}, 3);
    expect_consistent(s, {}, 3);
    EXPECT_EQ(s.makespan, 0);
    EXPECT_EQ(optimal_makespan({}, 3), 0);
    EXPECT_EQ(lpt_schedule({4.5}, 1).makespan, 4.5);
    EXPECT_EQ(optimal_makespan({4.5}, 1), 4.5);
    EXPECT_EQ(lpt_schedule({1, 2, 3}, 1).makespan, 6);
}

TEST(Schedule, StaticBlocksInInputOrder) {
    std::vector<double> c{1, 2, 4, 8, 16, 32, 64};
    auto s = static_schedule(c, 2);
    expect_consistent(s, c, 2);
    EXPECT_EQ(s.queues[0], (std::vector<std::size_t>{0, 1, 2, 3}));
    EXPECT_EQ(s.queues[1], (std::vector<std::size_t>{4, 5, 6}));
    EXPECT_EQ(s.makespan, 112);  // what the reasoning benchmark's "static" rows show
    auto rr = static_schedule(c, 2, 1);  // chunk 1: round-robin
    EXPECT_EQ(rr.queues[0], (std::vector<std::size_t>{0, 2, 4, 6}));
    EXPECT_EQ(rr.makespan, 85);
    auto c3 = static_schedule(c, 2, 3);  // blocks {0,1,2} {3,4,5} {6}
    EXPECT_EQ(c3.queues[0], (std::vector<std::size_t>{0, 1, 2, 6}));
    EXPECT_EQ(c3.loads[1], 56);
}

TEST(Schedule, OptimalMatchesBruteForceAndLptBound) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> cost(0, 20), count(0, 8), workers(1, 3);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<double> c(static_cast<std::size_t>(count(rng)));
        for (auto& x : c) x = cost(rng);
        auto w = static_cast<std::size_t>(workers(rng));
        double opt = optimal_makespan(c, w);
        ASSERT_EQ(opt, brute_force_optimum(c, w)) << "trial " << trial;
        auto s = lpt_schedule(c, w);
        expect_consistent(s, c, w);
        EXPECT_LE(s.makespan, (4.0 / 3.0 - 1.0 / (3.0 * static_cast<double>(w))) * opt + 1e-9) << "trial " << trial;
        EXPECT_GE(s.makespan, opt);
    }
}

TEST(Schedule, FractionalCostsPrime) {
    std::vector<double> c{0.5, 1.25, 2.75, 3.5, 1.0, 0.25, 2.0, 4.75, 0.125, 1.5, 3.0};  // 11 tasks
    // The naive reference enumerates w^n assignments: keep it under a million.
    for (std::size_t w : {2u, 3u}) EXPECT_DOUBLE_EQ(optimal_makespan(c, w), brute_force_optimum(c, w)) << w;
    std::vector<double> c8(c.begin(), c.begin() + 8), c7(c.begin(), c.begin() + 7);
    EXPECT_DOUBLE_EQ(optimal_makespan(c8, 5), brute_force_optimum(c8, 5));
    EXPECT_DOUBLE_EQ(optimal_makespan(c7, 7), brute_force_optimum(c7, 7));
}

TEST(Schedule, BadArguments) {
    auto m = expect_throw_msg<ValueError>([] { lpt_schedule({1, 2}, 0); });
    EXPECT_NE(m.find("workers"), std::string::npos);
    m = expect_throw_msg<ValueError>([] { lpt_schedule({1, -2}, 2); });
    EXPECT_NE(m.find("costs"), std::string::npos);
    EXPECT_NE(m.find("[1]"), std::string::npos);
    expect_throw_msg<ValueError>([] { static_schedule({NAN}, 2); });
    expect_throw_msg<ValueError>([] { optimal_makespan({INFINITY}, 2); });
    m = expect_throw_msg<ValueError>([] { optimal_makespan(std::vector<double>(30, 1.0), 2); });
    EXPECT_NE(m.find("at most 24"), std::string::npos);
}

TEST(Schedule, MovingAverage) {
    EXPECT_EQ(moving_average(-1, 3.0, 0.5), 3.0);
    EXPECT_EQ(moving_average(2.0, 4.0, 0.5), 3.0);
    EXPECT_EQ(moving_average(2.0, 4.0, 1.0), 4.0);
    expect_throw_msg<ValueError>([] { moving_average(1, 1, 0); });
    expect_throw_msg<ValueError>([] { moving_average(1, 1, 1.5); });
}

TEST(Schedule, StealRule) {
    using parallel::should_steal;
    // Idle worker (0) beside one with queued work: efficiency 0.5.
    EXPECT_TRUE(should_steal({0, 10}, {0, 2}, 0.8));
    EXPECT_FALSE(should_steal({0, 10}, {0, 2}, 0.5));
    EXPECT_FALSE(should_steal({0, 0}, {0, 0}, 1.0));  // nothing queued
    EXPECT_TRUE(should_steal({0, 0}, {0, 3}, 0.1));   // zero-cost tasks queued: free to take
    // Four workers, three equally loaded: efficiency 0.75.
    EXPECT_TRUE(should_steal({0, 4, 4, 4}, {0, 1, 1, 1}, 0.8));
    EXPECT_FALSE(should_steal({0, 4, 4, 4}, {0, 1, 1, 1}, 0.75));
}

TEST(Schedule, PlanFollowsBalanceFlag) {
    std::vector<double> c{1, 2, 4, 8, 16, 32, 64};
    EXPECT_EQ(parallel::plan(c, {2, true, 0.8, 0}).makespan, 64);
    EXPECT_EQ(parallel::plan(c, {2, false, 0.8, 0}).makespan, 112);
    EXPECT_EQ(parallel::plan(c, {2, false, 0.8, 1}).makespan, 85);
}
