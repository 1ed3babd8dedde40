// Private helpers of the CPU probe (cpu.cpp, cpu_files.cpp, peak.cpp): pure parsers of the kernel's text files
// and file-tree readers that take their root as an argument, so tests can feed synthetic input.
#pragma once

#include "neuroperf/cpu.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace neuroperf::core {

/// cgroup v2 `cpu.max` ("<quota> <period>" or "max <period>") -> CPUs; 0 = unlimited;
/// nullopt when malformed. "150000 100000" -> 1.5.
std::optional<double> parse_cpu_max(std::string_view text);

/// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` -> CPUs; 0 = unlimited (quota -1);
/// nullopt when malformed.
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period);

/// CPUs usable given the affinity mask and a cgroup limit (0 = unlimited):
/// min(affinity, ceil(limit)), at least 1.
int cpus_allowed(int affinity_cpus, double cgroup_limit);

/// Number of CPUs in a kernel cpu list such as "0-3,8,10-11" (-> 7); 0 if empty or malformed.
int count_cpu_list(std::string_view list);

/// A sysfs cache size such as "32K", "1024K", "32M" or "512" -> bytes; 0 if malformed.
std::int64_t parse_size_suffix(std::string_view text);

/// Where this process sits in the cgroup hierarchies, from /proc/self/cgroup.
struct CgroupMembership {
    std::optional<std::string> v2_path;      ///< from the "0::<path>" line
    std::optional<std::string> v1_cpu_path;  ///< from the line whose controllers include "cpu"
};
CgroupMembership parse_proc_self_cgroup(std::string_view text);

/// A cgroup file-system mount, from /proc/self/mountinfo.
struct CgroupMount {
    std::string root;         ///< the hierarchy path mounted (field 4), usually "/"
    std::string mount_point;  ///< where it is mounted
};
struct CgroupMounts {
    std::optional<CgroupMount> v2;
    std::optional<CgroupMount> v1_cpu;
};
CgroupMounts parse_mountinfo(std::string_view text);

/// The directory of cgroup `path` under `mount` (handles a mount whose root is a sub-path).
std::string cgroup_dir(const CgroupMount& mount, const std::string& path);

/// CPU limit of this process (0 = unlimited): the smallest quota found walking from its cgroup up
/// to the mount point, v2 and v1. Takes the two /proc files as arguments for testing.
double read_cgroup_cpu_limit(const std::string& proc_self_cgroup = "/proc/self/cgroup",
                             const std::string& mountinfo = "/proc/self/mountinfo");

/// Number of CPUs in this thread's affinity mask (handles masks larger than 1024 CPUs); 0 on error.
int read_affinity_cpus();

/// The CPUs the process may use: this thread's mask, or the OpenMP places when there are any.
/// With OMP_PROC_BIND or OMP_PLACES set, libgomp binds the initial thread to its first place as
/// it starts, so that thread's mask then shows one place; the places, built from the mask the
/// process started with, list every CPU the team may use.
int process_affinity_cpus();

/// Data and unified caches listed under a sysfs directory like
/// /sys/devices/system/cpu/cpu0/cache, ascending level; empty if absent.
std::vector<CacheLevel> read_sysfs_caches(const std::string& cache_dir);

/// Reads a whole (small) file; nullopt if it cannot be opened.
std::optional<std::string> read_text_file(const std::string& path);

/// Removes leading and trailing white space and collapses inner runs of spaces to one.
std::string squeeze_spaces(std::string_view text);

}  // namespace neuroperf::core
