// CPU probe: identity and ISA consistency, caches, CPU counts (affinity, cgroup parsing), peak.
#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"

#include "core/cpu_detail.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

namespace np = neuroperf;
namespace nd = neuroperf::core;
namespace fs = std::filesystem;

namespace {

bool has_name(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// A scratch directory removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("neuroperf_test_cpu_" + std::to_string(::getpid()) + "_" +
                                            std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const fs::path& rel, const std::string& text) const {
        fs::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
};

}  // namespace

TEST(Cpu, IdentityOnX86) {
    const np::CpuInfo& info = np::cpu_info();
#if defined(__x86_64__)
    EXPECT_FALSE(info.vendor.empty());
    EXPECT_NE(info.vendor, "unknown");
    EXPECT_FALSE(info.model_name.empty());
    EXPECT_EQ(info.model_name, nd::squeeze_spaces(info.model_name));
    EXPECT_GT(info.family, 0);
    EXPECT_TRUE(info.isa.sse42);  // every x86-64 CPU that can run our binaries has it
#else
    EXPECT_EQ(info.vendor, "unknown");
#endif
}

TEST(Cpu, CpuInfoIsComputedOnce) { EXPECT_EQ(&np::cpu_info(), &np::cpu_info()); }

TEST(Cpu, FeatureImplications) {
    const np::IsaFeatures& isa = np::cpu_info().isa;
    if (isa.avx2) {
        EXPECT_TRUE(isa.avx);
    }
    if (isa.fma || isa.f16c) {
        EXPECT_TRUE(isa.avx);
    }
    if (isa.avx512f) {
        EXPECT_TRUE(isa.avx2);
        EXPECT_TRUE(isa.fma);
    }
    for (bool sub : {isa.avx512dq, isa.avx512cd, isa.avx512bw, isa.avx512vl, isa.avx512ifma, isa.avx512vbmi,
                     isa.avx512vnni, isa.avx512bf16, isa.avx512fp16})
        if (sub) {
            EXPECT_TRUE(isa.avx512f);
        }
}

TEST(Cpu, NamesMatchFlags) {
    const np::IsaFeatures& isa = np::cpu_info().isa;
    const std::vector<std::string> names = isa.names();
    const std::vector<std::pair<bool, std::string>> expected = {
        {isa.sse42, "sse4.2"},        {isa.avx, "avx"},
        {isa.avx2, "avx2"},           {isa.fma, "fma"},
        {isa.f16c, "f16c"},           {isa.bmi1, "bmi1"},
        {isa.bmi2, "bmi2"},           {isa.lzcnt, "lzcnt"},
        {isa.movbe, "movbe"},         {isa.avx512f, "avx512f"},
        {isa.avx512dq, "avx512dq"},   {isa.avx512cd, "avx512cd"},
        {isa.avx512bw, "avx512bw"},   {isa.avx512vl, "avx512vl"},
        {isa.avx512ifma, "avx512ifma"}, {isa.avx512vbmi, "avx512vbmi"},
        {isa.avx512vnni, "avx512vnni"}, {isa.avx512bf16, "avx512bf16"},
        {isa.avx512fp16, "avx512fp16"}, {isa.amx, "amx"},
    };
    std::vector<std::string> in_order;
    for (const auto& [present, name] : expected)
        if (present) in_order.push_back(name);
    EXPECT_EQ(names, in_order);

    np::IsaFeatures none;
    EXPECT_TRUE(none.names().empty());
    np::IsaFeatures some;
    some.avx2 = some.avx512f = some.amx = true;
    EXPECT_EQ(some.names(), (std::vector<std::string>{"avx2", "avx512f", "amx"}));
    EXPECT_TRUE(has_name(some.names(), "amx"));
}

TEST(Cpu, CachesAscendingAndSized) {
    const np::CpuInfo& info = np::cpu_info();
    for (std::size_t i = 1; i < info.caches.size(); ++i)
        EXPECT_LE(info.caches[i - 1].level, info.caches[i].level);
    for (const np::CacheLevel& c : info.caches) {
        EXPECT_TRUE(c.type == "Data" || c.type == "Unified") << c.type;
        EXPECT_GT(c.size_bytes, 0);
        EXPECT_GE(c.level, 1);
    }
    if (fs::exists("/sys/devices/system/cpu/cpu0/cache/index0/level")) {
        ASSERT_FALSE(info.caches.empty());
        EXPECT_GT(info.cache_bytes(1), 0);
        EXPECT_GT(info.caches.front().line_bytes, 0);
    }
    EXPECT_EQ(info.cache_bytes(9), 0);
}

TEST(Cpu, SysfsCachesFromSyntheticTree) {
    TempDir dir;
    const auto index = [&](int i, const char* level, const char* type, const char* size, const char* shared) {
        const fs::path d = "index" + std::to_string(i);
        dir.write(d / "level", std::string(level) + "\n");
        dir.write(d / "type", std::string(type) + "\n");
        dir.write(d / "size", std::string(size) + "\n");
        dir.write(d / "coherency_line_size", "64\n");
        dir.write(d / "shared_cpu_list", std::string(shared) + "\n");
    };
    index(0, "3", "Unified", "32768K", "0-7");
    index(1, "1", "Instruction", "32K", "0");
    index(2, "1", "Data", "48K", "0,4");
    index(3, "2", "Unified", "2M", "0");
    const std::vector<np::CacheLevel> caches = nd::read_sysfs_caches(dir.path.string());
    ASSERT_EQ(caches.size(), 3u);
    EXPECT_EQ(caches[0].level, 1);
    EXPECT_EQ(caches[0].type, "Data");
    EXPECT_EQ(caches[0].size_bytes, 48 * 1024);
    EXPECT_EQ(caches[0].shared_by_cpus, 2);
    EXPECT_EQ(caches[1].size_bytes, 2 << 20);
    EXPECT_EQ(caches[2].level, 3);
    EXPECT_EQ(caches[2].shared_by_cpus, 8);
    EXPECT_EQ(caches[2].line_bytes, 64);

    np::CpuInfo info;
    info.caches = caches;
    EXPECT_EQ(info.cache_bytes(1), 48 * 1024);
    EXPECT_EQ(info.cache_bytes(3), 32 << 20);

    EXPECT_TRUE(nd::read_sysfs_caches((dir.path / "missing").string()).empty());
}

TEST(Cpu, TextParsers) {
    EXPECT_EQ(nd::count_cpu_list("0-3,8,10-11\n"), 7);
    EXPECT_EQ(nd::count_cpu_list("5"), 1);
    EXPECT_EQ(nd::count_cpu_list(""), 0);
    EXPECT_EQ(nd::count_cpu_list("3-1"), 0);
    EXPECT_EQ(nd::parse_size_suffix("32K\n"), 32 * 1024);
    EXPECT_EQ(nd::parse_size_suffix("1M"), 1 << 20);
    EXPECT_EQ(nd::parse_size_suffix("512"), 512);
    EXPECT_EQ(nd::parse_size_suffix("abc"), 0);
    EXPECT_EQ(nd::squeeze_spaces("  Intel(R)  Xeon(R)   CPU  "), "Intel(R) Xeon(R) CPU");
}

TEST(Cpu, CgroupV2CpuMaxParsing) {
    EXPECT_EQ(nd::parse_cpu_max("max 100000"), 0.0);
    EXPECT_EQ(nd::parse_cpu_max("max 100000\n"), 0.0);
    EXPECT_DOUBLE_EQ(nd::parse_cpu_max("150000 100000").value(), 1.5);
    EXPECT_DOUBLE_EQ(nd::parse_cpu_max("50000 100000").value(), 0.5);
    EXPECT_DOUBLE_EQ(nd::parse_cpu_max("200000").value(), 2.0);
    EXPECT_FALSE(nd::parse_cpu_max("").has_value());
    EXPECT_FALSE(nd::parse_cpu_max("x 100000").has_value());
    EXPECT_FALSE(nd::parse_cpu_max("100 0").has_value());
}

TEST(Cpu, CgroupV1QuotaParsing) {
    EXPECT_EQ(nd::parse_cfs_quota("-1\n", "100000\n"), 0.0);
    EXPECT_DOUBLE_EQ(nd::parse_cfs_quota("250000", "100000").value(), 2.5);
    EXPECT_FALSE(nd::parse_cfs_quota("abc", "100000").has_value());
    EXPECT_FALSE(nd::parse_cfs_quota("1000", "0").has_value());
}

TEST(Cpu, CpusAllowedFromLimit) {
    EXPECT_EQ(nd::cpus_allowed(8, 0.0), 8);                                  // unlimited
    EXPECT_EQ(nd::cpus_allowed(8, nd::parse_cpu_max("150000 100000").value()), 2);  // ceil(1.5)
    EXPECT_EQ(nd::cpus_allowed(8, nd::parse_cpu_max("50000 100000").value()), 1);   // ceil(0.5)
    EXPECT_EQ(nd::cpus_allowed(2, 16.0), 2);                                 // affinity tighter
    EXPECT_EQ(nd::cpus_allowed(0, 0.0), 1);                                  // never below 1
    EXPECT_EQ(nd::cpus_allowed(4, 2.0), 2);
}

TEST(Cpu, ProcSelfCgroupAndMountinfoParsing) {
    const nd::CgroupMembership v2 = nd::parse_proc_self_cgroup("0::/user.slice/app.scope\n");
    ASSERT_TRUE(v2.v2_path.has_value());
    EXPECT_EQ(*v2.v2_path, "/user.slice/app.scope");
    EXPECT_FALSE(v2.v1_cpu_path.has_value());

    const nd::CgroupMembership v1 =
        nd::parse_proc_self_cgroup("4:memory:/x\n2:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n");
    ASSERT_TRUE(v1.v1_cpu_path.has_value());
    EXPECT_EQ(*v1.v1_cpu_path, "/docker/abc");
    EXPECT_FALSE(v1.v2_path.has_value());

    const nd::CgroupMounts mounts = nd::parse_mountinfo(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    ASSERT_TRUE(mounts.v1_cpu.has_value());
    EXPECT_EQ(mounts.v1_cpu->root, "/docker/abc");
    EXPECT_EQ(mounts.v1_cpu->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    ASSERT_TRUE(mounts.v2.has_value());
    EXPECT_EQ(mounts.v2->mount_point, "/sys/fs/cgroup/unified");

    EXPECT_EQ(nd::cgroup_dir(*mounts.v1_cpu, "/docker/abc"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(nd::cgroup_dir(*mounts.v1_cpu, "/docker/abc/sub"), "/sys/fs/cgroup/cpu,cpuacct/sub");
    EXPECT_EQ(nd::cgroup_dir(*mounts.v2, "/a/b"), "/sys/fs/cgroup/unified/a/b");
    EXPECT_EQ(nd::cgroup_dir(*mounts.v2, "/"), "/sys/fs/cgroup/unified");
}

TEST(Cpu, CgroupLimitFromSyntheticTreeWalksUp) {
    TempDir dir;
    const std::string root = (dir.path / "cg").string();
    dir.write("cg/cpu.max", "max 100000\n");  // the root has none in reality; harmless here
    dir.write("cg/parent/cpu.max", "250000 100000\n");
    dir.write("cg/parent/child/cpu.max", "max 100000\n");
    dir.write("proc_cgroup", "0::/parent/child\n");
    dir.write("mountinfo", "41 31 0:38 / " + root + " rw,relatime - cgroup2 cgroup2 rw\n");
    EXPECT_DOUBLE_EQ(nd::read_cgroup_cpu_limit((dir.path / "proc_cgroup").string(),
                                               (dir.path / "mountinfo").string()),
                     2.5);

    // v1: quota on the leaf itself, tighter than its parent's.
    dir.write("v1/cpu.cfs_quota_us", "-1\n");
    dir.write("v1/cpu.cfs_period_us", "100000\n");
    dir.write("v1/a/cpu.cfs_quota_us", "400000\n");
    dir.write("v1/a/cpu.cfs_period_us", "100000\n");
    dir.write("v1/a/b/cpu.cfs_quota_us", "150000\n");
    dir.write("v1/a/b/cpu.cfs_period_us", "100000\n");
    dir.write("proc_cgroup_v1", "3:cpu,cpuacct:/a/b\n");
    dir.write("mountinfo_v1", "32 31 0:29 / " + (dir.path / "v1").string() +
                                  " rw - cgroup cgroup rw,cpu,cpuacct\n");
    EXPECT_DOUBLE_EQ(nd::read_cgroup_cpu_limit((dir.path / "proc_cgroup_v1").string(),
                                               (dir.path / "mountinfo_v1").string()),
                     1.5);

    EXPECT_EQ(nd::read_cgroup_cpu_limit((dir.path / "missing").string(), (dir.path / "missing").string()), 0.0);
}

TEST(Cpu, CountsAreConsistent) {
    const np::CpuInfo& info = np::cpu_info();
    EXPECT_GE(info.logical_cpus_online, 1);
    EXPECT_GE(info.affinity_cpus, 1);
    EXPECT_GE(info.cgroup_cpu_limit, 0.0);
    EXPECT_GE(info.available_cpus, 1);
    EXPECT_LE(info.available_cpus, info.affinity_cpus);
    const int now = np::available_cpus();
    EXPECT_GE(now, 1);
    EXPECT_LE(now, nd::read_affinity_cpus());
}

#if defined(__linux__)
TEST(Cpu, AvailableCpusFollowsAffinity) {
    cpu_set_t saved;
    CPU_ZERO(&saved);
    ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
    int first = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; ++cpu)
        if (CPU_ISSET(cpu, &saved)) first = cpu;
    ASSERT_GE(first, 0);

    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    const int restricted = np::available_cpus();
    const int restricted_affinity = nd::read_affinity_cpus();
    ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);

    EXPECT_EQ(restricted, 1);
    EXPECT_EQ(restricted_affinity, 1);
    EXPECT_EQ(nd::read_affinity_cpus(), CPU_COUNT(&saved));
}
#endif

TEST(Cpu, MeasurePeakIsPositiveAndFinite) {
    const np::PeakMeasurement one = np::measure_peak(1);
    EXPECT_EQ(one.threads, 1);
    EXPECT_TRUE(std::isfinite(one.fp32_gflops_per_core));
    EXPECT_GT(one.fp32_gflops_per_core, 0.0);
    EXPECT_TRUE(std::isfinite(one.memory_bandwidth_gbs));
    EXPECT_GT(one.memory_bandwidth_gbs, 0.0);

    const np::PeakMeasurement all = np::measure_peak(0);
    EXPECT_GE(all.threads, 1);
    EXPECT_GT(all.memory_bandwidth_gbs, 0.0);
}

TEST(Cpu, MeasurePeakRejectsNegativeThreads) { EXPECT_THROW(np::measure_peak(-1), neuroperf::ValueError); }
