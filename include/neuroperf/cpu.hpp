// What this process runs on: CPU identity, ISA features, caches and the CPUs it may use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// Instruction-set features that our kernels and the JIT care about. `true` means the CPU has the
/// feature *and* the OS saves the matching register state (XCR0), so code using it can run.
struct NEUROPERF_API IsaFeatures {
    bool sse42 = false;
    bool avx = false;
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool bmi1 = false;
    bool bmi2 = false;
    bool lzcnt = false;
    bool movbe = false;
    bool avx512f = false;
    bool avx512dq = false;
    bool avx512cd = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512ifma = false;
    bool avx512vbmi = false;
    bool avx512vnni = false;
    bool avx512bf16 = false;
    bool avx512fp16 = false;
    bool amx = false;

    /// Names of the features present, in the order above ("sse4.2", "avx", "avx2", "fma", ...).
    std::vector<std::string> names() const;
};

/// One level of the data-cache hierarchy as seen by CPU 0.
struct CacheLevel {
    int level = 0;                  ///< 1, 2, 3
    std::string type;               ///< "Data", "Unified"
    std::int64_t size_bytes = 0;    ///< per instance
    int line_bytes = 0;
    int shared_by_cpus = 0;         ///< how many logical CPUs share one instance
};

/// Static description of the CPU and of the CPUs this process may use.
struct NEUROPERF_API CpuInfo {
    std::string vendor;             ///< "GenuineIntel", "AuthenticAMD", ... ("unknown" if not x86)
    std::string model_name;         ///< brand string, trimmed
    int family = 0, model = 0, stepping = 0;
    IsaFeatures isa;
    std::vector<CacheLevel> caches; ///< data and unified caches, ascending level
    int logical_cpus_online = 0;    ///< sysconf(_SC_NPROCESSORS_ONLN)
    int affinity_cpus = 0;          ///< CPUs in this process's affinity mask
    double cgroup_cpu_limit = 0.0;  ///< cgroup quota / period in CPUs; 0 when unlimited
    int available_cpus = 0;         ///< min(affinity, ceil(cgroup limit)), at least 1

    /// Bytes of the cache at `level` (1..3) for data, 0 if unknown.
    std::int64_t cache_bytes(int level) const;
};

/// Probes the CPU once (cpuid, sysfs, affinity mask, cgroup v1/v2 quota) and caches the result.
/// Cheap after the first call; thread-safe.
NEUROPERF_API const CpuInfo& cpu_info();

/// Re-reads the affinity mask and cgroup quota (they can change at run time); returns the number
/// of CPUs this process may use now, at least 1.
NEUROPERF_API int available_cpus();

/// Measured machine limits for `neuroperf info --peak`.
struct PeakMeasurement {
    double fp32_gflops_per_core = 0.0;  ///< FMA throughput of one thread, best ISA present
    double memory_bandwidth_gbs = 0.0;  ///< streaming read+write bandwidth, all given threads
    int threads = 0;
};

/// Measures single-core fp32 FMA peak and memory bandwidth with `threads` threads
/// (0 = available_cpus()). Takes about a second.
NEUROPERF_API PeakMeasurement measure_peak(int threads = 0);

}  // namespace neuroperf
