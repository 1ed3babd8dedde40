// JITCompiler: kernels specialised at run time for the caller's sizes, constants and
// CPU, compiled once by the system C++ compiler, cached on disk and reused across runs, with the
// generic ahead-of-time (AOT) kernel as the fallback when no compiler is usable.
//
//   neuroperf::LifSpec spec;                       // CUBA LIF, float32, Brian2's example values
//   spec.num_neurons = 4000;
//   auto jit = neuroperf::enable_jit_compilation();
//   auto kernel = jit.compile_spike_processing_kernel<float>(spec);
//   kernel(args);                                  // one step: update, spikes, propagation
//
// See docs/guide/jit.md (what is compiled, where the cache lives, how to clear it) and
// docs/dev/jit.md (design).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "neuroperf/array.hpp"
#include "neuroperf/context.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/kernel_specs.hpp"
#include "neuroperf/progress.hpp"
#include "neuroperf/reservoir.hpp"
#include "neuroperf/sparse.hpp"

namespace neuroperf {

/// The compiler's configuration.
struct JITConfig {
    /// false: every kernel is the AOT kernel (is_compiled() false), no compiler is run.
    bool enable_jit = true;
    /// Keep compiled kernels in the cache directory (<cache_dir>/jit) for later runs; false
    /// compiles into a private temporary directory removed with the compiler's registry.
    bool cache_compiled_functions = true;
    /// Compile with -ffast-math (results then differ from the AOT kernel within rounding);
    /// false keeps IEEE semantics: compiled kernels are bit-identical to their AOT kernels.
    bool enable_fastmath = false;
    /// Add OpenMP work-sharing to the generated loops (the caller's thread count applies).
    bool enable_parallel_loops = false;
    /// Log compiles, cache hits and the cache location through the context's log sink.
    bool verbose = false;
};

/// A spike processing kernel (compiled or AOT). Cheap to copy; thread-safe to call concurrently
/// on disjoint neuron ranges and disjoint output rings.
template <class T>
class NEUROPERF_API SpikeProcessingKernel {
public:
    /// Update of neurons [begin, end) at step t: arrivals of slot t mod D added to g, exact
    /// sub-threshold step, threshold, reset, refractory count; the indices of the neurons that
    /// fired, ascending, go to spikes[0..num_spikes). Throws ValueError for a bad range or step.
    void update(SpikeStepArgs<T>& args) const;
    /// Adds the weights of every synapse of the neurons in spikes[0..num_spikes) to out_e (source
    /// j < exc_count) or out_i, slot (t + d) mod D; spikes in order, synapses in row order.
    void propagate(SpikeStepArgs<T>& args) const;
    /// update then propagate.
    void operator()(SpikeStepArgs<T>& args) const;

    const LifSpec& spec() const;
    /// The generated source (also kept for the AOT kernel, to show what would be compiled).
    const std::string& source() const;
    /// Cache key: 32 hex digits hashing the source, compiler identity, flags, CPU features and
    /// neuroperf version.
    const std::string& key() const;
    /// True when the calls run compiled code; false for the AOT fallback.
    bool is_compiled() const;
    /// Why the AOT kernel is used (empty when compiled).
    const std::string& fallback_reason() const;

    struct State;  // private
    explicit SpikeProcessingKernel(std::shared_ptr<const State> state) : state_(std::move(state)) {}

private:
    std::shared_ptr<const State> state_;
};

/// Result of optimize_memory_layout: a view in the requested layout, over the caller's array
/// when it already was in that layout (copied == false), else over `storage`.
template <class T>
struct LaidOutArray {
    ArrayView<const T> view;
    Array<T> storage;
    bool copied = false;
};

/// A FIR convolution with its taps, signal length and mode baked in (compiled or AOT). Cheap to
/// copy, thread-safe.
template <class T>
class NEUROPERF_API ConvolutionKernel {
public:
    /// out[0..output_length()) = numpy.convolve(x[0..signal_length()), taps, mode); x and out
    /// contiguous and not overlapping.
    void operator()(const T* x, T* out) const;
    /// Each row of `x` (rank 1: (n); rank 2: channels × n; any strides) -> a new C-order array.
    /// ShapeError when the last extent is not signal_length().
    Array<T> operator()(ArrayView<const T> x) const;
    index_t signal_length() const;
    index_t output_length() const;
    const std::string& source() const;
    const std::string& key() const;
    bool is_compiled() const;
    const std::string& fallback_reason() const;

    struct State;  // private
    explicit ConvolutionKernel(std::shared_ptr<const State> state) : state_(std::move(state)) {}

private:
    std::shared_ptr<const State> state_;
};

/// A reservoir update kernel (compiled or AOT) with N, D, leak, activation, precision, the
/// weight format and the presence of a bias baked in. Cheap to copy; thread-safe.
template <class T>
class NEUROPERF_API ReservoirUpdateKernel {
public:
    /// As MKLOptimizer::reservoir_update_inplace with this kernel's options: `state` (N, any
    /// stride) becomes (1 − a)·state + a·f(W_in·u + W·state + b). W_in (N × D), W (N × N, unit
    /// column stride; other strides are packed first), u (D), bias (N, only when spec.has_bias,
    /// else empty). The result is bit-identical to the AOT step (the fallback) without fast math.
    /// ShapeError naming the operand for a shape that is not the baked-in one; ValueError when
    /// the weights' format (dense/CSR) is not spec.sparse's.
    void operator()(ArrayView<T> state, ArrayView<const T> input_weights, ArrayView<const T> reservoir_weights,
                    ArrayView<const T> input, ArrayView<const T> bias = {}) const;
    void operator()(ArrayView<T> state, ArrayView<const T> input_weights, const CsrMatrix<T>& reservoir_weights,
                    ArrayView<const T> input, ArrayView<const T> bias = {}) const;

    const ReservoirKernelSpec& spec() const;
    const std::string& source() const;
    const std::string& key() const;
    bool is_compiled() const;
    const std::string& fallback_reason() const;

    struct State;  // private
    explicit ReservoirUpdateKernel(std::shared_ptr<const State> state) : state_(std::move(state)) {}

private:
    std::shared_ptr<const State> state_;
};

/// C = A·B for one shape (M × K times K × N), row-major. Small shapes (every dimension ≤ 64) run
/// a kernel generated by libxsmm's JIT for exactly that shape (is_compiled() true); others,
/// or when libxsmm is not built in or the JIT is disabled, the context's GEMM for the shape.
/// Cheap to copy, thread-safe.
template <class T>
class NEUROPERF_API MatmulKernel {
public:
    /// c[0..M·N) = a[0..M·K) · b[0..K·N), all C-order and contiguous; c must not overlap a or b.
    void operator()(const T* a, const T* b, T* c) const;
    /// The same for views of any strides (copied to C order first when needed); ShapeError
    /// naming the operand when a is not M × K or b not K × N.
    Array<T> operator()(ArrayView<const T> a, ArrayView<const T> b) const;
    index_t m() const;
    index_t n() const;
    index_t k() const;
    /// "libxsmm" or the GEMM backend's name.
    const std::string& backend() const;
    /// libxsmm generates machine code directly: there is no source; says so and which code runs.
    const std::string& source() const;
    /// The shape, dtype and code path ("matmul/f64/M=8/N=8/K=8/libxsmm").
    const std::string& key() const;
    bool is_compiled() const;
    const std::string& fallback_reason() const;

    struct State;  // private
    explicit MatmulKernel(std::shared_ptr<const State> state) : state_(std::move(state)) {}

private:
    std::shared_ptr<const State> state_;
};

/// One row of benchmark_jit_performance() (fields documented in the field list below).
struct JitBenchmarkEntry {
    std::string name;
    double seconds = 0;
};

/// An entry of the on-disk cache (neuroperf jit list; fields documented in the field list below).
struct JitCacheEntry {
    std::string key;
    std::string kernel;
    std::string compiler;
    std::int64_t bytes = 0;
    bool valid = false;
    std::filesystem::path library;
};

template <>
struct Fields<JitBenchmarkEntry> {
    using S = JitBenchmarkEntry;
    static constexpr auto list = std::tuple{
        field("name", &S::name, "\"compile/spike_processing/cold/N=1000\", \"spike_processing/jit/N=1000\", ..."),
        field("seconds", &S::seconds, "median")};
};
NEUROPERF_CHECK_FIELDS(JitBenchmarkEntry);

template <>
struct Fields<JitCacheEntry> {
    using S = JitCacheEntry;
    static constexpr auto list = std::tuple{
        field("key", &S::key, "32 hex digits: the source, compiler, flags, CPU and neuroperf version hashed"),
        field("kernel", &S::kernel, "\"spike_processing\", \"convolution\", \"reservoir_update\""),
        field("compiler", &S::compiler, "the compiler's first --version line"),
        field("bytes", &S::bytes, "library + source + record"),
        field("valid", &S::valid, "record, size and checksum match"), field("library", &S::library, "the .so file")};
};
NEUROPERF_CHECK_FIELDS(JitCacheEntry);

class NEUROPERF_API JITCompiler {
public:
    /// A compiler on a context of its own (verbose per config).
    explicit JITCompiler(JITConfig config = {});
    /// A compiler sharing `context`'s cache directory, log sink and in-process kernel registry.
    JITCompiler(JITConfig config, Context context);

    const JITConfig& config() const { return config_; }
    const Context& context() const { return context_; }

    /// The spike processing kernel for `spec` and T (float or double). Never throws for a
    /// missing or failing compiler: the AOT kernel comes back with one warning (is_compiled()
    /// false). Throws ValueError for an invalid spec. Cost: a lookup (µs) when this process
    /// already has it, a checked load (sub-ms) from the cache, else a compile (~0.1 s).
    template <class T>
    SpikeProcessingKernel<T> compile_spike_processing_kernel(const LifSpec& spec) const;

    /// numpy.convolve(x, taps, mode) for signals of `signal_length` samples, taps baked into the
    /// code ("full" | "same" | "valid"; numpy's rules when taps are longer than the signal). The
    /// AOT kernel is MKLOptimizer's direct convolution; compiled without fast math the result is
    /// bit-identical to it (same summation order), with fast math within rounding. Throws
    /// ValueError for an unknown mode, non-finite taps or signal_length < 1, ShapeError for taps
    /// that are not a non-empty 1-D array. Never throws for compiler trouble (AOT fallback).
    template <class T>
    ConvolutionKernel<T> compile_convolution_kernel(ArrayView<const T> taps, index_t signal_length,
                                                    const std::string& mode = "valid") const;

    /// The fused reservoir step for `spec` and T (float or double; no argument: the spec's
    /// defaults in double). The AOT fallback is the kernel behind MKLOptimizer::
    /// reservoir_update_inplace (kernels/reservoir.cpp); compiled without fast math the result is
    /// bit-identical to it (same sums in the same order, the same vectorised tanh/sigmoid
    /// polynomials, FMA exactly where the AOT code for this CPU fuses). Throws ValueError for an
    /// invalid spec; never throws for compiler trouble (AOT fallback with one warning).
    template <class T = double>
    ReservoirUpdateKernel<T> compile_reservoir_update_kernel(const ReservoirKernelSpec& spec = {}) const;

    /// A C = A·B kernel with M, N, K baked in (see MatmulKernel): libxsmm's JIT for shapes with
    /// every dimension ≤ 64, else Context::gemm<T>(M, N, K). ValueError for a negative size.
    template <class T = double>
    MatmulKernel<T> compile_matrix_multiply_kernel(index_t M, index_t N, index_t K) const;

    /// `array` (rank 1 or 2) in `access_pattern`, 64-byte aligned: "row_major" (C order),
    /// "column_major" (Fortran order: the view has the same shape, strides (1, rows)) or "blocked"
    /// (64×64 tiles, zero-padded, each tile C-order, tiles in row-major order: the view has shape
    /// (row tiles · col tiles, 4096)). No copy when the array already is C-order and aligned
    /// (row_major) or Fortran-order and aligned (column_major); rank 1 counts as both.
    /// ValueError for another pattern, ShapeError for rank > 2.
    template <class T>
    LaidOutArray<T> optimize_memory_layout(ArrayView<const T> array, const std::string& access_pattern = "row_major") const;

    /// Cold compile, warm loads (disk, memory) and kernel time of the compiled against the AOT
    /// spike processing kernel for each N, medians of `num_iterations`.
    /// `progress` (optional) is called after each size of each part.
    std::vector<JitBenchmarkEntry> benchmark_jit_performance(std::vector<index_t> test_sizes = {100, 500, 1000},
                                                             int num_iterations = 5, const ProgressFn& progress = {}) const;

    /// The directory compiled kernels go to (<cache_dir>/jit, or a private temporary directory
    /// when that is not writable or caching is off).
    std::filesystem::path cache_directory() const;
    /// The compiler found ($NEUROPERF_CXX, else clang++, else g++ on PATH) and its first
    /// --version line; empty when none is usable.
    std::string compiler_description() const;

private:
    JITConfig config_;
    Context context_;
};

/// A compiler on default_context() (the API's helper).
NEUROPERF_API JITCompiler enable_jit_compilation(JITConfig config = {});

/// Entries of the JIT cache in `dir` (default: <cache_dir()>/jit).
NEUROPERF_API std::vector<JitCacheEntry> jit_cache_entries(const std::filesystem::path& dir = {});
/// Removes every cache entry in `dir` (default: <cache_dir()>/jit); returns how many.
NEUROPERF_API int clear_jit_cache(const std::filesystem::path& dir = {});

}  // namespace neuroperf
