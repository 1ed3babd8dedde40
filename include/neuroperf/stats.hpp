// Summary statistics of repeated measurements (benchmarks and the library's own timing).
#pragma once

#include <span>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// The median of `values` (the mean of the two middle values for an even count); 0 for none.
/// NaN values sort last. Cost O(n log n) on a copy.
NEUROPERF_API double median(std::span<const double> values);

/// The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (numpy's
/// default); 0 for no values. ValueError for q outside [0, 1].
NEUROPERF_API double quantile(std::span<const double> values, double q);

}  // namespace neuroperf
