// Suites of the MKL optimizer kernels, one source file each (suite_<name>.cpp).
#pragma once

#include "cli.hpp"

namespace neuroperf::cli {

Suite make_conv_suite(bool quick, int threads, const Context& ctx);
Suite make_reservoir_suite(bool quick, int threads, const Context& ctx);
Suite make_batch_suite(bool quick, int threads, const Context& ctx);
Suite make_eigen_suite(bool quick, int threads, const Context& ctx);
Suite make_parallel_suite(bool quick, int threads, const Context& ctx);
Suite make_jit_suite(bool quick, int threads, const Context& ctx);
Suite make_snn_suite(bool quick, int threads, const Context& ctx);
Suite make_elementwise_suite(bool quick, int threads, const Context& ctx);
/// The short snn row of the quick suite (CUBA 4000 neurons, 0.2 s, 1 thread; no peers).
std::vector<BenchCase> snn_quick_cases(const Context& ctx);

}  // namespace neuroperf::cli
