// MKLOptimizer::optimize_batch_processing with the path forced (tests, micro-benchmarks); the
// public call is BatchPath::automatic. Private to the api layer and its tests.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/batch.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace neuroperf::api {

/// MKLOptimizer::optimize_batch_processing with the path forced (tests, micro-benchmarks);
/// BatchPath::automatic is the public behaviour.
template <class T>
Array<T> batch_processing(const MKLOptimizer& opt, ArrayView<const T> spike_batches, ArrayView<const T> weight_matrix,
                          kernels::BatchPath path);
template <class T>
Array<T> batch_processing(const MKLOptimizer& opt, const std::vector<std::vector<std::int32_t>>& spike_indices,
                          ArrayView<const T> weight_matrix, kernels::BatchPath path);

}  // namespace neuroperf::api
