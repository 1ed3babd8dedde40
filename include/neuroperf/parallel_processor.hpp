// ParallelProcessor: spike batches, reservoirs and multi-modal reasoning cores run
// in parallel on OpenMP threads (strategy "thread") or worker processes (strategy "process"),
// scheduled longest-processing-time first with work stealing, and monitored per call.
//
//   neuroperf::ParallelProcessor pp({.num_threads = 2});
//   auto out = pp.parallel_spike_processing(batches, [](const Array<float>& b) { return sum(b); });
//   auto stats = pp.get_performance_stats();
//
// See docs/guide/parallel.md (user guide) and docs/dev/parallel.md (design).
#pragma once

#include <cstddef>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "neuroperf/array.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/parallel_report.hpp"
#include "neuroperf/progress.hpp"
#include "neuroperf/reservoir.hpp"
#include "neuroperf/sparse.hpp"

namespace neuroperf {

/// The processor's configuration. validate() throws ValueError naming the field,
/// what is accepted and the value given.
struct NEUROPERF_API ParallelConfig {
    /// Workers. 0 = the context's count (OMP_NUM_THREADS if set, else the CPUs of the affinity
    /// mask and cgroup quota).
    int num_threads = 0;
    /// "thread" (OpenMP) | "process" (worker processes, named task kinds only) | "jax_pmap"
    /// (only the Python package with JAX; the C++ library raises ValueError for it).
    std::string parallel_strategy = "thread";
    /// true: LPT schedule from cost estimates (refined by measured times) plus work stealing;
    /// false: static contiguous blocks in input order, no stealing.
    bool enable_load_balancing = true;
    /// In (0, 1]: an idle worker steals a queued task when the balance efficiency of the queued
    /// work (mean / max over workers) is below this. 1 = steal on any imbalance.
    double load_balance_threshold = 0.8;
    /// Tasks per block of the static schedule (load balancing off); 0 = one block per worker.
    int chunk_size = 0;
    /// Process strategy: a task running longer than this many seconds has its worker killed
    /// and the call fails with WorkerError (> 0).
    double process_task_timeout = 600;
    /// Log schedules and per-call monitoring through the context's log sink.
    bool verbose = false;

    void validate() const;
};

/// A reasoning module of a multi-modal system: maps an input (a vector or a T × D sequence of
/// float32) to an output. process() is const and must be safe to call from several threads at
/// once (a core may appear more than once in a call).
class NEUROPERF_API ReasoningCore {
public:
    virtual ~ReasoningCore() = default;
    virtual std::string name() const = 0;
    virtual Array<float> process(ArrayView<const float> input) const = 0;
    /// Relative cost of process(input), any unit consistent across the cores of a call; the
    /// processor refines it by measured times. Default: the number of input elements.
    virtual double estimate_cost(ArrayView<const float> input) const;
};

/// Shape and seed of a ReservoirReasoningCore.
struct ReservoirCoreSpec {
    index_t reservoir_size = 100;  ///< N
    index_t input_dim = 1;         ///< D
    index_t output_dim = 1;        ///< O
    double density = 0.1;          ///< of W (CSR), in (0, 1]
    double spectral_scale = 0.9;   ///< W scaled so each row's entries sum of squares is this²
    float leak_rate = 1.0f;        ///< in (0, 1]
    std::uint64_t seed = 42;       ///< weights are a pure function of (seed, spec)
};

/// An echo state network with a linear readout: process(U) runs the reservoir from x = 0 over
/// the T × D inputs U (a rank-1 input is one step) and returns the T × O outputs Y = X·W_outᵀ.
/// Weights are deterministic (counter hash of the seed); the readout can be replaced. Runs
/// single-threaded (it is meant to be one task among many). Cost T·(nnz(W) + N·D + N·O).
class NEUROPERF_API ReservoirReasoningCore : public ReasoningCore {
public:
    /// Throws ValueError for sizes < 1, density outside (0, 1], leak outside (0, 1].
    ReservoirReasoningCore(std::string name, const ReservoirCoreSpec& spec, Context context = default_context());
    std::string name() const override { return name_; }
    Array<float> process(ArrayView<const float> input) const override;
    double estimate_cost(ArrayView<const float> input) const override;

    const ReservoirCoreSpec& spec() const { return spec_; }
    const CsrMatrix<float>& reservoir_weights() const { return w_; }
    ArrayView<const float> input_weights() const { return w_in_.view(); }
    ArrayView<const float> readout_weights() const { return w_out_.view(); }
    /// Replaces W_out; ShapeError unless it is O × N.
    void set_readout(Array<float> w_out);

private:
    std::string name_;
    ReservoirCoreSpec spec_;
    Context context_;
    CsrMatrix<float> w_;
    Array<float> w_in_, w_out_;
};

/// Output of parallel_multi_modal_reasoning.
struct MultiModalResult {
    std::vector<Array<float>> outputs;  ///< outputs[i] = cores[i]->process(inputs[i])
    ParallelReport report;
};

/// A user task for the process strategy: `symbol` in the shared library `library`, with the C
/// signature (see docs/guide/parallel.md)
///   extern "C" int symbol(const float* in, int64_t n, float* out, int64_t out_capacity,
///                         int64_t* out_n);   // returns 0 on success
struct ProcessPlugin {
    std::filesystem::path library;
    std::string symbol;
};

/// One row of benchmark_parallel_performance() (fields documented in the field list below).
struct ParallelBenchmarkEntry {
    std::string workload;
    std::string strategy;
    index_t size = 0;
    int threads = 0;
    double seconds = 0;
    double speedup = 0;
    double efficiency = 0;
};

struct NEUROPERF_API ParallelBenchmarkReport {
    std::vector<ParallelBenchmarkEntry> entries;
    int iterations = 0;
    std::string to_json() const;  ///< Google Benchmark JSON with `speedup` counters
    void save(const std::filesystem::path& path) const;  ///< atomic write of to_json()
};

template <>
struct Fields<ParallelBenchmarkEntry> {
    using S = ParallelBenchmarkEntry;
    static constexpr auto list = std::tuple{
        field("workload", &S::workload, "\"reservoirs\": K CSR reservoirs per call"),
        field("strategy", &S::strategy, "\"thread\" or \"process\""), field("size", &S::size, "N of each reservoir"),
        field("threads", &S::threads, "workers"), field("seconds", &S::seconds, "median per call"),
        field("speedup", &S::speedup, "1-worker seconds / seconds"), field("efficiency", &S::efficiency, "speedup / threads")};
};
NEUROPERF_CHECK_FIELDS(ParallelBenchmarkEntry);

template <>
struct Fields<ParallelBenchmarkReport> {
    using S = ParallelBenchmarkReport;
    static constexpr auto list =
        std::tuple{field("entries", &S::entries, "a row per size, strategy and worker count"),
                   field("iterations", &S::iterations, "timed calls per row (the median is reported)")};
};
NEUROPERF_CHECK_FIELDS(ParallelBenchmarkReport);

namespace detail {
struct ParallelState;
}

class NEUROPERF_API ParallelProcessor {
public:
    /// Processor on default_context() (config.validate() first).
    explicit ParallelProcessor(ParallelConfig config = {});
    ParallelProcessor(ParallelConfig config, Context context);

    const ParallelConfig& config() const { return config_; }
    const Context& context() const { return context_; }
    /// Configured workers (config.num_threads or the context's count).
    int num_threads() const;

    /// results[i] = processing_func(spike_batches[i], args...), in input order, the batches run
    /// in parallel (thread strategy; cost estimate per batch = its size() when it has one, else
    /// 1). The function must be safe to call concurrently. An exception in a task is rethrown
    /// here as TaskError naming the task; tasks not yet started are skipped. With strategy
    /// "process" a C++ callable cannot be shipped to a worker: ValueError listing the task kinds
    /// the process strategy runs.
    template <class In, class F, class... Args>
    auto parallel_spike_processing(const std::vector<In>& spike_batches, F&& processing_func, const Args&... args) const
        -> std::vector<std::invoke_result_t<F&, const In&, const Args&...>>;

    /// The process strategy's user task: `plugin` applied to each batch in a worker process
    /// (thread strategy: in this process, loaded with dlopen). Outputs at most `max_output`
    /// floats per batch.
    std::vector<Array<float>> parallel_spike_processing(const std::vector<ArrayView<const float>>& spike_batches,
                                                        const ProcessPlugin& plugin, index_t max_output) const;

    /// K reservoir runs in parallel: states[k] (T_k × N_k) = run_reservoir(reservoir_states[k],
    /// W_in, W, input_spikes_list[k]) where W_in / W are input_weights / reservoir_weights [k], or
    /// [0] when one is given (shared). Bit-identical to MKLOptimizer::run_reservoir with one
    /// thread, at any thread count. Shapes as run_reservoir (ShapeError naming the reservoir),
    /// ValueError when a list has a length other than 1 or K.
    template <class T>
    std::vector<Array<T>> parallel_reservoir_computation(const std::vector<ArrayView<const T>>& reservoir_states,
                                                         const std::vector<ArrayView<const T>>& input_weights,
                                                         std::span<const CsrMatrix<T>> reservoir_weights,
                                                         const std::vector<ArrayView<const T>>& input_spikes_list,
                                                         const ReservoirOptions<T>& options = {}) const;
    template <class T>
    std::vector<Array<T>> parallel_reservoir_computation(const std::vector<ArrayView<const T>>& reservoir_states,
                                                         const std::vector<ArrayView<const T>>& input_weights,
                                                         const std::vector<ArrayView<const T>>& reservoir_weights,
                                                         const std::vector<ArrayView<const T>>& input_spikes_list,
                                                         const ReservoirOptions<T>& options = {}) const;

    /// outputs[i] = reasoning_cores[i]->process(input_data_list[i]) in parallel. load_balance
    /// (and config.enable_load_balancing) on: LPT on the cores' cost estimates scaled by the
    /// seconds per cost unit measured for each core name in earlier calls (moving average),
    /// plus work stealing; off: static blocks in input order. ValueError when the lists differ
    /// in length or a core is null; a core's exception becomes TaskError naming the task.
    MultiModalResult parallel_multi_modal_reasoning(const std::vector<std::shared_ptr<const ReasoningCore>>& reasoning_cores,
                                                    const std::vector<ArrayView<const float>>& input_data_list,
                                                    bool load_balance = true) const;

    /// Speed-up and efficiency at 1..num_threads() threads for K=8 CSR reservoirs (density 0.1,
    /// 20 steps) of each size in test_sizes, median of num_iterations calls, on the thread
    /// strategy (and the process strategy when built). output_path non-empty: JSON written there.
    /// `progress` (optional) is called after each row.
    ParallelBenchmarkReport benchmark_parallel_performance(std::vector<index_t> test_sizes = {100, 500, 1000},
                                                           int num_iterations = 5,
                                                           const std::filesystem::path& output_path = {},
                                                           const ProgressFn& progress = {}) const;

    /// Totals over every call so far, and the last call's report.
    ParallelStats get_performance_stats() const;
    void reset_performance_stats() const;

    /// Runs task(i) for i in [0, costs.size()) on the configured strategy's workers with the
    /// schedule the config asks for (balance && enable_load_balancing: LPT + stealing), and
    /// records the call. The building block of the calls above; tasks must be thread-safe.
    /// Exceptions as parallel_spike_processing. The process strategy raises ValueError here.
    ParallelReport run_tasks(const std::string& operation, const std::vector<double>& costs, bool balance,
                             const std::function<void(std::size_t)>& task) const;

private:
    ParallelConfig config_;
    Context context_;
    std::shared_ptr<detail::ParallelState> state_;
};

/// A processor on default_context() (the API's helper).
NEUROPERF_API ParallelProcessor enable_parallel_processing(ParallelConfig config = {});

// --- implementation of the template -------------------------------------------------------

namespace detail {
template <class In>
double batch_cost(const In& batch) {
    if constexpr (requires { batch.size(); }) return static_cast<double>(batch.size()) + 1.0;
    else return 1.0;
}
}  // namespace detail

template <class In, class F, class... Args>
auto ParallelProcessor::parallel_spike_processing(const std::vector<In>& spike_batches, F&& processing_func,
                                                  const Args&... args) const
    -> std::vector<std::invoke_result_t<F&, const In&, const Args&...>> {
    using R = std::invoke_result_t<F&, const In&, const Args&...>;
    static_assert(!std::is_void_v<R>, "processing_func must return a value (the batch's result)");
    std::vector<double> costs;
    costs.reserve(spike_batches.size());
    for (const auto& b : spike_batches) costs.push_back(detail::batch_cost(b));
    std::vector<std::optional<R>> slots(spike_batches.size());
    run_tasks("spike_processing", costs, true,
              [&](std::size_t i) { slots[i].emplace(std::invoke(processing_func, spike_batches[i], args...)); });
    std::vector<R> out;
    out.reserve(slots.size());
    for (auto& s : slots) out.push_back(std::move(*s));
    return out;
}

}  // namespace neuroperf
