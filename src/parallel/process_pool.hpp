// The "process" strategy: named task kinds run in neuroperf-worker processes started with
// posix_spawn, data in POSIX shared memory (docs/dev/parallel.md). Private.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "neuroperf/parallel_processor.hpp"

namespace neuroperf::parallel {

/// The C signature of a ProcessPlugin symbol.
using PluginFn = int (*)(const float* in, std::int64_t n, float* out, std::int64_t out_capacity, std::int64_t* out_n);

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

template <class T>
struct ProcessOutputs {
    std::vector<Array<T>> outputs;
    ParallelReport report;
};

ProcessOutputs<float> run_plugin_in_processes(const ParallelProcessor& pp, PoolSlot& slot, const std::vector<ArrayView<const float>>& batches,
                                              const ProcessPlugin& plugin, index_t max_output);

template <class T>
ProcessOutputs<T> run_reservoirs_in_processes(const ParallelProcessor& pp, PoolSlot& slot, const std::vector<ArrayView<const T>>& states,
                                              const std::vector<ArrayView<const T>>& w_in,
                                              std::span<const CsrMatrix<T>> w, const std::vector<ArrayView<const T>>& inputs,
                                              const ReservoirOptions<T>& options, const std::vector<double>& costs);

ProcessOutputs<float> run_reasoning_in_processes(const ParallelProcessor& pp, PoolSlot& slot,
                                                 const std::vector<std::shared_ptr<const ReasoningCore>>& cores,
                                                 const std::vector<ArrayView<const float>>& inputs, bool balance,
                                                 const std::vector<double>& costs);

}  // namespace neuroperf::parallel
