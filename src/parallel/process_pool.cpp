// The process strategy: a pool of neuroperf-worker processes (posix_spawn, never fork), one
// socket pair each for messages, one shared-memory segment per call for the data.
#include "parallel/process_pool.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "neuroperf/subprocess.hpp"
#include "neuroperf/timer.hpp"
#include "parallel/executor.hpp"
#include "parallel/worker_protocol.hpp"

extern char** environ;

namespace neuroperf::parallel {
namespace {

constexpr double kStartTimeout = 10.0;  // seconds for every worker to say it is ready

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
            ProcessOptions spawn;
            spawn.environment = std::move(env_strings);
            const std::string path = exe.string();
            for (int i = 0; i < workers; ++i) {
                int sv[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
                    throw WorkerError(fmt::format("process pool: socketpair failed: {}", std::strerror(errno)));
                // The worker's stdin and stdout are its end of the pair (dup2 clears close-on-exec).
                spawn.stdin_fd = spawn.stdout_fd = sv[1];
                int pid = -1;
                try {
                    pid = start_process({path}, spawn);
                } catch (const Error& e) {
                    ::close(sv[0]);
                    ::close(sv[1]);
                    throw WorkerError(fmt::format("process pool: {}", e.what()));
                }
                ::close(sv[1]);
                workers_.push_back({static_cast<pid_t>(pid), sv[0]});
            }
            for (std::size_t i = 0; i < workers_.size(); ++i) {
                ReadyMsg ready;
                double left = kStartTimeout - t.seconds();
                if (!wait_readable(workers_[i].fd, left) || !read_all(workers_[i].fd, &ready, sizeof ready) ||
                    ready.magic != kWorkerMagic)
                    throw WorkerError(fmt::format("process pool: worker {} (pid {}, '{}') did not start within {} s{}", i,
                                                  workers_[i].pid, exe.string(), kStartTimeout, reap_reason(i)));
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
            return ": it " + describe_wait_status(status);
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
            if (how.empty()) how = describe_wait_status(status);
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

}  // namespace

ParallelReport run_on_pool(PoolSlot& slot, const SharedSegment& seg, std::vector<TaskMsg>& msgs, const PoolCall& call) {
    for (auto& m : msgs) {
        copy_name(m.segment, sizeof m.segment, seg.name(), "shared memory name");
        m.segment_size = seg.size();
    }
    std::lock_guard lock(slot.mu);
    double started = 0;
    auto pool = pool_for(slot, call.options.workers, started);
    try {
        auto r = pool->run(msgs, call.costs, call.options, call.timeout, call.names);
        r.operation = call.operation;
        r.pool_start_seconds = started;
        return r;
    } catch (const WorkerError&) {
        slot.pool.reset();  // kills and reaps the remaining workers
        throw;
    }
}

}  // namespace neuroperf::parallel
