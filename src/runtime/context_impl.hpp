// What a Context holds (private to the library): its options, fixed at construction; the BLAS
// registry and the calibrated backend choices, filled in on first use; and the per-context
// services of the layers above (the JIT's kernel registry), made on first use. Immutable apart
// from those caches, which fill in under locks: a ContextImpl is safe to share between threads.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blas/calibration.hpp"
#include "blas/registry.hpp"
#include "neuroperf/context.hpp"

namespace neuroperf::runtime {

/// OMP_NUM_THREADS's first entry if it is a positive integer, else available_cpus().
int default_thread_count();

/// The identity of the service type S (its address): one per S, whatever makes it.
template <class S>
inline const char service_key = 0;

class ContextImpl {
public:
    /// Validates and completes `options` (ValueError / BackendError as make_context).
    explicit ContextImpl(ContextOptions options);
    ContextImpl(const ContextImpl&) = delete;
    ContextImpl& operator=(const ContextImpl&) = delete;

    const ContextOptions& options() const { return options_; }
    int threads() const { return threads_; }
    /// The kernels' variant (ContextOptions::isa resolved): what every kernel call made for
    /// this context runs.
    Isa isa() const { return isa_; }
    bool verbose() const { return options_.verbose; }
    /// The backend request ("auto" or a name) after NEUROPERF_BLAS, and where it came from
    /// ("NEUROPERF_BLAS", "options", "default").
    const std::string& backend_request() const { return backend_request_; }
    const std::string& backend_request_source() const { return backend_request_source_; }

    /// Writes `message` to the log sink, whatever the context's verbosity: objects with a
    /// verbose setting of their own (MKLConfig::verbose, ...) log through this.
    void emit(std::string_view message) const { options_.log(message); }
    /// Writes `message` to the log sink when the context is verbose.
    void log(std::string_view message) const {
        if (options_.verbose) emit(message);
    }

    const blas::Registry& registry() const { return registry_; }
    /// Backend serving op/bucket at `threads` threads; the first use of a thread count loads
    /// or measures its calibration (backends rank differently at 1 and at N threads), logged
    /// when the context or the caller (`verbose`) is verbose.
    const blas::Backend& backend_for(BlasOp op, int bucket, int threads, bool verbose = false) const;
    /// The backend of that name (the builtin GEMM at this context's variant); BackendError
    /// when it is not available.
    const blas::Backend& backend_named(std::string_view name) const;
    std::vector<BackendChoice> choices(int threads, bool verbose = false) const;
    /// The GEMM for an m×n×k problem at `threads` threads (Context::gemm), calibration logged
    /// when `verbose`.
    template <class T>
    GemmKernel<T> gemm(index_t m, index_t n, index_t k, int threads, bool verbose = false) const {
        const auto& be = backend_for(gemm_op<T>(), gemm_bucket(m, n, k), threads, verbose);
        return {be.template gemm<T>(), &be, be.info.name.c_str(), threads};
    }
    void calibrate(int threads, bool force, bool verbose = false) const;

    /// The per-context object of type S, made by make() (returning std::shared_ptr<S>) on first
    /// use; shared by every copy of the context and destroyed with it. For the layers above
    /// this one, whose types the context cannot name (the JIT's kernel registry).
    template <class S, class Make>
    S& service(Make&& make) const {
        return *static_cast<S*>(service_slot(&service_key<S>, [&]() -> std::shared_ptr<void> { return make(); }).get());
    }

private:
    struct Choices {
        std::array<std::array<const blas::Backend*, kGemmBuckets>, 2> backend{};
        std::array<std::array<std::string, kGemmBuckets>, 2> why{};
    };
    static constexpr int kThreadSlots = 512;  // thread counts above share the last slot
    const Choices& choices_for(int threads, bool verbose) const;
    std::unique_ptr<Choices> make_choices(int threads, bool force, bool verbose) const;
    std::shared_ptr<void> service_slot(const void* key, const std::function<std::shared_ptr<void>()>& make) const;

    const ContextOptions options_;
    const int threads_;
    const Isa isa_;
    std::string backend_request_, backend_request_source_;
    // The libraries are loaded once per process and their thread settings are process-wide,
    // so every context shares one registry (and so one record of the settings applied).
    std::shared_ptr<const blas::Registry> registry_holder_ = blas::process_registry();
    const blas::Registry& registry_ = *registry_holder_;
    mutable std::mutex mutex_;
    // Read without locking on every GEMM call; written once per slot under mutex_. Replaced
    // tables (calibrate(force=true)) stay alive in owned_ so no reader is left dangling.
    mutable std::array<std::atomic<const Choices*>, kThreadSlots> slots_{};
    mutable std::vector<std::unique_ptr<Choices>> owned_;
    mutable std::mutex services_mutex_;
    mutable std::vector<std::pair<const void*, std::shared_ptr<void>>> services_;
};

/// The private side of a Context, for the library's layers.
struct ContextAccess {
    static const ContextImpl& impl(const Context& c) { return *c.impl_; }
};
inline const ContextImpl& impl_of(const Context& c) { return ContextAccess::impl(c); }

}  // namespace neuroperf::runtime

namespace neuroperf::runtime {

/// Whether an object with a verbose setting of its own (MKLConfig::verbose, JITConfig::verbose,
/// ...) logs on `ctx`: when it or the context is verbose. Check it before formatting a message.
inline bool logs(const Context& ctx, bool verbose) { return verbose || impl_of(ctx).verbose(); }
/// Writes `message` to ctx's log sink.
inline void emit(const Context& ctx, std::string_view message) { impl_of(ctx).emit(message); }

}  // namespace neuroperf::runtime
