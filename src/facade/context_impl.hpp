// What a Context holds. Private: the façade and the layers' glue reach it through Context::impl().
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "blas/calibration.hpp"
#include "blas/registry.hpp"
#include "neuroperf/context.hpp"

namespace neuroperf::jit {
class Registry;
}

namespace neuroperf::detail {

/// OMP_NUM_THREADS's first entry if it is a positive integer, else available_cpus().
int default_thread_count();

class ContextImpl {
public:
    explicit ContextImpl(ContextOptions options);

    const blas::Registry& registry() const { return registry_; }
    /// Backend serving op/bucket at `threads` threads; the first use of a thread count loads
    /// or measures its calibration (backends rank differently at 1 and at N threads).
    const blas::Backend& backend_for(BlasOp op, int bucket, int threads) const;
    const blas::Backend& backend_named(std::string_view name) const;  // throws BackendError
    std::vector<BackendChoice> choices(int threads) const;
    void calibrate(int threads, bool force) const;

    ContextOptions options;
    std::atomic<int> threads{1};
    std::string backend_request;  // after NEUROPERF_BLAS
    std::string backend_request_source;  // "NEUROPERF_BLAS", "options", "default"
    // The JIT's kernel registry (src/jit/registry.cpp), made on first use.
    std::once_flag jit_once;
    std::shared_ptr<jit::Registry> jit_registry;

private:
    struct Choices {
        std::array<std::array<const blas::Backend*, kGemmBuckets>, 2> backend{};
        std::array<std::array<std::string, kGemmBuckets>, 2> why{};
    };
    static constexpr int kThreadSlots = 512;  // thread counts above share the last slot
    const Choices& choices_for(int threads) const;
    std::unique_ptr<Choices> make_choices(int threads, bool force) const;

    // The libraries are loaded once per process and their thread settings are process-wide,
    // so every context shares one registry (and so one record of the settings applied).
    std::shared_ptr<const blas::Registry> registry_holder_ = blas::process_registry();
    const blas::Registry& registry_ = *registry_holder_;
    mutable std::mutex mutex_;
    // Read without locking on every GEMM call; written once per slot under mutex_. Replaced
    // tables (calibrate(force=true)) stay alive in owned_ so no reader is left dangling.
    mutable std::array<std::atomic<const Choices*>, kThreadSlots> slots_{};
    mutable std::vector<std::unique_ptr<Choices>> owned_;
};

}  // namespace neuroperf::detail
