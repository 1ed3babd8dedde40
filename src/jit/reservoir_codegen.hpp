// Source of a fused reservoir step with N, D, leak, activation, precision, weight format and
// bias presence baked in: kernels/reservoir.cpp's operations in its order (see docs/dev/jit.md).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "kernels/elementwise.hpp"
#include "neuroperf/kernel_specs.hpp"

namespace neuroperf::jit {

/// The compiled reservoir kernels' arguments: `extern "C" void entry(const void* args)`. The
/// generated source declares this struct from its field list (jit/abi_source.hpp).
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

/// Whether the AOT step of variant `isa` fuses multiply-adds (the avx2 and avx512 variants,
/// compiled by GCC, which contracts a·b + c).
bool reservoir_aot_uses_fma(Isa isa);

/// Everything a generated reservoir step depends on besides the toolchain and the CPU; hashed
/// field by field into the registry's key (core::Hasher).
struct ReservoirKernelDescriptor {
    DType dtype = DType::float64;
    ReservoirKernelSpec spec{};
    Isa isa = Isa::generic; ///< the context's variant: the AOT step mirrored, the gathers used
    bool fma = false;       ///< multiply-adds fused where the AOT step of that variant fuses them
    bool parallel = false;  ///< OpenMP over row blocks when the step is large enough
    bool fastmath = false;  ///< compiled with -ffast-math
};

/// The step's source; exports `extern "C" void entry(const void* args)` (ReservoirJitArgs<T>).
std::string reservoir_source(const ReservoirKernelDescriptor& desc, const std::string& entry);

}  // namespace neuroperf::jit

namespace neuroperf {
template <class T>
struct Fields<jit::ReservoirJitArgs<T>> {
    using A = jit::ReservoirJitArgs<T>;
    static constexpr auto list = std::tuple{
        field("x_old", &A::x_old), field("x_new", &A::x_new), field("x_new_stride", &A::x_new_stride),
        field("w_in", &A::w_in), field("u", &A::u), field("bias", &A::bias), field("bias_stride", &A::bias_stride),
        field("w", &A::w), field("ld", &A::ld), field("row_ptr", &A::row_ptr), field("col_idx", &A::col_idx),
        field("values", &A::values), field("activation", &A::activation)};
};
template <>
struct Fields<jit::ReservoirKernelDescriptor> {
    using D = jit::ReservoirKernelDescriptor;
    static constexpr auto list = std::tuple{field("dtype", &D::dtype), field("spec", &D::spec), field("isa", &D::isa),
                                            field("fma", &D::fma),
                                            field("parallel", &D::parallel), field("fastmath", &D::fastmath)};
};
}  // namespace neuroperf
NEUROPERF_CHECK_FIELDS(neuroperf::jit::ReservoirJitArgs<float>);
NEUROPERF_CHECK_FIELDS(neuroperf::jit::ReservoirKernelDescriptor);
