// Scheduling decisions of the parallel processor as pure functions of task costs and worker
// count: testable without threads or clocks (docs/dev/parallel.md).
//
//   auto s = neuroperf::lpt_schedule({1, 2, 4, 8, 16, 32, 64}, 2);
//   // s.makespan == 64 == optimal_makespan({1, 2, 4, 8, 16, 32, 64}, 2)
#pragma once

#include <cstddef>
#include <vector>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// Tasks assigned to workers. `queues[w]` lists worker w's task indices in the order it runs
/// them; `loads[w]` is the sum of their costs; makespan = max load (0 with no tasks).
struct NEUROPERF_API Schedule {
    std::vector<std::vector<std::size_t>> queues;
    std::vector<double> loads;
    double makespan = 0;
    /// max load / mean load over the workers (1 = perfect; 1 when every load is 0).
    double imbalance() const;
};

/// Longest-processing-time-first: tasks by decreasing cost (ties: lower index first), each to
/// the worker with the least load so far (ties: lower worker index). Makespan ≤ (4/3 − 1/(3w))
/// × optimal. Each queue is in decreasing cost order. `workers` ≥ 1, costs finite and ≥ 0,
/// else ValueError naming the argument. Zero-cost tasks are assigned like any other.
/// Cost O(n log n + n log w).
NEUROPERF_API Schedule lpt_schedule(const std::vector<double>& costs, std::size_t workers);

/// What a scheduler without load balancing does: contiguous blocks in input order, `chunk`
/// tasks per block (0 = ceil(n / workers), i.e. one block per worker), blocks dealt to workers
/// round-robin. Same errors as lpt_schedule, plus none for chunk (any value ≥ 0).
NEUROPERF_API Schedule static_schedule(const std::vector<double>& costs, std::size_t workers, std::size_t chunk = 0);

/// The minimum makespan over every assignment of the tasks to `workers` workers, by exact
/// branch-and-bound search (for checking heuristics on small sets). Throws ValueError when
/// there are more than `max_tasks` tasks (default 24: the search is exponential) or for bad
/// costs/workers as lpt_schedule.
NEUROPERF_API double optimal_makespan(const std::vector<double>& costs, std::size_t workers, std::size_t max_tasks = 24);

/// Exponential moving average used to refine cost estimates from measurements:
/// previous < 0 (no history) → measured; otherwise alpha·measured + (1 − alpha)·previous.
/// alpha in (0, 1], else ValueError.
NEUROPERF_API double moving_average(double previous, double measured, double alpha);

}  // namespace neuroperf
