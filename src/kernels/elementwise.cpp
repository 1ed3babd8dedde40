// vexp / vtanh: one loop body per (type, grade), instantiated in the three ISA variants
// (core/simd.hpp; the body is always_inline, so each variant vectorises its own copy).
#include "kernels/elementwise.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

#include "core/simd.hpp"
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

// The avx2 and avx512 variants fuse the polynomials' multiply-adds (the same operations, so
// the same results on both); generic has no FMA instruction.
template <Op O, Grade G, bool Fma, class T>
NP_INLINE T apply(T x) {
    const double v = static_cast<double>(x);
    if constexpr (O == Op::exp) return static_cast<T>(vmath::exp<G, Fma>(v));
    else return static_cast<T>(vmath::tanh<G, Fma>(v));
}

// Two halves per iteration: two independent polynomial chains in flight (the Horner steps are a
// serial chain of FMA latencies; one vector of them at a time left the FMA units idle).
template <Isa I, Op O, class T, Grade G>
NP_INLINE void loop_body(std::int64_t n, const T* x, T* y) {
    constexpr bool kFma = I != Isa::generic;
    const std::int64_t h = n / 2;
#pragma omp simd
    for (std::int64_t i = 0; i < h; ++i) {
        y[i] = apply<O, G, kFma>(x[i]);
        y[i + h] = apply<O, G, kFma>(x[i + h]);
    }
    if (n % 2) y[n - 1] = apply<O, G, kFma>(x[n - 1]);
}
NP_ISA_VARIANTS((template <Op O, class T, Grade G>), void, loop, (std::int64_t n, const T* x, T* y), (n, x, y), O, T, G)

template <Op O, class T, Grade G>
void run(Isa isa, std::int64_t n, const T* x, T* y) {
    static constexpr core::IsaTable<void (*)(std::int64_t, const T*, T*)> kLoop = NP_ISA_TABLE(loop, <O, T, G>);
    kLoop[isa](n, x, y);
}

template <Op O, class T>
void dispatch(Isa isa, Precision p, std::int64_t n, const T* x, T* y) {
    if (n <= 0) return;
    switch (p) {
        case Precision::high: return run<O, T, grade_for<T>(Precision::high)>(isa, n, x, y);
        case Precision::low: return run<O, T, grade_for<T>(Precision::low)>(isa, n, x, y);
        case Precision::ep: return run<O, T, grade_for<T>(Precision::ep)>(isa, n, x, y);
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
void vexp(Isa isa, Precision p, std::int64_t n, const T* x, T* y) {
    dispatch<Op::exp, T>(isa, p, n, x, y);
}

template <class T>
void vtanh(Isa isa, Precision p, std::int64_t n, const T* x, T* y) {
    dispatch<Op::tanh, T>(isa, p, n, x, y);
}

template void vexp<float>(Isa, Precision, std::int64_t, const float*, float*);
template void vexp<double>(Isa, Precision, std::int64_t, const double*, double*);
template void vtanh<float>(Isa, Precision, std::int64_t, const float*, float*);
template void vtanh<double>(Isa, Precision, std::int64_t, const double*, double*);

}  // namespace neuroperf::kernels
