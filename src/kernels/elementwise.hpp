// Elementwise math at three accuracies (MKL VM's HA / LA / EP), written once for float/double.
#pragma once

#include <cstdint>
#include <string_view>

#include "neuroperf/isa.hpp"

namespace neuroperf::kernels {

enum class Precision : std::uint8_t { high, low, ep };

/// "high" | "low" | "ep" (MKLConfig::precision_mode, ReservoirKernelSpec::precision) ->
/// Precision; ValueError naming `field` for another string.
Precision parse_precision(std::string_view mode, const char* field = "precision_mode");

/// y[i] = exp(x[i]) / tanh(x[i]) for i < n (y may equal x, otherwise no overlap), on variant
/// `isa` (core/simd.hpp; avx2 and avx512 fuse multiply-adds and give the same bits, generic
/// does not). Vectorised, no libm calls; the math is kernels/vmath.hpp.
/// Error bounds (tested) are in docs/dev/elementwise.md, the measured maxima in docs/results.md:
///   double — high ≤ 1-2 ulp (HA), low a few ulp, ep ≈ 1e-8 relative (tanh) / 2e-10 (exp);
///   float  — evaluated in double and rounded once: high / low ≤ 1 ulp, ep ≈ 2e-5 relative.
/// NaN propagates, ±0 keep their sign through tanh, tanh(±Inf) = ±1, exp(+Inf) = +Inf,
/// exp(−Inf) = 0, overflow gives +Inf, underflow rounds into the subnormals and then to 0
/// (unless FTZ/DAZ is set on the calling thread).
template <class T>
void vexp(Isa isa, Precision p, std::int64_t n, const T* x, T* y);
template <class T>
void vtanh(Isa isa, Precision p, std::int64_t n, const T* x, T* y);

}  // namespace neuroperf::kernels
