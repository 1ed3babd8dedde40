// MKLOptimizer::optimize_batch_processing: argument checks, the path choice (cost model in
// kernels/batch.cpp, override NEUROPERF_BATCH_PATH=auto|gemm|event), and the two paths.
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "api/batch.hpp"
#include "api/cost_models.hpp"
#include "api/optimizer.hpp"
#include "neuroperf/timer.hpp"

namespace neuroperf {
namespace {

using kernels::BatchPath;

// NEUROPERF_BATCH_PATH forces a path for every call (benchmarks, debugging); unset or "auto"
// leaves the choice to the cost model. Any other value is an error naming the accepted ones.
BatchPath path_from_environment() {
    const char* v = std::getenv("NEUROPERF_BATCH_PATH");
    if (v == nullptr || *v == '\0' || std::string(v) == "auto") return BatchPath::automatic;
    if (std::string(v) == "gemm") return BatchPath::gemm;
    if (std::string(v) == "event") return BatchPath::event;
    throw ValueError(fmt::format("NEUROPERF_BATCH_PATH: expected one of \"auto\", \"gemm\", \"event\", got \"{}\"", v));
}

template <class T>
void check_weights(ArrayView<const T> w, index_t inputs, const std::string& spikes_desc) {
    if (w.rank() != 2)
        throw ShapeError(fmt::format("weight_matrix: expected a rank-2 array (N × M), got shape {}",
                                     w.layout().shape_string()));
    if (w.shape(0) != inputs)
        throw ShapeError(fmt::format("weight_matrix: expected N = {} rows to match {}, got shape {}", inputs,
                                     spikes_desc, w.layout().shape_string()));
}

// Picks the path (forced, environment, or cost model), runs it, logs when verbose. `events()`
// builds the event lists, only called when the event path runs (index lists: always cheap);
// `dense` is the B × N spike matrix for the GEMM (rank 0: build it from the events).
template <class T, class Events>
Array<T> run(const MKLOptimizer& opt, index_t B, index_t N, index_t nnz, Events&& events, ArrayView<const T> dense,
             ArrayView<const T> w, BatchPath path) {
    const index_t M = w.shape(1);
    const int threads = opt.num_threads();
    if (path == BatchPath::automatic) path = path_from_environment();
    const bool chosen = path == BatchPath::automatic;
    const kernels::BatchCostModel model = chosen || api::logs(opt) ? api::batch_cost_model(opt, dtype_of<T>(), threads)
                                                                   : kernels::BatchCostModel{};
    if (chosen) path = kernels::choose_batch_path(B, N, M, nnz, dtype_of<T>(), model);
    Array<T> out({B, M});
    Timer timer;
    if (path == BatchPath::gemm) {
        if (dense.rank() == 2) {
            opt.matrix_multiply_into<T>(dense, w, out.view());
        } else {  // index lists: counts (duplicates add up) as a dense B × N matrix
            Array<T> d = kernels::events_to_dense(events());
            opt.matrix_multiply_into<T>(d.view(), w, out.view());
        }
    } else {
        auto scope = api::call_scope(opt, threads, static_cast<double>(nnz) * static_cast<double>(M));
        kernels::event_batch_product<T>(events(), w, out.view(), threads, opt.context().isa());
    }
    if (api::logs(opt)) {
        double density = B * N > 0 ? static_cast<double>(nnz) / (static_cast<double>(B) * static_cast<double>(N)) : 0.0;
        api::emit(opt, fmt::format(
            "batch_processing {} B={} N={} M={} density={:.4g}: path {} ({}; estimates event {:.3g} s, gemm {:.3g} s), "
            "{} thread(s), {:.3g} s",
            dtype_name(dtype_of<T>()), B, N, M, density, kernels::batch_path_name(path),
            chosen ? "cost model" : "forced",
            kernels::batch_event_seconds(B, N, M, nnz, dtype_of<T>(), model),
            kernels::batch_gemm_seconds(B, N, M, dtype_of<T>(), model), threads, timer.seconds()));
    }
    return out;
}

}  // namespace

namespace api {

template <class T>
Array<T> batch_processing(const MKLOptimizer& opt, ArrayView<const T> spike_batches, ArrayView<const T> weight_matrix,
                          BatchPath path) {
    if (spike_batches.rank() != 2)
        throw ShapeError(fmt::format("spike_batches: expected a rank-2 array (B × N), got shape {}",
                                     spike_batches.layout().shape_string()));
    check_weights(weight_matrix, spike_batches.shape(1),
                  fmt::format("the columns of spike_batches (shape {})", spike_batches.layout().shape_string()));
    // Count first (one pass over B × N, cheap next to either product); extract events only
    // when the event path runs.
    index_t nnz = 0;
    for (index_t b = 0; b < spike_batches.shape(0); ++b)
        for (index_t i = 0; i < spike_batches.shape(1); ++i) nnz += spike_batches(b, i) != T(0) ? 1 : 0;
    return run<T>(opt, spike_batches.shape(0), spike_batches.shape(1), nnz,
                  [&] { return kernels::events_from_dense(spike_batches); }, spike_batches, weight_matrix, path);
}

template <class T>
Array<T> batch_processing(const MKLOptimizer& opt, const std::vector<std::vector<std::int32_t>>& spike_indices,
                          ArrayView<const T> weight_matrix, BatchPath path) {
    if (weight_matrix.rank() != 2)
        throw ShapeError(fmt::format("weight_matrix: expected a rank-2 array (N × M), got shape {}",
                                     weight_matrix.layout().shape_string()));
    auto ev = kernels::events_from_lists<T>(spike_indices, weight_matrix.shape(0));  // validates indices
    return run<T>(opt, ev.batches, ev.inputs, ev.nnz(), [&]() -> const kernels::SpikeEvents<T>& { return ev; },
                  ArrayView<const T>(), weight_matrix, path);
}

}  // namespace api

template <class T>
Array<T> MKLOptimizer::optimize_batch_processing(ArrayView<const T> spike_batches, ArrayView<const T> weight_matrix) const {
    return api::batch_processing<T>(*this, spike_batches, weight_matrix, BatchPath::automatic);
}

template <class T>
Array<T> MKLOptimizer::optimize_batch_processing(const std::vector<std::vector<std::int32_t>>& spike_indices,
                                                 ArrayView<const T> weight_matrix) const {
    return api::batch_processing<T>(*this, spike_indices, weight_matrix, BatchPath::automatic);
}

#define NEUROPERF_INSTANTIATE(T)                                                                                      \
    template Array<T> MKLOptimizer::optimize_batch_processing<T>(ArrayView<const T>, ArrayView<const T>) const;       \
    template Array<T> MKLOptimizer::optimize_batch_processing<T>(const std::vector<std::vector<std::int32_t>>&,       \
                                                                 ArrayView<const T>) const;                           \
    template Array<T> api::batch_processing<T>(const MKLOptimizer&, ArrayView<const T>, ArrayView<const T>,           \
                                               BatchPath);                                                            \
    template Array<T> api::batch_processing<T>(const MKLOptimizer&, const std::vector<std::vector<std::int32_t>>&,    \
                                               ArrayView<const T>, BatchPath);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
