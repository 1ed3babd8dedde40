// The execution context: threads, BLAS backends and their choice, cache directory, logging.
// Every resource travels in a Context; nothing else in neuroperf is global. The
// enable_*() helpers use default_context(). A context is immutable once made: its options are
// fixed (make another context for other options), and settings that belong to one object, such
// as MKLConfig::verbose, stay on that object.
//
//   auto ctx = neuroperf::make_context({.num_threads = 2});
//   auto gemm = ctx.gemm<float>(256, 256, 256);   // dispatch once, call many times
//   gemm(false, false, 256, 256, 256, 1.f, a, 256, b, 256, 0.f, c, 256);
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "neuroperf/blas.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf {

struct ContextOptions {
    /// Threads for our kernels and the BLAS. 0 = auto: OMP_NUM_THREADS if set, else the CPUs
    /// available to the process (affinity mask and cgroup quota).
    int num_threads = 0;
    /// "auto" or a backend name ("mkl", "openblas", "blis", "libxsmm", "builtin"). The
    /// environment variable NEUROPERF_BLAS overrides "auto".
    std::string backend = "auto";
    /// With backend "auto": time the backends once (≤ 3 s) and cache the result in the cache
    /// directory; false uses the fixed order mkl, openblas, blis, builtin.
    bool calibrate = true;
    /// The kernels' instruction-set variant (neuroperf/isa.hpp): "auto" (the widest this CPU
    /// runs, unless the environment variable NEUROPERF_ISA names one), "generic", "avx2" or
    /// "avx512". Our kernels, the builtin GEMM and the JIT's code follow it; the BLAS libraries,
    /// libxsmm and FFTW choose their own code paths.
    std::string isa = "auto";
    /// Empty = neuroperf::cache_dir().
    std::filesystem::path cache_dir;
    /// Log what the context itself does (calibration) and what every object on it does.
    bool verbose = false;
    /// Receives verbose messages; default writes "[neuroperf] ..." lines to stderr.
    std::function<void(std::string_view)> log;
};

namespace runtime {
class ContextImpl;
struct ContextAccess;
}  // namespace runtime

/// Shared handle to execution resources; copies refer to the same context. Immutable after
/// make_context() (only its caches fill in, under locks) and thread-safe.
class NEUROPERF_API Context {
public:
    /// Threads for our kernels and the BLAS: ContextOptions::num_threads, or the automatic rule.
    int num_threads() const;
    /// The backend request ("auto" or a name) in force after NEUROPERF_BLAS.
    const std::string& backend_request() const;
    const std::filesystem::path& cache_dir() const;
    /// The kernels' variant: ContextOptions::isa resolved ("auto" → NEUROPERF_ISA or best_isa()).
    Isa isa() const;
    bool verbose() const;
    /// Writes `message` to the log sink when the context is verbose.
    void log(std::string_view message) const;
    /// The options the context was made with, cache_dir and log filled in (num_threads as given:
    /// num_threads() applies the automatic rule).
    const ContextOptions& options() const;

    /// Every backend looked for, available or not, with the reason.
    std::vector<BackendInfo> backends() const;
    /// The backend serving each operation class and size bucket, and why (calibrates if needed).
    std::vector<BackendChoice> choices() const;
    /// Runs (force=true) or loads the calibration now.
    void calibrate(bool force = false) const;

    /// The GEMM neuroperf picks for an m×n×k problem, with `threads` threads (0 = num_threads()).
    template <class T>
    GemmKernel<T> gemm(index_t m, index_t n, index_t k, int threads = 0) const;
    /// GEMM of a named backend; throws BackendError naming the backends present if it is not.
    /// libxsmm only serves small problems and falls back to builtin beyond its limit.
    template <class T>
    GemmKernel<T> gemm_on(std::string_view backend, int threads = 0) const;

private:
    friend NEUROPERF_API Context make_context(ContextOptions);
    friend struct runtime::ContextAccess;
    explicit Context(std::shared_ptr<const runtime::ContextImpl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const runtime::ContextImpl> impl_;
};

/// A new context. Throws ValueError for bad options (negative threads, unknown backend name,
/// an unknown ISA or one this CPU cannot run).
NEUROPERF_API Context make_context(ContextOptions options = {});

/// The process-wide default context, created on first use with default options.
NEUROPERF_API Context default_context();

}  // namespace neuroperf
