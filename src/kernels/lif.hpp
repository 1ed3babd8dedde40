// Leaky integrate-and-fire population step and CSR spike propagation (AOT, generic over
// float/double). The JIT (src/jit/spike_codegen.cpp) generates the same expressions in the same
// order with these constants baked in, so compiled and AOT kernels agree bit for bit when
// neither uses fast math.
#pragma once

#include <cstdint>

#include "neuroperf/isa.hpp"
#include "neuroperf/kernel_specs.hpp"

namespace neuroperf::kernels {

/// The spec's constants, computed once in double and rounded to T (the JIT prints these exact
/// values as hexadecimal literals).
template <class T>
struct LifConstants {
    bool conductance = false;
    std::int64_t n = 0, n_targets = 0, exc = 0;
    std::int32_t d = 1, uniform_delay = 1, ref_steps = 0;
    T v_inf = 0;     ///< v_rest + i_ext
    T p_vv = 0;      ///< exp(−dt/τm)                          (current model)
    T p_ve = 0, p_vi = 0;  ///< g → v propagators                (current model)
    T p_ee = 0, p_ii = 0;  ///< exp(−dt/τe), exp(−dt/τi)
    T a = 0;         ///< −dt/τm                               (conductance model)
    T e_exc = 0, e_inh = 0;
    T v_thresh = 0, v_reset = 0;
};

template <class T>
LifConstants<T> lif_constants(const LifSpec& spec);

inline constexpr int kLifUpdate = 1, kLifPropagate = 2;

/// e^x in double for the conductance model's step factor: x clamped to [−708, 708] (no special
/// cases, results in the normal range), then vmath::exp_core<kLifExpDegree> (kernels/vmath.hpp:
/// x = k·ln2 + r, Taylor polynomial, 2^k from the magic-number rounding), vectorisable and
/// without libm. The generated kernels print the same operations (jit/math_source.cpp).
inline constexpr double kLifExpClamp = 708.0;
inline constexpr int kLifExpDegree = 12;

/// One step on args per `phases` (kLifUpdate | kLifPropagate), on variant `isa` (all variants
/// give the same bits: nothing is fused). Range and step already checked.
template <class T>
void lif_step(Isa isa, const LifConstants<T>& c, SpikeStepArgs<T>& args, int phases);

}  // namespace neuroperf::kernels
