// The execution context: threads, BLAS backends and their choice, cache directory, logging.
// Every resource travels in a Context; nothing else in neuroperf is global. The seed's
// enable_*() helpers use default_context().
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
    /// Empty = neuroperf::cache_dir().
    std::filesystem::path cache_dir;
    bool verbose = false;
    /// Receives verbose messages; default writes "[neuroperf] ..." lines to stderr.
    std::function<void(std::string_view)> log;
};

namespace detail {
class ContextImpl;
}

/// Shared handle to execution resources; copies refer to the same context. Thread-safe.
class Context {
public:
    int num_threads() const;
    /// Throws ValueError for n < 0; 0 re-applies the automatic rule.
    void set_num_threads(int n);
    /// The backend request ("auto" or a name) in force after NEUROPERF_BLAS.
    const std::string& backend_request() const;
    const std::filesystem::path& cache_dir() const;
    bool verbose() const;
    /// Writes `message` to the log sink when verbose.
    void log(std::string_view message) const;

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

    detail::ContextImpl& impl() const { return *impl_; }

private:
    friend Context make_context(ContextOptions);
    explicit Context(std::shared_ptr<detail::ContextImpl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<detail::ContextImpl> impl_;
};

/// A new context. Throws ValueError for bad options (negative threads, unknown backend name).
Context make_context(ContextOptions options = {});

/// The process-wide default context, created on first use with default options.
Context default_context();

}  // namespace neuroperf
