#include "parallel/executor.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>

#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "neuroperf/timer.hpp"

namespace neuroperf::parallel {
namespace {

long os_thread_id() { return static_cast<long>(::syscall(SYS_gettid)); }

std::string message_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception (not derived from std::exception)";
    }
}

}  // namespace

Schedule plan(const std::vector<double>& costs, const ExecOptions& o) {
    auto w = static_cast<std::size_t>(std::max(1, o.workers));
    return o.balance ? lpt_schedule(costs, w) : static_schedule(costs, w, static_cast<std::size_t>(std::max(0, o.chunk)));
}

bool should_steal(const std::vector<double>& queued_cost, const std::vector<std::size_t>& queued_tasks, double threshold) {
    std::size_t tasks = std::accumulate(queued_tasks.begin(), queued_tasks.end(), std::size_t{0});
    if (tasks == 0) return false;
    double mx = *std::max_element(queued_cost.begin(), queued_cost.end());
    if (mx <= 0) return true;
    double mean = std::accumulate(queued_cost.begin(), queued_cost.end(), 0.0) / static_cast<double>(queued_cost.size());
    return mean / mx < threshold;
}

TaskQueues::TaskQueues(const Schedule& s, const std::vector<double>& costs, bool balance, double threshold)
    : cost_(s.loads), costs_(costs), balance_(balance), threshold_(threshold) {
    for (const auto& q : s.queues) q_.emplace_back(q.begin(), q.end());
}

// One mutex: a pull is a few hundred nanoseconds against tasks that are worth parallelising
// only when they take tens of microseconds.
bool TaskQueues::next(std::size_t w, std::size_t& t, bool& stolen) {
    std::lock_guard lock(mu_);
    if (!q_[w].empty()) {
        t = q_[w].front();
        q_[w].pop_front();
        cost_[w] -= costs_[t];
        stolen = false;
        return true;
    }
    if (!balance_) return false;
    std::vector<std::size_t> counts(q_.size());
    for (std::size_t v = 0; v < q_.size(); ++v) counts[v] = q_[v].size();
    std::vector<double> queued = cost_;
    queued[w] = 0;
    if (!should_steal(queued, counts, threshold_)) return false;
    std::size_t victim = w;
    for (std::size_t v = 0; v < q_.size(); ++v)
        if (!q_[v].empty() && (victim == w || cost_[v] > cost_[victim])) victim = v;
    if (victim == w) return false;
    t = q_[victim].back();
    q_[victim].pop_back();
    cost_[victim] -= costs_[t];
    stolen = true;
    return true;
}

ParallelReport execute(const std::vector<double>& costs, const ExecOptions& o,
                       const std::function<void(std::size_t)>& task) {
    std::size_t n = costs.size();
    int workers = static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(std::max(1, o.workers)), n)));
    ExecOptions eff = o;
    eff.workers = workers;
    Schedule s = plan(costs, eff);

    ParallelReport r;
    r.workers = workers;
    r.strategy = workers > 1 ? "thread" : "serial";
    r.load_balanced = o.balance;
    r.scheduled_makespan = s.makespan;
    r.tasks.resize(n);
    r.worker_busy_seconds.assign(static_cast<std::size_t>(workers), 0.0);
    r.worker_thread_ids.assign(static_cast<std::size_t>(workers), 0);

    TaskQueues queues(s, costs, o.balance, o.threshold);
    std::atomic<bool> cancel{false};
    std::mutex error_mu;
    std::exception_ptr first_error;
    std::size_t first_error_task = 0;
    std::atomic<std::size_t> steals{0};

    auto run_worker = [&](std::size_t w) {
        r.worker_thread_ids[w] = os_thread_id();
        std::size_t t = 0;
        bool stolen = false;
        while (!cancel.load(std::memory_order_relaxed) && queues.next(w, t, stolen)) {
            Timer timer;
            try {
                task(t);
            } catch (...) {
                std::lock_guard lock(error_mu);
                if (!first_error) {
                    first_error = std::current_exception();
                    first_error_task = t;
                }
                cancel = true;
            }
            double sec = timer.seconds();
            r.tasks[t] = {t, static_cast<int>(w), sec, costs[t], stolen};
            r.worker_busy_seconds[w] += sec;
            if (stolen) steals.fetch_add(1, std::memory_order_relaxed);
        }
    };

    Timer wall;
    if (workers == 1) {
        run_worker(0);
    } else {
#pragma omp parallel num_threads(workers)
        {
            // The runtime may give fewer threads (nested call, thread limit): each thread
            // serves the workers w ≡ its id (mod team size), so every queue is drained.
            auto team = static_cast<std::size_t>(omp_get_num_threads());
            for (auto w = static_cast<std::size_t>(omp_get_thread_num()); w < static_cast<std::size_t>(workers); w += team)
                run_worker(w);
        }
    }
    r.wall_seconds = wall.seconds();

    if (first_error)
        throw TaskError(first_error_task, fmt::format("task {}: {}", first_error_task, message_of(first_error)), first_error);

    r.steals = steals.load();
    for (const auto& rec : r.tasks) r.serial_seconds += rec.seconds;
    r.speedup_estimate = r.wall_seconds > 0 ? r.serial_seconds / r.wall_seconds : 0.0;
    double mx = *std::max_element(r.worker_busy_seconds.begin(), r.worker_busy_seconds.end());
    double mean = std::accumulate(r.worker_busy_seconds.begin(), r.worker_busy_seconds.end(), 0.0) / workers;
    r.imbalance = mean > 0 ? mx / mean : 1.0;
    return r;
}

}  // namespace neuroperf::parallel
