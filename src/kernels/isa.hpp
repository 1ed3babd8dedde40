// Which instruction-set clone the per-ISA kernels (elementwise.cpp, reservoir.cpp) run. The
// library is built for baseline x86-64; those kernels are compiled a second time inside
// functions carrying NP_AVX512 and pick one variant per call from kernel_isa() (one relaxed
// atomic load).
#pragma once

#include <cstdint>

namespace neuroperf::kernels {

enum class KernelIsa : std::uint8_t { baseline, avx512 };

#if defined(__x86_64__) && defined(__GNUC__)
#define NP_HAVE_AVX512_CLONES 1
#define NP_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")))
#else
#define NP_HAVE_AVX512_CLONES 0
#endif

/// The clone in use: AVX-512 when the CPU and the OS support AVX-512 F/DQ/VL/BW, AVX2 and FMA
/// (cpu_info()), unless the environment variable NEUROPERF_KERNEL_ISA=baseline (read once) or
/// set_kernel_isa() says otherwise.
KernelIsa kernel_isa();

/// Forces a clone (tests, benchmarks comparing the two). Returns false, changing nothing, when
/// `isa` cannot run here. Not synchronised with kernels already running on other threads.
bool set_kernel_isa(KernelIsa isa);

/// The best clone this CPU can run (ignoring overrides).
KernelIsa best_kernel_isa();

}  // namespace neuroperf::kernels
