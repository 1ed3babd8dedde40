// Where multi-threaded calls pin their threads (MKLConfig::thread_affinity): a pure plan from
// the CPU topology, and the topology of this process's CPUs.
#pragma once

#include <string>
#include <vector>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// The CPUs (logical ids) that threads 0..threads-1 are pinned to under `policy`, given each
/// CPU's (package, core) topology listed in CPU order. Pure function.
///   compact:  fill one core's hardware threads, then the next core, then the next package;
///   scatter:  round-robin across packages, then cores, then hardware threads;
///   balanced: one thread per core spread evenly over packages before using a core's second
///             hardware thread. "none": empty result.
struct CpuTopologyEntry {
    int cpu = 0;
    int package = 0;
    int core = 0;
};
NEUROPERF_API std::vector<int> affinity_plan(const std::string& policy, int threads,
                                           const std::vector<CpuTopologyEntry>& topology);
/// Topology of the CPUs in this process's affinity mask (sysfs).
NEUROPERF_API std::vector<CpuTopologyEntry> current_cpu_topology();

}  // namespace neuroperf
