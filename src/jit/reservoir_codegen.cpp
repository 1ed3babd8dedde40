#include "jit/reservoir_codegen.hpp"

#include "kernels/isa.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"

namespace neuroperf::jit {
namespace {

template <class T>
std::string lit(T x) {
    return fmt::format("{:a}{}", static_cast<double>(x), std::is_same_v<T, float> ? "f" : "");
}
std::string dlit(double x) { return fmt::format("{:a}", x); }

// kernels/reservoir.cpp's exp_reduced<Degree>, written out: GCC contracts t = x·log2e + magic,
// both reductions x − kf·ln2 and the Horner steps into FMAs (when it may), so `fma` decides.
// Under fast math (t + magic) − magic could be folded: rint gives the same k there.
std::string exp_source(int degree, bool fastmath) {
    const double c[] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                        1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600};
    constexpr double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                     ln2_lo = 1.90821492927058770002e-10, magic = 6755399441055744.0;
    std::string s = "static inline __attribute__((always_inline)) double exp_r(double x) {\n";
    if (fastmath)
        s += fmt::format("    const double kf = __builtin_rint(x * {0});\n    const i64 k = (i64)kf;\n", dlit(log2e));
    else
        s += fmt::format("    const double t = maddd(x, {0}, {1});\n    const double kf = t - {1};\n"
                         "    const i64 k = __builtin_bit_cast(i64, t) - __builtin_bit_cast(i64, {1});\n",
                         dlit(log2e), dlit(magic));
    s += fmt::format("    double r = maddd(-kf, {0}, x);\n    r = maddd(-kf, {1}, r);\n", dlit(ln2_hi), dlit(ln2_lo));
    s += fmt::format("    double p = {};\n", dlit(c[degree]));
    for (int d = degree - 1; d >= 0; --d) s += fmt::format("    p = maddd(p, r, {});\n", dlit(c[d]));
    s += "    return p * __builtin_bit_cast(double, (unsigned long long)(k + 1023) << 52);\n}\n";
    return s;
}

// Double at "high" precision: kernels/vmath.hpp's Grade::high formulas (the AOT step's
// vectorised tanh / sigmoid once that header is in; 1-2 ulp like libm), written out operation
// for operation so the loop over a block vectorises instead of calling libm per element:
// exp by a degree-13 polynomial with 2^k applied as two factors, tanh below 0.75 by an odd
// minimax polynomial in a², above by 1 − 2/(e^{2|x|}+1), sigmoid with one division.
std::string high_source(Activation f) {
    constexpr double log2e = 1.4426950408889634074, ln2_hi = 6.93147180369123816490e-01,
                     ln2_lo = 1.90821492927058770002e-10, magic = 6755399441055744.0;
    const double c[] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
                        1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
    std::string s = "static inline __attribute__((always_inline)) double exp_h(double x) {\n";
    s += fmt::format("    const double t = maddd(x, {0}, {1});\n    const double kf = t - {1};\n"
                     "    const double r = maddd(-kf, {3}, maddd(-kf, {2}, x));\n    double p = {4};\n",
                     dlit(log2e), dlit(magic), dlit(ln2_hi), dlit(ln2_lo), dlit(c[13]));
    for (int d = 12; d >= 0; --d) s += fmt::format("    p = maddd(p, r, {});\n", dlit(c[d]));
    s += fmt::format("    const double t1 = maddd(kf, 0.5, {0});\n    const double k1f = t1 - {0};\n"
                     "    const i64 k1 = __builtin_bit_cast(i64, t1) - __builtin_bit_cast(i64, {0});\n"
                     "    const i64 k2 = __builtin_bit_cast(i64, (kf - k1f) + {0}) - __builtin_bit_cast(i64, {0});\n"
                     "    const double s1 = __builtin_bit_cast(double, (unsigned long long)(k1 + 1023) << 52);\n"
                     "    const double s2 = __builtin_bit_cast(double, (unsigned long long)(k2 + 1023) << 52);\n"
                     "    return (p * s1) * s2;\n}}\n",
                     dlit(magic));
    if (f == Activation::tanh) {
        const double poly[] = {-3.3333333333333333276e-1,  1.33333333333332933227e-1,  -5.3968253968207598513e-2,
                               2.18694885340334513749e-2,  -8.86323547910536382386e-3, 3.59212730577133714726e-3,
                               -1.45582754829165701366e-3, 5.89983768208113340921e-4,  -2.38933267368729190355e-4,
                               9.62895331642748654044e-5,  -3.78486431667599766392e-5, 1.36017290228971163121e-5,
                               -3.8335892945015437772e-6,  5.98539967203916280297e-7};
        s += "static inline __attribute__((always_inline)) double act(double x) {\n"
             "    const double a = x < 0 ? -x : x;\n"
             "    const double ac = a > 20.0 ? 20.0 : a;\n"
             "    const double e = exp_h(2.0 * ac);\n"
             "    const double big = 1.0 - 2.0 / (e + 1.0);\n"
             "    const double a2 = ac * ac;\n";
        s += fmt::format("    double s = {};\n", dlit(poly[13]));
        for (int i = 12; i >= 0; --i) s += fmt::format("    s = maddd(s, a2, {});\n", dlit(poly[i]));
        s += "    const double small = maddd(ac, a2 * s, ac);\n"
             "    double r = ac < 0.75 ? small : big;\n"
             "    r = __builtin_copysign(r, x);\n"
             "    return x != x ? x : r;\n}\n";
    } else {
        const double lo = 745.133219101941108420;  // −log(2^-1075): below, e^x rounds to 0
        s += fmt::format("static inline __attribute__((always_inline)) double act(double x) {{\n"
                         "    const double a = x < 0 ? -x : x;\n"
                         "    double e = exp_h(-(a > {0} ? {0} : a));\n"
                         "    e = a > {0} ? 0.0 : e;\n"
                         "    const double r = (x < 0 ? e : 1.0) / (1.0 + e);\n"
                         "    return x != x ? x : r;\n}}\n",
                         dlit(lo));
    }
    return s + "#define ACT_LOOP(z, len) _Pragma(\"omp simd\") for (i64 q = 0; q < (len); ++q) (z)[q] = act((z)[q]);\n";
}

// The activation for T and precision: vmath's Grade::high formulas (double, "high"; above),
// else the AOT polynomial of degree 8 (float, "ep") or 12. Under fast math, double "high" uses
// degree 12 with rint (the exp range reduction's magic addition could be folded there).
std::string activation_source(Activation f, kernels::Precision p, bool is_double, bool fastmath) {
    const bool high = is_double && p == kernels::Precision::high && !fastmath &&
                      (f == Activation::tanh || f == Activation::sigmoid);
    const int degree = (!is_double || p == kernels::Precision::ep) ? 8 : 12;
    std::string s;
    switch (f) {
        case Activation::identity:
            return "#define ACT_LOOP(z, len) ((void)0)\n";
        case Activation::relu:
            return "#define ACT_LOOP(z, len) _Pragma(\"omp simd\") for (i64 q = 0; q < (len); ++q) (z)[q] = (z)[q] < 0.0 ? 0.0 : (z)[q];\n";
        case Activation::tanh:
            if (high) return high_source(f);
            s = exp_source(degree, fastmath);
            {
                const double c[] = {1.0, -1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835, -1382.0 / 155925, 21844.0 / 6081075};
                s += "static inline __attribute__((always_inline)) double act(double x) {\n"
                     "    const double a = x < 0 ? -x : x;\n"
                     "    const double ac = a > 20.0 ? 20.0 : a;\n"
                     "    const double e = exp_r(2.0 * ac);\n"
                     "    const double big = 1.0 - 2.0 / (e + 1.0);\n";
                s += fmt::format("    const double a2 = ac * ac;\n    double s = {};\n", dlit(c[6]));
                for (int i = 5; i >= 0; --i) s += fmt::format("    s = maddd(s, a2, {});\n", dlit(c[i]));
                s += "    double r = ac < 0.125 ? ac * s : big;\n"
                     "    r = __builtin_copysign(r, x);\n"
                     "    return x != x ? x : r;\n}\n";
            }
            return s + "#define ACT_LOOP(z, len) _Pragma(\"omp simd\") for (i64 q = 0; q < (len); ++q) (z)[q] = act((z)[q]);\n";
        case Activation::sigmoid:
            if (high) return high_source(f);
            s = exp_source(degree, fastmath);
            s += "static inline __attribute__((always_inline)) double act(double x) {\n"
                 "    const double a = x < 0 ? -x : x;\n"
                 "    const double e = exp_r(-(a > 708.0 ? 708.0 : a));\n"
                 "    const double s = 1.0 / (1.0 + e);\n"
                 "    const double r = x < 0 ? (a > 708.0 ? 0.0 : e * s) : s;\n"
                 "    return x != x ? x : r;\n}\n";
            return s + "#define ACT_LOOP(z, len) _Pragma(\"omp simd\") for (i64 q = 0; q < (len); ++q) (z)[q] = act((z)[q]);\n";
    }
    return s;
}

}  // namespace

kernels::Precision reservoir_precision(const std::string& mode) {
    return mode == "high" ? kernels::Precision::high : mode == "low" ? kernels::Precision::low : kernels::Precision::ep;
}

bool reservoir_aot_uses_fma() {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    // The AOT step's clone in use (NEUROPERF_KERNEL_ISA=baseline selects the unfused one).
    return kernels::kernel_isa() == kernels::KernelIsa::avx512;
#else
    return false;
#endif
}

template <class T>
std::string reservoir_descriptor(const ReservoirKernelSpec& s, bool fma, bool parallel) {
    return fmt::format("reservoir_update/1/{}/N={}/D={}/a={}/{}/{}/{}/{}/fma={}/{}", std::is_same_v<T, float> ? "f32" : "f64",
                       s.num_neurons, s.input_dim, lit(static_cast<T>(s.leak_rate)), activation_name(s.activation),
                       s.precision, s.sparse ? "csr" : "dense", s.has_bias ? "bias" : "nobias", fma, parallel ? "par" : "seq");
}

template <class T>
std::string reservoir_source(const ReservoirKernelSpec& spec, const std::string& entry, bool fma, bool parallel,
                             bool fastmath) {
    constexpr bool is_double = std::is_same_v<T, double>;
    constexpr int L = 128 / static_cast<int>(sizeof(T));  // kernels::kLanes<T>
    const char* t = is_double ? "double" : "float";
    const std::int64_t n = spec.num_neurons, d = spec.input_dim;
    const T a = static_cast<T>(spec.leak_rate), keep = T(1) - a;
    std::string src = fmt::format(
        "// neuroperf JIT: reservoir update ({t}, N={n}, D={d}, leak {a}, {act}, {fmt}, {bias}) -- generated; see docs/dev/jit.md\n"
        "typedef long long i64;\ntypedef int i32;\ntypedef {t} T;\n"
        "struct Args {{ const T* x_old; T* x_new; i64 x_new_stride; const T* w_in; const T* u; const T* bias; i64 bias_stride;\n"
        "               const T* w; i64 ld; const i64* row_ptr; const i32* col_idx; const T* values; }};\n"
        "// Multiply-add as the AOT step for this CPU rounds it ({fused}).\n"
        "static inline __attribute__((always_inline)) T maddt(T a, T b, T c) {{ return {maddt}; }}\n"
        "static inline __attribute__((always_inline)) double maddd(double a, double b, double c) {{ return {maddd}; }}\n",
        fmt::arg("t", t), fmt::arg("n", n), fmt::arg("d", d), fmt::arg("a", spec.leak_rate),
        fmt::arg("act", activation_name(spec.activation)), fmt::arg("fmt", spec.sparse ? "CSR" : "dense"),
        fmt::arg("bias", spec.has_bias ? "bias" : "no bias"), fmt::arg("fused", fma ? "fused" : "not fused"),
        fmt::arg("maddt", fma ? (is_double ? "__builtin_fma(a, b, c)" : "__builtin_fmaf(a, b, c)") : "c + a * b"),
        fmt::arg("maddd", fma ? "__builtin_fma(a, b, c)" : "c + a * b"));
    src += activation_source(spec.activation, reservoir_precision(spec.precision), is_double, fastmath);
    // Lane-wise partial sums over two 64-byte registers, halving reduction, then the tail: the
    // AOT dot_contiguous's order. ROWS rows at once share the loads of x.
    src += fmt::format(R"(
#define L {L}
#define TV {TV}
static inline __attribute__((always_inline)) T reduce(T* acc) {{
    for (int w = L / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0];
}}
static inline __attribute__((always_inline)) T dot(i64 n, const T* __restrict a, const T* __restrict b) {{
    T acc[L];
    for (int l = 0; l < L; ++l) acc[l] = 0;
    i64 j = 0;
    for (; j + L <= n; j += L) {{
#pragma omp simd
        for (int l = 0; l < L; ++l) acc[l] = maddt(a[j + l], b[j + l], acc[l]);
    }}
    T s = reduce(acc);
    // GCC vectorises the AOT tail as an in-order reduction: products rounded on their own in
    // chunks of TV, multiply-adds only for the last (n − j) mod TV terms.
    for (const i64 tv = j + (n - j) / TV * TV; j < tv; ++j) s = s + a[j] * b[j];
    for (; j < n; ++j) s = maddt(a[j], b[j], s);
    return s;
}}
)",
                       fmt::arg("L", L), fmt::arg("TV", fma ? (is_double ? 4 : 8) : 1));
    std::string row_sums;
    if (!spec.sparse) {
        // Four rows per load of x pay while W is cache-resident; a W beyond 8 MB streams from
        // memory, where one row at a time (one stream for the prefetcher) measured faster
        // (float, N = 2000: 1.3× the AOT step against 0.7-1.0× with four rows).
        const bool four = static_cast<double>(n) * static_cast<double>(n) * sizeof(T) <= 8.0 * (1 << 20);
        if (four) src += fmt::format(R"(// Rows i..i+3 of W·x, each in dot()'s order.
static inline __attribute__((always_inline)) void dot4(const T* __restrict w, i64 ld, const T* __restrict x, T* out) {{
    T a0[L], a1[L], a2[L], a3[L];
    for (int l = 0; l < L; ++l) a0[l] = a1[l] = a2[l] = a3[l] = 0;
    i64 j = 0;
    for (; j + L <= {n}; j += L) {{
#pragma omp simd
        for (int l = 0; l < L; ++l) {{
            const T xv = x[j + l];
            a0[l] = maddt(w[j + l], xv, a0[l]);
            a1[l] = maddt(w[ld + j + l], xv, a1[l]);
            a2[l] = maddt(w[2 * ld + j + l], xv, a2[l]);
            a3[l] = maddt(w[3 * ld + j + l], xv, a3[l]);
        }}
    }}
    T s0 = reduce(a0), s1 = reduce(a1), s2 = reduce(a2), s3 = reduce(a3);
    for (const i64 tv = j + ({n} - j) / TV * TV; j < tv; ++j) {{
        s0 = s0 + w[j] * x[j];
        s1 = s1 + w[ld + j] * x[j];
        s2 = s2 + w[2 * ld + j] * x[j];
        s3 = s3 + w[3 * ld + j] * x[j];
    }}
    for (; j < {n}; ++j) {{
        s0 = maddt(w[j], x[j], s0);
        s1 = maddt(w[ld + j], x[j], s1);
        s2 = maddt(w[2 * ld + j], x[j], s2);
        s3 = maddt(w[3 * ld + j], x[j], s3);
    }}
    out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;
}}
)",
                           fmt::arg("n", n));
        row_sums = fmt::format(R"(        i64 i = r0;
{four}        for (; i < r1; ++i) z[i - r0] = (double)(T)(INPUT(i) + dot({n}, p->w + i * p->ld, x));
)",
                               fmt::arg("n", n),
                               fmt::arg("four", four ? "        for (; i + 4 <= r1; i += 4) {\n"
                                                       "            T rs[4];\n"
                                                       "            dot4(p->w + i * p->ld, p->ld, x, rs);\n"
                                                       "            for (int q = 0; q < 4; ++q) z[i + q - r0] = (double)(T)(INPUT(i + q) + rs[q]);\n"
                                                       "        }\n"
                                                     : ""));
    } else {
        src += fmt::format(R"(// A CSR row in the AOT dot_csr's order: {LC}-lane gathered partial sums for long rows, then
// four chains.
static inline __attribute__((always_inline)) T csr_row(i64 lo, i64 hi, const i32* __restrict col, const T* __restrict val,
                                                       const T* __restrict x) {{
    T s = 0;
    i64 e = lo;
    if (hi - lo >= {LC}) {{
        T acc[{LC}];
        for (int l = 0; l < {LC}; ++l) acc[l] = 0;
        for (; e + {LC} <= hi; e += {LC}) {{
#pragma omp simd
            for (int l = 0; l < {LC}; ++l) acc[l] = maddt(val[e + l], x[col[e + l]], acc[l]);
        }}
        for (int w = {LC} / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
        s = acc[0];
    }}
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; e + 4 <= hi; e += 4) {{
        s0 = maddt(val[e], x[col[e]], s0);
        s1 = maddt(val[e + 1], x[col[e + 1]], s1);
        s2 = maddt(val[e + 2], x[col[e + 2]], s2);
        s3 = maddt(val[e + 3], x[col[e + 3]], s3);
    }}
    for (; e < hi; ++e) s0 = maddt(val[e], x[col[e]], s0);
    return s + ((s0 + s1) + (s2 + s3));
}}
)",
                           fmt::arg("LC", L / 2));
        row_sums = "        for (i64 i = r0; i < r1; ++i)\n"
                   "            z[i - r0] = (double)(T)(INPUT(i) + csr_row(p->row_ptr[i], p->row_ptr[i + 1], p->col_idx, p->values, x));\n";
    }
    std::string bias = spec.has_bias ? "        for (i64 i = r0; i < r1; ++i) z[i - r0] = (double)(T)((T)z[i - r0] + p->bias[i * p->bias_stride]);\n"
                                     : "";
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
                           fma ? fmt::format("maddt({}, old[q], {} * (T)z[q])", lit(keep), lit(a))
                               : fmt::format("{} * old[q] + {} * (T)z[q]", lit(keep), lit(a)));
    // Parallel loops: blocks shared out as the AOT step does when the work pays (its threshold).
    const bool par = parallel && static_cast<double>(n) * static_cast<double>(n) >= 60000.0;
    src += fmt::format(R"(
extern "C" __attribute__((visibility("default"))) void {entry}(const void* pv) {{
    const Args* p = (const Args*)pv;
    const T* __restrict x = p->x_old;
#define INPUT(i) ({input})
{pragma}    for (i64 r0 = 0; r0 < {n}; r0 += 256) {{
        double z[256] __attribute__((aligned(64)));
        const i64 r1 = r0 + 256 < {n} ? r0 + 256 : {n};
        const i64 len = r1 - r0;
{row_sums}{bias}        ACT_LOOP(z, len);
        T* out = p->x_new + r0 * p->x_new_stride;
{leak}    }}
}}
extern "C" __attribute__((visibility("default"))) int neuroperf_jit_abi_version(void) {{ return 1; }}
)",
                       fmt::arg("entry", entry), fmt::arg("n", n),
                       fmt::arg("input", fmt::format("dot({}, p->w_in + (i) * {}, p->u)", d, d)),
                       fmt::arg("pragma", par ? "#pragma omp parallel for schedule(static)\n" : ""),
                       fmt::arg("row_sums", row_sums), fmt::arg("bias", bias), fmt::arg("leak", leak));
    return src;
}

template std::string reservoir_descriptor<float>(const ReservoirKernelSpec&, bool, bool);
template std::string reservoir_descriptor<double>(const ReservoirKernelSpec&, bool, bool);
template std::string reservoir_source<float>(const ReservoirKernelSpec&, const std::string&, bool, bool, bool);
template std::string reservoir_source<double>(const ReservoirKernelSpec&, const std::string&, bool, bool, bool);

}  // namespace neuroperf::jit
