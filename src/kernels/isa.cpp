#include "kernels/isa.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "neuroperf/cpu.hpp"

namespace neuroperf::kernels {
namespace {
std::atomic<int> g_isa{-1};  // -1: not decided yet
}

KernelIsa best_kernel_isa() {
#if NP_HAVE_AVX512_CLONES
    const IsaFeatures& f = cpu_info().isa;
    if (f.avx512f && f.avx512dq && f.avx512vl && f.avx512bw && f.avx2 && f.fma) return KernelIsa::avx512;
#endif
    return KernelIsa::baseline;
}

KernelIsa kernel_isa() {
    int v = g_isa.load(std::memory_order_relaxed);
    if (v >= 0) [[likely]]
        return static_cast<KernelIsa>(v);
    KernelIsa isa = best_kernel_isa();
    if (const char* env = std::getenv("NEUROPERF_KERNEL_ISA"); env && std::strcmp(env, "baseline") == 0)
        isa = KernelIsa::baseline;
    int expected = -1;
    g_isa.compare_exchange_strong(expected, static_cast<int>(isa), std::memory_order_relaxed);
    return static_cast<KernelIsa>(g_isa.load(std::memory_order_relaxed));
}

bool set_kernel_isa(KernelIsa isa) {
    if (isa == KernelIsa::avx512 && best_kernel_isa() != KernelIsa::avx512) return false;
    g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
    return true;
}

}  // namespace neuroperf::kernels
