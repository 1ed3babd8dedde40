// The one vocabulary of the per-ISA kernels (docs/dev/dispatch.md). A kernel family writes its
// hot loop once, as an always-inline template on `Isa I`, and instantiates it three times inside
// thin wrappers that carry the target of their variant:
//
//   template <Isa I, class T> NP_INLINE void step_body(const Args<T>& a) { ... if constexpr (I == Isa::avx2) ... }
//   NP_ISA_VARIANTS((template <class T>), void, step, (const Args<T>& a), (a), T)
//     -> step_generic<T>, step_avx2<T> (NP_TARGET_AVX2), step_avx512<T> (NP_TARGET_AVX512)
//   constexpr core::IsaTable<void (*)(const Args<T>&)> kStep = NP_ISA_TABLE(step, <T>);
//   kStep[isa](a);   // the variant of the caller's context
//
// The library itself is compiled for baseline x86-64; only the wrappers (and what is inlined
// into them) use wider instructions, so nothing else can run an instruction the CPU lacks.
// Intrinsics must sit in functions carrying the matching target (a body is compiled without
// one before it is inlined).
#pragma once

#include "neuroperf/isa.hpp"

#define NP_INLINE [[gnu::always_inline]] inline
/// After a lambda's parameter list: a lambda inside a variant's body is a function of its own,
/// without the variant's target, unless it is inlined.
#define NP_LAMBDA_INLINE __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__)
#define NP_X86_VARIANTS 1
// The x86-64 psABI levels, as the variants' names promise.
#define NP_TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#define NP_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#else
#define NP_X86_VARIANTS 0
#define NP_TARGET_AVX2
#define NP_TARGET_AVX512
#endif

/// name_generic, name_avx2 and name_avx512, each with its variant's target:
///   head ret name_X params { return name_body<Isa::X, targs...> args; }
/// `head` is a parenthesised template head, or () for plain functions; `targs` (optional) are
/// the template arguments of the body after the Isa.
#define NP_ISA_EXPAND(...) __VA_ARGS__
#define NP_ISA_VARIANT(head, target, isa, ret, name, params, args, ...) \
    NP_ISA_EXPAND head target ret name##_##isa params {                 \
        return name##_body<::neuroperf::Isa::isa __VA_OPT__(, ) __VA_ARGS__> args; \
    }
#if NP_X86_VARIANTS
#define NP_ISA_VARIANTS(head, ret, name, params, args, ...)                                  \
    NP_ISA_VARIANT(head, , generic, ret, name, params, args __VA_OPT__(, ) __VA_ARGS__)      \
    NP_ISA_VARIANT(head, NP_TARGET_AVX2, avx2, ret, name, params, args __VA_OPT__(, ) __VA_ARGS__) \
    NP_ISA_VARIANT(head, NP_TARGET_AVX512, avx512, ret, name, params, args __VA_OPT__(, ) __VA_ARGS__)
/// The IsaTable initialiser of the three wrappers of `name`, with their template arguments
/// (e.g. NP_ISA_TABLE(loop, <O, T, G>)).
#define NP_ISA_TABLE(name, ...) {&name##_generic __VA_ARGS__, &name##_avx2 __VA_ARGS__, &name##_avx512 __VA_ARGS__}
#else
#define NP_ISA_VARIANTS(head, ret, name, params, args, ...) \
    NP_ISA_VARIANT(head, , generic, ret, name, params, args __VA_OPT__(, ) __VA_ARGS__)
#define NP_ISA_TABLE(name, ...) {&name##_generic __VA_ARGS__, nullptr, nullptr}
#endif

namespace neuroperf::core {

/// a·b + c as variant V rounds it: fused (one rounding) in avx2 and avx512, a product and a sum
/// in generic (which has no FMA instruction). Kernels write their multiply-adds with it, not
/// with `a * b + c`, whose contraction GCC decides per vectorisation (it multiplies a vectorised
/// tail and adds in order, unfused, for AVX2 and not for AVX-512): so avx2 and avx512 give the
/// same bits, and the JIT's generated code can reproduce them.
template <Isa V, class T>
NP_INLINE T madd(T a, T b, T c) {
    if constexpr (V == Isa::generic) return a * b + c;
    else if constexpr (sizeof(T) == sizeof(float)) return __builtin_fmaf(a, b, c);
    else return __builtin_fma(a, b, c);
}

/// One kernel family's variants: the function for each Isa (null where a variant is not built
/// on this architecture, which selects the next narrower one).
template <class Fn>
struct IsaTable {
    Fn generic = nullptr;
    Fn avx2 = nullptr;
    Fn avx512 = nullptr;

    constexpr Fn operator[](Isa isa) const {
        if (isa == Isa::avx512 && avx512) return avx512;
        if (isa != Isa::generic && avx2) return avx2;
        return generic;
    }
};

}  // namespace neuroperf::core
