// Spike-train convolution: kernels given as taps or as a parametric family.
#pragma once

#include <string>

#include "neuroperf/array.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

/// A causal synaptic kernel family sampled every dt: exponential exp(−t/τ) or alpha
/// (t/τ)·exp(1 − t/τ), t = 0, dt, 2dt, ...; `length` = number of taps (0 = until the kernel
/// falls below 1e-7 of its peak for float32 / 1e-15 for float64).
struct SpikeKernel {
    enum class Family { exponential, alpha };
    Family family = Family::exponential;
    double tau = 0;
    double dt = 0;
    index_t length = 0;
};

/// The kernel family objects (ExponentialKernel(tau, dt), AlphaKernel(tau, dt)).
NEUROPERF_API SpikeKernel ExponentialKernel(double tau, double dt, index_t length = 0);
NEUROPERF_API SpikeKernel AlphaKernel(double tau, double dt, index_t length = 0);

struct ConvolutionOptions {
    /// Axis of a 2-D input that is time: -1 = the last (channels × time), 0 = time × channels.
    int time_axis = -1;
    /// "auto" (cost model), "direct", "event", "fft", "iir" (families only).
    std::string algorithm = "auto";
};

}  // namespace neuroperf
