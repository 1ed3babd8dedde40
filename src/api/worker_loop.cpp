// The process strategy's worker loop (docs/dev/parallel.md), run by the neuroperf-worker
// executable (src/worker/main.cpp) through neuroperf_worker_main(): reads TaskMsg from stdin,
// answers ResultMsg on stdout, exits on EOF or a quit message. Single-threaded by construction
// (the parent sets OMP_NUM_THREADS=1 etc.; every kernel call here asks for one thread).
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "api/optimizer.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "neuroperf/timer.hpp"
#include "parallel/worker_protocol.hpp"

using namespace neuroperf;
using namespace neuroperf::parallel;

namespace {

// Everything a worker keeps between tasks of one call: the mapped segment, contexts, and the
// CSR matrices / cores built from it (once per worker and call, never per task).
struct State {
    SharedSegment segment;
    std::map<std::pair<std::string, bool>, Context> contexts;
    std::map<std::int64_t, std::shared_ptr<void>> csr;  // by row_ptr offset
    std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, double, double, double, std::uint64_t>,
             std::shared_ptr<ReservoirReasoningCore>>
        cores;
    std::map<std::string, void*> libraries;

    Context& context(const char* backend, bool calibrate) {
        std::pair<std::string, bool> key{backend, calibrate};
        auto it = contexts.find(key);
        if (it != contexts.end()) return it->second;
        ContextOptions o;
        o.num_threads = 1;
        o.backend = backend[0] ? backend : "auto";
        o.calibrate = calibrate;
        return contexts.emplace(key, make_context(o)).first->second;
    }
};

template <class T>
void run_reservoir_task(State& st, const ReservoirDesc& d) {
    auto& seg = st.segment;
    auto it = st.csr.find(d.row_ptr);
    if (it == st.csr.end()) {
        const auto* rp = seg.at<const std::int64_t>(d.row_ptr);
        const auto* ci = seg.at<const std::int32_t>(d.col_idx);
        const auto* va = seg.at<const T>(d.values);
        auto m = std::make_shared<CsrMatrix<T>>(d.n, d.n, std::vector<std::int64_t>(rp, rp + d.n + 1),
                                                std::vector<std::int32_t>(ci, ci + d.nnz), std::vector<T>(va, va + d.nnz));
        it = st.csr.emplace(d.row_ptr, m).first;
    }
    const auto& w = *static_cast<const CsrMatrix<T>*>(it->second.get());
    ArrayView<const T> w_in(seg.at<const T>(d.w_in), {d.n, d.d});
    ArrayView<const T> x0(seg.at<const T>(d.x0), {d.n});
    ArrayView<const T> u(seg.at<const T>(d.inputs), {d.steps, d.d});
    ReservoirOptions<T> o;
    o.leak_rate = static_cast<T>(d.leak);
    o.activation = static_cast<Activation>(d.activation);
    if (d.bias >= 0) o.bias = ArrayView<const T>(seg.at<const T>(d.bias), {d.n});
    auto opt = api::single_thread_optimizer(st.context(d.backend, d.calibrate != 0));
    Array<T> states = opt.run_reservoir<T>(x0, w_in, w, u, o);
    std::memcpy(seg.at<T>(d.out), states.data(), static_cast<std::size_t>(states.size()) * sizeof(T));
}

void run_reasoning_task(State& st, const ReasoningDesc& d) {
    auto& seg = st.segment;
    auto key = std::make_tuple(d.n, d.d, d.o, d.density, d.spectral_scale, d.leak, d.seed);
    auto it = st.cores.find(key);
    if (it == st.cores.end()) {
        ReservoirCoreSpec spec;
        spec.reservoir_size = d.n;
        spec.input_dim = d.d;
        spec.output_dim = d.o;
        spec.density = d.density;
        spec.spectral_scale = d.spectral_scale;
        spec.leak_rate = static_cast<float>(d.leak);
        spec.seed = d.seed;
        it = st.cores.emplace(key, std::make_shared<ReservoirReasoningCore>("worker", spec, st.context(d.backend, d.calibrate != 0))).first;
    }
    auto& core = *it->second;
    Array<float> w_out({d.o, d.n});
    std::memcpy(w_out.data(), seg.at<const float>(d.w_out), static_cast<std::size_t>(d.o * d.n) * sizeof(float));
    core.set_readout(std::move(w_out));
    ArrayView<const float> u(seg.at<const float>(d.inputs), {d.steps, d.d});
    Array<float> y = core.process(u);
    std::memcpy(seg.at<float>(d.out), y.data(), static_cast<std::size_t>(y.size()) * sizeof(float));
}

void run_plugin_task(State& st, PluginDesc& d) {
    std::string lib = d.library;
    void*& h = st.libraries[lib];
    if (!h) h = ::dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) throw std::runtime_error(fmt::format("cannot load '{}': {}", lib, ::dlerror()));
    auto fn = reinterpret_cast<PluginFn>(::dlsym(h, d.symbol));
    if (!fn) throw std::runtime_error(fmt::format("symbol '{}' not found in '{}'", d.symbol, lib));
    std::int64_t got = 0;
    int rc = fn(st.segment.at<const float>(d.in), d.n, st.segment.at<float>(d.out), d.capacity, &got);
    if (rc != 0) throw std::runtime_error(fmt::format("plugin {} returned {}", d.symbol, rc));
    if (got < 0 || got > d.capacity)
        throw std::runtime_error(fmt::format("plugin {} reported {} outputs, expected 0..{}", d.symbol, got, d.capacity));
    d.out_n = got;
}

}  // namespace

/// The worker's main loop; the exit status of the neuroperf-worker process.
extern "C" NEUROPERF_API int neuroperf_worker_main(void) {
    State st;
    ReadyMsg ready;
    ready.pid = static_cast<std::int32_t>(::getpid());
    if (!write_all(1, &ready, sizeof ready)) return 1;
    TaskMsg msg;
    while (read_all(0, &msg, sizeof msg)) {
        if (msg.magic != kWorkerMagic) return 2;
        if (msg.kind == TaskKind::quit) break;
        ResultMsg res;
        res.task = msg.task;
        Timer timer;
        try {
            std::string name(msg.segment, strnlen(msg.segment, sizeof msg.segment));
            if (st.segment.name() != name) {  // a new call: drop what belonged to the last one
                st.csr.clear();
                st.segment = SharedSegment::open(name, msg.segment_size);
            }
            switch (msg.kind) {
                case TaskKind::reservoir_f32: run_reservoir_task<float>(st, *st.segment.at<ReservoirDesc>(static_cast<std::int64_t>(msg.desc_offset))); break;
                case TaskKind::reservoir_f64: run_reservoir_task<double>(st, *st.segment.at<ReservoirDesc>(static_cast<std::int64_t>(msg.desc_offset))); break;
                case TaskKind::reasoning: run_reasoning_task(st, *st.segment.at<ReasoningDesc>(static_cast<std::int64_t>(msg.desc_offset))); break;
                case TaskKind::plugin: run_plugin_task(st, *st.segment.at<PluginDesc>(static_cast<std::int64_t>(msg.desc_offset))); break;
                default: throw std::runtime_error(fmt::format("unknown task kind {}", static_cast<unsigned>(msg.kind)));
            }
        } catch (const std::exception& e) {
            res.status = 1;
            std::snprintf(res.error, sizeof res.error, "%s", e.what());
        }
        res.compute_seconds = timer.seconds();
        if (!write_all(1, &res, sizeof res)) return 1;
    }
    return 0;
}
