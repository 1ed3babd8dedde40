// The cost models behind the optimizer's automatic choices — the batch product's path
// (kernels::BatchCostModel) and the convolution algorithm (kernels::ConvCostModel) — calibrated
// on the machine: at first use a context (ContextOptions::calibrate) times each path or
// algorithm on a few representative problems, fits the models' rates, and caches them in
// <cache_dir>/cost-models.json, keyed by CPU, kernel variant, thread count, the GEMM backends
// and the library's version (as the BLAS calibration is). Uncalibrated contexts use the
// defaults fitted on AMD EPYC Zen 4. See docs/dev/cost_models.md.
#pragma once

#include "kernels/batch.hpp"
#include "kernels/convolution.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace neuroperf::api {

/// The convolution cost model of `opt`'s context for float (is_double = false) or double.
kernels::ConvCostModel conv_cost_model(const MKLOptimizer& opt, bool is_double);

/// The batch cost model of `opt`'s context for dtype at `threads` threads (its GEMM path is
/// `opt`'s GEMM at that thread count).
kernels::BatchCostModel batch_cost_model(const MKLOptimizer& opt, DType dtype, int threads);

}  // namespace neuroperf::api
