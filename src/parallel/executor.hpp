// Runs indexed tasks on OpenMP threads under a schedule (LPT + stealing, or static blocks) and
// measures them. Private to the library; ParallelProcessor (src/api/parallel_processor.cpp)
// is the public face.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <functional>
#include <vector>

#include "neuroperf/parallel_report.hpp"
#include "neuroperf/schedule.hpp"

namespace neuroperf::parallel {

struct ExecOptions {
    int workers = 1;           ///< ≥ 1; more than the tasks is allowed (the extra ones idle)
    bool balance = true;       ///< LPT + stealing; false: static blocks, no stealing
    double threshold = 0.8;    ///< stealing threshold (ParallelConfig::load_balance_threshold)
    int chunk = 0;             ///< static block size (0 = one block per worker)
};

/// The schedule execute() starts from (pure): LPT or static per `options`.
Schedule plan(const std::vector<double>& costs, const ExecOptions& options);

/// True when an idle worker should steal, given the queued estimated cost of every worker
/// (the idle one's is 0): balance efficiency mean/max below `threshold`, or queued tasks whose
/// estimated cost is 0 (nothing to compare, so stealing is free). Pure.
bool should_steal(const std::vector<double>& queued_cost, const std::vector<std::size_t>& queued_tasks, double threshold);

/// The per-worker queues of a schedule, shared by the workers (thread-safe): next() pops the
/// worker's own queue front, else (balance on, should_steal) the back of the queue holding the
/// most queued cost, i.e. its cheapest task.
class TaskQueues {
public:
    TaskQueues(const Schedule& s, const std::vector<double>& costs, bool balance, double threshold);
    bool next(std::size_t worker, std::size_t& task, bool& stolen);

private:
    std::mutex mu_;
    std::vector<std::deque<std::size_t>> q_;
    std::vector<double> cost_;
    const std::vector<double>& costs_;
    bool balance_;
    double threshold_;
};

/// Runs task(i) for every i on min(workers, n) threads (one: on the caller, no region); fills
/// the report's tasks, workers, times, imbalance, steals. The first exception cancels the
/// tasks not yet started and is rethrown as TaskError after every worker has stopped.
ParallelReport execute(const std::vector<double>& costs, const ExecOptions& options,
                       const std::function<void(std::size_t)>& task);

}  // namespace neuroperf::parallel
