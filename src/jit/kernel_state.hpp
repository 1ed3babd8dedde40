// What every JIT kernel object (SpikeProcessingKernel, ConvolutionKernel, ReservoirUpdateKernel)
// holds about its code: the registry's outcome (the loaded module stays alive with it) or, with
// the JIT disabled, only the source that would have been compiled. And the one path from a
// kernel request to that state.
#pragma once

#include <memory>
#include <string>

#include "jit/registry.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf::jit {

struct CompiledKernel {
    std::shared_ptr<const KernelOutcome> outcome;  ///< null when the JIT is disabled
    std::string aot_source;                        ///< the source, when the JIT is disabled

    /// The compiled entry point as function pointer type F, or null (run the AOT kernel).
    template <class F>
    F entry() const {
        return outcome ? reinterpret_cast<F>(outcome->entry) : nullptr;
    }
    const std::string& source() const;
    const std::string& key() const;
    bool is_compiled() const { return outcome && outcome->entry; }
    const std::string& fallback_reason() const;
};

/// The kernel `req` describes (its fastmath and persistent flags taken from `config`): through
/// `ctx`'s registry (memory, disk cache, or a compile) when config.enable_jit, else only its
/// source, generated under the entry name neuroperf_jit_<kernel>. Never throws for compiler or
/// cache trouble (the outcome carries the reason).
CompiledKernel compile_kernel(const JITConfig& config, const Context& ctx, KernelRequest req);

}  // namespace neuroperf::jit

/// Defines Kernel<T>'s source(), key(), is_compiled() and fallback_reason() from its
/// State::compiled (a CompiledKernel): the same four accessors for every kernel class.
#define NEUROPERF_JIT_KERNEL_ACCESSORS(Kernel)                                                                          \
    template <class T>                                                                                                  \
    const std::string& Kernel<T>::source() const {                                                                      \
        return state_->compiled.source();                                                                               \
    }                                                                                                                   \
    template <class T>                                                                                                  \
    const std::string& Kernel<T>::key() const {                                                                         \
        return state_->compiled.key();                                                                                  \
    }                                                                                                                   \
    template <class T>                                                                                                  \
    bool Kernel<T>::is_compiled() const {                                                                               \
        return state_->compiled.is_compiled();                                                                          \
    }                                                                                                                   \
    template <class T>                                                                                                  \
    const std::string& Kernel<T>::fallback_reason() const {                                                             \
        return state_->compiled.fallback_reason();                                                                      \
    }
