// JITCompiler::compile_spike_processing_kernel and its kernel object: the compiled step
// (jit/spike_codegen.cpp) or, as fallback, the AOT step (kernels/lif.cpp).
#include <fmt/format.h>

#include "jit/kernel_state.hpp"
#include "jit/spike_codegen.hpp"
#include "kernels/lif.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf {

template <class T>
struct SpikeProcessingKernel<T>::State {
    LifSpec spec;
    kernels::LifConstants<T> constants;
    jit::CompiledKernel compiled;
    void (*entry)(void*, int) = nullptr;
    Isa isa = Isa::generic;  // the context's variant: the AOT fallback's
};

namespace {

template <class T>
void check_range(const LifSpec& spec, const SpikeStepArgs<T>& a) {
    if (a.begin < 0 || a.end < a.begin || a.end > spec.num_neurons)
        throw ValueError(fmt::format("SpikeStepArgs: expected 0 ≤ begin ≤ end ≤ num_neurons={}, got begin={} end={}",
                                     spec.num_neurons, a.begin, a.end));
    if (a.step < 0) throw ValueError(fmt::format("SpikeStepArgs.step: expected ≥ 0, got {}", a.step));
}

}  // namespace

template <class T>
void SpikeProcessingKernel<T>::update(SpikeStepArgs<T>& args) const {
    check_range(state_->spec, args);
    if (state_->entry) state_->entry(&args, kernels::kLifUpdate);
    else kernels::lif_step(state_->isa, state_->constants, args, kernels::kLifUpdate);
}

template <class T>
void SpikeProcessingKernel<T>::propagate(SpikeStepArgs<T>& args) const {
    if (args.num_spikes < 0 || args.num_spikes > state_->spec.num_neurons)
        throw ValueError(fmt::format("SpikeStepArgs.num_spikes: expected 0..num_neurons={}, got {}",
                                     state_->spec.num_neurons, args.num_spikes));
    if (args.step < 0) throw ValueError(fmt::format("SpikeStepArgs.step: expected ≥ 0, got {}", args.step));
    if (state_->entry) state_->entry(&args, kernels::kLifPropagate);
    else kernels::lif_step(state_->isa, state_->constants, args, kernels::kLifPropagate);
}

template <class T>
void SpikeProcessingKernel<T>::operator()(SpikeStepArgs<T>& args) const {
    check_range(state_->spec, args);
    if (state_->entry) state_->entry(&args, kernels::kLifUpdate | kernels::kLifPropagate);
    else kernels::lif_step(state_->isa, state_->constants, args, kernels::kLifUpdate | kernels::kLifPropagate);
}

template <class T>
const LifSpec& SpikeProcessingKernel<T>::spec() const {
    return state_->spec;
}
NEUROPERF_JIT_KERNEL_ACCESSORS(SpikeProcessingKernel)

template <class T>
SpikeProcessingKernel<T> JITCompiler::compile_spike_processing_kernel(const LifSpec& spec) const {
    spec.validate();
    auto st = std::make_shared<typename SpikeProcessingKernel<T>::State>();
    st->spec = spec;
    st->constants = kernels::lif_constants<T>(spec);
    st->isa = context_.isa();
    const jit::SpikeKernelDescriptor desc{dtype_of<T>(), spec, config_.enable_parallel_loops, config_.enable_fastmath};
    jit::KernelRequest req;
    req.kernel = "spike_processing";
    req.descriptor = jit::descriptor_key(desc);
    req.generate = [desc](const std::string& entry) { return jit::spike_source(desc, entry); };
    req.parallel = desc.parallel;
    // LLVM's unroller takes a third of clang's time on this kernel (CUBA ~95 → ~63 ms, COBA
    // ~126 → ~92 ms) for no measured speed: the update loop is vectorised all the same
    // (docs/dev/jit.md, cold compile).
    req.extra_flags = {"-fno-unroll-loops"};
    st->compiled = jit::compile_kernel(config_, context_, std::move(req));
    st->entry = st->compiled.template entry<void (*)(void*, int)>();
    return SpikeProcessingKernel<T>(std::move(st));
}

template class SpikeProcessingKernel<float>;
template class SpikeProcessingKernel<double>;
template SpikeProcessingKernel<float> JITCompiler::compile_spike_processing_kernel<float>(const LifSpec&) const;
template SpikeProcessingKernel<double> JITCompiler::compile_spike_processing_kernel<double>(const LifSpec&) const;

}  // namespace neuroperf
