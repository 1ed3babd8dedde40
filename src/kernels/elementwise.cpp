#include "kernels/elementwise.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

namespace neuroperf::kernels {
namespace {

template <class T>
struct Bits;
template <>
struct Bits<float> {
    using U = std::uint32_t;
    static constexpr int mant = 23, bias = 127;
    static constexpr float hi = 88.3762626647949f, lo = -103.972084045410f;
};
template <>
struct Bits<double> {
    using U = std::uint64_t;
    static constexpr int mant = 52, bias = 1023;
    static constexpr double hi = 709.782712893384, lo = -745.1332191019412;
};

// exp(x) = 2^k · e^r, x = k·ln2 + r, |r| ≤ ln2/2; e^r by a Taylor polynomial of `Degree`.
// Branch-free so the compiler vectorises the loop; the special cases are selects at the end.
template <class T, int Degree>
inline T fast_exp(T x) {
    constexpr T log2e = T(1.4426950408889634), ln2_hi = T(0.693145751953125), ln2_lo = T(1.428606820309417232e-06);
    T xc = x < Bits<T>::lo ? Bits<T>::lo : (x > Bits<T>::hi ? Bits<T>::hi : x);
    T kf = std::nearbyint(xc * log2e);
    T r = (xc - kf * ln2_hi) - kf * ln2_lo;
    T p = T(1);
    for (int d = Degree; d >= 1; --d) p = T(1) + p * r / T(d);  // Horner on 1 + r(1 + r/2(1 + r/3(...)))
    // 2^k split in two factors so k down to the subnormal range stays exact.
    using U = typename Bits<T>::U;
    auto k = static_cast<std::int64_t>(kf);
    std::int64_t k1 = k / 2, k2 = k - k1;
    T s1 = std::bit_cast<T>(static_cast<U>(k1 + Bits<T>::bias) << Bits<T>::mant);
    T s2 = std::bit_cast<T>(static_cast<U>(k2 + Bits<T>::bias) << Bits<T>::mant);
    T y = p * s1 * s2;
    y = x > Bits<T>::hi ? std::numeric_limits<T>::infinity() : y;
    y = x < Bits<T>::lo ? T(0) : y;
    return x != x ? x : y;
}

// tanh(x) = sign(x)·(1 − 2/(e^{2|x|} + 1)); near 0 an odd Taylor series avoids the cancellation.
template <class T, int ExpDegree, int SeriesTerms>
inline T fast_tanh(T x) {
    T ax = x < 0 ? -x : x;
    T e = fast_exp<T, ExpDegree>(T(2) * (ax > T(40) ? T(40) : ax));
    T big = T(1) - T(2) / (e + T(1));
    constexpr T c[] = {T(1), T(-1.0 / 3), T(2.0 / 15), T(-17.0 / 315), T(62.0 / 2835), T(-1382.0 / 155925), T(21844.0 / 6081075)};
    T x2 = ax * ax, s = c[SeriesTerms - 1];
    for (int i = SeriesTerms - 2; i >= 0; --i) s = s * x2 + c[i];
    T small = ax * s;
    T r = ax < T(0.125) ? small : big;
    r = x < 0 ? -r : r;
    return x != x ? x : r;
}

template <class T>
constexpr int exp_degree(Precision p) {
    if constexpr (std::is_same_v<T, float>) return p == Precision::low ? 7 : 4;
    else return p == Precision::low ? 13 : 8;
}

template <class T, int D>
void exp_loop(std::int64_t n, const T* x, T* y) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) y[i] = fast_exp<T, D>(x[i]);
}

template <class T, int D, int S>
void tanh_loop(std::int64_t n, const T* x, T* y) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) y[i] = fast_tanh<T, D, S>(x[i]);
}

}  // namespace

template <class T>
void vexp(Precision p, std::int64_t n, const T* x, T* y) {
    if (p == Precision::high) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
    } else if (p == Precision::low) {
        exp_loop<T, exp_degree<T>(Precision::low)>(n, x, y);
    } else {
        exp_loop<T, exp_degree<T>(Precision::ep)>(n, x, y);
    }
}

template <class T>
void vtanh(Precision p, std::int64_t n, const T* x, T* y) {
    constexpr bool f = std::is_same_v<T, float>;
    if (p == Precision::high) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
    } else if (p == Precision::low) {
        tanh_loop<T, exp_degree<T>(Precision::low), f ? 4 : 7>(n, x, y);
    } else {
        tanh_loop<T, exp_degree<T>(Precision::ep), f ? 2 : 4>(n, x, y);
    }
}

template void vexp<float>(Precision, std::int64_t, const float*, float*);
template void vexp<double>(Precision, std::int64_t, const double*, double*);
template void vtanh<float>(Precision, std::int64_t, const float*, float*);
template void vtanh<double>(Precision, std::int64_t, const double*, double*);

}  // namespace neuroperf::kernels
