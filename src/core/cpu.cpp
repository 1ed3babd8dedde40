// CPU probe: cpuid + XCR0 for identity and ISA, sysfs for caches, affinity mask and cgroup quota
// for the CPUs this process may use (the file readers are cpu_files.cpp).
#include "neuroperf/cpu.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/cpu_detail.hpp"

namespace neuroperf {
namespace core {
namespace {

#if defined(__x86_64__)
struct Regs {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
    Regs r;
    if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) r = Regs{};
    return r;
}

constexpr bool bit(unsigned value, int n) { return ((value >> n) & 1u) != 0; }

std::uint64_t read_xcr0() {
    // Encoded with asm rather than _xgetbv so this file needs no -mxsave.
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

void probe_cpuid(CpuInfo& info) {
    const Regs l0 = cpuid(0);
    const unsigned max_leaf = l0.eax;
    char vendor[13] = {};
    std::memcpy(vendor + 0, &l0.ebx, 4);
    std::memcpy(vendor + 4, &l0.edx, 4);
    std::memcpy(vendor + 8, &l0.ecx, 4);
    info.vendor = vendor[0] != '\0' ? std::string(vendor) : std::string("unknown");

    const unsigned max_ext = cpuid(0x80000000u).eax;
    if (max_ext >= 0x80000004u) {
        char brand[49] = {};
        for (unsigned i = 0; i < 3; ++i) {
            const Regs r = cpuid(0x80000002u + i);
            std::memcpy(brand + 16 * i + 0, &r.eax, 4);
            std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
            std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
            std::memcpy(brand + 16 * i + 12, &r.edx, 4);
        }
        info.model_name = squeeze_spaces(brand);
    }

    if (max_leaf < 1) return;
    const Regs l1 = cpuid(1);
    const int base_family = static_cast<int>((l1.eax >> 8) & 0xF);
    const int base_model = static_cast<int>((l1.eax >> 4) & 0xF);
    info.stepping = static_cast<int>(l1.eax & 0xF);
    info.family = base_family == 0xF ? base_family + static_cast<int>((l1.eax >> 20) & 0xFF) : base_family;
    info.model = (base_family == 0x6 || base_family == 0xF)
                     ? base_model + (static_cast<int>((l1.eax >> 16) & 0xF) << 4)
                     : base_model;

    const bool osxsave = bit(l1.ecx, 27);
    const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool os_avx = (xcr0 & 0x6) == 0x6;                      // XMM | YMM
    const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;       // opmask | ZMM_Hi256 | Hi16_ZMM
    const bool os_amx = (xcr0 & 0x60000) == 0x60000;              // XTILECFG | XTILEDATA

    IsaFeatures& isa = info.isa;
    isa.sse42 = bit(l1.ecx, 20);
    isa.avx = bit(l1.ecx, 28) && os_avx;
    isa.fma = bit(l1.ecx, 12) && os_avx;
    isa.f16c = bit(l1.ecx, 29) && os_avx;
    isa.movbe = bit(l1.ecx, 22);
    if (max_ext >= 0x80000001u) isa.lzcnt = bit(cpuid(0x80000001u).ecx, 5);

    if (max_leaf < 7) return;
    const Regs l7 = cpuid(7, 0);
    const Regs l7s1 = l7.eax >= 1 ? cpuid(7, 1) : Regs{};
    isa.avx2 = bit(l7.ebx, 5) && os_avx;
    isa.bmi1 = bit(l7.ebx, 3);
    isa.bmi2 = bit(l7.ebx, 8);
    isa.avx512f = bit(l7.ebx, 16) && os_avx512;
    const bool f = isa.avx512f;
    isa.avx512dq = f && bit(l7.ebx, 17);
    isa.avx512ifma = f && bit(l7.ebx, 21);
    isa.avx512cd = f && bit(l7.ebx, 28);
    isa.avx512bw = f && bit(l7.ebx, 30);
    isa.avx512vl = f && bit(l7.ebx, 31);
    isa.avx512vbmi = f && bit(l7.ecx, 1);
    isa.avx512vnni = f && bit(l7.ecx, 11);
    isa.avx512fp16 = f && bit(l7.edx, 23);
    isa.avx512bf16 = f && bit(l7s1.eax, 5);
    // AMX-TILE; Linux additionally wants arch_prctl(ARCH_REQ_XCOMP_PERM) before first use.
    isa.amx = bit(l7.edx, 24) && os_amx;
}

// Deterministic cache leaves when sysfs is not there: Intel leaf 4, AMD leaf 0x8000001D.
std::vector<CacheLevel> cpuid_caches(const std::string& vendor) {
    unsigned leaf = 0;
    if (vendor == "GenuineIntel" && cpuid(0).eax >= 4) {
        leaf = 4;
    } else if ((vendor == "AuthenticAMD" || vendor == "HygonGenuine") &&
               cpuid(0x80000000u).eax >= 0x8000001Du && bit(cpuid(0x80000001u).ecx, 22)) {
        leaf = 0x8000001Du;
    }
    std::vector<CacheLevel> caches;
    if (leaf == 0) return caches;
    for (unsigned sub = 0; sub < 32; ++sub) {
        const Regs r = cpuid(leaf, sub);
        const unsigned type = r.eax & 0x1F;
        if (type == 0) break;
        if (type != 1 && type != 3) continue;
        CacheLevel c;
        c.level = static_cast<int>((r.eax >> 5) & 0x7);
        c.type = type == 1 ? "Data" : "Unified";
        c.line_bytes = static_cast<int>((r.ebx & 0xFFF) + 1);
        const std::int64_t partitions = ((r.ebx >> 12) & 0x3FF) + 1;
        const std::int64_t ways = ((r.ebx >> 22) & 0x3FF) + 1;
        const std::int64_t sets = static_cast<std::int64_t>(r.ecx) + 1;
        c.size_bytes = ways * partitions * c.line_bytes * sets;
        c.shared_by_cpus = static_cast<int>(((r.eax >> 14) & 0xFFF) + 1);
        caches.push_back(std::move(c));
    }
    std::stable_sort(caches.begin(), caches.end(),
                     [](const CacheLevel& a, const CacheLevel& b) { return a.level < b.level; });
    return caches;
}
#endif

CpuInfo probe() {
    CpuInfo info;
    info.vendor = "unknown";
#if defined(__x86_64__)
    probe_cpuid(info);
#endif
    info.caches = read_sysfs_caches("/sys/devices/system/cpu/cpu0/cache");
#if defined(__x86_64__)
    if (info.caches.empty()) info.caches = cpuid_caches(info.vendor);
#endif
    info.logical_cpus_online = static_cast<int>(std::max<long>(sysconf(_SC_NPROCESSORS_ONLN), 1));
    info.affinity_cpus = process_affinity_cpus();
    if (info.affinity_cpus <= 0) info.affinity_cpus = info.logical_cpus_online;
    info.cgroup_cpu_limit = read_cgroup_cpu_limit();
    info.available_cpus = cpus_allowed(info.affinity_cpus, info.cgroup_cpu_limit);
    return info;
}

}  // namespace
}  // namespace core

std::vector<std::string> IsaFeatures::names() const {
    const std::array<std::pair<bool, const char*>, 20> table{{
        {sse42, "sse4.2"},        {avx, "avx"},
        {avx2, "avx2"},           {fma, "fma"},
        {f16c, "f16c"},           {bmi1, "bmi1"},
        {bmi2, "bmi2"},           {lzcnt, "lzcnt"},
        {movbe, "movbe"},         {avx512f, "avx512f"},
        {avx512dq, "avx512dq"},   {avx512cd, "avx512cd"},
        {avx512bw, "avx512bw"},   {avx512vl, "avx512vl"},
        {avx512ifma, "avx512ifma"}, {avx512vbmi, "avx512vbmi"},
        {avx512vnni, "avx512vnni"}, {avx512bf16, "avx512bf16"},
        {avx512fp16, "avx512fp16"}, {amx, "amx"},
    }};
    std::vector<std::string> out;
    for (const auto& [present, name] : table)
        if (present) out.emplace_back(name);
    return out;
}

std::int64_t CpuInfo::cache_bytes(int level) const {
    std::int64_t unified = 0;
    for (const CacheLevel& c : caches) {
        if (c.level != level) continue;
        if (c.type == "Data") return c.size_bytes;
        if (c.type == "Unified" && unified == 0) unified = c.size_bytes;
    }
    return unified;
}

const CpuInfo& cpu_info() {
    static const CpuInfo info = core::probe();
    return info;
}

int available_cpus() {
    int affinity = core::process_affinity_cpus();
    if (affinity <= 0) affinity = cpu_info().logical_cpus_online;
    return core::cpus_allowed(affinity, core::read_cgroup_cpu_limit());
}

}  // namespace neuroperf
