#include "jit/math_source.hpp"

#include <fmt/format.h>

#include "kernels/vmath.hpp"

namespace neuroperf::jit {

std::string hex_literal(double x) { return fmt::format("{:a}", x); }

std::string exp_source(const ExpSource& e) {
    namespace vm = kernels::vmath;
    // Scalar: plain a * b + c (the kernel is compiled with -ffp-contract=off, as the AOT code
    // uses no fused multiply-add there); vector: the preamble's fmad, fused where the AOT
    // code for this CPU fuses.
    auto c = [&](double v) { return e.vector ? fmt::format("bc({})", hex_literal(v)) : hex_literal(v); };
    auto mad = [&](const std::string& a, const std::string& b, const std::string& d) {
        return e.vector ? fmt::format("fmad({}, {}, {})", a, b, d) : fmt::format("({} * {} + {})", a, b, d);
    };
    const char* type = e.vector ? "D" : "double";
    const char* itype = e.vector ? "I" : "long long";
    std::string s = fmt::format("static inline __attribute__((always_inline)) {0} {1}({0} x) {{\n", type, e.name);
    if (e.clamp > 0)
        s += fmt::format("    x = x < -{0} ? {1} : x;\n    x = x > {0} ? {2} : x;\n", hex_literal(e.clamp), c(-e.clamp), c(e.clamp));
    if (e.fastmath) {
        if (e.vector)
            s += fmt::format("    const D y = x * {};\n    D kf;\n    for (int l = 0; l < 8; ++l) kf[l] = __builtin_rint(y[l]);\n"
                             "    const I k = __builtin_convertvector(kf, I);\n",
                             hex_literal(vm::kLog2e));
        else
            s += fmt::format("    const double kf = __builtin_rint(x * {});\n    const long long k = (long long)kf;\n",
                             hex_literal(vm::kLog2e));
    } else {
        // The bits of t = x·log2e + 1.5·2^52 hold k = round(x·log2e) in their low part.
        const std::string bits_t = e.vector ? "(I)t" : "__builtin_bit_cast(long long, t)";
        const std::string bits_m = e.vector ? fmt::format("(I){}", c(vm::kMagic))
                                            : fmt::format("__builtin_bit_cast(long long, {})", hex_literal(vm::kMagic));
        s += fmt::format("    const {0} t = {1};\n    const {0} kf = t - {2};\n    const {3} k = {4} - {5};\n", type,
                         mad("x", c(vm::kLog2e), c(vm::kMagic)), hex_literal(vm::kMagic), itype, bits_t, bits_m);
    }
    s += fmt::format("    const {} r = {};\n", type, mad("-kf", c(vm::kLn2Lo), mad("-kf", c(vm::kLn2Hi), "x")));
    s += fmt::format("    {} p = {};\n", type, c(vm::kExpCoef[e.degree]));
    for (int d = e.degree - 1; d >= 0; --d) s += fmt::format("    p = {};\n", mad("p", "r", c(vm::kExpCoef[d])));
    auto pow2 = [&](const std::string& k) {
        return e.vector ? fmt::format("(D)((U)({} + 1023) << 52)", k)
                        : fmt::format("__builtin_bit_cast(double, (unsigned long long)({} + 1023) << 52)", k);
    };
    if (e.two_factor && !e.fastmath) {
        // k1 = round(k/2) by the same magic addition, k2 = k − k1 (vmath::exp_core).
        const std::string m = c(vm::kMagic);
        const std::string bits = e.vector ? "(I)" : "__builtin_bit_cast(long long, ";
        const std::string close = e.vector ? "" : ")";
        s += fmt::format("    const {0} t1 = {1};\n    const {0} k1f = t1 - {2};\n", type, mad("kf", c(0.5), m), hex_literal(vm::kMagic));
        s += fmt::format("    const {0} k1 = {1}t1{2} - {1}{3}{2};\n", itype, bits, close, m);
        s += fmt::format("    const {0} k2 = {1}((kf - k1f) + {3}){2} - {1}{3}{2};\n", itype, bits, close, m);
        s += fmt::format("    return (p * {}) * {};\n}}\n", pow2("k1"), pow2("k2"));
    } else {
        s += fmt::format("    return p * {};\n}}\n", pow2("k"));
    }
    return s;
}

}  // namespace neuroperf::jit
