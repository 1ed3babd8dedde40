// What the MKLOptimizer's source files share (private to the api layer).
#pragma once

#include "neuroperf/mkl_optimizer.hpp"
#include "runtime/call_scope.hpp"
#include "runtime/context_impl.hpp"

namespace neuroperf::api {

/// The environment of one call of `opt` on `threads` threads doing `work` multiply-adds (or
/// comparable units): denormals flushed per enable_fast_math, workers pinned per thread_affinity.
inline runtime::CallScope call_scope(const MKLOptimizer& opt, int threads, double work) {
    return runtime::CallScope(opt.config().enable_fast_math, opt.config().thread_affinity, threads, work);
}

/// An optimizer on `ctx` with one thread and no pinning: what runs inside a parallel task or a
/// worker process (the parallelism is the caller's).
MKLOptimizer single_thread_optimizer(const Context& ctx);

/// Whether `opt` logs (its config or its context is verbose); check before formatting.
inline bool logs(const MKLOptimizer& opt) { return runtime::logs(opt.context(), opt.config().verbose); }
/// Writes `message` to the log sink of `opt`'s context.
inline void emit(const MKLOptimizer& opt, std::string_view message) { runtime::emit(opt.context(), message); }

}  // namespace neuroperf::api
