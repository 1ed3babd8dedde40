// Source of a fused reservoir step with N, D, leak, activation, precision, weight format and
// bias presence baked in: kernels/reservoir.cpp's operations in its order (see docs/dev/jit.md).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/elementwise.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf::jit {

/// The compiled reservoir kernels' ABI (kernel ABI version 1; this struct's layout is also in the
/// generated source, hence in the cache key): `extern "C" void entry(const void* args)`.
template <class T>
struct ReservoirJitArgs {
    const T* x_old;           ///< N, contiguous, not overlapping x_new
    T* x_new;
    std::int64_t x_new_stride;
    const T* w_in;            ///< N × D, C order
    const T* u;               ///< D, contiguous
    const T* bias;            ///< N (has_bias only)
    std::int64_t bias_stride;
    const T* w;               ///< dense: N rows, unit column stride, row i at w + i·ld
    std::int64_t ld;
    const std::int64_t* row_ptr;  ///< CSR
    const std::int32_t* col_idx;
    const T* values;
    /// z[0, n) = f(z[0, n)) at precision `precision` (Activation, kernels::Precision as int):
    /// kernels::apply_activation<T>, the AOT step's activation (strict tanh / sigmoid kernels call it).
    void (*activation)(int f, int precision, std::int64_t n, T* z);
};

kernels::Precision reservoir_precision(const std::string& mode);

/// Whether the AOT step fuses multiply-adds on this CPU (its AVX-512 variant, compiled by GCC,
/// which contracts a·b + c).
bool reservoir_aot_uses_fma();

template <class T>
std::string reservoir_descriptor(const ReservoirKernelSpec& spec, bool fma, bool parallel);

template <class T>
std::string reservoir_source(const ReservoirKernelSpec& spec, const std::string& entry, bool fma, bool parallel,
                             bool fastmath);

}  // namespace neuroperf::jit
