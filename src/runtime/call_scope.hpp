// The per-call thread environment of the optimizer's calls: denormal flushing (MKLConfig::
// enable_fast_math) and worker-thread pinning (MKLConfig::thread_affinity, affinity.hpp).
#pragma once

#include <string>

#include <vector>

namespace neuroperf::runtime {

/// The thread_affinity policies affinity_plan() knows, "balanced" first (the default).
const std::vector<std::string>& affinity_policies();

/// Above this many multiply-adds (or comparable work units) a call may run on several threads,
/// so the per-thread settings must hold on the OpenMP worker threads too.
inline constexpr double kTeamSetupMinWork = 64.0 * 64.0 * 64.0;

/// Sets MXCSR's FTZ+DAZ bits to `ftz` on the calling thread for the scope and restores them;
/// LDMXCSR is slow (it dominates a small call), so the register is written only on a change.
class FlushDenormalsScope {
public:
    explicit FlushDenormalsScope(bool ftz);
    ~FlushDenormalsScope();
    FlushDenormalsScope(const FlushDenormalsScope&) = delete;
    FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

private:
    unsigned saved_ = 0;
    bool changed_ = false;
};

/// Puts the OpenMP worker threads (not the caller) in the state calls with `threads` threads
/// need: FTZ/DAZ per `ftz`, pinned per `affinity`. The workers are a process resource shared
/// by every context, so the state last applied is remembered and a parallel region runs only
/// on a change.
void prepare_workers(bool ftz, const std::string& affinity, int threads);

/// One optimizer call's environment: the caller flushes denormals per the config for the
/// call's duration, and the workers are prepared when the call may use them (threads > 1 and
/// work ≥ kTeamSetupMinWork).
class CallScope {
public:
    CallScope(bool ftz, const std::string& affinity, int threads, double work);

private:
    FlushDenormalsScope ftz_;
};

}  // namespace neuroperf::runtime
