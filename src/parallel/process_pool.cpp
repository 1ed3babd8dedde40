// Placeholder until the worker pool lands: every entry point raises NotBuiltError.
#include "parallel/process_pool.hpp"

namespace neuroperf::parallel {
namespace {
[[noreturn]] void not_built() {
    throw NotBuiltError("ParallelConfig.parallel_strategy \"process\": the worker-process pool is not built into this "
                        "version of neuroperf; use \"thread\"");
}
}  // namespace

bool process_strategy_built() { return false; }

ProcessOutputs<float> run_plugin_in_processes(const ParallelProcessor&, const std::vector<ArrayView<const float>>&,
                                              const ProcessPlugin&, index_t) {
    not_built();
}

template <class T>
ProcessOutputs<T> run_reservoirs_in_processes(const ParallelProcessor&, const std::vector<ArrayView<const T>>&,
                                              const std::vector<ArrayView<const T>>&, std::span<const CsrMatrix<T>>,
                                              const std::vector<ArrayView<const T>>&, const ReservoirOptions<T>&,
                                              const std::vector<double>&) {
    not_built();
}

ProcessOutputs<float> run_reasoning_in_processes(const ParallelProcessor&, const std::vector<std::shared_ptr<const ReasoningCore>>&,
                                                 const std::vector<ArrayView<const float>>&, bool, const std::vector<double>&) {
    not_built();
}

template ProcessOutputs<float> run_reservoirs_in_processes<float>(const ParallelProcessor&, const std::vector<ArrayView<const float>>&,
                                                                  const std::vector<ArrayView<const float>>&,
                                                                  std::span<const CsrMatrix<float>>,
                                                                  const std::vector<ArrayView<const float>>&,
                                                                  const ReservoirOptions<float>&, const std::vector<double>&);
template ProcessOutputs<double> run_reservoirs_in_processes<double>(const ParallelProcessor&, const std::vector<ArrayView<const double>>&,
                                                                    const std::vector<ArrayView<const double>>&,
                                                                    std::span<const CsrMatrix<double>>,
                                                                    const std::vector<ArrayView<const double>>&,
                                                                    const ReservoirOptions<double>&, const std::vector<double>&);

}  // namespace neuroperf::parallel
