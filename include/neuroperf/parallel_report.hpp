// What a parallel call reports: per-task records, the call's monitoring, totals over calls, and
// the errors a call can end with. Made by the execution strategies (parallel layer) and returned
// by ParallelProcessor (parallel_processor.hpp).
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "neuroperf/error.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"

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

/// One task of a call, as measured (fields documented in the field list below).
struct TaskRecord {
    std::size_t index = 0;
    int worker = 0;
    double seconds = 0;
    double estimated_cost = 0;
    bool stolen = false;
};

/// Monitoring of one parallel call (fields documented in the field list below).
struct NEUROPERF_API ParallelReport {
    std::string operation;
    std::string strategy;
    int workers = 0;
    bool load_balanced = false;
    std::vector<TaskRecord> tasks;
    std::vector<double> worker_busy_seconds;
    std::vector<long> worker_thread_ids;
    double wall_seconds = 0;
    double serial_seconds = 0;
    double speedup_estimate = 0;
    double imbalance = 1;
    double scheduled_makespan = 0;
    std::size_t steals = 0;
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
    double wall_seconds = 0;
    double serial_seconds = 0;
    double speedup = 0;
    double mean_imbalance = 0;
    double max_imbalance = 0;
    std::optional<ParallelReport> last;
};

// --- field lists (fields.hpp) ----------------------------------------------------------------

template <>
struct Fields<TaskRecord> {
    using S = TaskRecord;
    static constexpr auto list = std::tuple{
        field("index", &S::index, "position in the input"), field("worker", &S::worker, "worker that ran it"),
        field("seconds", &S::seconds, "wall time of the task"),
        field("estimated_cost", &S::estimated_cost, "the cost the schedule used (arbitrary units)"),
        field("stolen", &S::stolen, "run by a worker it was not scheduled on")};
};
NEUROPERF_CHECK_FIELDS(TaskRecord);

template <>
struct Fields<ParallelReport> {
    using S = ParallelReport;
    static constexpr auto list = std::tuple{
        field("operation", &S::operation, "\"spike_processing\", \"reservoir_computation\", \"multi_modal_reasoning\""),
        field("strategy", &S::strategy, "\"thread\", \"process\", or \"serial\" (one worker)"),
        field("workers", &S::workers, "workers used (≤ configured, ≤ tasks)"),
        field("load_balanced", &S::load_balanced, "LPT schedule with work stealing (else static blocks)"),
        field("tasks", &S::tasks, "per task, in input order"),
        field("worker_busy_seconds", &S::worker_busy_seconds, "per worker: the sum of its tasks' times"),
        field("worker_thread_ids", &S::worker_thread_ids, "OS thread id (or process id) of each worker"),
        field("wall_seconds", &S::wall_seconds, "the call's makespan"),
        field("serial_seconds", &S::serial_seconds, "sum of task times: the serial estimate"),
        field("speedup_estimate", &S::speedup_estimate, "serial_seconds / wall_seconds"),
        field("imbalance", &S::imbalance, "max / mean worker busy time (1 = balanced)"),
        field("scheduled_makespan", &S::scheduled_makespan, "makespan of the schedule in estimated cost units"),
        field("steals", &S::steals, "tasks run by a worker they were not scheduled on"),
        field("pool_start_seconds", &S::pool_start_seconds,
              "process strategy: starting the worker pool in this call (0 when an existing pool was reused)"),
        field("dispatch_overhead_seconds", &S::dispatch_overhead_seconds,
              "process strategy: mean per-task round trip through the pipes minus the worker's compute time")};
};
NEUROPERF_CHECK_FIELDS(ParallelReport);

template <>
struct Fields<ParallelStats> {
    using S = ParallelStats;
    static constexpr auto list = std::tuple{
        field("calls", &S::calls, "parallel calls"), field("tasks", &S::tasks, "tasks over every call"),
        field("steals", &S::steals, "steals over every call"), field("wall_seconds", &S::wall_seconds, "sum over calls"),
        field("serial_seconds", &S::serial_seconds, "sum of task times over calls"),
        field("speedup", &S::speedup, "serial_seconds / wall_seconds (0 before any call)"),
        field("mean_imbalance", &S::mean_imbalance, "mean of the calls' imbalance ratios"),
        field("max_imbalance", &S::max_imbalance, "largest imbalance ratio of a call"),
        field("last", &S::last, "the most recent call's report (None before any call)")};
};
NEUROPERF_CHECK_FIELDS(ParallelStats);

}  // namespace neuroperf
