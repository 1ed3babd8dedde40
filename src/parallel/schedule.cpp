// Pure scheduling functions (include/neuroperf/schedule.hpp).
#include "neuroperf/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

namespace neuroperf {
namespace {

void check_inputs(const std::vector<double>& costs, std::size_t workers) {
    if (workers < 1) throw ValueError(fmt::format("workers: expected >= 1, got {}", workers));
    for (std::size_t i = 0; i < costs.size(); ++i)
        if (!std::isfinite(costs[i]) || costs[i] < 0)
            throw ValueError(fmt::format("costs: expected finite values >= 0, got {} at [{}]", costs[i], i));
}

void finish(Schedule& s) {
    s.makespan = s.loads.empty() ? 0.0 : *std::max_element(s.loads.begin(), s.loads.end());
}

// Tasks sorted by decreasing cost, ties by index (stable and deterministic).
std::vector<std::size_t> by_decreasing_cost(const std::vector<double>& costs) {
    std::vector<std::size_t> order(costs.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
    return order;
}

struct Search {
    std::vector<double> costs;  // decreasing
    std::vector<double> loads;
    double best = 0;
    double lower = 0;  // no schedule beats max(largest cost, sum / workers): stop when reached

    void run(std::size_t i) {
        if (best <= lower) return;
        if (i == costs.size()) {
            best = std::min(best, *std::max_element(loads.begin(), loads.end()));
            return;
        }
        for (std::size_t w = 0; w < loads.size(); ++w) {
            // Workers with equal loads are interchangeable: trying the first is enough.
            bool seen = false;
            for (std::size_t v = 0; v < w && !seen; ++v) seen = loads[v] == loads[w];
            if (seen || loads[w] + costs[i] >= best) continue;
            loads[w] += costs[i];
            run(i + 1);
            loads[w] -= costs[i];
        }
    }
};

}  // namespace

double Schedule::imbalance() const {
    if (loads.empty()) return 1.0;
    double sum = std::accumulate(loads.begin(), loads.end(), 0.0);
    if (sum <= 0) return 1.0;
    return makespan / (sum / static_cast<double>(loads.size()));
}

Schedule lpt_schedule(const std::vector<double>& costs, std::size_t workers) {
    check_inputs(costs, workers);
    Schedule s;
    s.queues.resize(workers);
    s.loads.assign(workers, 0.0);
    for (std::size_t t : by_decreasing_cost(costs)) {
        auto w = static_cast<std::size_t>(std::min_element(s.loads.begin(), s.loads.end()) - s.loads.begin());
        s.queues[w].push_back(t);
        s.loads[w] += costs[t];
    }
    finish(s);
    return s;
}

Schedule static_schedule(const std::vector<double>& costs, std::size_t workers, std::size_t chunk) {
    check_inputs(costs, workers);
    std::size_t n = costs.size();
    if (chunk == 0) chunk = std::max<std::size_t>(1, (n + workers - 1) / workers);
    Schedule s;
    s.queues.resize(workers);
    s.loads.assign(workers, 0.0);
    for (std::size_t start = 0, block = 0; start < n; start += chunk, ++block) {
        std::size_t w = block % workers;
        for (std::size_t t = start; t < std::min(n, start + chunk); ++t) {
            s.queues[w].push_back(t);
            s.loads[w] += costs[t];
        }
    }
    finish(s);
    return s;
}

double optimal_makespan(const std::vector<double>& costs, std::size_t workers, std::size_t max_tasks) {
    check_inputs(costs, workers);
    if (costs.size() > max_tasks)
        throw ValueError(fmt::format("costs: optimal_makespan searches exhaustively, expected at most {} tasks, got {}",
                                     max_tasks, costs.size()));
    if (costs.empty()) return 0.0;
    Search s;
    for (std::size_t t : by_decreasing_cost(costs)) s.costs.push_back(costs[t]);
    double sum = std::accumulate(s.costs.begin(), s.costs.end(), 0.0);
    double lower = std::max(s.costs.front(), sum / static_cast<double>(workers));
    double lpt = lpt_schedule(costs, workers).makespan;
    if (lpt <= lower) return lpt;
    // Strictly better than LPT or LPT itself: search with best = LPT (nudged so ties count).
    s.best = std::nextafter(lpt, INFINITY);
    s.lower = lower;
    s.loads.assign(std::min(workers, s.costs.size()), 0.0);
    s.run(0);
    return std::min(s.best, lpt);
}

double moving_average(double previous, double measured, double alpha) {
    if (!(alpha > 0 && alpha <= 1)) throw ValueError(fmt::format("alpha: expected a value in (0, 1], got {}", alpha));
    if (previous < 0) return measured;
    return alpha * measured + (1 - alpha) * previous;
}

}  // namespace neuroperf
