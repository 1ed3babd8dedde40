// Batch products spikes (B × N) · W (N × M) -> B × M: the event-driven kernel, the input
// normalisation into per-batch event lists, and the pure choice between it and a dense GEMM.
// Written once for float/double (explicit instantiations in batch.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "neuroperf/array.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf::kernels {

enum class BatchPath : std::uint8_t { automatic, gemm, event };
const char* batch_path_name(BatchPath p);  ///< "auto" | "gemm" | "event"

/// The rates behind the path choice (docs/guide/batch.md, "How the path is chosen"). A
/// context calibrates them on its machine at first use (api/cost_models.hpp); the defaults
/// are the ones fitted on AMD EPYC Zen 4.
struct BatchCostModel {
    double gemm_flops = 0;          ///< dense GEMM flop/s through matrix_multiply_into, compute-bound
    double gemm_bytes = 0;          ///< W bytes/s a memory-bound GEMM (few batch rows) streams
    double event_bytes = 0;         ///< W row bytes/s the event kernel fetches (and spike bytes scanned)
    double event_adds = 0;          ///< accumulated elements/s (acc += w) of the event kernel
    double gemm_call_seconds = 0;   ///< fixed cost of a GEMM call
    double event_call_seconds = 0;  ///< fixed cost of an event-kernel call
};
BatchCostModel default_batch_cost_model(DType dtype, int threads);

/// Estimated seconds of each path for B batch rows, N inputs, M outputs, nnz active (input,
/// batch) pairs under model `m` (or the defaults at `threads`). Pure functions.
double batch_gemm_seconds(index_t B, index_t N, index_t M, DType dtype, const BatchCostModel& m);
double batch_event_seconds(index_t B, index_t N, index_t M, index_t nnz, DType dtype, const BatchCostModel& m);
double batch_gemm_seconds(index_t B, index_t N, index_t M, DType dtype, int threads);
double batch_event_seconds(index_t B, index_t N, index_t M, index_t nnz, DType dtype, int threads);

/// gemm or event (never automatic): event when its estimate is below the GEMM's. Pure.
BatchPath choose_batch_path(index_t B, index_t N, index_t M, index_t nnz, DType dtype, const BatchCostModel& m);
BatchPath choose_batch_path(index_t B, index_t N, index_t M, index_t nnz, DType dtype, int threads);

/// Active inputs per batch row, CSR-like: batch b's events are [row_ptr[b], row_ptr[b+1]).
/// unit = every value is exactly 1 (0/1 spikes, index lists): the kernel skips the multiply.
template <class T>
struct SpikeEvents {
    index_t batches = 0;
    index_t inputs = 0;  ///< N
    std::vector<index_t> row_ptr;
    std::vector<std::int32_t> index;
    std::vector<T> value;  ///< empty when unit
    bool unit = true;
    index_t nnz() const { return static_cast<index_t>(index.size()); }
};

/// Events of a dense B × N view (any strides): every element != 0 (NaN included, so it
/// propagates). Throws ShapeError naming "spike_batches" unless rank 2.
template <class T>
SpikeEvents<T> events_from_dense(ArrayView<const T> spikes);

/// Events of index lists over N inputs; duplicates are kept (an index listed twice counts twice).
/// Throws ValueError naming the batch and position of an index outside [0, N).
template <class T>
SpikeEvents<T> events_from_lists(const std::vector<std::vector<std::int32_t>>& lists, index_t inputs);

/// Dense B × N array of the events (value-weighted; duplicates summed), for the GEMM path.
template <class T>
Array<T> events_to_dense(const SpikeEvents<T>& ev);

/// out (B × M, any strides, no overlap with W) = Σ over the events of batch b of value·W[i, :],
/// summed in event order (dense input: ascending i; index lists: list order), so each output
/// element gets the same arithmetic whatever the thread count or tiling: bit-identical results.
/// W (N × M) any strides (column stride 1 is the fast case). Parallel over (column tile, chunk
/// of batch rows) with `threads` OpenMP threads, on variant `isa`. Cost: nnz·M additions, W's
/// active rows read.
template <class T>
void event_batch_product(const SpikeEvents<T>& ev, ArrayView<const T> w, ArrayView<T> out, int threads, Isa isa);

}  // namespace neuroperf::kernels
