// The "process" strategy's machinery: a pool of neuroperf-worker processes started with
// posix_spawn, fed fixed-size task messages through socket pairs, the data in one POSIX
// shared-memory segment per call (docs/dev/parallel.md). What a task kind puts in the segment
// and how a worker runs it are the api layer's (src/api/process_tasks.cpp, worker_loop.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "neuroperf/parallel_report.hpp"
#include "parallel/executor.hpp"
#include "parallel/worker_protocol.hpp"

namespace neuroperf::parallel {

/// True when this library can run the process strategy (worker executable found).
bool process_strategy_built();
/// The neuroperf-worker executable: $NEUROPERF_WORKER (NotBuiltError if not executable), else
/// beside the library (build tree), else the install's libexec/neuroperf/; empty when none.
std::filesystem::path find_worker();

class ProcessPool;
/// A processor's pool, started on first use and kept for later calls (same worker count);
/// discarded when a worker dies. One call at a time uses it (mu).
struct PoolSlot {
    std::mutex mu;
    std::shared_ptr<ProcessPool> pool;
};

/// One call on the pool: how to schedule its tasks and what to call them in errors.
struct PoolCall {
    std::string operation;            ///< ParallelReport::operation
    ExecOptions options;              ///< workers (the pool's size), schedule, stealing
    double timeout = 600;             ///< seconds a task may run before its worker is killed
    std::vector<double> costs;        ///< per task, for the schedule
    std::vector<std::string> names;   ///< per task, for error messages
};

/// Runs msgs[i] (one per task; their segment fields are filled in here) on `slot`'s pool, started
/// or reused with call.options.workers workers, the data in `seg`. Throws TaskError (a task failed
/// in its worker: the rest are cancelled) or WorkerError (a worker died or timed out: the pool is
/// discarded, its workers killed and reaped).
ParallelReport run_on_pool(PoolSlot& slot, const SharedSegment& seg, std::vector<TaskMsg>& msgs, const PoolCall& call);

}  // namespace neuroperf::parallel
