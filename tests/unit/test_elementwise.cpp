// kernels::vexp / vtanh (and through them kernels/vmath.hpp, which the reservoir's activation
// shares) against long double libm on ~10⁶ points per function and precision, on every kernel
// variant (neuroperf/isa.hpp): maximum error in ulps of the exact value, special
// values (±0, subnormals, ±Inf, NaN, the overflow / underflow edges). The bounds are the
// measured maxima of docs/results.md ("elementwise") with a small margin, so a regression in the
// polynomials or the reductions fails here.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "kernels/elementwise.hpp"

using namespace neuroperf;
using kernels::Precision;

namespace {

using LD = long double;

using test_support::isas_here;

// The spacing of T's values around |r| (subnormal spacing below the normal range).
template <class T>
LD ulp_of(LD r) {
    r = std::fabs(r);
    int e = r == 0 ? INT_MIN : std::ilogb(r);
    const int emin = std::numeric_limits<T>::min_exponent - 1;
    if (e < emin) e = emin;
    return std::scalbn(LD(1), e - (std::numeric_limits<T>::digits - 1));
}

// Error of `got` in ulps of the exact value `ref`; results that must be exact (±Inf, NaN) give
// 0 when right and a huge number when wrong.
template <class T>
double ulps(T got, LD ref) {
    if (std::isnan(ref)) return std::isnan(got) ? 0 : 1e30;
    if (std::isinf(ref) || std::fabs(ref) > LD(std::numeric_limits<T>::max()) * (1 + LD(std::numeric_limits<T>::epsilon()) / 2))
        return got == static_cast<T>(ref) ? 0 : 1e30;
    if (std::isnan(got) || std::isinf(got)) return 1e30;
    return double(std::fabs(LD(got) - ref) / ulp_of<T>(ref));
}

// Inputs for tanh: log-uniform magnitudes from the subnormals to 30 (both signs), dense sampling
// of the formula switches (0.125 for ep, 0.75 for high/low) and of [−20, 20], edge values.
template <class T>
std::vector<T> tanh_inputs(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<T> v;
    const double lo = std::is_same_v<T, float> ? -44.0 : -320.0;
    for (std::size_t i = 0; v.size() < n; ++i) {
        double m = std::pow(10.0, lo + (1.5 - lo) * u(rng));
        v.push_back(static_cast<T>(i & 1 ? m : -m));
        v.push_back(static_cast<T>(0.05 + 0.15 * u(rng)));       // the 0.125 cancellation region
        v.push_back(static_cast<T>(-(0.5 + 0.5 * u(rng))));      // around the 0.75 switch
        v.push_back(static_cast<T>((u(rng) - 0.5) * 44.0));
    }
    const T inf = std::numeric_limits<T>::infinity();
    for (T s : {T(0), T(-0.0), std::numeric_limits<T>::denorm_min(), -std::numeric_limits<T>::denorm_min(),
                std::numeric_limits<T>::min(), T(0.125), std::nextafter(T(0.125), T(0)), T(0.75), std::nextafter(T(0.75), T(0)),
                T(19.0), T(20.0), T(-20.0), T(1e30), std::numeric_limits<T>::max(), -std::numeric_limits<T>::max(), inf, -inf})
        v.push_back(s);
    return v;
}

// Inputs for exp: the whole finite range, around 0, the subnormal results, the overflow edge.
template <class T>
std::vector<T> exp_inputs(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    const bool f = std::is_same_v<T, float>;
    const double lo = f ? -104.0 : -746.0, hi = f ? 89.0 : 710.0, sub = f ? -87.4 : -708.4;
    std::vector<T> v;
    while (v.size() < n) {
        v.push_back(static_cast<T>(lo + (hi - lo) * u(rng)));
        v.push_back(static_cast<T>((u(rng) - 0.5) * 4));
        v.push_back(static_cast<T>(lo + (sub - lo) * u(rng)));
        v.push_back(static_cast<T>(hi - 12 * u(rng)));
    }
    const T inf = std::numeric_limits<T>::infinity();
    std::vector<T> edges = {T(0), T(-0.0), std::numeric_limits<T>::denorm_min(), T(1), T(-1), inf, -inf,
                            std::numeric_limits<T>::max(), -std::numeric_limits<T>::max()};
    if constexpr (f) {
        for (T s : {88.7228394f, 88.7228317f, 88.72284f, -103.972084f, -103.97209f, -87.3365479f}) edges.push_back(s);
    } else {
        for (T s : {709.782712893384, 709.7827128933841, 709.78, -745.1332191019412, -745.13321910194122, -745.0,
                    -708.3964185322641, -708.4})
            edges.push_back(s);
    }
    v.insert(v.end(), edges.begin(), edges.end());
    return v;
}

struct Bound {
    Precision p;
    double max_ulps;  // > 0: bound in ulps
    double max_rel;   // > 0: relative bound (ep)
};

template <class T>
void check(const char* fn, const std::vector<T>& in, Bound b, LD (*ref)(LD)) {
    for (Isa isa : isas_here()) {
        std::vector<T> out(in.size());
        if (std::string(fn) == "tanh") kernels::vtanh<T>(isa, b.p, static_cast<std::int64_t>(in.size()), in.data(), out.data());
        else kernels::vexp<T>(isa, b.p, static_cast<std::int64_t>(in.size()), in.data(), out.data());
        double worst = 0;
        T worst_x = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            LD r = ref(LD(in[i]));
            double e;
            if (b.max_rel > 0 && std::isfinite(r) && r != 0 && std::isfinite(out[i])) {
                e = double(std::fabs(LD(out[i]) - r) / std::fabs(r)) / b.max_rel;  // in units of the bound
                if (std::fabs(r) < LD(std::numeric_limits<T>::min()))              // subnormal results: absolute
                    e = ulps<T>(out[i], r) <= 1 ? 0 : e;
            } else {
                e = ulps<T>(out[i], r) / (b.max_rel > 0 ? 1.0 : b.max_ulps);
            }
            if (e > worst) worst = e, worst_x = in[i];
        }
        EXPECT_LE(worst, 1.0) << fn << " " << (std::is_same_v<T, float> ? "float" : "double") << " precision "
                              << int(b.p) << " " << isa_name(isa) << ": worst at x=" << double(worst_x) << " is "
                              << worst << " × the bound";
    }
}

LD ref_tanh(LD x) { return std::tanh(x); }
LD ref_exp(LD x) { return std::exp(x); }

template <class T>
class ElementwiseTyped : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ElementwiseTyped, FloatTypes);

// Measured maxima (docs/results.md, "elementwise"): double high tanh 1.08 / exp 1.15 ulp (baseline, no
// FMA), low tanh ≈ 1.5e-15 relative / exp 2.46 ulp, ep ≈ 2e-9 / 2e-10 relative; float high/low ≤ 0.51 ulp, ep ≈ 2e-5 / 3e-6 relative.
TYPED_TEST(ElementwiseTyped, AccuracyAgainstLongDouble) {
    using T = TypeParam;
    constexpr bool f = std::is_same_v<T, float>;
#if defined(__SANITIZE_ADDRESS__)
    const std::size_t big = 100000, small = 20000;
#else
    const std::size_t big = 1000000, small = 200000;
#endif
    auto th = tanh_inputs<T>(big, 1), ex = exp_inputs<T>(big, 2);
    auto ths = tanh_inputs<T>(small, 3), exs = exp_inputs<T>(small, 4);
    check<T>("tanh", th, {Precision::high, f ? 0.6 : 1.25, 0}, ref_tanh);
    check<T>("exp", ex, {Precision::high, f ? 0.6 : 1.3, 0}, ref_exp);
    if (f) check<T>("tanh", ths, {Precision::low, 0.6, 0}, ref_tanh);
    else check<T>("tanh", ths, {Precision::low, 0, 5e-15}, ref_tanh);  // the cancellation above 0.125
    check<T>("exp", exs, {Precision::low, f ? 0.6 : 3.0, 0}, ref_exp);
    if (f) {
        check<T>("tanh", ths, {Precision::ep, 0, 5e-5}, ref_tanh);
        check<T>("exp", exs, {Precision::ep, 0, 1e-5}, ref_exp);
    } else {
        check<T>("tanh", ths, {Precision::ep, 0, 2e-8}, ref_tanh);
        check<T>("exp", exs, {Precision::ep, 0, 1e-9}, ref_exp);
    }
}

TYPED_TEST(ElementwiseTyped, SpecialValuesExactly) {
    using T = TypeParam;
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const T tiny = std::numeric_limits<T>::denorm_min(), big = std::numeric_limits<T>::max();
    for (Isa isa : isas_here()) {
        for (Precision p : {Precision::high, Precision::low, Precision::ep}) {
            std::string what = std::string(isa_name(isa)) + " precision " + std::to_string(int(p));
            std::vector<T> x{T(0), T(-0.0), tiny, -tiny, inf, -inf, nan, -nan, T(25), T(-25), big, -big}, y(x.size());
            kernels::vtanh<T>(isa, p, static_cast<std::int64_t>(x.size()), x.data(), y.data());
            EXPECT_EQ(y[0], T(0)) << what;
            EXPECT_FALSE(std::signbit(y[0])) << what;
            EXPECT_EQ(y[1], T(0)) << what;
            EXPECT_TRUE(std::signbit(y[1])) << "tanh(-0) = -0, " << what;
            EXPECT_EQ(y[2], tiny) << "tanh(x) = x below the normal range, " << what;
            EXPECT_EQ(y[3], -tiny) << what;
            EXPECT_EQ(y[4], T(1)) << what;
            EXPECT_EQ(y[5], T(-1)) << what;
            EXPECT_TRUE(std::isnan(y[6])) << what;
            EXPECT_TRUE(std::isnan(y[7])) << what;
            EXPECT_EQ(y[8], T(1)) << what;
            EXPECT_EQ(y[9], T(-1)) << what;
            EXPECT_EQ(y[10], T(1)) << what;
            EXPECT_EQ(y[11], T(-1)) << what;
            kernels::vexp<T>(isa, p, static_cast<std::int64_t>(x.size()), x.data(), y.data());
            EXPECT_EQ(y[0], T(1)) << what;
            EXPECT_EQ(y[1], T(1)) << what;
            EXPECT_EQ(y[2], T(1)) << what;
            EXPECT_EQ(y[4], inf) << what;
            EXPECT_EQ(y[5], T(0)) << what;
            EXPECT_TRUE(std::isnan(y[6])) << what;
            EXPECT_EQ(y[10], inf) << "overflow, " << what;
            EXPECT_EQ(y[11], T(0)) << "underflow, " << what;
            // In place (y == x) and every length 0..17 (vector bodies and remainders).
            for (std::int64_t n = 0; n <= 17; ++n) {
                std::vector<T> v(static_cast<std::size_t>(n) + 1, T(0.5));
                v[static_cast<std::size_t>(n)] = T(42);  // past the end: untouched
                kernels::vtanh<T>(isa, p, n, v.data(), v.data());
                for (std::int64_t i = 0; i < n; ++i)
                    ASSERT_NEAR(double(v[static_cast<std::size_t>(i)]), std::tanh(0.5), p == Precision::ep ? 5e-5 : 1e-7)
                        << "n=" << n << " " << what;
                ASSERT_EQ(v[static_cast<std::size_t>(n)], T(42)) << "n=" << n << " " << what;
            }
        }
    }
}

// avx2 and avx512 evaluate the same fused operations: the same bits, at every precision and
// length (vector bodies and remainders); generic (unfused) within the bounds above.
TYPED_TEST(ElementwiseTyped, Avx2AndAvx512GiveTheSameBits) {
    using T = TypeParam;
    if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "needs both the avx2 and the avx512 variant";
    auto in = tanh_inputs<T>(20011, 9);
    for (Precision p : {Precision::high, Precision::low, Precision::ep}) {
        for (bool tanh : {true, false}) {
            std::vector<T> a(in.size()), b(in.size());
            auto run = tanh ? &kernels::vtanh<T> : &kernels::vexp<T>;
            run(Isa::avx2, p, static_cast<std::int64_t>(in.size()), in.data(), a.data());
            run(Isa::avx512, p, static_cast<std::int64_t>(in.size()), in.data(), b.data());
            for (std::size_t i = 0; i < in.size(); ++i)
                ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(T)), 0)
                    << (tanh ? "tanh" : "exp") << " precision " << int(p) << " x=" << double(in[i]) << ": " << a[i] << " vs " << b[i];
        }
    }
}

}  // namespace
