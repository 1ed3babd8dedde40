// vexp / vtanh: one loop body per (type, grade), compiled for the baseline ISA and inside an
// AVX-512 clone (the body is always_inline, so each clone vectorises its own copy).
#include "kernels/elementwise.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

#include "kernels/isa.hpp"
#include "kernels/vmath.hpp"

namespace neuroperf::kernels {
namespace {

using vmath::Grade;

template <class T>
constexpr Grade grade_for(Precision p) {
    // Float is evaluated in double: ≤ 1 ulp in "high" and "low"; "ep" trades accuracy
    // (≈ 2e-5 relative) for a shorter polynomial.
    if constexpr (std::is_same_v<T, float>) return p == Precision::ep ? Grade::f32ep : Grade::f32;
    return p == Precision::high ? Grade::high : p == Precision::low ? Grade::low : Grade::ep;
}

enum class Op { exp, tanh };

template <Op O, class T, Grade G, bool Fma>
NP_VINLINE void loop_body(std::int64_t n, const T* x, T* y) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        double v = static_cast<double>(x[i]);
        if constexpr (O == Op::exp) y[i] = static_cast<T>(vmath::exp<G, Fma>(v));
        else y[i] = static_cast<T>(vmath::tanh<G, Fma>(v));
    }
}

template <Op O, class T, Grade G>
void loop_baseline(std::int64_t n, const T* x, T* y) {
    loop_body<O, T, G, false>(n, x, y);
}
#if NP_HAVE_AVX512_CLONES
template <Op O, class T, Grade G>
NP_AVX512 void loop_avx512(std::int64_t n, const T* x, T* y) {
    loop_body<O, T, G, true>(n, x, y);
}
#endif

template <Op O, class T, Grade G>
void run(std::int64_t n, const T* x, T* y) {
#if NP_HAVE_AVX512_CLONES
    if (kernel_isa() == KernelIsa::avx512) return loop_avx512<O, T, G>(n, x, y);
#endif
    loop_baseline<O, T, G>(n, x, y);
}

template <Op O, class T>
void dispatch(Precision p, std::int64_t n, const T* x, T* y) {
    if (n <= 0) return;
    switch (p) {
        case Precision::high: return run<O, T, grade_for<T>(Precision::high)>(n, x, y);
        case Precision::low: return run<O, T, grade_for<T>(Precision::low)>(n, x, y);
        case Precision::ep: return run<O, T, grade_for<T>(Precision::ep)>(n, x, y);
    }
}

}  // namespace

Precision parse_precision(std::string_view mode, const char* field) {
    if (mode == "high") return Precision::high;
    if (mode == "low") return Precision::low;
    if (mode == "ep") return Precision::ep;
    throw ValueError(fmt::format("{}: expected one of \"high\", \"low\", \"ep\", got \"{}\"", field, mode));
}

template <class T>
void vexp(Precision p, std::int64_t n, const T* x, T* y) {
    dispatch<Op::exp, T>(p, n, x, y);
}

template <class T>
void vtanh(Precision p, std::int64_t n, const T* x, T* y) {
    dispatch<Op::tanh, T>(p, n, x, y);
}

template void vexp<float>(Precision, std::int64_t, const float*, float*);
template void vexp<double>(Precision, std::int64_t, const double*, double*);
template void vtanh<float>(Precision, std::int64_t, const float*, float*);
template void vtanh<double>(Precision, std::int64_t, const double*, double*);

}  // namespace neuroperf::kernels
