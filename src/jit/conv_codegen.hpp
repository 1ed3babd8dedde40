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
/// -ffast-math): the register-tiled kernel when conv_tiled(), within rounding of the AOT sums.
template <class T>
std::string conv_source(const std::vector<T>& taps, const kernels::ConvGeometry& g, const std::string& entry, bool fma,
                        bool fastmath = false);

/// Output vectors per block of the register-tiled (fast-math) kernel, and the most taps it
/// unrolls (R·k multiply-add statements; beyond, the looped kernel is generated).
inline constexpr std::int64_t kTiledVectors = 8;
inline constexpr std::int64_t kTiledMaxTaps = 128;

/// Whether conv_source generates the register-tiled kernel.
bool conv_tiled(std::int64_t taps, bool fastmath);

/// Whether the AOT direct convolution runs a clone with fused multiply-adds on this CPU
/// (GCC's x86-64-v3/v4 target clones contract y += a·x).
bool aot_uses_fma();

}  // namespace neuroperf::jit
