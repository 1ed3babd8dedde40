// Source text of the elementwise math the generated kernels share with the AOT kernels
// (kernels/vmath.hpp): the same constants, the same operations in the same order, so compiled
// and AOT kernels agree bit for bit without fast math.
#pragma once

#include <string>
#include <type_traits>

namespace neuroperf::jit {

/// e^x as vmath::exp_core<degree> (x = k·ln2 + r, Taylor polynomial of `degree`, 2^k from the
/// magic-number rounding), as a function `name`.
struct ExpSource {
    std::string name = "vexp";
    /// On 8-double vectors D (with I, U integer vectors, bc() broadcasting and fmad() defined
    /// by the kernel's preamble) instead of a scalar double.
    bool vector = false;
    int degree = 12;
    /// 2^k as the two factors of vmath (needed below the normal range, Grade::high); else one
    /// factor, the same value for the arguments that stay in the normal range.
    bool two_factor = false;
    /// Clamp x to [−clamp, clamp] first (0: no clamp; the caller keeps x in range).
    double clamp = 0;
    /// Compiled with -ffast-math, which may fold (t + magic) − magic: k then comes from rint.
    bool fastmath = false;
};
std::string exp_source(const ExpSource& e);

/// A double as an exact hexadecimal literal ("0x1.8p+1").
std::string hex_literal(double x);
/// A value of the kernel's type T as an exact literal of that type ("0x1.8p+1f" for float).
template <class T>
std::string literal(T x) {
    return hex_literal(static_cast<double>(x)) + (std::is_same_v<T, float> ? "f" : "");
}

}  // namespace neuroperf::jit
