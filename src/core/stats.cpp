#include "neuroperf/stats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

namespace neuroperf {
namespace {

std::vector<double> sorted(std::span<const double> values) {
    std::vector<double> v(values.begin(), values.end());
    // NaN last, so that the order statistics of the numbers are those of a clean sample.
    std::sort(v.begin(), v.end(), [](double a, double b) { return std::isnan(b) ? !std::isnan(a) : a < b; });
    return v;
}

}  // namespace

double quantile(std::span<const double> values, double q) {
    if (!(q >= 0 && q <= 1)) throw ValueError(fmt::format("quantile: q: expected a value in [0, 1], got {}", q));
    if (values.empty()) return 0;
    const auto v = sorted(values);
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return frac == 0 ? v[lo] : v[lo] + frac * (v[hi] - v[lo]);
}

double median(std::span<const double> values) { return quantile(values, 0.5); }

}  // namespace neuroperf
