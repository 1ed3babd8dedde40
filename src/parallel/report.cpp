// The parallel calls' reports and errors (include/neuroperf/parallel_report.hpp).
#include "neuroperf/parallel_report.hpp"

#include <fmt/format.h>

#include "core/json_fields.hpp"

namespace neuroperf {

TaskError::TaskError(std::size_t task_index, const std::string& message, std::exception_ptr original)
    : Error(message), task_index_(task_index), original_(std::move(original)) {}

std::string ParallelReport::summary() const {
    return fmt::format("{}: {} tasks on {} {} worker(s){}, {:.3f} ms wall, serial estimate {:.3f} ms, speed-up {:.2f}, "
                       "imbalance {:.3f}, {} steal(s)",
                       operation, tasks.size(), workers, strategy, load_balanced ? " (LPT)" : " (static)",
                       wall_seconds * 1e3, serial_seconds * 1e3, speedup_estimate, imbalance, steals);
}

NEUROPERF_INSTANTIATE_TO_JSON(TaskRecord);
NEUROPERF_INSTANTIATE_TO_JSON(ParallelReport);
NEUROPERF_INSTANTIATE_TO_JSON(ParallelStats);

}  // namespace neuroperf
