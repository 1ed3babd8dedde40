// What a parallel call reports: per-task records, the call's monitoring, totals over calls, and
// the errors a call can end with. Made by the execution strategies (parallel layer) and returned
// by ParallelProcessor (parallel_processor.hpp).
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "neuroperf/error.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

/// A task failed: the message names the task index and carries the original message;
/// original() holds the exception the task threw. Tasks not yet started were skipped.
class NEUROPERF_API TaskError : public Error {
public:
    TaskError(std::size_t task_index, const std::string& message, std::exception_ptr original);
    std::size_t task_index() const { return task_index_; }
    std::exception_ptr original() const { return original_; }

private:
    std::size_t task_index_;
    std::exception_ptr original_;
};

/// A worker process failed (crashed, was killed, timed out, or could not start).
class NEUROPERF_API WorkerError : public Error {
public:
    using Error::Error;
};

/// One task of a call, as measured.
struct TaskRecord {
    std::size_t index = 0;       ///< position in the input
    int worker = 0;              ///< worker that ran it
    double seconds = 0;          ///< wall time of the task
    double estimated_cost = 0;   ///< the cost the schedule used (arbitrary units)
    bool stolen = false;         ///< run by a worker it was not scheduled on
};

/// Monitoring of one parallel call.
struct NEUROPERF_API ParallelReport {
    std::string operation;        ///< "spike_processing", "reservoir_computation", "multi_modal_reasoning"
    std::string strategy;         ///< "thread", "process", or "serial" (one worker)
    int workers = 0;              ///< workers used (≤ configured, ≤ tasks)
    bool load_balanced = false;
    std::vector<TaskRecord> tasks;        ///< in input order
    std::vector<double> worker_busy_seconds;
    std::vector<long> worker_thread_ids;  ///< OS thread id (or process id) of each worker
    double wall_seconds = 0;              ///< the call's makespan
    double serial_seconds = 0;            ///< sum of task times: the serial estimate
    double speedup_estimate = 0;          ///< serial_seconds / wall_seconds
    double imbalance = 1;                 ///< max / mean worker busy time (1 = balanced)
    double scheduled_makespan = 0;        ///< makespan of the schedule in estimated cost units
    std::size_t steals = 0;
    /// Process strategy: seconds spent starting the worker pool in this call (0 when an
    /// existing pool was reused) and mean per-task dispatch overhead (round trip through the
    /// pipes minus the time the worker computed).
    double pool_start_seconds = 0;
    double dispatch_overhead_seconds = 0;
    /// A one-line summary ("multi_modal_reasoning: 7 tasks on 2 thread workers, 12.3 ms, ...").
    std::string summary() const;
};

/// Totals over every call of a processor (get_performance_stats()).
struct ParallelStats {
    std::size_t calls = 0;
    std::size_t tasks = 0;
    std::size_t steals = 0;
    double wall_seconds = 0;     ///< sum over calls
    double serial_seconds = 0;   ///< sum of task times over calls
    double speedup = 0;          ///< serial_seconds / wall_seconds (0 before any call)
    double mean_imbalance = 0;   ///< mean of the calls' imbalance ratios
    double max_imbalance = 0;
    std::optional<ParallelReport> last;  ///< the most recent call's report
};

}  // namespace neuroperf
