// The run loop's barrier (docs/dev/snn.md, "Threads"): a team of T threads meets once per time
// step, 10,000 times per simulated second, after 1-15 µs of work each. libgomp's barrier makes a
// futex_wake system call on every release whether or not anyone sleeps (also in a team of one);
// this one spins and makes a system call only when someone sleeps. A waiter sleeps (futex) after
// a short spin: on a quiet machine the threads arrive within a few µs of each other and never
// sleep; on a busy one the partner may be descheduled for a whole time slice, and spinning
// through it only takes the core from it (measured on the loaded 2-core machine, CUBA 40,000
// neurons at 2 threads: 2.1 s with a 200 µs spin, 1.2 s with 10 µs; docs/results.md).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace neuroperf::snn {

class StepBarrier {
public:
    /// `threads` ≥ 1 (1: wait() returns at once); `spin`: how long a waiter spins before sleeping.
    explicit StepBarrier(int threads, std::chrono::nanoseconds spin = std::chrono::microseconds(20))
        : threads_(threads), spin_(spin) {}
    StepBarrier(const StepBarrier&) = delete;
    StepBarrier& operator=(const StepBarrier&) = delete;

    /// Returns when all threads have called it (the n-th call of every thread meets the n-th call
    /// of the others). Everything a thread wrote before its call is visible to every thread after
    /// the return (release by the arrivals, acquire by the waiters).
    void wait() {
        if (threads_ == 1) return;
        const std::uint32_t gen = generation_.load(std::memory_order_acquire);
        if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
            // Last to arrive: reset the count before the release (the next wait() of the others
            // starts only after they have seen the new generation).
            arrived_.store(0, std::memory_order_relaxed);
            generation_.store(gen + 1, std::memory_order_seq_cst);
            // seq_cst store then load, against the sleeper's seq_cst increment then load: either
            // the sleeper sees the new generation or we see the sleeper.
            if (sleepers_.load(std::memory_order_seq_cst) > 0) futex(FUTEX_WAKE_PRIVATE, INT_MAX);
            return;
        }
        const auto start = std::chrono::steady_clock::now();
        for (unsigned k = 1;; ++k) {
            if (generation_.load(std::memory_order_acquire) != gen) return;
            pause();
            if ((k & 63) == 0 && std::chrono::steady_clock::now() - start > spin_) break;
        }
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (generation_.load(std::memory_order_seq_cst) == gen) futex(FUTEX_WAIT_PRIVATE, gen);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
    }

private:
    static void pause() {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#endif
    }
    // FUTEX_WAIT returns at once when the word is no longer `value` (no lost wake-up).
    void futex(int op, std::uint32_t value) {
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
        syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&generation_), op, value, nullptr, nullptr, 0);
    }

    const int threads_;
    const std::chrono::nanoseconds spin_;
    alignas(64) std::atomic<int> arrived_{0};
    alignas(64) std::atomic<std::uint32_t> generation_{0};
    alignas(64) std::atomic<int> sleepers_{0};
};

}  // namespace neuroperf::snn
