// Source of a FIR convolution kernel with the taps baked in: the AOT direct convolution's sum
// order (per output, taps in increasing order, starting from 0), outputs in register blocks.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/convolution.hpp"

namespace neuroperf::jit {

/// Everything a generated FIR kernel depends on besides the toolchain and the CPU; hashed field
/// by field into the registry's key (core::Hasher).
template <class T>
struct ConvKernelDescriptor {
    std::vector<T> taps;              ///< baked in as literals
    kernels::ConvGeometry geometry{};
    /// The context's variant (the AOT kernel mirrored; the tiled kernel's FMA builtin).
    Isa isa = Isa::generic;
    /// Multiply-adds fused, as the AOT kernel's variant does (aot_uses_fma()).
    bool fma = false;
    /// Compiled with -ffast-math: within rounding of the AOT sums; else the AOT bits.
    bool fastmath = false;
};

/// Exports `extern "C" void entry(const void* x, void* out)`: the register-tiled kernel when
/// conv_tiled() (compile it at -O1), else the looped one (needs -O3's unroller).
template <class T>
std::string conv_source(const ConvKernelDescriptor<T>& desc, const std::string& entry);

/// Output vectors per block of the register-tiled kernel, and the most taps it unrolls (R·k
/// multiply-add statements; beyond, the looped kernel is generated).
inline constexpr std::int64_t kTiledVectors = 8;
inline constexpr std::int64_t kTiledMaxTaps = 128;
/// Strict kernels are tiled up to this many taps: cold compile (clang 14, tiled at -O1 against
/// looped at -O3, float, medians of 5 interleaved runs) 63 vs 103 ms at 8 taps, 80 vs 83 at 16,
/// 101 vs 86 at 24, 195 vs 118 at 64; kernel speed the same within noise.
inline constexpr std::int64_t kTiledStrictMaxTaps = 16;

/// Whether conv_source generates the register-tiled kernel: under fast math up to
/// kTiledMaxTaps taps; strict up to kTiledStrictMaxTaps taps, unfused or fused for the avx512
/// variant.
bool conv_tiled(std::int64_t taps, bool fastmath, bool fma, Isa isa);

/// Whether the AOT direct convolution's variant `isa` fuses multiply-adds (GCC contracts
/// y += a·x in the avx2 and avx512 variants).
bool aot_uses_fma(Isa isa);

}  // namespace neuroperf::jit

namespace neuroperf {
template <class T>
struct Fields<jit::ConvKernelDescriptor<T>> {
    using D = jit::ConvKernelDescriptor<T>;
    static constexpr auto list = std::tuple{field("taps", &D::taps), field("geometry", &D::geometry),
                                            field("isa", &D::isa), field("fma", &D::fma), field("fastmath", &D::fastmath)};
};
}  // namespace neuroperf
NEUROPERF_CHECK_FIELDS(neuroperf::jit::ConvKernelDescriptor<float>);
