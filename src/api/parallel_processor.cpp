// ParallelProcessor: configuration, monitoring, and the three parallel calls on top of
// the executor (src/parallel/executor.cpp) and the process pool (src/parallel/process_pool.cpp,
// task kinds in process_tasks.cpp).
#include "neuroperf/parallel_processor.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include <dlfcn.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/gbench.hpp"
#include "api/process_tasks.hpp"
#include "core/bench_args.hpp"
#include "core/json_fields.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "api/optimizer.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/stats.hpp"
#include "neuroperf/timer.hpp"
#include "neuroperf/version.hpp"
#include "parallel/executor.hpp"
#include "runtime/context_impl.hpp"

namespace neuroperf {

namespace detail {
// Mutable state shared by copies of a processor: totals and the measured seconds per cost
// unit of each reasoning core name (moving average), which refine later schedules.
struct ParallelState {
    std::mutex mu;
    ParallelStats stats;
    double imbalance_sum = 0;
    std::map<std::string, double> seconds_per_unit;
    parallel::PoolSlot pool;
};
}  // namespace detail

namespace {

constexpr double kCostAlpha = 0.5;  // weight of the newest measurement in the moving average

const char* kProcessKinds =
    "the process strategy runs named task kinds only: parallel_reservoir_computation (CSR or dense reservoirs on "
    "shared-memory weights), parallel_multi_modal_reasoning with ReservoirReasoningCore cores, and "
    "parallel_spike_processing with a ProcessPlugin (shared library + extern \"C\" symbol)";

}  // namespace

void ParallelConfig::validate() const {
    if (num_threads < 0)
        throw ValueError(fmt::format("ParallelConfig.num_threads: expected >= 0 (0 = auto), got {}", num_threads));
    if (parallel_strategy == "jax_pmap")
        throw ValueError(
            "ParallelConfig.parallel_strategy: \"jax_pmap\" is available only in the Python package with JAX installed; "
            "the C++ library has \"thread\" and \"process\"");
    if (parallel_strategy != "thread" && parallel_strategy != "process")
        throw ValueError(fmt::format(
            "ParallelConfig.parallel_strategy: expected \"thread\" or \"process\" (\"jax_pmap\" in Python with JAX), got \"{}\"",
            parallel_strategy));
    if (!(load_balance_threshold > 0 && load_balance_threshold <= 1))
        throw ValueError(fmt::format("ParallelConfig.load_balance_threshold: expected a value in (0, 1], got {}",
                                     load_balance_threshold));
    if (!(process_task_timeout > 0))
        throw ValueError(fmt::format("ParallelConfig.process_task_timeout: expected seconds > 0, got {}", process_task_timeout));
    if (chunk_size < 0)
        throw ValueError(fmt::format("ParallelConfig.chunk_size: expected >= 0 (0 = auto), got {}", chunk_size));
}

double ReasoningCore::estimate_cost(ArrayView<const float> input) const { return static_cast<double>(input.size()); }

ParallelProcessor::ParallelProcessor(ParallelConfig config) : ParallelProcessor(std::move(config), default_context()) {}

ParallelProcessor::ParallelProcessor(ParallelConfig config, Context context)
    : config_(std::move(config)), context_(std::move(context)), state_(std::make_shared<detail::ParallelState>()) {
    config_.validate();
    if (runtime::logs(context_, config_.verbose)) {  // the processor's own verbosity; the context is unchanged
        runtime::emit(context_, fmt::format("ParallelProcessor: {} worker(s), strategy {}, load balancing {} (threshold {}), chunk {}",
                                 num_threads(), config_.parallel_strategy, config_.enable_load_balancing ? "on" : "off",
                                 config_.load_balance_threshold, config_.chunk_size));
    }
}

int ParallelProcessor::num_threads() const {
    return config_.num_threads > 0 ? config_.num_threads : context_.num_threads();
}

ParallelStats ParallelProcessor::get_performance_stats() const {
    std::lock_guard lock(state_->mu);
    return state_->stats;
}

void ParallelProcessor::reset_performance_stats() const {
    std::lock_guard lock(state_->mu);
    state_->stats = {};
    state_->imbalance_sum = 0;
}

namespace {
void record(detail::ParallelState& st, const ParallelReport& r, const ParallelConfig& cfg, const Context& ctx) {
    {
        std::lock_guard lock(st.mu);
        auto& s = st.stats;
        s.calls += 1;
        s.tasks += r.tasks.size();
        s.steals += r.steals;
        s.wall_seconds += r.wall_seconds;
        s.serial_seconds += r.serial_seconds;
        s.speedup = s.wall_seconds > 0 ? s.serial_seconds / s.wall_seconds : 0.0;
        st.imbalance_sum += r.imbalance;
        s.mean_imbalance = st.imbalance_sum / static_cast<double>(s.calls);
        s.max_imbalance = std::max(s.max_imbalance, r.imbalance);
        s.last = r;
    }
    if (runtime::logs(ctx, cfg.verbose)) {
        runtime::emit(ctx, r.summary());
        if (r.imbalance > 1.0 / cfg.load_balance_threshold)
            runtime::emit(ctx, fmt::format("{}: imbalance {:.3f} above 1/load_balance_threshold = {:.3f}", r.operation, r.imbalance,
                                1.0 / cfg.load_balance_threshold));
    }
}
}  // namespace

ParallelReport ParallelProcessor::run_tasks(const std::string& operation, const std::vector<double>& costs, bool balance,
                                            const std::function<void(std::size_t)>& task) const {
    if (config_.parallel_strategy == "process")
        throw ValueError(fmt::format("ParallelConfig.parallel_strategy \"process\": a C++ callable cannot run in a worker "
                                     "process ({}); {}: use the \"thread\" strategy for callables",
                                     operation, kProcessKinds));
    parallel::ExecOptions o;
    o.workers = num_threads();
    o.balance = balance && config_.enable_load_balancing;
    o.threshold = config_.load_balance_threshold;
    o.chunk = config_.chunk_size;
    if (runtime::logs(context_, config_.verbose)) {
        auto s = parallel::plan(costs, {std::max(1, std::min<int>(o.workers, static_cast<int>(costs.size()))), o.balance,
                                        o.threshold, o.chunk});
        runtime::emit(context_, fmt::format("{}: {} tasks, {} schedule, estimated makespan {:.4g}, imbalance {:.3f}", operation,
                                 costs.size(), o.balance ? "LPT" : "static", s.makespan, s.imbalance()));
    }
    ParallelReport r = parallel::execute(costs, o, task);
    r.operation = operation;
    record(*state_, r, config_, context_);
    return r;
}

// --- plug-in tasks --------------------------------------------------------------------------

std::vector<Array<float>> ParallelProcessor::parallel_spike_processing(const std::vector<ArrayView<const float>>& spike_batches,
                                                                       const ProcessPlugin& plugin,
                                                                       index_t max_output) const {
    if (max_output < 0) throw ValueError(fmt::format("max_output: expected >= 0, got {}", max_output));
    for (std::size_t i = 0; i < spike_batches.size(); ++i)
        if (!spike_batches[i].is_contiguous())
            throw ShapeError(fmt::format("spike_batches[{}]: expected a contiguous array, got strides that are not C order", i));
    if (config_.parallel_strategy == "process") {
        auto r = api::run_plugin_in_processes(*this, state_->pool, spike_batches, plugin, max_output);
        record(*state_, r.report, config_, context_);
        return std::move(r.outputs);
    }
    void* handle = ::dlopen(plugin.library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        throw ValueError(fmt::format("plugin.library: cannot load '{}': {}", plugin.library.string(), ::dlerror()));
    std::shared_ptr<void> guard(handle, [](void* h) { ::dlclose(h); });
    auto fn = reinterpret_cast<parallel::PluginFn>(::dlsym(handle, plugin.symbol.c_str()));
    if (!fn)
        throw ValueError(fmt::format("plugin.symbol: '{}' not found in '{}'", plugin.symbol, plugin.library.string()));
    std::vector<Array<float>> out(spike_batches.size());
    std::vector<double> costs;
    for (const auto& b : spike_batches) costs.push_back(static_cast<double>(b.size()) + 1.0);
    run_tasks("spike_processing", costs, true, [&](std::size_t i) {
        Array<float> buf({max_output});
        std::int64_t got = 0;
        int rc = fn(spike_batches[i].data(), spike_batches[i].size(), buf.data(), max_output, &got);
        if (rc != 0) throw Error(fmt::format("plugin {} returned {}", plugin.symbol, rc));
        if (got < 0 || got > max_output)
            throw Error(fmt::format("plugin {} reported {} outputs, expected 0..{}", plugin.symbol, got, max_output));
        Array<float> o({got});
        std::copy_n(buf.data(), got, o.data());
        out[i] = std::move(o);
    });
    return out;
}

// --- reservoirs -------------------------------------------------------------------------------

namespace {

template <class T>
const CsrMatrix<T>& pick(std::span<const CsrMatrix<T>> w, std::size_t k) {
    return w[w.size() == 1 ? 0 : k];
}
template <class T>
ArrayView<const T> pick(const std::vector<ArrayView<const T>>& w, std::size_t k) {
    return w[w.size() == 1 ? 0 : k];
}

template <class T>
index_t rows_of(const CsrMatrix<T>& w) { return w.rows(); }
template <class T>
index_t rows_of(ArrayView<const T> w) { return w.rank() == 2 ? w.shape(0) : -1; }
template <class T>
index_t cols_of(const CsrMatrix<T>& w) { return w.cols(); }
template <class T>
index_t cols_of(ArrayView<const T> w) { return w.rank() == 2 ? w.shape(1) : -1; }
template <class T>
double work_of(const CsrMatrix<T>& w) { return static_cast<double>(w.nnz()); }
template <class T>
double work_of(ArrayView<const T> w) { return static_cast<double>(w.size()); }

void check_count(const char* arg, std::size_t got, std::size_t k) {
    if (got != 1 && got != k)
        throw ValueError(fmt::format("{}: expected 1 (shared) or {} (one per reservoir) entries, got {}", arg, k, got));
}

// Shapes checked in the caller so a mistake is a ShapeError naming the reservoir, not a
// TaskError from inside a worker.
template <class T, class WList>
std::vector<double> check_reservoirs(const std::vector<ArrayView<const T>>& states, const std::vector<ArrayView<const T>>& w_in,
                                     const WList& w, const std::vector<ArrayView<const T>>& inputs) {
    std::size_t k = states.size();
    check_count("input_weights", w_in.size(), k);
    check_count("reservoir_weights", w.size(), k);
    if (inputs.size() != k)
        throw ValueError(fmt::format("input_spikes_list: expected {} entries (one per reservoir state), got {}", k, inputs.size()));
    std::vector<double> costs;
    for (std::size_t r = 0; r < k; ++r) {
        const auto& x = states[r];
        if (x.rank() != 1)
            throw ShapeError(fmt::format("reservoir_states[{}]: expected a rank-1 array (N,), got shape {}", r,
                                         x.layout().shape_string()));
        index_t n = x.shape(0);
        const auto& wr = pick(w, r);
        if (rows_of<T>(wr) != n || cols_of<T>(wr) != n)
            throw ShapeError(fmt::format("reservoir_weights[{}]: expected shape ({}, {}) (N × N, N from reservoir_states[{}]), got "
                                         "({}, {})", w.size() == 1 ? 0 : r, n, n, r, rows_of<T>(wr), cols_of<T>(wr)));
        auto wi = pick(w_in, r);
        if (wi.rank() != 2 || wi.shape(0) != n)
            throw ShapeError(fmt::format("input_weights[{}]: expected shape ({}, D), got {}", w_in.size() == 1 ? 0 : r, n,
                                         wi.layout().shape_string()));
        const auto& u = inputs[r];
        if (u.rank() != 2 || u.shape(1) != wi.shape(1))
            throw ShapeError(fmt::format("input_spikes_list[{}]: expected shape (T, {}) (D from input_weights), got {}", r,
                                         wi.shape(1), u.layout().shape_string()));
        costs.push_back(static_cast<double>(u.shape(0)) * (work_of<T>(wr) + static_cast<double>(wi.size())) + 1.0);
    }
    return costs;
}

}  // namespace

template <class T, class WList>
static std::vector<Array<T>> reservoirs_on_threads(const ParallelProcessor& pp, const std::vector<ArrayView<const T>>& states,
                                                   const std::vector<ArrayView<const T>>& w_in, const WList& w,
                                                   const std::vector<ArrayView<const T>>& inputs,
                                                   const ReservoirOptions<T>& options, const std::vector<double>& costs) {
    auto opt = api::single_thread_optimizer(pp.context());
    // Resolve the 1-thread GEMM choice (may load or run a calibration) before the workers start.
    (void)opt.backend_for<T>(64, 64, 64);
    std::vector<Array<T>> out(states.size());
    pp.run_tasks("reservoir_computation", costs, true, [&](std::size_t k) {
        out[k] = opt.run_reservoir<T>(states[k], pick(w_in, k), pick(w, k), inputs[k], options);
    });
    return out;
}

template <class T>
std::vector<Array<T>> ParallelProcessor::parallel_reservoir_computation(const std::vector<ArrayView<const T>>& reservoir_states,
                                                                        const std::vector<ArrayView<const T>>& input_weights,
                                                                        std::span<const CsrMatrix<T>> reservoir_weights,
                                                                        const std::vector<ArrayView<const T>>& input_spikes_list,
                                                                        const ReservoirOptions<T>& options) const {
    auto costs = check_reservoirs<T>(reservoir_states, input_weights, reservoir_weights, input_spikes_list);
    if (config_.parallel_strategy == "process") {
        // Workers load the 1-thread GEMM choice from the calibration cache this resolves.
        (void)api::single_thread_optimizer(context_).backend_for<T>(64, 64, 64);
        auto r = api::run_reservoirs_in_processes<T>(*this, state_->pool, reservoir_states, input_weights, reservoir_weights,
                                                          input_spikes_list, options, costs);
        record(*state_, r.report, config_, context_);
        return std::move(r.outputs);
    }
    return reservoirs_on_threads<T>(*this, reservoir_states, input_weights, reservoir_weights, input_spikes_list, options, costs);
}

template <class T>
std::vector<Array<T>> ParallelProcessor::parallel_reservoir_computation(const std::vector<ArrayView<const T>>& reservoir_states,
                                                                        const std::vector<ArrayView<const T>>& input_weights,
                                                                        const std::vector<ArrayView<const T>>& reservoir_weights,
                                                                        const std::vector<ArrayView<const T>>& input_spikes_list,
                                                                        const ReservoirOptions<T>& options) const {
    auto costs = check_reservoirs<T>(reservoir_states, input_weights, reservoir_weights, input_spikes_list);
    if (config_.parallel_strategy == "process")
        throw ValueError(fmt::format("ParallelConfig.parallel_strategy \"process\": parallel_reservoir_computation runs CSR "
                                     "reservoir_weights in worker processes; dense ones run on the \"thread\" strategy "
                                     "(or convert with CsrMatrix::from_dense)"));
    return reservoirs_on_threads<T>(*this, reservoir_states, input_weights, reservoir_weights, input_spikes_list, options, costs);
}

// --- multi-modal reasoning -------------------------------------------------------------------

MultiModalResult ParallelProcessor::parallel_multi_modal_reasoning(
    const std::vector<std::shared_ptr<const ReasoningCore>>& reasoning_cores,
    const std::vector<ArrayView<const float>>& input_data_list, bool load_balance) const {
    if (reasoning_cores.size() != input_data_list.size())
        throw ValueError(fmt::format("input_data_list: expected {} entries (one per reasoning core), got {}",
                                     reasoning_cores.size(), input_data_list.size()));
    for (std::size_t i = 0; i < reasoning_cores.size(); ++i)
        if (!reasoning_cores[i]) throw ValueError(fmt::format("reasoning_cores[{}]: expected a core, got null", i));
    std::size_t n = reasoning_cores.size();
    std::vector<double> est(n), costs(n);
    std::vector<std::string> names(n);
    {
        // Estimated units × measured seconds per unit of that core; cores never measured use
        // the mean rate of those that were (or 1 when none was), so units stay comparable.
        for (std::size_t i = 0; i < n; ++i) {
            est[i] = std::max(0.0, reasoning_cores[i]->estimate_cost(input_data_list[i]));
            names[i] = reasoning_cores[i]->name();
        }
        std::lock_guard lock(state_->mu);
        double mean_rate = 0;
        for (const auto& [name, rate] : state_->seconds_per_unit) mean_rate += rate;
        mean_rate = state_->seconds_per_unit.empty() ? 1.0 : mean_rate / static_cast<double>(state_->seconds_per_unit.size());
        for (std::size_t i = 0; i < n; ++i) {
            auto it = state_->seconds_per_unit.find(names[i]);
            costs[i] = est[i] * (it == state_->seconds_per_unit.end() ? mean_rate : it->second);
        }
    }
    MultiModalResult res;
    if (config_.parallel_strategy == "process") {
        (void)api::single_thread_optimizer(context_).backend_for<float>(64, 64, 64);
        auto r = api::run_reasoning_in_processes(*this, state_->pool, reasoning_cores, input_data_list, load_balance, costs);
        res.outputs = std::move(r.outputs);
        res.report = std::move(r.report);
        record(*state_, res.report, config_, context_);
    } else {
        res.outputs.resize(n);
        res.report = run_tasks("multi_modal_reasoning", costs, load_balance, [&](std::size_t i) {
            res.outputs[i] = reasoning_cores[i]->process(input_data_list[i]);
        });
    }
    std::lock_guard lock(state_->mu);
    for (std::size_t i = 0; i < n; ++i) {
        if (est[i] <= 0) continue;
        double rate = res.report.tasks[i].seconds / est[i];
        auto it = state_->seconds_per_unit.find(names[i]);
        state_->seconds_per_unit[names[i]] =
            moving_average(it == state_->seconds_per_unit.end() ? -1.0 : it->second, rate, kCostAlpha);
    }
    return res;
}

// --- benchmark --------------------------------------------------------------------------------

namespace {
struct BenchReservoirs {
    std::vector<CsrMatrix<float>> w;
    std::vector<Array<float>> w_in, u, x0;
};

BenchReservoirs bench_reservoirs(index_t n, int k_count, index_t steps, index_t d) {
    BenchReservoirs b;
    for (int r = 0; r < k_count; ++r) {
        ReservoirCoreSpec spec;
        spec.reservoir_size = n;
        spec.input_dim = d;
        spec.density = 0.1;
        spec.seed = 1000 + static_cast<std::uint64_t>(r);
        ReservoirReasoningCore core("bench", spec);
        b.w.push_back(core.reservoir_weights());
        b.w_in.push_back(Array<float>::copy_of(core.input_weights()));
        Array<float> u({steps, d});
        for (index_t i = 0; i < steps * d; ++i)
            u.data()[i] = static_cast<float>(hash_to_symmetric(splitmix64(spec.seed * 7919 + static_cast<std::uint64_t>(i))));
        b.u.push_back(std::move(u));
        b.x0.push_back(Array<float>({n}));
    }
    return b;
}

}  // namespace

ParallelBenchmarkReport ParallelProcessor::benchmark_parallel_performance(std::vector<index_t> test_sizes, int num_iterations,
                                                                          const std::filesystem::path& output_path,
                                                                          const ProgressFn& progress) const {
    core::check_benchmark_arguments(test_sizes, "test_sizes", num_iterations);
    constexpr int kReservoirs = 8;
    constexpr index_t kSteps = 20, kDim = 10;
    ParallelBenchmarkReport rep;
    rep.iterations = num_iterations;
    std::vector<std::string> strategies{"thread"};
    if (parallel::process_strategy_built()) strategies.push_back("process");
    const double rows = static_cast<double>(test_sizes.size() * strategies.size()) * num_threads();
    for (index_t n : test_sizes) {
        auto b = bench_reservoirs(n, kReservoirs, kSteps, kDim);
        std::vector<ArrayView<const float>> x0, w_in, u;
        for (int r = 0; r < kReservoirs; ++r) {
            x0.push_back(b.x0[static_cast<std::size_t>(r)].view());
            w_in.push_back(b.w_in[static_cast<std::size_t>(r)].view());
            u.push_back(b.u[static_cast<std::size_t>(r)].view());
        }
        for (const auto& strategy : strategies) {
            double one = 0;
            for (int t = 1; t <= num_threads(); ++t) {
                ParallelConfig cfg = config_;
                cfg.num_threads = t;
                cfg.parallel_strategy = strategy;
                cfg.verbose = false;
                ParallelProcessor pp(cfg, context_);
                std::vector<double> secs;
                for (int it = 0; it <= num_iterations; ++it) {  // first call warms up (pool start, page faults)
                    Timer timer;
                    auto out = pp.parallel_reservoir_computation<float>(x0, w_in, std::span<const CsrMatrix<float>>(b.w), u);
                    if (it > 0) secs.push_back(timer.seconds());
                }
                double s = median(secs);
                if (t == 1) one = s;
                rep.entries.push_back({"reservoirs", strategy, n, t, s, one / s, one / s / t});
                if (progress)
                    progress(static_cast<double>(rep.entries.size()) / rows, fmt::format("{} n={} threads={}", strategy, n, t));
            }
        }
    }
    if (!output_path.empty()) rep.save(output_path);
    return rep;
}

std::string ParallelBenchmarkReport::to_json() const {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& e : entries) {
        auto r = api::gbench_row(fmt::format("{}/{}/K=8/N={}/density=0.1/threads={}", e.workload, e.strategy, e.size, e.threads),
                                 e.seconds, iterations);
        r["speedup"] = e.speedup;
        r["efficiency"] = e.efficiency;
        rows.push_back(std::move(r));
    }
    return api::gbench_document(std::move(rows), {{"report", core::to_json_value(*this)}});
}

void ParallelBenchmarkReport::save(const std::filesystem::path& path) const { write_file_atomic(path, to_json()); }

NEUROPERF_INSTANTIATE_TO_JSON(ParallelBenchmarkEntry);
NEUROPERF_INSTANTIATE_TO_JSON(ParallelBenchmarkReport);

ParallelProcessor enable_parallel_processing(ParallelConfig config) {
    return ParallelProcessor(std::move(config), default_context());
}

#define NEUROPERF_INSTANTIATE(T)                                                                                       \
    template std::vector<Array<T>> ParallelProcessor::parallel_reservoir_computation<T>(                               \
        const std::vector<ArrayView<const T>>&, const std::vector<ArrayView<const T>>&, std::span<const CsrMatrix<T>>, \
        const std::vector<ArrayView<const T>>&, const ReservoirOptions<T>&) const;                                     \
    template std::vector<Array<T>> ParallelProcessor::parallel_reservoir_computation<T>(                               \
        const std::vector<ArrayView<const T>>&, const std::vector<ArrayView<const T>>&,                                \
        const std::vector<ArrayView<const T>>&, const std::vector<ArrayView<const T>>&, const ReservoirOptions<T>&) const;
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
