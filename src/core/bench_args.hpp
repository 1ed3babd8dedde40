// The arguments every benchmark_*_performance call takes (sizes and repetitions), checked once.
#pragma once

#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/array.hpp"
#include "neuroperf/error.hpp"

namespace neuroperf::core {

/// ValueError naming the argument for iterations < 1 or a size outside 1..max_size.
inline void check_benchmark_arguments(const std::vector<index_t>& sizes, const char* sizes_name, int iterations,
                                      index_t max_size = INT64_MAX) {
    if (iterations < 1) throw ValueError(fmt::format("num_iterations: expected >= 1, got {}", iterations));
    for (index_t n : sizes)
        if (n < 1 || n > max_size)
            throw ValueError(max_size == INT64_MAX ? fmt::format("{}: expected sizes >= 1, got {}", sizes_name, n)
                                                   : fmt::format("{}: expected sizes in 1..{}, got {}", sizes_name, max_size, n));
}

}  // namespace neuroperf::core
