// Source of a FIR convolution kernel with the taps baked in: the AOT direct convolution's sum
// order (per output, taps in increasing order, starting from 0), outputs in register blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/convolution.hpp"

namespace neuroperf::jit {

template <class T>
std::string conv_descriptor(const std::vector<T>& taps, const kernels::ConvGeometry& g, bool fma);

/// Exports `extern "C" void entry(const void* x, void* out)`. `fma`: multiply-adds fused, as
/// the AOT kernel's clone for this CPU does (aot_uses_fma()). `fastmath` (compiled with
/// -ffast-math): within rounding of the AOT sums; else the AOT bits. The register-tiled kernel
/// when conv_tiled() (compile it at -O1), else the looped one (needs -O3's unroller).
template <class T>
std::string conv_source(const std::vector<T>& taps, const kernels::ConvGeometry& g, const std::string& entry, bool fma,
                        bool fastmath = false);

/// Output vectors per block of the register-tiled kernel, and the most taps it unrolls (R·k
/// multiply-add statements; beyond, the looped kernel is generated).
inline constexpr std::int64_t kTiledVectors = 8;
inline constexpr std::int64_t kTiledMaxTaps = 128;
/// Strict kernels are tiled up to this many taps: cold compile (clang 14, tiled at -O1 against
/// looped at -O3, float, medians of 5 interleaved runs) 63 vs 103 ms at 8 taps, 80 vs 83 at 16,
/// 101 vs 86 at 24, 195 vs 118 at 64; kernel speed the same within noise.
inline constexpr std::int64_t kTiledStrictMaxTaps = 16;

/// Whether conv_source generates the register-tiled kernel: under fast math up to
/// kTiledMaxTaps taps; strict up to kTiledStrictMaxTaps taps, unfused or fused on a CPU with
/// AVX-512F.
bool conv_tiled(std::int64_t taps, bool fastmath, bool fma);

/// Whether the AOT direct convolution runs a clone with fused multiply-adds on this CPU
/// (GCC's x86-64-v3/v4 target clones contract y += a·x).
bool aot_uses_fma();

}  // namespace neuroperf::jit
