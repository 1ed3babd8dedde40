#include "runtime/call_scope.hpp"

#include "neuroperf/affinity.hpp"

#include <mutex>
#include <vector>

#include <omp.h>
#include <sched.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace neuroperf::runtime {
namespace {
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR flush-to-zero | denormals-are-zero

void set_ftz(bool ftz) {
#if defined(__x86_64__)
    unsigned csr = _mm_getcsr();
    _mm_setcsr(ftz ? (csr | kFtzDaz) : (csr & ~kFtzDaz));
#else
    (void)ftz;
#endif
}
}  // namespace

FlushDenormalsScope::FlushDenormalsScope(bool ftz) {
#if defined(__x86_64__)
    saved_ = _mm_getcsr();
    unsigned want = ftz ? (saved_ | kFtzDaz) : (saved_ & ~kFtzDaz);
    changed_ = want != saved_;
    if (changed_) _mm_setcsr(want);
#else
    (void)ftz;
#endif
}

FlushDenormalsScope::~FlushDenormalsScope() {
#if defined(__x86_64__)
    if (changed_) _mm_setcsr(saved_);
#endif
}

void prepare_workers(bool ftz, const std::string& affinity, int threads) {
    // Compared field by field (no formatting, no allocation): this runs on every call of a
    // multi-threaded size, and a warm call must stay cheap.
    static std::mutex mu;
    static int applied_threads = -1;
    static bool applied_ftz = false;
    static std::string applied_affinity;
    std::lock_guard lock(mu);
    if (threads == applied_threads && ftz == applied_ftz && affinity == applied_affinity) return;
    // With OMP_PROC_BIND or OMP_PLACES set, the OpenMP runtime binds its threads to places
    // itself: pinning them again would fight it, and the initial thread's mask (one place by
    // then) would put every worker on that place. The runtime's binding wins.
    const bool runtime_binds = omp_get_proc_bind() != omp_proc_bind_false;
    std::vector<int> plan;
    if (affinity != "none" && !runtime_binds) plan = affinity_plan(affinity, threads, current_cpu_topology());
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        if (t != 0) set_ftz(ftz);
        if (t != 0 && !runtime_binds) {
            cpu_set_t set;
            CPU_ZERO(&set);
            if (plan.empty()) {
                sched_getaffinity(getpid(), sizeof(set), &set);  // "none": the process's mask
            } else {
                CPU_SET(plan[static_cast<std::size_t>(t) % plan.size()], &set);
            }
            sched_setaffinity(0, sizeof(set), &set);
        }
    }
    applied_threads = threads;
    applied_ftz = ftz;
    applied_affinity = affinity;
}

CallScope::CallScope(bool ftz, const std::string& affinity, int threads, double work) : ftz_(ftz) {
    // Inside an active parallel region (e.g. a ParallelProcessor task) nested regions get one
    // thread: preparing "workers" there would only record a state the real team never got.
    if (threads > 1 && work >= kTeamSetupMinWork && !omp_in_parallel())
        prepare_workers(ftz, affinity, threads);
}

}  // namespace neuroperf::runtime
