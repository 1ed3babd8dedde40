// The process strategy's task kinds, parent side: each call's data laid out in one shared
// segment (every distinct weight matrix once, then per task its inputs, output and descriptor),
// then run on the processor's worker pool (src/parallel/process_pool.cpp). The worker side is
// worker_loop.cpp.
#include "api/process_tasks.hpp"

#include <cstring>
#include <filesystem>
#include <new>
#include <type_traits>

#include <fmt/format.h>

#include "runtime/context_impl.hpp"

namespace neuroperf::api {

using namespace parallel;

namespace {

parallel::PoolCall pool_call(const ParallelProcessor& pp, const char* operation, bool balance,
                             const std::vector<double>& costs, std::vector<std::string> names) {
    parallel::PoolCall call;
    call.operation = operation;
    call.options.workers = pp.num_threads();
    call.options.balance = balance && pp.config().enable_load_balancing;
    call.options.threshold = pp.config().load_balance_threshold;
    call.options.chunk = pp.config().chunk_size;
    call.timeout = pp.config().process_task_timeout;
    call.costs = costs;
    call.names = std::move(names);
    return call;
}

template <class T>
std::int64_t put(SharedSegment& seg, std::int64_t at, const T* src, std::size_t count) {
    if (count) std::memcpy(seg.at<T>(at), src, count * sizeof(T));
    return at;
}

// A contiguous copy of a rank-1/2 view written at `at`.
template <class T>
void put_view(SharedSegment& seg, std::int64_t at, ArrayView<const T> v) {
    T* dst = seg.at<T>(at);
    if (v.rank() == 1) {
        for (index_t i = 0; i < v.shape(0); ++i) dst[i] = v(i);
    } else {
        for (index_t i = 0; i < v.shape(0); ++i)
            for (index_t j = 0; j < v.shape(1); ++j) dst[i * v.shape(1) + j] = v(i, j);
    }
}

}  // namespace

template <class T>
ProcessOutputs<T> run_reservoirs_in_processes(const ParallelProcessor& pp, PoolSlot& slot,
                                              const std::vector<ArrayView<const T>>& states,
                                              const std::vector<ArrayView<const T>>& w_in, std::span<const CsrMatrix<T>> w,
                                              const std::vector<ArrayView<const T>>& inputs, const ReservoirOptions<T>& options,
                                              const std::vector<double>& costs) {
    std::size_t k = states.size();
    const auto& ctx_opts = runtime::impl_of(pp.context()).options();
    // Layout: every distinct weight matrix once, then per reservoir its state, inputs, output
    // and descriptor.
    SegmentLayout lay;
    struct Csr {
        std::int64_t rp, ci, va;
    };
    std::vector<Csr> csr;
    for (const auto& m : w)
        csr.push_back({lay.add(static_cast<std::size_t>(m.rows() + 1) * 8), lay.add(static_cast<std::size_t>(m.nnz()) * 4),
                       lay.add(static_cast<std::size_t>(m.nnz()) * sizeof(T))});
    std::vector<std::int64_t> win_at;
    for (const auto& v : w_in) win_at.push_back(lay.add(static_cast<std::size_t>(v.size()) * sizeof(T)));
    std::int64_t bias_at = -1;
    bool has_bias = options.bias.data() != nullptr && options.bias.size() > 0;
    if (has_bias) bias_at = lay.add(static_cast<std::size_t>(options.bias.size()) * sizeof(T));
    std::vector<std::int64_t> x_at, u_at, out_at, desc_at;
    for (std::size_t r = 0; r < k; ++r) {
        x_at.push_back(lay.add(static_cast<std::size_t>(states[r].size()) * sizeof(T)));
        u_at.push_back(lay.add(static_cast<std::size_t>(inputs[r].size()) * sizeof(T)));
        out_at.push_back(lay.add(static_cast<std::size_t>(inputs[r].shape(0) * states[r].shape(0)) * sizeof(T)));
        desc_at.push_back(lay.add(sizeof(ReservoirDesc)));
    }
    auto seg = SharedSegment::create(lay.size());
    for (std::size_t q = 0; q < w.size(); ++q) {
        put(seg, csr[q].rp, w[q].row_ptr().data(), w[q].row_ptr().size());
        put(seg, csr[q].ci, w[q].col_idx().data(), w[q].col_idx().size());
        put(seg, csr[q].va, w[q].values().data(), w[q].values().size());
    }
    for (std::size_t q = 0; q < w_in.size(); ++q) put_view<T>(seg, win_at[q], w_in[q]);
    if (has_bias) put_view<T>(seg, bias_at, options.bias);
    std::vector<TaskMsg> msgs(k);
    std::vector<std::string> names;
    for (std::size_t r = 0; r < k; ++r) {
        put_view<T>(seg, x_at[r], states[r]);
        put_view<T>(seg, u_at[r], inputs[r]);
        std::size_t q = w.size() == 1 ? 0 : r, qi = w_in.size() == 1 ? 0 : r;
        auto* d = new (seg.at<void>(desc_at[r])) ReservoirDesc();
        d->n = states[r].shape(0);
        d->d = w_in[qi].shape(1);
        d->steps = inputs[r].shape(0);
        d->nnz = w[q].nnz();
        d->row_ptr = csr[q].rp;
        d->col_idx = csr[q].ci;
        d->values = csr[q].va;
        d->w_in = win_at[qi];
        d->x0 = x_at[r];
        d->inputs = u_at[r];
        d->bias = bias_at;
        d->out = out_at[r];
        d->leak = static_cast<double>(options.leak_rate);
        d->activation = static_cast<std::uint32_t>(options.activation);
        d->calibrate = ctx_opts.calibrate ? 1 : 0;
        copy_name(d->backend, sizeof d->backend, pp.context().backend_request(), "backend");
        msgs[r].kind = std::is_same_v<T, float> ? TaskKind::reservoir_f32 : TaskKind::reservoir_f64;
        msgs[r].task = r;
        msgs[r].desc_offset = static_cast<std::uint64_t>(desc_at[r]);
        names.push_back(fmt::format("reservoir {}", r));
    }
    ProcessOutputs<T> res;
    res.report = run_on_pool(slot, seg, msgs, pool_call(pp, "reservoir_computation", true, costs, std::move(names)));
    for (std::size_t r = 0; r < k; ++r) {
        Array<T> a({inputs[r].shape(0), states[r].shape(0)});
        std::memcpy(a.data(), seg.at<const T>(out_at[r]), static_cast<std::size_t>(a.size()) * sizeof(T));
        res.outputs.push_back(std::move(a));
    }
    return res;
}

ProcessOutputs<float> run_reasoning_in_processes(const ParallelProcessor& pp, PoolSlot& slot,
                                                 const std::vector<std::shared_ptr<const ReasoningCore>>& cores,
                                                 const std::vector<ArrayView<const float>>& inputs, bool balance,
                                                 const std::vector<double>& costs) {
    std::size_t n = cores.size();
    std::vector<const ReservoirReasoningCore*> rc;
    for (std::size_t i = 0; i < n; ++i) {
        auto* c = dynamic_cast<const ReservoirReasoningCore*>(cores[i].get());
        if (!c)
            throw ValueError(fmt::format("reasoning_cores[{}] ('{}'): the process strategy runs ReservoirReasoningCore cores "
                                         "only (a worker rebuilds them from their spec); run other cores with \"thread\"",
                                         i, cores[i]->name()));
        rc.push_back(c);
    }
    SegmentLayout lay;
    std::vector<std::int64_t> wout_at, u_at, out_at, desc_at;
    std::vector<index_t> steps(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& sp = rc[i]->spec();
        const auto& u = inputs[i];
        if (u.rank() == 1 ? u.shape(0) != sp.input_dim : (u.rank() != 2 || u.shape(1) != sp.input_dim))
            throw ShapeError(fmt::format("input_data_list[{}]: expected shape ({},) or (T, {}) for core '{}', got {}", i,
                                         sp.input_dim, sp.input_dim, rc[i]->name(), u.layout().shape_string()));
        steps[i] = u.rank() == 1 ? 1 : u.shape(0);
        wout_at.push_back(lay.add(static_cast<std::size_t>(sp.output_dim * sp.reservoir_size) * sizeof(float)));
        u_at.push_back(lay.add(static_cast<std::size_t>(steps[i] * sp.input_dim) * sizeof(float)));
        out_at.push_back(lay.add(static_cast<std::size_t>(steps[i] * sp.output_dim) * sizeof(float)));
        desc_at.push_back(lay.add(sizeof(ReasoningDesc)));
    }
    auto seg = SharedSegment::create(lay.size());
    std::vector<TaskMsg> msgs(n);
    std::vector<std::string> names;
    const auto& ctx_opts = runtime::impl_of(pp.context()).options();
    for (std::size_t i = 0; i < n; ++i) {
        const auto& sp = rc[i]->spec();
        put_view<float>(seg, wout_at[i], rc[i]->readout_weights());
        if (inputs[i].rank() == 1) {
            for (index_t j = 0; j < sp.input_dim; ++j) seg.at<float>(u_at[i])[j] = inputs[i](j);
        } else {
            put_view<float>(seg, u_at[i], inputs[i]);
        }
        auto* d = new (seg.at<void>(desc_at[i])) ReasoningDesc();
        d->n = sp.reservoir_size;
        d->d = sp.input_dim;
        d->o = sp.output_dim;
        d->steps = steps[i];
        d->density = sp.density;
        d->spectral_scale = sp.spectral_scale;
        d->leak = static_cast<double>(sp.leak_rate);
        d->seed = sp.seed;
        d->w_out = wout_at[i];
        d->inputs = u_at[i];
        d->out = out_at[i];
        d->calibrate = ctx_opts.calibrate ? 1 : 0;
        copy_name(d->backend, sizeof d->backend, pp.context().backend_request(), "backend");
        msgs[i].kind = TaskKind::reasoning;
        msgs[i].task = i;
        msgs[i].desc_offset = static_cast<std::uint64_t>(desc_at[i]);
        names.push_back(fmt::format("core '{}'", rc[i]->name()));
    }
    ProcessOutputs<float> res;
    res.report = run_on_pool(slot, seg, msgs, pool_call(pp, "multi_modal_reasoning", balance, costs, std::move(names)));
    for (std::size_t i = 0; i < n; ++i) {
        Array<float> a({steps[i], rc[i]->spec().output_dim});
        std::memcpy(a.data(), seg.at<const float>(out_at[i]), static_cast<std::size_t>(a.size()) * sizeof(float));
        res.outputs.push_back(std::move(a));
    }
    return res;
}

ProcessOutputs<float> run_plugin_in_processes(const ParallelProcessor& pp, PoolSlot& slot,
                                              const std::vector<ArrayView<const float>>& batches, const ProcessPlugin& plugin,
                                              index_t max_output) {
    std::size_t n = batches.size();
    SegmentLayout lay;
    std::vector<std::int64_t> in_at, out_at, desc_at;
    std::vector<double> costs;
    for (const auto& b : batches) {
        in_at.push_back(lay.add(static_cast<std::size_t>(b.size()) * sizeof(float)));
        out_at.push_back(lay.add(static_cast<std::size_t>(max_output) * sizeof(float)));
        desc_at.push_back(lay.add(sizeof(PluginDesc)));
        costs.push_back(static_cast<double>(b.size()) + 1.0);
    }
    auto seg = SharedSegment::create(lay.size());
    std::string lib = std::filesystem::absolute(plugin.library).string();
    std::vector<TaskMsg> msgs(n);
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i) {
        put(seg, in_at[i], batches[i].data(), static_cast<std::size_t>(batches[i].size()));
        auto* d = new (seg.at<void>(desc_at[i])) PluginDesc();
        d->in = in_at[i];
        d->n = batches[i].size();
        d->out = out_at[i];
        d->capacity = max_output;
        copy_name(d->library, sizeof d->library, lib, "plugin.library");
        copy_name(d->symbol, sizeof d->symbol, plugin.symbol, "plugin.symbol");
        msgs[i].kind = TaskKind::plugin;
        msgs[i].task = i;
        msgs[i].desc_offset = static_cast<std::uint64_t>(desc_at[i]);
        names.push_back(fmt::format("batch {}, plugin {}", i, plugin.symbol));
    }
    ProcessOutputs<float> res;
    res.report = run_on_pool(slot, seg, msgs, pool_call(pp, "spike_processing", true, costs, std::move(names)));
    for (std::size_t i = 0; i < n; ++i) {
        auto got = seg.at<const PluginDesc>(desc_at[i])->out_n;
        Array<float> a({got});
        std::memcpy(a.data(), seg.at<const float>(out_at[i]), static_cast<std::size_t>(got) * sizeof(float));
        res.outputs.push_back(std::move(a));
    }
    return res;
}

template ProcessOutputs<float> run_reservoirs_in_processes<float>(const ParallelProcessor&, PoolSlot&,
                                                                  const std::vector<ArrayView<const float>>&,
                                                                  const std::vector<ArrayView<const float>>&,
                                                                  std::span<const CsrMatrix<float>>,
                                                                  const std::vector<ArrayView<const float>>&,
                                                                  const ReservoirOptions<float>&, const std::vector<double>&);
template ProcessOutputs<double> run_reservoirs_in_processes<double>(const ParallelProcessor&, PoolSlot&,
                                                                    const std::vector<ArrayView<const double>>&,
                                                                    const std::vector<ArrayView<const double>>&,
                                                                    std::span<const CsrMatrix<double>>,
                                                                    const std::vector<ArrayView<const double>>&,
                                                                    const ReservoirOptions<double>&, const std::vector<double>&);

}  // namespace neuroperf::api
