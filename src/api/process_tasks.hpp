// The process strategy's task kinds (parent side, private to the api layer): reservoir runs,
// ReservoirReasoningCore cores and ProcessPlugin batches, each laid out in one shared segment
// and run on a ParallelProcessor's worker pool.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "neuroperf/parallel_processor.hpp"
#include "parallel/process_pool.hpp"

namespace neuroperf::api {

template <class T>
struct ProcessOutputs {
    std::vector<Array<T>> outputs;
    ParallelReport report;
};

ProcessOutputs<float> run_plugin_in_processes(const ParallelProcessor& pp, parallel::PoolSlot& slot,
                                              const std::vector<ArrayView<const float>>& batches,
                                              const ProcessPlugin& plugin, index_t max_output);

template <class T>
ProcessOutputs<T> run_reservoirs_in_processes(const ParallelProcessor& pp, parallel::PoolSlot& slot,
                                              const std::vector<ArrayView<const T>>& states,
                                              const std::vector<ArrayView<const T>>& w_in,
                                              std::span<const CsrMatrix<T>> w, const std::vector<ArrayView<const T>>& inputs,
                                              const ReservoirOptions<T>& options, const std::vector<double>& costs);

ProcessOutputs<float> run_reasoning_in_processes(const ParallelProcessor& pp, parallel::PoolSlot& slot,
                                                 const std::vector<std::shared_ptr<const ReasoningCore>>& cores,
                                                 const std::vector<ArrayView<const float>>& inputs, bool balance,
                                                 const std::vector<double>& costs);

}  // namespace neuroperf::api
