// `neuroperf bench --suite parallel`: the ParallelProcessor's questions.
//   reservoirs/...: do K=8 independent CSR reservoirs (N=2000, density 0.1, 20 steps each) scale
//     with threads? Rows at 1 and N threads (counter `speedup` over 1 thread, `busy_threads` =
//     most threads that used ≥ 10% of a call's wall time: oversubscription check), and the
//     alternative of running the reservoirs one after another on the multi-threaded kernel.
//   reasoning/...: skewed multi-modal cores (relative costs 1, 2, 4, ..., 64) on 2 workers with
//     LPT scheduling against static blocks (load balancing off): counter `makespan_vs_optimal`
//     = the call's wall time / the optimal makespan of its measured task times; `speedup` over
//     the serial run.
//   reservoirs/process/...: the same reservoirs in worker processes (not in --quick).
//   process/...: pool start and per-task dispatch of the process strategy (counters
//     pool_start_ms and dispatch_overhead_us).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "neuroperf/schedule.hpp"
#include "neuroperf/stats.hpp"
#include "neuroperf/timer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

constexpr int kReservoirs = 8;
constexpr index_t kSteps = 20, kInputDim = 10;

// CPU time (ns) of each thread of this process (/proc/self/task/*/schedstat).
std::map<std::string, double> thread_cpu_ns() {
    std::map<std::string, double> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        std::ifstream f(e.path() / "schedstat");
        double ns = 0;
        if (f >> ns) out[e.path().filename().string()] = ns;
    }
    return out;
}

// Calls `f` and returns how many threads used at least 10% of its wall time.
template <class F>
int busy_threads_during(F&& f) {
    auto before = thread_cpu_ns();
    Timer t;
    f();
    double wall = static_cast<double>(t.nanoseconds());
    int busy = 0;
    for (const auto& [tid, ns] : thread_cpu_ns()) {
        auto it = before.find(tid);
        if (ns - (it == before.end() ? 0.0 : it->second) >= 0.1 * wall) ++busy;
    }
    return busy;
}

struct Reservoirs {
    std::vector<CsrMatrix<float>> w;
    std::vector<Array<float>> w_in, u, x0;
    std::vector<ArrayView<const float>> vx0, vw_in, vu;
};

std::shared_ptr<Reservoirs> make_reservoirs(index_t n, const Context& ctx) {
    static std::mutex mu;
    static std::pair<index_t, std::shared_ptr<Reservoirs>> last{-1, nullptr};
    std::lock_guard lock(mu);
    if (last.first == n) return last.second;
    last = {-1, nullptr};
    auto r = std::make_shared<Reservoirs>();
    for (int k = 0; k < kReservoirs; ++k) {
        ReservoirCoreSpec spec;
        spec.reservoir_size = n;
        spec.input_dim = kInputDim;
        spec.density = 0.1;
        spec.seed = 100 + static_cast<std::uint64_t>(k);
        ReservoirReasoningCore core("r", spec, ctx);
        r->w.push_back(core.reservoir_weights());
        r->w_in.push_back(Array<float>::copy_of(core.input_weights()));
        Array<float> u({kSteps, kInputDim});
        for (index_t i = 0; i < u.size(); ++i)
            u.data()[i] = static_cast<float>(hash_to_symmetric(splitmix64(spec.seed * 7919 + static_cast<std::uint64_t>(i))));
        r->u.push_back(std::move(u));
        r->x0.push_back(Array<float>({n}));
    }
    for (int k = 0; k < kReservoirs; ++k) {
        auto i = static_cast<std::size_t>(k);
        r->vx0.push_back(r->x0[i].view());
        r->vw_in.push_back(r->w_in[i].view());
        r->vu.push_back(r->u[i].view());
    }
    last = {n, r};
    return r;
}

// A running record of one row's per-call measurements (median or max read as counters).
struct Samples {
    std::mutex mu;
    std::vector<double> values;
    void add(double v) {
        std::lock_guard lock(mu);
        values.push_back(v);
    }
    double median() {
        std::lock_guard lock(mu);
        return neuroperf::median(values);
    }
    double max() {
        std::lock_guard lock(mu);
        return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
    }
};

void add_reservoir_rows(Suite& s, const Context& ctx, index_t n, int threads, bool process) {
    double flops_per_reservoir = 2.0 * kSteps * static_cast<double>(n) * (std::max(1.0, 0.1 * static_cast<double>(n)) + kInputDim);
    double flops = kReservoirs * flops_per_reservoir;
    std::string params = fmt::format("K={}/N={}/density=0.1", kReservoirs, n);
    std::string base = fmt::format("reservoirs/parallel/{}/threads=1", params);
    std::vector<int> tl{1};
    if (threads > 1) tl.push_back(threads);
    for (int t : tl) {
        ParallelConfig cfg;
        cfg.num_threads = t;
        auto pp = std::make_shared<ParallelProcessor>(cfg, ctx);
        auto busy = std::make_shared<Samples>();
        BenchCase c{fmt::format("reservoirs/parallel/{}/threads={}", params, t), flops,
                    fmt::format("{} steps each, float32, CSR", kSteps), [pp, n, ctx, busy] {
                        auto r = make_reservoirs(n, ctx);
                        auto call = [pp, r] {
                            auto out = pp->parallel_reservoir_computation<float>(
                                r->vx0, r->vw_in, std::span<const CsrMatrix<float>>(r->w), r->vu);
                            if (out.size() != kReservoirs) throw ValueError("reservoirs: wrong result count");
                        };
                        // busy_threads from one untimed call (it reads /proc/self/task before and
                        // after): the timed calls do the work only, as the other rows do.
                        call();
                        busy->add(busy_threads_during(call));
                        return std::function<void()>(call);
                    }};
        c.counters = [busy] { return std::map<std::string, double>{{"busy_threads", busy->max()}}; };
        if (t > 1) c.speedup_over = base;
        s.cases.push_back(std::move(c));
    }
    if (process) {
        // The same work in worker processes (weights through shared memory, once per call).
        for (int t : tl) {
            ParallelConfig cfg;
            cfg.num_threads = t;
            cfg.parallel_strategy = "process";
            auto pp = std::make_shared<ParallelProcessor>(cfg, ctx);
            BenchCase c{fmt::format("reservoirs/process/{}/threads={}", params, t), flops, "worker processes, shared memory",
                        [pp, n, ctx] {
                            auto r = make_reservoirs(n, ctx);
                            auto call = [pp, r] {
                                auto out = pp->parallel_reservoir_computation<float>(
                                    r->vx0, r->vw_in, std::span<const CsrMatrix<float>>(r->w), r->vu);
                                if (out.size() != kReservoirs) throw ValueError("reservoirs: wrong result count");
                            };
                            call();  // starts the pool (NotBuiltError here skips the row)
                            return std::function<void()>(call);
                        }};
            c.speedup_over = base;
            s.cases.push_back(std::move(c));
        }
    }
    if (threads > 1) {
        // The alternative: one reservoir after another, each on the multi-threaded kernel.
        MKLConfig mc;
        mc.num_threads = threads;
        auto opt = std::make_shared<MKLOptimizer>(mc, ctx);
        BenchCase c{fmt::format("reservoirs/intra_kernel/{}/threads={}", params, threads), flops,
                    "reservoirs in sequence, each run_reservoir multi-threaded", [opt, n, ctx] {
                        auto r = make_reservoirs(n, ctx);
                        return std::function<void()>([opt, r] {
                            for (int k = 0; k < kReservoirs; ++k) {
                                auto i = static_cast<std::size_t>(k);
                                auto st = opt->run_reservoir<float>(r->vx0[i], r->vw_in[i], r->w[i], r->vu[i]);
                                if (st.size() == 0) throw ValueError("reservoirs: empty result");
                            }
                        });
                    }};
        c.speedup_over = base;
        s.cases.push_back(std::move(c));
    }
}

struct Reasoning {
    std::vector<std::shared_ptr<const ReasoningCore>> cores;
    std::vector<Array<float>> inputs;
    std::vector<ArrayView<const float>> views;
};

// Seven cores of one size whose input sequences are 1, 2, 4, ..., 64 × `unit` steps long, so
// their work is in the ratio 1:2:...:64 (the optimum on 2 workers puts the 64 alone).
std::shared_ptr<Reasoning> make_reasoning(index_t n, index_t unit, const Context& ctx) {
    auto r = std::make_shared<Reasoning>();
    const char* names[] = {"text", "audio", "touch", "smell", "motor", "memory", "visual"};
    for (int i = 0; i < 7; ++i) {
        ReservoirCoreSpec spec;
        spec.reservoir_size = n;
        spec.input_dim = kInputDim;
        spec.output_dim = 4;
        spec.density = 0.1;
        spec.seed = 7 + static_cast<std::uint64_t>(i);
        r->cores.push_back(std::make_shared<ReservoirReasoningCore>(names[i], spec, ctx));
        index_t steps = unit << i;
        Array<float> u({steps, kInputDim});
        for (index_t j = 0; j < u.size(); ++j)
            u.data()[j] = static_cast<float>(hash_to_symmetric(splitmix64(spec.seed * 31 + static_cast<std::uint64_t>(j))));
        r->inputs.push_back(std::move(u));
    }
    for (auto& a : r->inputs) r->views.push_back(a.view());
    return r;
}

void add_reasoning_rows(Suite& s, const Context& ctx, index_t n, index_t unit) {
    std::string params = fmt::format("costs=1-64/N={}", n);
    std::string serial = fmt::format("reasoning/serial/{}/workers=1", params);
    struct Variant {
        const char* impl;
        int workers;
        bool balance;
    };
    for (const auto& v : {Variant{"serial", 1, true}, Variant{"lpt", 2, true}, Variant{"static", 2, false}}) {
        ParallelConfig cfg;
        cfg.num_threads = v.workers;
        cfg.enable_load_balancing = v.balance;
        auto pp = std::make_shared<ParallelProcessor>(cfg, ctx);
        auto ratio = std::make_shared<Samples>();
        bool balance = v.balance;
        BenchCase c{fmt::format("reasoning/{}/{}/workers={}", v.impl, params, v.workers), 0,
                    v.balance ? (v.workers > 1 ? "LPT + stealing" : "one worker") : "static blocks (load balancing off)",
                    [pp, n, unit, ctx, ratio, balance] {
                        auto r = make_reasoning(n, unit, ctx);
                        return std::function<void()>([pp, r, ratio, balance] {
                            auto res = pp->parallel_multi_modal_reasoning(r->cores, r->views, balance);
                            std::vector<double> secs;
                            for (const auto& t : res.report.tasks) secs.push_back(t.seconds);
                            double opt = optimal_makespan(secs, static_cast<std::size_t>(res.report.workers));
                            if (opt > 0) ratio->add(res.report.wall_seconds / opt);
                        });
                    }};
        if (v.workers > 1) {
            c.counters = [ratio] { return std::map<std::string, double>{{"makespan_vs_optimal", ratio->median()}}; };
            c.speedup_over = serial;
        }
        s.cases.push_back(std::move(c));
    }
}

// Process strategy costs: starting a pool (each iteration a new processor's first call: pool
// start + one tiny task + shutdown; counter pool_start_ms) and dispatching tiny tasks on a
// running pool (counter dispatch_overhead_us: per-task round trip minus worker compute).
void add_process_rows(Suite& s, const Context& ctx, int workers) {
    ReservoirCoreSpec spec;
    spec.reservoir_size = 4;
    spec.input_dim = 1;
    spec.output_dim = 1;
    auto tiny = std::make_shared<ReservoirReasoningCore>("tiny", spec, ctx);
    auto input = std::make_shared<Array<float>>(std::initializer_list<index_t>{1, 1});
    auto start = std::make_shared<Samples>();
    BenchCase c{fmt::format("process/pool_start/workers={}", workers), 0, "spawn + ready + 1 task + shutdown",
                [ctx, workers, tiny, input, start] {
                    return std::function<void()>([ctx, workers, tiny, input, start] {
                        ParallelConfig cfg;
                        cfg.num_threads = workers;
                        cfg.parallel_strategy = "process";
                        ParallelProcessor pp(cfg, ctx);
                        auto r = pp.parallel_multi_modal_reasoning({tiny}, {input->view()});
                        start->add(r.report.pool_start_seconds * 1e3);
                    });
                }};
    c.counters = [start] { return std::map<std::string, double>{{"pool_start_ms", start->median()}}; };
    s.cases.push_back(std::move(c));
    constexpr int kTasks = 64;
    auto overhead = std::make_shared<Samples>();
    BenchCase d{fmt::format("process/dispatch/tasks={}/workers={}", kTasks, workers), 0, "tiny tasks on a running pool",
                [ctx, workers, tiny, input, overhead] {
                    ParallelConfig cfg;
                    cfg.num_threads = workers;
                    cfg.parallel_strategy = "process";
                    auto pp = std::make_shared<ParallelProcessor>(cfg, ctx);
                    std::vector<std::shared_ptr<const ReasoningCore>> cores(kTasks, tiny);
                    std::vector<ArrayView<const float>> in(kTasks, input->view());
                    pp->parallel_multi_modal_reasoning(cores, in);  // pool up
                    return std::function<void()>([pp, cores, in, overhead] {
                        auto r = pp->parallel_multi_modal_reasoning(cores, in);
                        overhead->add(r.report.dispatch_overhead_seconds * 1e6);
                    });
                }};
    d.counters = [overhead] { return std::map<std::string, double>{{"dispatch_overhead_us", overhead->median()}}; };
    s.cases.push_back(std::move(d));
}

}  // namespace

Suite make_parallel_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.5;
    s.repetitions = quick ? 1 : 5;
    add_reservoir_rows(s, ctx, quick ? 500 : 2000, threads, !quick);
    add_reasoning_rows(s, ctx, quick ? 200 : 500, quick ? 4 : 8);
    add_process_rows(s, ctx, std::max(threads, 2));
    return s;
}

}  // namespace neuroperf::cli
