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

namespace neuroperf::detail {

/// OMP_NUM_THREADS's first entry if it is a positive integer, else available_cpus().
int default_thread_count();

class ContextImpl {
public:
    explicit ContextImpl(ContextOptions options);

    const blas::Registry& registry() const { return registry_; }
    /// Backend serving op/bucket, calibrating or loading the calibration on first use.
    const blas::Backend& backend_for(BlasOp op, int bucket) const;
    const blas::Backend& backend_named(std::string_view name) const;  // throws BackendError
    std::vector<BackendChoice> choices() const;
    void calibrate(bool force) const;

    ContextOptions options;
    std::atomic<int> threads{1};
    std::string backend_request;  // after NEUROPERF_BLAS
    std::string backend_request_source;  // "NEUROPERF_BLAS", "options", "default"

private:
    void ensure_choices() const;
    void fill_choices_from(const blas::Calibration& cal) const;

    // The libraries are loaded once per process and their thread settings are process-wide,
    // so every context shares one registry (and so one record of the settings applied).
    std::shared_ptr<const blas::Registry> registry_holder_ = blas::process_registry();
    const blas::Registry& registry_ = *registry_holder_;
    mutable std::mutex mutex_;
    mutable std::atomic<bool> ready_{false};
    mutable int calibrated_threads_ = -1;
    mutable std::array<std::array<const blas::Backend*, kGemmBuckets>, 2> chosen_{};
    mutable std::array<std::array<std::string, kGemmBuckets>, 2> why_{};
};

}  // namespace neuroperf::detail
