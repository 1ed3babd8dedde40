#include "jit/kernel_state.hpp"

#include <fmt/format.h>

#include "runtime/context_impl.hpp"

namespace neuroperf::jit {

const std::string& CompiledKernel::source() const { return outcome ? outcome->source : aot_source; }

const std::string& CompiledKernel::key() const {
    static const std::string none;
    return outcome ? outcome->key : none;
}

const std::string& CompiledKernel::fallback_reason() const {
    static const std::string disabled = "JIT disabled (JITConfig.enable_jit = false)";
    static const std::string none;
    if (is_compiled()) return none;
    return outcome ? outcome->reason : disabled;
}

CompiledKernel compile_kernel(const JITConfig& config, const Context& ctx, KernelRequest req) {
    CompiledKernel k;
    if (!config.enable_jit) {
        k.aot_source = req.generate("neuroperf_jit_" + req.kernel);
        if (runtime::logs(ctx, config.verbose))
            runtime::emit(ctx, fmt::format("jit: disabled, {} runs the AOT kernel", req.kernel));
        return k;
    }
    req.fastmath = config.enable_fastmath;
    req.isa = ctx.isa();
    req.persistent = config.cache_compiled_functions;
    k.outcome = registry_of(ctx).get(req, config.verbose);
    return k;
}

}  // namespace neuroperf::jit
