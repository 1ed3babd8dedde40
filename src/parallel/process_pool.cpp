// The process strategy: a pool of neuroperf-worker processes (posix_spawn, never fork), one
// socket pair each for messages, one shared-memory segment per call for the data.
#include "parallel/process_pool.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "facade/context_impl.hpp"
#include "neuroperf/timer.hpp"
#include "parallel/executor.hpp"
#include "parallel/worker_protocol.hpp"

extern char** environ;

namespace neuroperf::parallel {
namespace {

constexpr double kStartTimeout = 10.0;  // seconds for every worker to say it is ready

std::string describe_status(int status) {
    if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    return "stopped";
}

void copy_name(char* dst, std::size_t cap, const std::string& s, const char* what) {
    if (s.size() >= cap) throw ValueError(fmt::format("{}: expected at most {} characters, got {}", what, cap - 1, s.size()));
    std::memcpy(dst, s.data(), s.size());
    dst[s.size()] = '\0';
}

std::filesystem::path library_dir() {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&process_strategy_built), &info) && info.dli_fname)
        return std::filesystem::absolute(info.dli_fname).parent_path();
    return {};
}

}  // namespace

std::filesystem::path find_worker() {
    if (const char* env = std::getenv("NEUROPERF_WORKER"); env && *env) {
        if (::access(env, X_OK) != 0)
            throw NotBuiltError(fmt::format("NEUROPERF_WORKER: expected an executable neuroperf-worker, got '{}' ({})", env,
                                            std::strerror(errno)));
        return env;
    }
    auto dir = library_dir();
    // Build tree: beside the library; installed: libexec relative to the library's directory.
    for (const auto& c : {dir / "neuroperf-worker", (dir / NEUROPERF_WORKER_FROM_LIBDIR).lexically_normal()})
        if (!dir.empty() && ::access(c.c_str(), X_OK) == 0) return c;
    return {};
}

bool process_strategy_built() { return !find_worker().empty(); }

// --- the pool ---------------------------------------------------------------------------------

class ProcessPool {
public:
    struct Worker {
        pid_t pid = -1;
        int fd = -1;  // our end of the socket pair
    };

    ProcessPool(int workers, const std::filesystem::path& exe) {
        Timer t;
        try {
            std::vector<std::string> env_strings;
            for (char** e = environ; *e; ++e) {
                std::string_view v(*e);
                bool ours = false;
                for (const char* k : {"OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "MKL_NUM_THREADS=", "BLIS_NUM_THREADS="})
                    ours |= v.starts_with(k);
                if (!ours) env_strings.emplace_back(v);
            }
            // One thread per worker: the pool is the parallelism, nothing may oversubscribe.
            for (const char* k : {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1", "BLIS_NUM_THREADS=1"})
                env_strings.emplace_back(k);
            std::vector<char*> envp;
            for (auto& s : env_strings) envp.push_back(s.data());
            envp.push_back(nullptr);
            std::string path = exe.string();
            char* argv[] = {path.data(), nullptr};
            for (int i = 0; i < workers; ++i) {
                int sv[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
                    throw WorkerError(fmt::format("process pool: socketpair failed: {}", std::strerror(errno)));
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_adddup2(&fa, sv[1], 0);  // dup2 clears close-on-exec
                posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
                pid_t pid = -1;
                int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv, envp.data());
                posix_spawn_file_actions_destroy(&fa);
                ::close(sv[1]);
                if (rc != 0) {
                    ::close(sv[0]);
                    throw WorkerError(fmt::format("process pool: cannot start '{}': {}", path, std::strerror(rc)));
                }
                workers_.push_back({pid, sv[0]});
            }
            for (std::size_t i = 0; i < workers_.size(); ++i) {
                ReadyMsg ready;
                double left = kStartTimeout - t.seconds();
                if (!wait_readable(workers_[i].fd, left) || !read_all(workers_[i].fd, &ready, sizeof ready) ||
                    ready.magic != kWorkerMagic)
                    throw WorkerError(fmt::format("process pool: worker {} (pid {}, '{}') did not start within {} s{}", i,
                                                  workers_[i].pid, path, kStartTimeout, reap_reason(i)));
            }
        } catch (...) {
            shutdown(true);
            throw;
        }
        start_seconds_ = t.seconds();
    }

    ~ProcessPool() { shutdown(!healthy_); }
    ProcessPool(const ProcessPool&) = delete;
    ProcessPool& operator=(const ProcessPool&) = delete;

    std::size_t size() const { return workers_.size(); }
    bool healthy() const { return healthy_; }
    double start_seconds() const { return start_seconds_; }

    /// Runs msgs[i] (one per task) under the schedule of `o`; names[i] describes task i in
    /// errors. Throws TaskError (a task failed inside its worker: the rest are cancelled) or
    /// WorkerError (a worker died or timed out: the pool becomes unusable).
    ParallelReport run(const std::vector<TaskMsg>& msgs, const std::vector<double>& costs, const ExecOptions& o,
                       double timeout, const std::vector<std::string>& names) {
        std::size_t n = msgs.size();
        std::size_t used = std::max<std::size_t>(1, std::min(workers_.size(), n));
        ExecOptions eff = o;
        eff.workers = static_cast<int>(used);
        Schedule s = plan(costs, eff);
        TaskQueues queues(s, costs, o.balance, o.threshold);
        ParallelReport r;
        r.workers = static_cast<int>(used);
        r.strategy = "process";
        r.load_balanced = o.balance;
        r.scheduled_makespan = s.makespan;
        r.tasks.resize(n);
        r.worker_busy_seconds.assign(used, 0.0);
        for (std::size_t w = 0; w < used; ++w) r.worker_thread_ids.push_back(workers_[w].pid);

        struct Outstanding {
            bool busy = false;
            std::size_t task = 0;
            bool stolen = false;
            Timer since;
        };
        std::vector<Outstanding> out(used);
        bool cancel = false;
        std::string first_error;
        std::size_t first_error_task = 0;
        double overhead_sum = 0;
        Timer wall;

        auto dispatch = [&](std::size_t w) {
            std::size_t t = 0;
            bool stolen = false;
            if (cancel || !queues.next(w, t, stolen)) return;
            out[w] = {true, t, stolen, Timer()};
            if (::send(workers_[w].fd, &msgs[t], sizeof(TaskMsg), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(TaskMsg)))
                died(w, t, names, "could not be sent its task");
        };
        for (std::size_t w = 0; w < used; ++w) dispatch(w);
        for (;;) {
            std::vector<pollfd> pf;
            std::vector<std::size_t> who;
            for (std::size_t w = 0; w < used; ++w)
                if (out[w].busy) {
                    pf.push_back({workers_[w].fd, POLLIN, 0});
                    who.push_back(w);
                }
            if (pf.empty()) break;
            int rc = ::poll(pf.data(), pf.size(), 100);  // wake regularly to enforce the timeout
            if (rc < 0 && errno != EINTR) throw WorkerError(fmt::format("process pool: poll failed: {}", std::strerror(errno)));
            for (std::size_t i = 0; rc > 0 && i < pf.size(); ++i) {
                if (!pf[i].revents) continue;
                std::size_t w = who[i];
                ResultMsg res;
                if (!(pf[i].revents & POLLIN) || !read_all(workers_[w].fd, &res, sizeof res) || res.magic != kWorkerMagic ||
                    res.task != out[w].task)
                    died(w, out[w].task, names, "");
                double round_trip = out[w].since.seconds();
                std::size_t t = out[w].task;
                out[w].busy = false;
                r.tasks[t] = {t, static_cast<int>(w), res.compute_seconds, costs[t], out[w].stolen};
                r.worker_busy_seconds[w] += res.compute_seconds;
                if (out[w].stolen) ++r.steals;
                overhead_sum += std::max(0.0, round_trip - res.compute_seconds);
                if (res.status != 0 && first_error.empty()) {
                    first_error = std::string(res.error, strnlen(res.error, sizeof res.error));
                    first_error_task = t;
                    cancel = true;
                }
                dispatch(w);
            }
            for (std::size_t w = 0; w < used; ++w)
                if (out[w].busy && out[w].since.seconds() > timeout) {
                    ::kill(workers_[w].pid, SIGKILL);
                    died(w, out[w].task, names, fmt::format("exceeded process_task_timeout = {} s and was killed", timeout));
                }
        }
        r.wall_seconds = wall.seconds();
        if (!first_error.empty()) {
            std::string msg = fmt::format("task {} ({}): {}", first_error_task, names[first_error_task], first_error);
            throw TaskError(first_error_task, msg, std::make_exception_ptr(Error(first_error)));
        }
        for (const auto& rec : r.tasks) r.serial_seconds += rec.seconds;
        r.speedup_estimate = r.wall_seconds > 0 ? r.serial_seconds / r.wall_seconds : 0.0;
        double mx = *std::max_element(r.worker_busy_seconds.begin(), r.worker_busy_seconds.end());
        double mean = std::accumulate(r.worker_busy_seconds.begin(), r.worker_busy_seconds.end(), 0.0) / static_cast<double>(used);
        r.imbalance = mean > 0 ? mx / mean : 1.0;
        r.dispatch_overhead_seconds = n ? overhead_sum / static_cast<double>(n) : 0.0;
        return r;
    }

private:
    static bool wait_readable(int fd, double seconds) {
        if (seconds <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        int rc;
        do rc = ::poll(&p, 1, static_cast<int>(seconds * 1000) + 1);
        while (rc < 0 && errno == EINTR);
        return rc > 0;
    }

    // Why worker i is gone, if it is (reaped here); empty while it still runs.
    std::string reap_reason(std::size_t i) {
        int status = 0;
        if (workers_[i].pid > 0 && ::waitpid(workers_[i].pid, &status, WNOHANG) == workers_[i].pid) {
            workers_[i].pid = -1;
            return ": it " + describe_status(status);
        }
        return "";
    }

    [[noreturn]] void died(std::size_t w, std::size_t task, const std::vector<std::string>& names, const std::string& why) {
        healthy_ = false;
        pid_t pid = workers_[w].pid;
        std::string how = why;
        if (pid > 0) {
            ::kill(pid, SIGKILL);  // no-op if it is already dead; never leave it half alive
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            workers_[w].pid = -1;
            if (how.empty()) how = describe_status(status);
        }
        throw WorkerError(fmt::format("process strategy: worker {} (pid {}) {} while running task {} ({})", w, pid, how, task,
                                      names[task]));
    }

    // Quit message and EOF for idle workers; SIGKILL for those that do not exit within 1 s or
    // when `force`; every child reaped.
    void shutdown(bool force) {
        for (auto& w : workers_) {
            if (w.fd >= 0 && !force) {
                TaskMsg quit;
                quit.kind = TaskKind::quit;
                (void)::send(w.fd, &quit, sizeof quit, MSG_NOSIGNAL);
            }
            if (w.fd >= 0) ::close(w.fd);
            w.fd = -1;
        }
        Timer t;
        for (auto& w : workers_) {
            if (w.pid <= 0) continue;
            int status = 0;
            if (force) ::kill(w.pid, SIGKILL);
            while (::waitpid(w.pid, &status, WNOHANG) == 0) {
                if (t.seconds() > 1.0) {
                    ::kill(w.pid, SIGKILL);
                    ::waitpid(w.pid, &status, 0);
                    break;
                }
                ::usleep(1000);
            }
            w.pid = -1;
        }
    }

    std::vector<Worker> workers_;
    bool healthy_ = true;
    double start_seconds_ = 0;
};

namespace {

// The pool of `slot` with `workers` workers, started if needed; the time it took (0: reused).
std::shared_ptr<ProcessPool> pool_for(PoolSlot& slot, int workers, double& started) {
    started = 0;
    if (slot.pool && slot.pool->healthy() && slot.pool->size() == static_cast<std::size_t>(workers)) return slot.pool;
    slot.pool.reset();
    auto exe = find_worker();
    if (exe.empty())
        throw NotBuiltError(fmt::format("ParallelConfig.parallel_strategy \"process\": the worker executable neuroperf-worker "
                                        "was not found beside the library ({}) nor at {}; set NEUROPERF_WORKER",
                                        library_dir().string(), (library_dir() / NEUROPERF_WORKER_FROM_LIBDIR).lexically_normal().string()));
    slot.pool = std::make_shared<ProcessPool>(workers, exe);
    started = slot.pool->start_seconds();
    return slot.pool;
}

ExecOptions exec_options(const ParallelProcessor& pp, bool balance) {
    ExecOptions o;
    o.workers = pp.num_threads();
    o.balance = balance && pp.config().enable_load_balancing;
    o.threshold = pp.config().load_balance_threshold;
    o.chunk = pp.config().chunk_size;
    return o;
}

ParallelReport run_on_pool(const ParallelProcessor& pp, PoolSlot& slot, const SharedSegment& seg, std::vector<TaskMsg>& msgs,
                           const std::vector<double>& costs, bool balance, const std::vector<std::string>& names,
                           const std::string& operation) {
    for (auto& m : msgs) {
        copy_name(m.segment, sizeof m.segment, seg.name(), "shared memory name");
        m.segment_size = seg.size();
    }
    std::lock_guard lock(slot.mu);
    double started = 0;
    auto pool = pool_for(slot, pp.num_threads(), started);
    try {
        auto r = pool->run(msgs, costs, exec_options(pp, balance), pp.config().process_task_timeout, names);
        r.operation = operation;
        r.pool_start_seconds = started;
        return r;
    } catch (const WorkerError&) {
        slot.pool.reset();  // kills and reaps the remaining workers
        throw;
    }
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

// --- the task kinds ---------------------------------------------------------------------------

template <class T>
ProcessOutputs<T> run_reservoirs_in_processes(const ParallelProcessor& pp, PoolSlot& slot,
                                              const std::vector<ArrayView<const T>>& states,
                                              const std::vector<ArrayView<const T>>& w_in, std::span<const CsrMatrix<T>> w,
                                              const std::vector<ArrayView<const T>>& inputs, const ReservoirOptions<T>& options,
                                              const std::vector<double>& costs) {
    std::size_t k = states.size();
    const auto& ctx_opts = pp.context().impl().options;
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
    res.report = run_on_pool(pp, slot, seg, msgs, costs, true, names, "reservoir_computation");
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
    const auto& ctx_opts = pp.context().impl().options;
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
    res.report = run_on_pool(pp, slot, seg, msgs, costs, balance, names, "multi_modal_reasoning");
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
    res.report = run_on_pool(pp, slot, seg, msgs, costs, true, names, "spike_processing");
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

}  // namespace neuroperf::parallel
