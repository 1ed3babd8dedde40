#include "jit/conv_codegen.hpp"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

#include "jit/math_source.hpp"
#include "neuroperf/cpu.hpp"

namespace neuroperf::jit {
bool aot_uses_fma(Isa isa) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    return isa != Isa::generic;
#else
    (void)isa;
    return false;
#endif
}

namespace {

// The register-tiled kernel: R = 8 output vectors (64 bytes each) per block, every tap a literal
// multiplied into them, fully unrolled. Window x[xp − m .. +VL) serves output vector r for tap
// i = m + r·VL, so each window is loaded once per block and used by every vector that needs
// it (for k ≥ VL up to R of them): R·k multiply-adds on k + (R−1)·VL loads, R independent
// accumulator chains (FMA latency 4 × 2 pipes on Zen 4 needs ≥ 8 in flight). m runs upwards,
// so every output still adds its taps in increasing order from 0: the AOT order.
//   fast math: `a += c·w`, contracted by -ffast-math with the window as memory operand; within
//     rounding of the AOT sums (no AOT rounding points).
//   strict, fused (the AOT clone fuses): the AVX-512 FMA builtin, a guaranteed fma per term;
//   strict, not fused: `a = a + c·w` under -ffp-contract=off. Both the AOT bits.
// Nothing is left for the compiler to unroll or vectorise, so it is compiled at -O1 (the
// looped kernel needs clang's unroller at -O3; 16 taps cold: 78-82 ms against 94-99 ms).
template <class T>
std::string tiled_source(const std::vector<T>& taps, const kernels::ConvGeometry& g, const std::string& entry, bool fma,
                         bool fastmath) {
    constexpr bool is_float = std::is_same_v<T, float>;
    // acc += c·w in the mode's arithmetic (c a literal, w a vector).
    auto madd = [&](const std::string& acc, const std::string& c, const std::string& w) {
        if (fastmath) return fmt::format("{} += {} * {};", acc, c, w);
        if (fma)
            return fmt::format(is_float ? "{0} = __builtin_ia32_vfmaddps512_mask(bc({1}), {2}, {0}, (unsigned short)-1, 4);"
                                        : "{0} = __builtin_ia32_vfmaddpd512_mask(bc({1}), {2}, {0}, (unsigned char)-1, 4);",
                               acc, c, w);
        return fmt::format("{0} = {0} + {1} * {2};", acc, c, w);
    };
    const std::string madd_edge = fastmath || !fma ? fmt::format("acc + h[i] * x[{} + j - i]", g.offset)
                                                   : fmt::format("{}(h[i], x[{} + j - i], acc)",
                                                                 is_float ? "__builtin_fmaf" : "__builtin_fma", g.offset);
    const std::int64_t n = g.n, k = g.k, off = g.offset, len = g.out_len;
    const std::int64_t j_lo = std::min(len, std::max<std::int64_t>(0, k - 1 - off));
    const std::int64_t j_hi = std::max(j_lo, std::min(len, n - off));
    constexpr std::int64_t VL = 64 / static_cast<std::int64_t>(sizeof(T)), R = kTiledVectors;
    std::string h, block, single;
    for (std::size_t i = 0; i < taps.size(); ++i) h += (i % 4 == 0 ? "\n    " : " ") + literal(taps[i]) + ",";
    for (std::int64_t m = -(R - 1) * VL; m < k; ++m) {
        std::string uses;
        for (std::int64_t r = 0; r < R; ++r)
            if (std::int64_t i = m + r * VL; i >= 0 && i < k)
                uses += fmt::format(" {}", madd(fmt::format("a{}", r), literal(taps[static_cast<std::size_t>(i)]), "w"));
        if (!uses.empty()) block += fmt::format("        {{ const V w = ld(xp - ({}));{} }}\n", m, uses);
    }
    for (std::int64_t i = 0; i < k; ++i)
        single += fmt::format("        {}\n", madd("a", literal(taps[static_cast<std::size_t>(i)]), fmt::format("ld(xp - {})", i)));
    return fmt::format(R"(// neuroperf JIT: FIR convolution, {mode}, register-tiled ({t}, n={n}, {k} taps, offset {off}, {len} outputs) -- generated; see docs/dev/jit.md
typedef long long i64;
typedef {t} T;
typedef T V __attribute__((vector_size(64)));
static inline __attribute__((always_inline)) V ld(const T* p) {{ V v; __builtin_memcpy(&v, p, sizeof v); return v; }}
static inline __attribute__((always_inline)) V bc(T c) {{ return (V){{}} + c; }}
static inline __attribute__((always_inline)) void st(T* p, V v) {{ __builtin_memcpy(p, &v, sizeof v); }}
static const T h[{k}] __attribute__((aligned(64))) = {{{h}
}};

static inline T edge(const T* __restrict x, i64 j) {{
    const i64 lo = {off} + j - {n} + 1 > 0 ? {off} + j - {n} + 1 : 0;
    const i64 hi = {off} + j + 1 < {k} ? {off} + j + 1 : {k};
    T acc = {zero};
    for (i64 i = lo; i < hi; ++i) acc = {madd_edge};
    return acc;
}}

extern "C" __attribute__((visibility("default"))) void {entry}(const void* xv, void* yv) {{
    const T* __restrict x = (const T*)xv;
    T* __restrict y = (T*)yv;
    for (i64 j = 0; j < {j_lo}; ++j) y[j] = edge(x, j);
    i64 j = {j_lo};
    for (; j + {RV} <= {j_hi}; j += {RV}) {{
        const T* xp = x + {off} + j;
        V a0 = {{}}, a1 = {{}}, a2 = {{}}, a3 = {{}}, a4 = {{}}, a5 = {{}}, a6 = {{}}, a7 = {{}};
{block}        st(y + j, a0); st(y + j + {VL}, a1); st(y + j + {V2}, a2); st(y + j + {V3}, a3);
        st(y + j + {V4}, a4); st(y + j + {V5}, a5); st(y + j + {V6}, a6); st(y + j + {V7}, a7);
    }}
    for (; j + {VL} <= {j_hi}; j += {VL}) {{
        const T* xp = x + {off} + j;
        V a = {{}};
{single}        st(y + j, a);
    }}
    for (; j < {len}; ++j) y[j] = edge(x, j);
}}
)",
                       fmt::arg("t", std::is_same_v<T, float> ? "float" : "double"), fmt::arg("n", n), fmt::arg("k", k),
                       fmt::arg("off", off), fmt::arg("len", len), fmt::arg("h", h), fmt::arg("zero", literal<T>(0)),
                       fmt::arg("entry", entry), fmt::arg("j_lo", j_lo), fmt::arg("j_hi", j_hi), fmt::arg("RV", R * VL),
                       fmt::arg("VL", VL), fmt::arg("V2", 2 * VL), fmt::arg("V3", 3 * VL), fmt::arg("V4", 4 * VL),
                       fmt::arg("V5", 5 * VL), fmt::arg("V6", 6 * VL), fmt::arg("V7", 7 * VL), fmt::arg("block", block),
                       fmt::arg("single", single), fmt::arg("mode", fastmath ? "fast math" : fma ? "strict, fused" : "strict"),
                       fmt::arg("madd_edge", madd_edge));
}

}  // namespace

bool conv_tiled(std::int64_t taps, bool fastmath, bool fma, Isa isa) {
    if (fastmath) return taps <= kTiledMaxTaps;
    // Strict: the same speed either way, so whichever compiles faster; and fused needs the
    // AVX-512 FMA builtin (the code is compiled for the context's variant).
    return taps <= kTiledStrictMaxTaps && (!fma || isa == Isa::avx512);
}

template <class T>
std::string conv_source(const ConvKernelDescriptor<T>& desc, const std::string& entry) {
    const std::vector<T>& taps = desc.taps;
    const kernels::ConvGeometry& g = desc.geometry;
    const bool fma = desc.fma, fastmath = desc.fastmath;
    if (conv_tiled(g.k, fastmath, fma, desc.isa)) return tiled_source(taps, g, entry, fma, fastmath);
    const std::int64_t n = g.n, k = g.k, off = g.offset, len = g.out_len;
    // Outputs whose every tap reads inside the signal: j in [j_lo, j_hi).
    const std::int64_t j_lo = std::min(len, std::max<std::int64_t>(0, k - 1 - off));
    const std::int64_t j_hi = std::max(j_lo, std::min(len, n - off));
    // Outputs per block: two 64-byte registers of accumulators; clang then unrolls the taps and
    // keeps them in registers (4 and 8 registers measured slower: the block is not unrolled).
    constexpr int B = 128 / static_cast<int>(sizeof(T));
    // The AOT axpy is compiled by GCC, which contracts y += a·x into an FMA in its avx2 and
    // avx512 variants: for them the same rounding needs fma here.
    const char* fma_fn = std::is_same_v<T, float> ? "__builtin_fmaf" : "__builtin_fma";
    auto madd = [&](const char* c, const char* x, const char* acc) {
        return fma ? fmt::format("{}({}, {}, {})", fma_fn, c, x, acc) : fmt::format("{} + {} * {}", acc, c, x);
    };
    std::string h;
    for (std::size_t i = 0; i < taps.size(); ++i) h += (i % 4 == 0 ? "\n    " : " ") + literal(taps[i]) + ",";
    return fmt::format(R"(// neuroperf JIT: FIR convolution ({t}, n={n}, {k} taps, offset {off}, {len} outputs) -- generated; see docs/dev/jit.md
typedef long long i64;
typedef {t} T;
static const T h[{k}] __attribute__((aligned(64))) = {{{h}
}};

// Taps in increasing order over those reading inside the signal, from 0: the AOT order.
static inline T edge(const T* __restrict x, i64 j) {{
    const i64 lo = {off} + j - {n} + 1 > 0 ? {off} + j - {n} + 1 : 0;
    const i64 hi = {off} + j + 1 < {k} ? {off} + j + 1 : {k};
    T acc = {zero};
    for (i64 i = lo; i < hi; ++i) acc = {madd_edge};
    return acc;
}}

extern "C" __attribute__((visibility("default"))) void {entry}(const void* xv, void* yv) {{
    const T* __restrict x = (const T*)xv;
    T* __restrict y = (T*)yv;
    for (i64 j = 0; j < {j_lo}; ++j) y[j] = edge(x, j);
    i64 j = {j_lo};
    // Two blocks at once: four independent accumulator chains in flight.
    for (; j + 2 * {B} <= {j_hi}; j += 2 * {B}) {{
        T acc[{B}], acc2[{B}];
#pragma omp simd
        for (int b = 0; b < {B}; ++b) acc[b] = {zero};
#pragma omp simd
        for (int b = 0; b < {B}; ++b) acc2[b] = {zero};
        const T* xp = x + {off} + j;
        const T* xq = xp + {B};
        for (i64 i = 0; i < {k}; ++i) {{
            const T c = h[i];
#pragma omp simd
            for (int b = 0; b < {B}; ++b) acc[b] = {madd_block};
#pragma omp simd
            for (int b = 0; b < {B}; ++b) acc2[b] = {madd_block2};
        }}
#pragma omp simd
        for (int b = 0; b < {B}; ++b) y[j + b] = acc[b];
#pragma omp simd
        for (int b = 0; b < {B}; ++b) y[j + {B} + b] = acc2[b];
    }}
    for (; j + {B} <= {j_hi}; j += {B}) {{
        T acc[{B}];
#pragma omp simd
        for (int b = 0; b < {B}; ++b) acc[b] = {zero};
        const T* xp = x + {off} + j;
        for (i64 i = 0; i < {k}; ++i) {{
            const T c = h[i];
#pragma omp simd
            for (int b = 0; b < {B}; ++b) acc[b] = {madd_block};
        }}
#pragma omp simd
        for (int b = 0; b < {B}; ++b) y[j + b] = acc[b];
    }}
    for (; j < {len}; ++j) y[j] = edge(x, j);
}}
)",
                       fmt::arg("t", std::is_same_v<T, float> ? "float" : "double"), fmt::arg("n", n), fmt::arg("k", k),
                       fmt::arg("off", off), fmt::arg("len", len), fmt::arg("h", h), fmt::arg("zero", literal<T>(0)),
                       fmt::arg("entry", entry), fmt::arg("j_lo", j_lo), fmt::arg("j_hi", j_hi), fmt::arg("B", B),
                       fmt::arg("madd_edge", madd("h[i]", fmt::format("x[{} + j - i]", off).c_str(), "acc")),
                       fmt::arg("madd_block", madd("c", "xp[b - i]", "acc[b]")),
                       fmt::arg("madd_block2", madd("c", "xq[b - i]", "acc2[b]")));
}

template std::string conv_source<float>(const ConvKernelDescriptor<float>&, const std::string&);
template std::string conv_source<double>(const ConvKernelDescriptor<double>&, const std::string&);

}  // namespace neuroperf::jit
