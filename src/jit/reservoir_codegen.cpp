#include "jit/reservoir_codegen.hpp"

#include "jit/abi_source.hpp"
#include "jit/math_source.hpp"
#include "kernels/vmath.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"

// The generated step is written with GCC/clang vector types (64-byte vectors of T for the row
// sums, of double for the activation) instead of scalar loops for the compiler to vectorise:
// the compiler then has no lane loops to vectorise, interleave and unroll (what made the
// reservoir's cold compile 2-3× the spike kernel's), and clang no longer keeps the lane-wise
// partial sums on the stack (what made the N = 100 step slower than the AOT one). See
// docs/dev/jit.md, "Reservoir kernel".
namespace neuroperf::jit {
namespace {

std::string bc(double x) { return fmt::format("bc({})", hex_literal(x)); }

// The activation on one vector of 8 pre-activations (double for both T, as the AOT step), for
// the kernels that generate it inline: relu, identity, and tanh / sigmoid under fast math (the
// strict ones call the AOT step's own activation, see `helper` below). kernels/vmath.hpp's
// low-grade formulas, exp of degree 8 (float32 or "ep") or 12. Both sides of each select are
// computed, as in the AOT's if-converted loop; the selects pick exactly one of them.
std::string fastmath_activation_source(Activation f, kernels::Precision p, bool is_double) {
    if (f == Activation::identity) return "";
    if (f == Activation::relu) return "INL D act(D x) { return x < 0.0 ? bc(0.0) : x; }\n";  // NaN stays NaN
    const int degree = (!is_double || p == kernels::Precision::ep) ? 8 : 12;
    // e^x as vmath::exp_core with one factor for 2^k (the arguments passed here have |k| ≤ 1022).
    std::string s = exp_source({.name = "vexp", .vector = true, .degree = degree, .two_factor = false, .clamp = 0, .fastmath = true});
    s += "INL D act(D x) {\n    const D a = x < 0.0 ? -x : x;\n";
    if (f == Activation::tanh) {
        const double* c = kernels::vmath::kTanhTaylor;
        s += "    const D ac = a > 20.0 ? bc(20.0) : a;\n"
             "    const D e = vexp(2.0 * ac);\n"
             "    const D big = 1.0 - 2.0 / (e + 1.0);\n"
             "    const D a2 = ac * ac;\n";
        s += fmt::format("    D s = {};\n", bc(c[6]));
        for (int i = 5; i >= 0; --i) s += fmt::format("    s = fmad(s, a2, {});\n", bc(c[i]));
        s += "    D r = ac < 0.125 ? ac * s : big;\n";
        // copysign(r, x)
        s += "    r = (D)(((U)r & 0x7fffffffffffffffULL) | ((U)x & 0x8000000000000000ULL));\n"
             "    return x != x ? x : r;\n}\n";
    } else {
        s += "    const D e = vexp(-(a > 708.0 ? bc(708.0) : a));\n"
             "    const D s = 1.0 / (1.0 + e);\n"
             "    const D r = x < 0.0 ? (a > 708.0 ? bc(0.0) : e * s) : s;\n"
             "    return x != x ? x : r;\n}\n";
    }
    return s;
}

// R dot products of length n (a literal) sharing x: row q is w_q[0, n) · x[0, n), each in the
// AOT dot_contiguous's order — lane l of [a_q | b_q] sums the products j ≡ l (mod L) over the
// whole blocks of L = 2·VL, the halving reduction (hsum), then the tail term by term, each a
// multiply-add as the variant rounds it (core::madd: fused in avx2 / avx512).
std::string rows_source(const std::string& name, int rows, std::int64_t n, int lanes, int unroll) {
    const std::int64_t nb = n - n % lanes;
    std::string s = fmt::format("INL void {}(", name);
    for (int q = 0; q < rows; ++q) s += fmt::format("const T* __restrict w{}, ", q);
    s += "const T* __restrict x, T* __restrict out) {\n";
    auto each = [&](const char* pattern) {
        std::string r;
        for (int q = 0; q < rows; ++q) r += fmt::format(fmt::runtime(pattern), q);
        return r;
    };
    if (nb > 0) {
        s += "    V " + each("a{0} = {{}}, b{0} = {{}}, ");
        s.resize(s.size() - 2);
        s += fmt::format(";\n#pragma GCC unroll {}\n    for (i64 j = 0; j < {}; j += {}) {{\n        const V x0 = ldv(x + j), x1 = ldv(x + j + VL);\n", unroll, nb, lanes);
        s += each("        a{0} = fmav(ldv(w{0} + j), x0, a{0});\n        b{0} = fmav(ldv(w{0} + j + VL), x1, b{0});\n");
        s += "    }\n    T " + each("s{0} = hsum(a{0}, b{0}), ");
    } else {
        s += "    T " + each("s{0} = 0, ");
    }
    s.resize(s.size() - 2);
    s += ";\n";
    if (n > nb) s += fmt::format("    for (i64 j = {}; j < {}; ++j) {{\n", nb, n) + each("        s{0} = fmas(w{0}[j], x[j], s{0});\n") + "    }\n";
    s += each("    out[{0}] = s{0};\n") + "}\n";
    return s;
}

}  // namespace

bool reservoir_aot_uses_fma(Isa isa) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    return isa != Isa::generic;
#else
    (void)isa;
    return false;
#endif
}

namespace {

// The statements loading g = x[col[e .. e + VL)] in csr_row: a gather instruction per 64 bytes
// (avx512) or per 32 (avx2; GCC and clang name the AVX2 builtins differently), else an element
// loop.
std::string gather_source(Isa isa, bool is_double) {
    if (isa == Isa::avx512)
        return is_double ? "            int __attribute__((vector_size(32))) ci;\n"
                           "            __builtin_memcpy(&ci, col + e, sizeof ci);\n"
                           "            const V g = __builtin_ia32_gathersiv8df(V{}, x, ci, (unsigned char)-1, 8);"
                         : "            int __attribute__((vector_size(64))) ci;\n"
                           "            __builtin_memcpy(&ci, col + e, sizeof ci);\n"
                           "            const V g = __builtin_ia32_gathersiv16sf(V{}, x, ci, (unsigned short)-1, 4);";
    if (isa == Isa::avx2)
        return is_double ? "            int __attribute__((vector_size(16))) c0, c1;\n"
                           "            __builtin_memcpy(&c0, col + e, sizeof c0);\n"
                           "            __builtin_memcpy(&c1, col + e + 4, sizeof c1);\n"
                           "            const H ones = (H)(I4){-1, -1, -1, -1};\n"
                           "#if defined(__clang__)\n"
                           "            const H g0 = __builtin_ia32_gatherd_pd256(H{}, x, c0, ones, 8);\n"
                           "            const H g1 = __builtin_ia32_gatherd_pd256(H{}, x, c1, ones, 8);\n"
                           "#else\n"
                           "            const H g0 = __builtin_ia32_gathersiv4df(H{}, x, c0, ones, 8);\n"
                           "            const H g1 = __builtin_ia32_gathersiv4df(H{}, x, c1, ones, 8);\n"
                           "#endif\n"
                           "            const V g = __builtin_shufflevector(g0, g1, 0, 1, 2, 3, 4, 5, 6, 7);"
                         : "            int __attribute__((vector_size(32))) c0, c1;\n"
                           "            __builtin_memcpy(&c0, col + e, sizeof c0);\n"
                           "            __builtin_memcpy(&c1, col + e + 8, sizeof c1);\n"
                           "            const H ones = (H)(I8){-1, -1, -1, -1, -1, -1, -1, -1};\n"
                           "#if defined(__clang__)\n"
                           "            const H g0 = __builtin_ia32_gatherd_ps256(H{}, x, c0, ones, 4);\n"
                           "            const H g1 = __builtin_ia32_gatherd_ps256(H{}, x, c1, ones, 4);\n"
                           "#else\n"
                           "            const H g0 = __builtin_ia32_gathersiv8sf(H{}, x, c0, ones, 4);\n"
                           "            const H g1 = __builtin_ia32_gathersiv8sf(H{}, x, c1, ones, 4);\n"
                           "#endif\n"
                           "            const V g = __builtin_shufflevector(g0, g1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);";
    return "            V g;\n            for (int l = 0; l < VL; ++l) g[l] = x[col[e + l]];";
}

template <class T>
std::string source(const ReservoirKernelDescriptor& desc, const std::string& entry) {
    const ReservoirKernelSpec& spec = desc.spec;
    const bool fma = desc.fma, parallel = desc.parallel, fastmath = desc.fastmath;
    constexpr bool is_double = std::is_same_v<T, double>;
    constexpr int VL = 64 / static_cast<int>(sizeof(T)), L = 2 * VL;  // L = kernels::kLanes<T>
    const char* t = is_double ? "double" : "float";
    const std::int64_t n = spec.num_neurons, d = spec.input_dim;
    const T a = static_cast<T>(spec.leak_rate), keep = T(1) - a;
    // Multiply-adds: fused where the AOT code fuses them (explicitly: the file is compiled with
    // -ffp-contract=off), plain under fast math (-ffast-math contracts them itself).
    // With AVX2 the 64-byte vectors are fused as two 32-byte halves.
    const bool explicit_fma = fma && !fastmath;
    const bool avx512 = desc.isa == Isa::avx512;
    std::string vfma, dfma;
    if (explicit_fma && avx512) {
        vfma = is_double ? "return __builtin_ia32_vfmaddpd512_mask(a, b, c, (unsigned char)-1, 4);"
                         : "return __builtin_ia32_vfmaddps512_mask(a, b, c, (unsigned short)-1, 4);";
        dfma = "return __builtin_ia32_vfmaddpd512_mask(a, b, c, (unsigned char)-1, 4);";
    } else if (explicit_fma) {
        auto halves = [](const char* h, const char* builtin, const char* lo, const char* hi, const char* all) {
            return fmt::format("const {0} l = {1}(__builtin_shufflevector(a, a, {2}), __builtin_shufflevector(b, b, {2}), "
                               "__builtin_shufflevector(c, c, {2}));\n    const {0} u = {1}(__builtin_shufflevector(a, a, {3}), "
                               "__builtin_shufflevector(b, b, {3}), __builtin_shufflevector(c, c, {3}));\n"
                               "    return __builtin_shufflevector(l, u, {4});",
                               h, builtin, lo, hi, all);
        };
        dfma = halves("DH", "__builtin_ia32_vfmaddpd256", "0, 1, 2, 3", "4, 5, 6, 7", "0, 1, 2, 3, 4, 5, 6, 7");
        vfma = is_double ? dfma
                         : halves("H", "__builtin_ia32_vfmaddps256", "0, 1, 2, 3, 4, 5, 6, 7", "8, 9, 10, 11, 12, 13, 14, 15",
                                  "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15");
    }
    std::string src = fmt::format(
        "// neuroperf JIT: reservoir update ({t}, N={n}, D={d}, leak {a}, {act}, {fmt}, {bias}) -- generated; see docs/dev/jit.md\n"
        "typedef long long i64;\ntypedef int i32;\ntypedef {t} T;\n"
        "{args}"
        "#define INL static inline __attribute__((always_inline))\n"
        "#define VL {vl}\n"
        "typedef T V __attribute__((vector_size(64)));\n"
        "typedef T H __attribute__((vector_size(32)));\n"
        "typedef T Q __attribute__((vector_size(16)));\n"
        "{e}"
        "typedef double D __attribute__((vector_size(64)));\n"
        "typedef double DH __attribute__((vector_size(32)));\n"
        "typedef long long I __attribute__((vector_size(64)));\n"
        "typedef unsigned long long U __attribute__((vector_size(64)));\n"
        "typedef long long I4 __attribute__((vector_size(32)));\n"
        "typedef int I8 __attribute__((vector_size(32)));\n"
        "INL V ldv(const T* p) {{ V v; __builtin_memcpy(&v, p, sizeof v); return v; }}\n"
        "INL D bc(double c) {{ return D{{c, c, c, c, c, c, c, c}}; }}\n"
        "// Multiply-adds as the AOT step for this CPU rounds them ({fused}).\n"
        "INL T fmas(T a, T b, T c) {{ return {fmas}; }}\n",
        fmt::arg("t", t), fmt::arg("args", struct_source<ReservoirJitArgs<T>, T>("Args")), fmt::arg("n", n),
        fmt::arg("d", d), fmt::arg("a", spec.leak_rate),
        fmt::arg("act", activation_name(spec.activation)), fmt::arg("fmt", spec.sparse ? "CSR" : "dense"),
        fmt::arg("bias", spec.has_bias ? "bias" : "no bias"), fmt::arg("vl", VL),
        fmt::arg("e", is_double ? "" : "typedef T E __attribute__((vector_size(8)));\n"),
        fmt::arg("fused", fastmath ? "fast math" : fma ? "fused" : "not fused"),
        fmt::arg("fmas", explicit_fma ? (is_double ? "__builtin_fma(a, b, c)" : "__builtin_fmaf(a, b, c)") : "c + a * b"));
    if (explicit_fma) {
        // The AOT side fuses only in its avx2 and avx512 variants, so the CPU has FMA here.
        src += fmt::format("INL V fmav(V a, V b, V c) {{\n    {}\n}}\n", vfma);
        if (!is_double) src += fmt::format("INL D fmad(D a, D b, D c) {{\n    {}\n}}\n", dfma);
    } else {
        src += "INL V fmav(V a, V b, V c) { return c + a * b; }\n";
        if (!is_double) src += "INL D fmad(D a, D b, D c) { return c + a * b; }\n";
    }
    if (is_double) src += "#define fmad fmav\n";
    // The AOT reduce_lanes' halving order on the lanes [a | b].
    src += is_double ? "INL T hsum(V a, V b) {\n    const V s = a + b;\n"
                       "    const H h = __builtin_shufflevector(s, s, 0, 1, 2, 3) + __builtin_shufflevector(s, s, 4, 5, 6, 7);\n"
                       "    const Q q = __builtin_shufflevector(h, h, 0, 1) + __builtin_shufflevector(h, h, 2, 3);\n"
                       "    return q[0] + q[1];\n}\n"
                     : "INL T hsum(V a, V b) {\n    const V s = a + b;\n"
                       "    const H h = __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7) +\n"
                       "                __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15);\n"
                       "    const Q q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);\n"
                       "    const E e = __builtin_shufflevector(q, q, 0, 1) + __builtin_shufflevector(q, q, 2, 3);\n"
                       "    return e[0] + e[1];\n}\n";
    // tanh and sigmoid (strict): the AOT step's own activation, called through the ABI
    // (ReservoirJitArgs::activation) on the block — the same code on the same values, so the same
    // bits by construction, and a quarter less for the compiler (267 -> 203 M instructions at
    // N = 500). Fast math and relu are generated inline.
    const bool helper = !fastmath && (spec.activation == Activation::tanh || spec.activation == Activation::sigmoid);
    if (!helper)
        src += fastmath_activation_source(spec.activation, kernels::parse_precision(spec.precision, "ReservoirKernelSpec.precision"), is_double);
    // Rows per group: R rows share each load of x while W is cache-resident (≤ 8 MB); a larger
    // W streams from memory, where one row at a time measured faster.
    const int R = spec.sparse ? 1 : static_cast<double>(n) * static_cast<double>(n) * sizeof(T) <= 8.0 * (1 << 20) ? 4 : 1;
    if (!spec.sparse) src += rows_source("rows_w", R, n, L, R == 1 ? 2 : 1);
    src += rows_source("rows_in", R, d, L, 1);
    std::string group;  // z[i + q − r0] for the R rows from i (rows past r1 − 1 repeat it; their z slots are slack)
    for (int q = 1; q < R; ++q) group += fmt::format("            const i64 i{0} = i + {0} < r1 ? i + {0} : r1 - 1;\n", q);
    auto row_args = [&](const std::string& base, const std::string& ld) {
        std::string s = fmt::format("{} + i * {}, ", base, ld);
        for (int q = 1; q < R; ++q) s += fmt::format("{} + i{} * {}, ", base, q, ld);
        return s;
    };
    group += fmt::format("            T in[{0}], rs[{0}];\n            rows_in({1}p->u, in);\n", R, row_args("p->w_in", std::to_string(d)));
    if (!spec.sparse) {
        group += fmt::format("            rows_w({}x, rs);\n", row_args("p->w", "p->ld"));
    } else {
        src += fmt::format(R"(// A CSR row in the AOT dot_csr's order: {LC}-lane gathered partial sums for long rows, then
// four chains.
INL T csr_row(i64 lo, i64 hi, const i32* __restrict col, const T* __restrict val, const T* __restrict x) {{
    T s = 0;
    i64 e = lo;
    if (hi - lo >= {LC}) {{
        V acc = {{}};
        for (; e + {LC} <= hi; e += {LC}) {{
            __builtin_prefetch(val + e + 512, 0, 0);  // as the AOT loop: entries 512 ahead, non-temporal
            __builtin_prefetch(col + e + 512, 0, 0);
{gather}
            acc = fmav(ldv(val + e), g, acc);
        }}
        {reduce}
    }}
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; e + 4 <= hi; e += 4) {{
        s0 = fmas(val[e], x[col[e]], s0);
        s1 = fmas(val[e + 1], x[col[e + 1]], s1);
        s2 = fmas(val[e + 2], x[col[e + 2]], s2);
        s3 = fmas(val[e + 3], x[col[e + 3]], s3);
    }}
    for (; e < hi; ++e) s0 = fmas(val[e], x[col[e]], s0);
    return s + ((s0 + s1) + (s2 + s3));
}}
)",
                           fmt::arg("LC", VL),
                           // With AVX-512 or AVX2 (the variant the AOT step runs) hardware gathers as
                           // the AOT loop; the element loop is not turned into one at -O1 (1.6×
                           // slower than the AOT step at N = 2000, d = 0.1, float32). The same values
                           // either way. Not keyed on fma: fast math fuses on any CPU.
                           fmt::arg("gather", gather_source(desc.isa, is_double)),
                           fmt::arg("reduce", is_double ? "const H h = __builtin_shufflevector(acc, acc, 0, 1, 2, 3) + __builtin_shufflevector(acc, acc, 4, 5, 6, 7);\n"
                                                          "        const Q q = __builtin_shufflevector(h, h, 0, 1) + __builtin_shufflevector(h, h, 2, 3);\n"
                                                          "        s = q[0] + q[1];"
                                                        : "const H h = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +\n"
                                                          "                    __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);\n"
                                                          "        const Q q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);\n"
                                                          "        const E e2 = __builtin_shufflevector(q, q, 0, 1) + __builtin_shufflevector(q, q, 2, 3);\n"
                                                          "        s = e2[0] + e2[1];"));
        group += "            rs[0] = csr_row(p->row_ptr[i], p->row_ptr[i + 1], p->col_idx, p->values, x);\n";
    }
    for (int q = 0; q < R; ++q) {
        const std::string row = q == 0 ? "i" : fmt::format("i{}", q);
        group += fmt::format("            z[i - r0 + {}] = {}({});\n", q, helper ? "" : "(double)",
                             spec.has_bias ? fmt::format("(T)((T)(in[{0}] + rs[{0}]) + p->bias[{1} * p->bias_stride])", q, row)
                                           : fmt::format("(T)(in[{0}] + rs[{0}])", q));
    }
    std::string act;
    if (helper)
        act = fmt::format("        p->activation({}, {}, len, z);\n", static_cast<int>(spec.activation),
                          static_cast<int>(kernels::parse_precision(spec.precision, "ReservoirKernelSpec.precision")));
    else if (spec.activation != Activation::identity)
        act = "        for (i64 q = len; q < ((len + 7) & ~7LL); ++q) z[q] = 0;  // whole vectors; the padding is not used\n"
              "        for (i64 q = 0; q < len; q += 8) {\n"
              "            D v;\n            __builtin_memcpy(&v, z + q, sizeof v);\n            v = act(v);\n"
              "            __builtin_memcpy(z + q, &v, sizeof v);\n        }\n";
    std::string leak;
    if (a == T(1))
        leak = "        for (i64 q = 0; q < len; ++q) out[q * p->x_new_stride] = (T)z[q];\n";
    else
        leak = fmt::format("        const T* old = x + r0;\n"
                           "        if (p->x_new_stride == 1) {{\n"
                           "#pragma omp simd\n"
                           "            for (i64 q = 0; q < len; ++q) out[q] = {0};\n"
                           "        }} else {{\n"
                           "            for (i64 q = 0; q < len; ++q) out[q * p->x_new_stride] = {0};\n"
                           "        }}\n",
                           fmt::format("fmas({}, old[q], {} * (T)z[q])", literal(keep), literal(a)));
    // Parallel loops: blocks shared out as the AOT step does when the work pays (its threshold).
    const bool par = parallel && static_cast<double>(n) * static_cast<double>(n) >= 60000.0;
    src += fmt::format(R"(
extern "C" __attribute__((visibility("default"))) void {entry}(const void* pv) {{
    const Args* p = (const Args*)pv;
    const T* __restrict x = p->x_old;
{pragma}    for (i64 r0 = 0; r0 < {n}; r0 += 256) {{
        {zt} z[256 + 8] __attribute__((aligned(64)));
        const i64 r1 = r0 + 256 < {n} ? r0 + 256 : {n};
        const i64 len = r1 - r0;
        for (i64 i = r0; i < r1; i += {R}) {{
{group}        }}
{act}        T* out = p->x_new + r0 * p->x_new_stride;
{leak}    }}
}}
)",
                       fmt::arg("entry", entry), fmt::arg("n", n), fmt::arg("R", R), fmt::arg("zt", helper ? "T" : "double"),
                       fmt::arg("pragma", par ? "#pragma omp parallel for schedule(static)\n" : ""), fmt::arg("group", group),
                       fmt::arg("act", act), fmt::arg("leak", leak));
    return src;
}

}  // namespace

std::string reservoir_source(const ReservoirKernelDescriptor& desc, const std::string& entry) {
    return desc.dtype == DType::float32 ? source<float>(desc, entry) : source<double>(desc, entry);
}

}  // namespace neuroperf::jit
