// Elementwise math at three accuracies (MKL VM's HA / LA / EP), written once for float/double.
#pragma once

#include <cstdint>

namespace neuroperf::kernels {

enum class Precision : std::uint8_t { high, low, ep };

/// y[i] = exp(x[i]) / tanh(x[i]) for i < n (y may equal x). high: libm (≤ 1 ulp); low and ep:
/// vectorisable polynomial approximations (see docs/dev/elementwise.md for measured errors).
/// NaN propagates, ±Inf give the limits, overflow gives +Inf, underflow 0.
template <class T>
void vexp(Precision p, std::int64_t n, const T* x, T* y);
template <class T>
void vtanh(Precision p, std::int64_t n, const T* x, T* y);

}  // namespace neuroperf::kernels
