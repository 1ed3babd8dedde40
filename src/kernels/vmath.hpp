// Scalar-form exp / tanh / sigmoid in double, written so that GCC vectorises a loop calling them
// (`#pragma omp simd`) with the baseline x86-64 ISA (SSE2) as well as inside AVX-512 clones:
// branch-free (special cases are selects), no libm calls, no int64 <-> double conversions (the
// round-to-nearest comes from adding 1.5·2^52, 2^k from that sum's low bits). The one
// implementation behind kernels::vexp / vtanh (elementwise.cpp) and the reservoir's fused
// activation (reservoir.cpp), which inline these into their per-ISA loops.
//
// Grades (bounds in docs/dev/elementwise.md, measured errors in docs/results.md):
//   Grade::high — double results within 1-2 ulp (MKL VM "HA"): exp by a degree-11 minimax fit,
//                 tanh below 0.75 by an odd minimax polynomial (no cancellation), above by
//                 1 − 2/(e^{2|x|}+1); sigmoid as e/(1+e) with one division.
//   Grade::low  — exp degree 12; tanh by a 7-term Taylor series below 0.125, 1 − 2/(e+1) above
//                 (≈ 1e-14 relative just above 0.125, where the subtraction cancels).
//   Grade::ep   — exp degree 8, same tanh structure (≈ 2e-9 relative, MKL "EP").
//   Grade::f32  — for results rounded to float once: exp and sigmoid as ep; tanh as
//                 1 − 2/(e^{2a}+1) on the whole range (a < 2^-20: a). All ≪ 2^-24 relative
//                 before the rounding, so ≤ 1 float ulp.
//   Grade::f32ep — float "ep" of vexp / vtanh: exp degree 5 (2.4e-6 relative), tanh series 4
//                 terms; ≈ 2e-5 relative after tanh's cancellation above 0.125.
// The JIT's reservoir step calls the AOT activation through its ABI (src/jit/reservoir_codegen),
// so compiled and AOT steps give the same bits at every grade.
// `Fma` = the caller's ISA has FMA (the AVX-512 clones): a·b + c fused explicitly. GCC contracts
// a·b + c into FMA by itself in C++ when the target has it (-ffp-contract=fast is the C++
// default), so the explicit form only makes the intent visible; the baseline (SSE2) has no FMA.
#pragma once

#include <bit>
#include <cstdint>

#define NP_VINLINE [[gnu::always_inline]] inline

namespace neuroperf::kernels::vmath {

enum class Grade : std::uint8_t { high, low, ep, f32, f32ep };

template <bool Fma>
NP_VINLINE double mad(double a, double b, double c) {
    if constexpr (Fma) return __builtin_fma(a, b, c);
    else return a * b + c;
}

inline constexpr double kExpHi = 709.782712893383973096;    // log(DBL_MAX): above, e^x = +Inf
inline constexpr double kExpLo = -745.133219101941108420;   // log(2^-1075): below, e^x rounds to 0

template <Grade G>
inline constexpr int kExpDegree = G == Grade::high ? 11 : G == Grade::low ? 12 : G == Grade::f32ep ? 5 : 8;

// The constants of exp_core, also printed into the JIT's generated kernels (src/jit/
// math_source.cpp), which evaluate the same operations in the same order.
inline constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 6.93147180369123816490e-01,
                        kLn2Lo = 1.90821492927058770002e-10, kMagic = 6755399441055744.0;  // 1.5·2^52
/// Grade::high's e^r on |r| ≤ 1.0002·ln2/2: 1 + r + r²·q(r), q the degree-9 Chebyshev fit
/// (mpmath.chebyfit, 80 digits) of (e^r − 1 − r)/r², rounded to double; relative error 1.6e-17
/// (0.15 ulp), against the degree-13 Taylor polynomial's 4e-18 with two multiply-adds more.
inline constexpr double kExpMinimax11[12] = {1.0, 1.0, 0.5000000000000001, 0.16666666666666669, 0.041666666666624094,
                                             0.00833333333333006, 0.0013888888917230724, 0.00019841269863066696,
                                             2.4801521269532122e-05, 2.7557268439678e-06, 2.7620101012098e-07,
                                             2.5100395159429243e-08};
/// Taylor coefficients 1/d! of e^r, d = 0..13.
inline constexpr double kExpCoef[14] = {1.0,           1.0,            1.0 / 2,         1.0 / 6,        1.0 / 24,
                                        1.0 / 120,     1.0 / 720,      1.0 / 5040,      1.0 / 40320,    1.0 / 362880,
                                        1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};

// e^x for x in [kExpLo, kExpHi] (no special cases): x = k·ln2 + r, |r| ≤ ln2/2 (ln2 split in a
// 32-bit head, so k·ln2_hi is exact, and a tail), e^r by its Taylor polynomial of degree D
// (truncation at |r| = 0.347: 4e-18 for D = 13, 1.7e-16 for 12, 2e-10 for 8), then 2^k applied
// as two factors 2^k1·2^k2 so results down in the subnormal range are rounded only once.
// TwoFactor = false: one factor 2^k, for callers whose results are normal numbers (the same
// bits there: multiplying by a power of two is exact), six operations fewer.
template <int D, bool Fma, bool TwoFactor = true>
NP_VINLINE double exp_core(double x) {
    constexpr double log2e = kLog2e, ln2_hi = kLn2Hi, ln2_lo = kLn2Lo, magic = kMagic;
    constexpr const double* c = D == 11 ? kExpMinimax11 : kExpCoef;  // degree 11: Grade::high's fit
    double t = mad<Fma>(x, log2e, magic);
    double kf = t - magic;
    double r = mad<Fma>(-kf, ln2_lo, mad<Fma>(-kf, ln2_hi, x));
    double p = c[D];
#pragma GCC unroll 16
    for (int d = D - 1; d >= 0; --d) p = mad<Fma>(p, r, c[d]);
    // k, the low bits of t (|k| < 2^51).
    const std::int64_t k = std::bit_cast<std::int64_t>(t) - std::bit_cast<std::int64_t>(magic);
    if constexpr (!TwoFactor) {
        return p * std::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52);
    } else {
        // k1 = floor(k/2) by a logical shift of k + 2048 (k ≥ −1076 here), k2 = k − k1: both in
        // [−538, 512], so p·2^k1 is exact and the one rounding is the last product's. Integer
        // operations only (AVX2 has no 64-bit arithmetic shift).
        const std::uint64_t h = static_cast<std::uint64_t>(k + 2048) >> 1;  // k1 + 1024
        const double s1 = std::bit_cast<double>((h - 1) << 52);               // 2^k1
        const double s2 = std::bit_cast<double>(static_cast<std::uint64_t>(k + 2047 - static_cast<std::int64_t>(h)) << 52);  // 2^k2
        return (p * s1) * s2;
    }
}

/// e^x: NaN propagates, above log(DBL_MAX) +Inf (so +Inf too), below log(2^-1075) +0. No
/// special cases: x is clamped to [−746, 710], where exp_core's two factors still describe
/// 2^k exactly (k ∈ [−1076, 1024]) and its last product rounds to 0 below log(2^-1075) and to
/// +Inf above log(DBL_MAX) by itself; a NaN passes the clamps and the arithmetic as a NaN.
template <Grade G, bool Fma>
NP_VINLINE double exp(double x) {
    double xc = x < -746.0 ? -746.0 : x;
    xc = xc > 710.0 ? 710.0 : xc;
    return exp_core<kExpDegree<G>, Fma>(xc);
}

// tanh(a)/a − 1 = a²·P(a²) on [0, 0.75]: Chebyshev fit (mpmath.chebyfit, 60 digits) of degree 13
// in a², relative error on tanh ≤ 4e-19, far below double's 1.1e-16. The switch at 0.75 rather
// than lower keeps 1 − 2/(e+1) away from its cancellation: there y = 2/(e+1) ≤ 0.37, so y's
// ~2 ulp relative error costs ≤ 0.7 ulp of the result (measured max 1.36 ulp with a 0.625 switch).
inline constexpr double kTanhSmall = 0.75;
inline constexpr int kTanhPolyLen = 14;
inline constexpr double kTanhPoly[kTanhPolyLen] = {
    -3.3333333333333333276e-1,  1.33333333333332933227e-1,  -5.3968253968207598513e-2, 2.18694885340334513749e-2,
    -8.86323547910536382386e-3, 3.59212730577133714726e-3,  -1.45582754829165701366e-3, 5.89983768208113340921e-4,
    -2.38933267368729190355e-4, 9.62895331642748654044e-5,  -3.78486431667599766392e-5, 1.36017290228971163121e-5,
    -3.8335892945015437772e-6,  5.98539967203916280297e-7};
// Taylor coefficients of tanh(a)/a in a² (the low / ep / f32 grades, below 0.125 only: the
// 8th term is 6e-18 relative there).
inline constexpr double kTanhTaylor[] = {1.0, -1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835, -1382.0 / 155925, 21844.0 / 6081075};

/// tanh(x): odd, so computed on |x| and the sign copied back (tanh(−0) = −0); |x| ≥ 20 gives ±1
/// (1 − tanh(20) < 2^-54); subnormal x gives x; NaN propagates.
template <Grade G, bool Fma>
NP_VINLINE double tanh(double x) {
    if constexpr (G == Grade::f32) {
        // For results rounded to float once: 1 − 2/(e^{2a} + 1) on the whole range. Its
        // cancellation near 0 costs ~4e-16/a relative (2^-30 at a = 2^-20) and exp's
        // truncation 2e-10·e at most, both far below float's half ulp (2^-25); below 2^-20
        // tanh(a) = a to 2^-41. No second polynomial, no NaN select (a NaN stays NaN through
        // the arithmetic): half the operations of the other grades.
        double a = x < 0 ? -x : x;
        double ac = a > 20.0 ? 20.0 : a;
        double e = exp_core<kExpDegree<G>, Fma, false>(2.0 * ac);
        double r = 1.0 - 2.0 / (e + 1.0);
        r = ac < 0x1p-20 ? ac : r;
        return __builtin_copysign(r, x);
    }
    double a = x < 0 ? -x : x;
    double ac = a > 20.0 ? 20.0 : a;
    double e = exp_core<kExpDegree<G>, Fma, false>(2.0 * ac);  // e^[0, 40]: normal
    double big = 1.0 - 2.0 / (e + 1.0);
    double a2 = ac * ac, small, limit;
    if constexpr (G == Grade::high) {
        double s = kTanhPoly[kTanhPolyLen - 1];
#pragma GCC unroll 16
        for (int i = kTanhPolyLen - 2; i >= 0; --i) s = mad<Fma>(s, a2, kTanhPoly[i]);
        small = mad<Fma>(ac, a2 * s, ac);  // a + a·(a²·P): the correction is ≤ 0.13·a
        limit = kTanhSmall;
    } else {
        constexpr int terms = G == Grade::f32ep ? 4 : 7;
        double s = kTanhTaylor[terms - 1];
#pragma GCC unroll 16
        for (int i = terms - 2; i >= 0; --i) s = mad<Fma>(s, a2, kTanhTaylor[i]);
        small = ac * s;
        limit = 0.125;
    }
    double r = ac < limit ? small : big;
    r = __builtin_copysign(r, x);
    return x != x ? x : r;
}

/// 1/(1 + e^{-x}) from e = e^{-|x|} (never overflows): 1/(1+e) for x ≥ 0, e/(1+e) below. High:
/// one division either way and e down into the subnormals (x ≥ −745); the other grades keep
/// the earlier e·(1/(1+e)) and return 0 below −708 (the exact value is < 3e-308). NaN propagates.
template <Grade G, bool Fma>
NP_VINLINE double sigmoid(double x) {
    double a = x < 0 ? -x : x;
    if constexpr (G == Grade::high) {
        double e = exp_core<kExpDegree<G>, Fma>(-(a > -kExpLo ? -kExpLo : a));
        e = a > -kExpLo ? 0.0 : e;
        double r = (x < 0 ? e : 1.0) / (1.0 + e);
        return x != x ? x : r;
    } else {
        double e = exp_core<kExpDegree<G>, Fma, false>(-(a > 708.0 ? 708.0 : a));  // e^[−708, 0]: normal
        double s = 1.0 / (1.0 + e);
        double r = x < 0 ? (a > 708.0 ? 0.0 : e * s) : s;
        return x != x ? x : r;
    }
}

}  // namespace neuroperf::kernels::vmath
