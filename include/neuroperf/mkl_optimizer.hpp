// MKLOptimizer: BLAS-backed operations for spike and reservoir workloads, on the
// fastest backend present (MKL, OpenBLAS, BLIS, libxsmm or the builtin GEMM).
//
//   auto opt = neuroperf::enable_mkl_optimization();
//   neuroperf::Array<float> c = opt.optimize_matrix_multiply(a.view(), b.view());
#pragma once

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include <cstdint>

#include "neuroperf/array.hpp"
#include "neuroperf/affinity.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/convolution.hpp"
#include "neuroperf/reservoir.hpp"
#include "neuroperf/sparse.hpp"
#include "neuroperf/spectral.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/progress.hpp"

namespace neuroperf {

/// The optimizer's configuration. validate() (called by MKLOptimizer) throws
/// ValueError naming the field, the accepted values and the value given.
struct NEUROPERF_API MKLConfig {
    /// Threads for the BLAS and our kernels; 0 = the context's (auto) count.
    int num_threads = 0;
    /// "balanced" | "compact" | "scatter" | "none": where multi-threaded calls pin their threads
    /// (see affinity_plan()). "none" leaves the OS to place them.
    std::string thread_affinity = "balanced";
    /// Flush denormals to zero (FTZ+DAZ) while our calls run: faster on denormal-heavy data,
    /// results differ from IEEE only where denormals occur.
    bool enable_fast_math = true;
    /// Accuracy of elementwise math (tanh, exp, sigmoid), as MKL VM modes: "high" (≤ 1 ulp,
    /// libm), "low" (≤ 4 ulp float / 1e-14 relative double), "ep" (about half the mantissa bits).
    std::string precision_mode = "high";
    /// Log backend choices, algorithms and timings through the context's log sink.
    bool verbose = false;
    /// "auto" (calibrated choice per size) or a backend name.
    std::string backend = "auto";

    void validate() const;
};

/// One row of benchmark_performance() (fields documented in the field list below).
struct BenchmarkEntry {
    std::string operation;
    index_t size = 0;
    std::string backend;
    std::string baseline;
    double baseline_seconds = 0;
    double optimized_seconds = 0;
    double speedup = 0;
    double gflops = 0;
};

/// Result of benchmark_performance(): rows plus summary, serialisable as Google Benchmark JSON.
struct NEUROPERF_API BenchmarkReport {
    std::vector<BenchmarkEntry> entries;
    int threads = 0;
    int iterations = 0;
    double average_speedup() const;  ///< geometric mean
    double max_speedup() const;
    std::string to_json() const;     ///< Google Benchmark JSON (context + benchmarks)
    void save(const std::filesystem::path& path) const;  ///< atomic write of to_json()
};

template <>
struct Fields<BenchmarkEntry> {
    using S = BenchmarkEntry;
    static constexpr auto list = std::tuple{
        field("operation", &S::operation, "\"sgemm\" or \"dgemm\""), field("size", &S::size, "n of n×n×n"),
        field("backend", &S::backend, "what the optimized call ran on"),
        field("baseline", &S::baseline, "what the baseline ran on"),
        field("baseline_seconds", &S::baseline_seconds, "median per call"),
        field("optimized_seconds", &S::optimized_seconds, "median per call"),
        field("speedup", &S::speedup, "baseline_seconds / optimized_seconds"),
        field("gflops", &S::gflops, "of the optimized call")};
};
NEUROPERF_CHECK_FIELDS(BenchmarkEntry);

template <>
struct Fields<BenchmarkReport> {
    using S = BenchmarkReport;
    static constexpr auto list =
        std::tuple{field("entries", &S::entries, "an sgemm and a dgemm row per size"),
                   field("threads", &S::threads, "threads of the optimized calls"),
                   field("iterations", &S::iterations, "timed calls per row (the median is reported)")};
};
NEUROPERF_CHECK_FIELDS(BenchmarkReport);

class NEUROPERF_API MKLOptimizer {
public:
    /// Optimizer on its own context made from `config` (threads, backend, verbose).
    explicit MKLOptimizer(MKLConfig config = {});
    /// Optimizer sharing `context`'s backends and calibration; `config` still governs threads,
    /// backend, affinity, fast math, precision and logging of this optimizer's calls.
    MKLOptimizer(MKLConfig config, Context context);

    const MKLConfig& config() const { return config_; }
    const Context& context() const { return context_; }
    int num_threads() const;

    /// op(A)·op(B) into a new C-order array, op(X) = X or Xᵀ. A and B are rank-2 views of any
    /// strides (copied only when no stride is 1). Throws ShapeError on rank/shape mismatch.
    /// Cost 2·m·n·k flops on the backend chosen for this size.
    template <class T>
    Array<T> optimize_matrix_multiply(ArrayView<const T> a, ArrayView<const T> b,
                                      bool transpose_a = false, bool transpose_b = false) const;
    /// Same into `out` (m×n, any strides, must not overlap A or B: ValueError).
    template <class T>
    void matrix_multiply_into(ArrayView<const T> a, ArrayView<const T> b, ArrayView<T> out,
                              bool transpose_a = false, bool transpose_b = false) const;
    /// Type-erased form (Python, files): ShapeError if A and B differ in dtype.
    DynArray optimize_matrix_multiply(const DynView& a, const DynView& b, bool transpose_a = false,
                                      bool transpose_b = false) const;

    /// Elementwise tanh / exp at the configured precision_mode, out-of-place.
    template <class T>
    Array<T> vector_tanh(ArrayView<const T> x) const;
    template <class T>
    Array<T> vector_exp(ArrayView<const T> x) const;

    // --- Spike convolution (docs/guide/convolution.md) -------------------------------------
    /// Each channel of `spike_trains` (1-D time, or 2-D with options.time_axis) convolved with
    /// `kernel` exactly as numpy.convolve(train, kernel, mode), mode "full" | "same" | "valid"
    /// (numpy's rules when the kernel is longer than the signal). The algorithm (direct, event
    /// scatter, FFT, recursive IIR for families) comes from a documented cost model.
    template <class T>
    Array<T> optimize_spike_convolution(ArrayView<const T> spike_trains, ArrayView<const T> kernel,
                                        const std::string& mode = "valid",
                                        const ConvolutionOptions& options = {}) const;
    template <class T>
    Array<T> optimize_spike_convolution(ArrayView<const T> spike_trains, const SpikeKernel& kernel,
                                        const std::string& mode = "valid",
                                        const ConvolutionOptions& options = {}) const;
    /// Spike trains as bytes (bool 0/1 or counts 0-255 per bin, e.g. a NumPy bool array), any
    /// strides: the same results as the floating-point overloads on the same values, computed
    /// and returned in T. Reads one byte per sample (blocks of channels are widened to T in
    /// cache), so it moves 4-8× less input memory. Call as optimize_spike_convolution<double>(...).
    template <class T>
    Array<T> optimize_spike_convolution(ArrayView<const std::uint8_t> spike_trains, ArrayView<const T> kernel,
                                        const std::string& mode = "valid",
                                        const ConvolutionOptions& options = {}) const;
    template <class T>
    Array<T> optimize_spike_convolution(ArrayView<const std::uint8_t> spike_trains, const SpikeKernel& kernel,
                                        const std::string& mode = "valid",
                                        const ConvolutionOptions& options = {}) const;

    // --- Reservoir updates (docs/guide/reservoir.md) -------------------------------------
    /// One step x' = (1 − a)·x + a·f(W_in·u + W·x + b): state (N), W_in (N × D), W (N × N dense
    /// or CSR), u (D). Returns the new state.
    template <class T>
    Array<T> optimize_reservoir_update(ArrayView<const T> reservoir_state, ArrayView<const T> input_weights,
                                       ArrayView<const T> reservoir_weights, ArrayView<const T> input_spikes,
                                       const ReservoirOptions<T>& options = {}) const;
    template <class T>
    Array<T> optimize_reservoir_update(ArrayView<const T> reservoir_state, ArrayView<const T> input_weights,
                                       const CsrMatrix<T>& reservoir_weights, ArrayView<const T> input_spikes,
                                       const ReservoirOptions<T>& options = {}) const;
    /// The same step in place (no allocation per call once warm).
    template <class T>
    void reservoir_update_inplace(ArrayView<T> reservoir_state, ArrayView<const T> input_weights,
                                  ArrayView<const T> reservoir_weights, ArrayView<const T> input_spikes,
                                  const ReservoirOptions<T>& options = {}) const;
    template <class T>
    void reservoir_update_inplace(ArrayView<T> reservoir_state, ArrayView<const T> input_weights,
                                  const CsrMatrix<T>& reservoir_weights, ArrayView<const T> input_spikes,
                                  const ReservoirOptions<T>& options = {}) const;
    /// States (T × N) for inputs (T × D) from state0 (N): W_in·Uᵀ for the whole sequence in one
    /// GEMM, then fused recurrent steps.
    template <class T>
    Array<T> run_reservoir(ArrayView<const T> state0, ArrayView<const T> input_weights,
                           ArrayView<const T> reservoir_weights, ArrayView<const T> inputs,
                           const ReservoirOptions<T>& options = {}) const;
    template <class T>
    Array<T> run_reservoir(ArrayView<const T> state0, ArrayView<const T> input_weights,
                           const CsrMatrix<T>& reservoir_weights, ArrayView<const T> inputs,
                           const ReservoirOptions<T>& options = {}) const;

    // --- Batch processing (docs/guide/batch.md) ------------------------------------------
    /// spike_batches (B × N, 0/1 or real) · W (N × M) -> B × M, by dense GEMM or event-driven
    /// accumulation of the active rows of W, whichever the calibrated crossover density says.
    template <class T>
    Array<T> optimize_batch_processing(ArrayView<const T> spike_batches, ArrayView<const T> weight_matrix) const;
    /// Batches given as lists of active input indices (each in [0, N)).
    template <class T>
    Array<T> optimize_batch_processing(const std::vector<std::vector<std::int32_t>>& spike_indices,
                                       ArrayView<const T> weight_matrix) const;

    // --- Eigenvalues (docs/guide/spectral.md) --------------------------------------------
    /// All eigenvalues (and eigenvectors) of a square dense matrix: LAPACK geev through the
    /// backend registry (syevd when symmetric), Eigen when no LAPACK is present.
    template <class T>
    EigenResult optimize_eigenvalue_computation(ArrayView<const T> matrix, bool compute_eigenvectors = false) const;
    /// max |λ| of a square matrix, verified (see SpectralRadius); never an unverified value.
    template <class T>
    SpectralRadius spectral_radius(ArrayView<const T> matrix, double rel_tol = 1e-6) const;
    template <class T>
    SpectralRadius spectral_radius(const CsrMatrix<T>& matrix, double rel_tol = 1e-6) const;

    /// Times sgemm and dgemm of n×n matrices for each n, median of `num_iterations` calls, on
    /// the chosen backend ("optimized") against the builtin GEMM ("baseline"). `output_path`
    /// non-empty: also writes the report as JSON there. `progress` (optional) is called after
    /// each size and type.
    BenchmarkReport benchmark_performance(std::vector<index_t> matrix_sizes = {100, 500, 1000, 2000},
                                          int num_iterations = 10,
                                          const std::filesystem::path& output_path = {},
                                          const ProgressFn& progress = {}) const;

    /// The backend the next optimize_matrix_multiply of this size would use.
    template <class T>
    std::string backend_for(index_t m, index_t n, index_t k) const;

private:
    template <class T>
    GemmKernel<T> kernel(index_t m, index_t n, index_t k) const;

    MKLConfig config_;
    Context context_;
};

/// An optimizer on default_context() (the API's helper).
NEUROPERF_API MKLOptimizer enable_mkl_optimization(MKLConfig config = {});

/// Reservoir initialisation: scales `matrix` in place by rho / ρ(matrix), so that its spectral
/// radius becomes `rho` (up to the verified accuracy of ρ and the rounding of one multiply per
/// entry). Returns the verified spectral radius of the matrix *before* scaling (as
/// MKLOptimizer::spectral_radius). Throws ValueError for rho not finite or <= 0, or when the
/// matrix has spectral radius 0 (nilpotent: no scaling reaches rho); the matrix is unchanged
/// on any error. Cost: one spectral_radius plus one pass over the entries.
///
///   auto W = neuroperf::CsrMatrix<float>::from_dense(w.view());
///   neuroperf::scale_to_spectral_radius(W, 0.9, ctx);   // now ρ(W) = 0.9
template <class T>
NEUROPERF_API SpectralRadius scale_to_spectral_radius(ArrayView<T> matrix, double rho, const Context& context,
                                                      double rel_tol = 1e-6);
template <class T>
NEUROPERF_API SpectralRadius scale_to_spectral_radius(CsrMatrix<T>& matrix, double rho, const Context& context,
                                                      double rel_tol = 1e-6);

}  // namespace neuroperf
