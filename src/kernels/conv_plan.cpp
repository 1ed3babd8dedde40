// The convolution plan: numpy's output geometry, the cost model that picks the algorithm (a pure
// function), the kernel families and their lengths, the density sample, FFT sizes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

#include "kernels/convolution.hpp"
#include "neuroperf/error.hpp"

namespace neuroperf {

namespace kernels {
namespace {

using i64 = std::int64_t;

}  // namespace

ConvCostModel default_conv_cost_model(bool is_double) {
    // Fitted to single-thread CPU times on AMD EPYC Zen 4 (1000 × 10⁴ steps; docs/guide/
    // convolution.md).
    return is_double ? ConvCostModel{0.13, 0.36, 4.0, 0.38, 1.0, 0.9, 1.5, 200.0}
                     : ConvCostModel{0.06, 0.29, 4.0, 0.25, 0.6, 0.5, 0.9, 200.0};
}

const char* conv_algorithm_name(ConvAlgorithm a) {
    switch (a) {
        case ConvAlgorithm::direct: return "direct";
        case ConvAlgorithm::event: return "event";
        case ConvAlgorithm::fft: return "fft";
        case ConvAlgorithm::iir: return "iir";
    }
    return "?";
}

ConvMode parse_conv_mode(std::string_view mode) {
    if (mode == "full") return ConvMode::full;
    if (mode == "same") return ConvMode::same;
    if (mode == "valid") return ConvMode::valid;
    throw ValueError(fmt::format("mode: expected one of \"full\", \"same\", \"valid\", got \"{}\"", mode));
}

ConvGeometry conv_geometry(ConvMode mode, i64 n, i64 k) {
    if (n < 1 || k < 1)
        throw ValueError(fmt::format("convolution: expected non-empty signal and kernel, got lengths {} and {}", n, k));
    i64 m = std::min(n, k), big = std::max(n, k);
    ConvGeometry g{n, k, 0, 0};
    switch (mode) {
        case ConvMode::full: g.offset = 0, g.out_len = n + k - 1; break;
        case ConvMode::same: g.offset = (m - 1) / 2, g.out_len = big; break;
        case ConvMode::valid: g.offset = m - 1, g.out_len = big - m + 1; break;
    }
    return g;
}

// Smallest 2^a·3^b·5^c·7^d ≥ n: sizes FFTW handles with its fastest codelets.
i64 fft_size(i64 n) {
    i64 best = std::numeric_limits<i64>::max();
    for (i64 p7 = 1; p7 < best && p7 / 2 < n; p7 *= 7)
        for (i64 p5 = p7; p5 < best && p5 / 2 < n; p5 *= 5)
            for (i64 p3 = p5; p3 < best && p3 / 2 < n; p3 *= 3) {
                i64 v = p3;
                while (v < n) v *= 2;
                best = std::min(best, v);
            }
    return best;
}


std::array<double, kConvAlgorithms> conv_costs(const ConvProblem& p) {
    const ConvCostModel c = p.model ? *p.model : default_conv_cost_model(p.is_double);
    constexpr double inf = std::numeric_limits<double>::infinity();
    ConvGeometry g = conv_geometry(p.mode, p.n, p.k);
    double n = static_cast<double>(p.n), k = static_cast<double>(p.k), len = static_cast<double>(g.out_len);
    double density = std::clamp(p.density, 0.0, 1.0);
    // Multiply-adds that land in the output: at most min(n, len)·k and n·k.
    double macs = std::min(n, len) * std::min(k, len);
    std::array<double, kConvAlgorithms> cost{};
    cost[static_cast<int>(ConvAlgorithm::direct)] = c.channel + macs * c.mac + len * c.scan;
    cost[static_cast<int>(ConvAlgorithm::event)] =
        c.channel + n * c.scan + len * c.scan + density * n * (c.spike + std::min(k, len) * c.mac);
    if (p.fft_available) {
        double N = static_cast<double>(fft_size(p.n + p.k - 1));
        cost[static_cast<int>(ConvAlgorithm::fft)] =
            c.channel + 2 * N * std::log2(N) * c.fft + N * c.fft_point + len * c.scan;
    } else {
        cost[static_cast<int>(ConvAlgorithm::fft)] = inf;
    }
    if (p.family) {
        double steps = static_cast<double>(g.offset + g.out_len);
        double per = p.alpha ? c.iir_alpha : c.iir_exp;
        cost[static_cast<int>(ConvAlgorithm::iir)] = c.channel + steps * per;
    } else {
        cost[static_cast<int>(ConvAlgorithm::iir)] = inf;
    }
    return cost;
}

ConvAlgorithm choose_conv_algorithm(const ConvProblem& p) {
    auto cost = conv_costs(p);
    int best = 0;
    for (int a = 1; a < kConvAlgorithms; ++a)
        if (cost[static_cast<std::size_t>(a)] < cost[static_cast<std::size_t>(best)]) best = a;
    return static_cast<ConvAlgorithm>(best);
}

template <class T>
i64 family_length(const SpikeKernel& kernel) {
    if (!(kernel.tau > 0) || !std::isfinite(kernel.tau))
        throw ValueError(fmt::format("kernel.tau: expected a finite value > 0, got {}", kernel.tau));
    if (!(kernel.dt > 0) || !std::isfinite(kernel.dt))
        throw ValueError(fmt::format("kernel.dt: expected a finite value > 0, got {}", kernel.dt));
    if (kernel.length < 0) throw ValueError(fmt::format("kernel.length: expected >= 0, got {}", kernel.length));
    if (kernel.length > 0) return kernel.length;
    const double eps = std::is_same_v<T, float> ? 1e-7 : 1e-15;
    const double x = kernel.tau / kernel.dt;  // steps per time constant
    double steps;
    if (kernel.family == SpikeKernel::Family::exponential) {
        steps = x * std::log(1 / eps);  // exp(−i/x) < eps
    } else {
        // u·e^{1−u} < eps past the peak (u = i/x > 1): Newton on g(u) = ln u + 1 − u − ln eps.
        double u = 1 - std::log(eps) + std::log(1 - std::log(eps));
        for (int it = 0; it < 50; ++it) u -= (std::log(u) + 1 - u - std::log(eps)) / (1 / u - 1);
        steps = x * u;
    }
    constexpr double kMaxTaps = 2147483648.0;
    if (!(steps < kMaxTaps))
        throw ValueError(fmt::format("kernel: tau/dt = {} needs more than 2^31 taps; give a length", x));
    // First integer index past the threshold, then walk to the exact sample (rounding).
    auto h = [&](i64 i) {
        double u = static_cast<double>(i) / x;
        return kernel.family == SpikeKernel::Family::exponential ? std::exp(-u) : u * std::exp(1 - u);
    };
    i64 L = std::max<i64>(1, static_cast<i64>(std::ceil(steps)));
    while (L > 1 && h(L - 1) < eps && static_cast<double>(L - 1) > x) --L;
    while (h(L) >= eps) ++L;
    return L;
}

std::vector<double> family_taps(const SpikeKernel& kernel, i64 length) {
    std::vector<double> h(static_cast<std::size_t>(length));
    const double a = kernel.dt / kernel.tau;
    for (i64 i = 0; i < length; ++i) {
        double u = static_cast<double>(i) * a;
        h[static_cast<std::size_t>(i)] =
            kernel.family == SpikeKernel::Family::exponential ? std::exp(-u) : u * std::exp(1 - u);
    }
    return h;
}

template <class T>
double sample_density(const ConvBatch<T>& b, i64 n) {
    if (b.channels == 0 || n == 0) return 0;
    constexpr i64 kBudget = 1 << 16;
    i64 ch = std::min<i64>(b.channels, 64);
    i64 per = std::min<i64>(n, std::max<i64>(1, kBudget / ch));
    i64 nonzero = 0;
    for (i64 s = 0; s < ch; ++s) {
        i64 c = s * b.channels / ch;
        i64 t0 = (n - per) * s / std::max<i64>(1, ch - 1);  // spread windows over time as well
        const T* x = b.x + c * b.x_cs + t0 * b.x_ts;
        for (i64 t = 0; t < per; ++t) nonzero += x[t * b.x_ts] != T(0);
    }
    return static_cast<double>(nonzero) / static_cast<double>(ch * per);
}

bool fft_available() {
#if NEUROPERF_HAVE_FFTW
    return true;
#else
    return false;
#endif
}

template double sample_density<std::uint8_t>(const ConvBatch<std::uint8_t>&, i64);
template i64 family_length<float>(const SpikeKernel&);
template i64 family_length<double>(const SpikeKernel&);
template double sample_density<float>(const ConvBatch<float>&, i64);
template double sample_density<double>(const ConvBatch<double>&, i64);

}  // namespace kernels

namespace {
SpikeKernel make_family(SpikeKernel::Family family, const char* name, double tau, double dt, index_t length) {
    if (!(tau > 0) || !std::isfinite(tau))
        throw ValueError(fmt::format("{}: tau: expected a finite value > 0, got {}", name, tau));
    if (!(dt > 0) || !std::isfinite(dt))
        throw ValueError(fmt::format("{}: dt: expected a finite value > 0, got {}", name, dt));
    if (length < 0) throw ValueError(fmt::format("{}: length: expected >= 0 (0 = automatic), got {}", name, length));
    return SpikeKernel{family, tau, dt, length};
}
}  // namespace

SpikeKernel ExponentialKernel(double tau, double dt, index_t length) {
    return make_family(SpikeKernel::Family::exponential, "ExponentialKernel", tau, dt, length);
}

SpikeKernel AlphaKernel(double tau, double dt, index_t length) {
    return make_family(SpikeKernel::Family::alpha, "AlphaKernel", tau, dt, length);
}

}  // namespace neuroperf
