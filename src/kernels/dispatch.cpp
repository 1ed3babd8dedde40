// The kernel families and their variants, for `neuroperf info` (docs/dev/dispatch.md).
#include "neuroperf/dispatch.hpp"

#include "blas/builtin/gemm_variants.hpp"
#include "core/simd.hpp"

namespace neuroperf {

std::vector<KernelFamily> kernel_families(Isa isa) {
    // Every family of this layer is built with NP_ISA_VARIANTS, so it has the variants the
    // architecture builds; the builtin GEMM (blas layer) lists its own.
    std::vector<Isa> built{Isa::generic};
#if NP_X86_VARIANTS
    built.push_back(Isa::avx2);
    built.push_back(Isa::avx512);
#endif
    auto runs = [&](const std::vector<Isa>& variants) {
        Isa best = Isa::generic;
        for (Isa v : variants)
            if (v <= isa && v > best) best = v;
        return best;
    };
    std::vector<Isa> gemm;
    for (const blas::builtin::Variant& v : blas::builtin::variants()) gemm.insert(gemm.begin(), v.isa);
    std::vector<KernelFamily> out{
        {"builtin_gemm", "the builtin GEMM (BLAS libraries pick their own code)", gemm, Isa::generic},
        {"reservoir", "fused ESN step, dense and CSR rows, gathers, activations", built, Isa::generic},
        {"elementwise", "exp / tanh / sigmoid at high, low and ep precision", built, Isa::generic},
        {"convolution", "direct, event-driven and recursive filters (FFTW picks its own code)", built, Isa::generic},
        {"batch", "event-driven batch product", built, Isa::generic},
        {"lif", "LIF population step and spike propagation (AOT fallback of the JIT)", built, Isa::generic},
        {"spectral", "mat-vecs of the spectral radius", built, Isa::generic},
    };
    for (KernelFamily& f : out) f.runs = runs(f.variants);
    return out;
}

}  // namespace neuroperf
