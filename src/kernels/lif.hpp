// Leaky integrate-and-fire population step and CSR spike propagation (AOT, generic over
// float/double). The JIT (src/jit/spike_codegen.cpp) generates the same expressions in the same
// order with these constants baked in, so compiled and AOT kernels agree bit for bit when
// neither uses fast math.
#pragma once

#include <cstdint>

#include "neuroperf/jit_compiler.hpp"

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

/// e^x in double for the conductance model's step factor, vectorisable (no libm call) and
/// written the same way in the generated code: x clamped to [−708, 708], x = k·ln2 + r with
/// |r| ≤ ln2/2, e^r by its degree-12 Taylor polynomial (≈ 2e-16 relative), 2^k from the
/// round-to-nearest "magic number" addition. NaN propagates.
namespace lif_exp_constants {
inline constexpr double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                        ln2_lo = 1.90821492927058770002e-10, magic = 6755399441055744.0;  // 1.5·2^52
inline constexpr double coef[13] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                    1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600};
}  // namespace lif_exp_constants

/// One step on args per `phases` (kLifUpdate | kLifPropagate). Range and step already checked.
template <class T>
void lif_step(const LifConstants<T>& c, SpikeStepArgs<T>& args, int phases);

}  // namespace neuroperf::kernels
