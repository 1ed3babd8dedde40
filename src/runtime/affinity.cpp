// Thread pinning plans (include/neuroperf/affinity.hpp): a pure function of the topology, and
// the topology of this process's CPUs from sysfs.
#include "neuroperf/affinity.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <sched.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "runtime/call_scope.hpp"

namespace neuroperf {

namespace runtime {
const std::vector<std::string>& affinity_policies() {
    static const std::vector<std::string> names{"balanced", "compact", "scatter", "none"};
    return names;
}
}  // namespace runtime

std::vector<int> affinity_plan(const std::string& policy, int threads, const std::vector<CpuTopologyEntry>& topology) {
    const auto& policies = runtime::affinity_policies();
    if (std::find(policies.begin(), policies.end(), policy) == policies.end())
        throw ValueError(fmt::format("thread_affinity: expected one of \"{}\", got \"{}\"", fmt::join(policies, "\", \""), policy));
    if (threads < 0) throw ValueError(fmt::format("threads: expected >= 0, got {}", threads));
    if (policy == "none" || topology.empty() || threads == 0) return {};
    // Group CPUs: package -> core -> hardware threads, all in ascending order.
    std::map<int, std::map<int, std::vector<int>>> tree;
    for (const auto& e : topology) tree[e.package][e.core].push_back(e.cpu);
    std::vector<int> order;
    if (policy == "compact") {
        for (auto& [pkg, cores] : tree)
            for (auto& [core, cpus] : cores)
                for (int cpu : cpus) order.push_back(cpu);
    } else {
        // scatter: rotate packages first; balanced: one thread per core (spread over packages)
        // before any second hardware thread. Both take hardware-thread "rounds"; scatter
        // interleaves packages inside each round at core granularity, as balanced does, but
        // balanced keeps a package's cores contiguous for cache sharing.
        std::size_t max_smt = 0;
        for (auto& [pkg, cores] : tree)
            for (auto& [core, cpus] : cores) max_smt = std::max(max_smt, cpus.size());
        for (std::size_t smt = 0; smt < max_smt; ++smt) {
            if (policy == "scatter") {
                std::vector<std::vector<int>> per_pkg;
                for (auto& [pkg, cores] : tree) {
                    per_pkg.emplace_back();
                    for (auto& [core, cpus] : cores)
                        if (smt < cpus.size()) per_pkg.back().push_back(cpus[smt]);
                }
                for (std::size_t i = 0;; ++i) {
                    bool any = false;
                    for (auto& p : per_pkg)
                        if (i < p.size()) order.push_back(p[i]), any = true;
                    if (!any) break;
                }
            } else {
                // balanced: split `threads` over packages in proportion, each package's share
                // on consecutive cores.
                for (auto& [pkg, cores] : tree)
                    for (auto& [core, cpus] : cores)
                        if (smt < cpus.size()) order.push_back(cpus[smt]);
            }
        }
        if (policy == "balanced" && tree.size() > 1) {
            // Reorder the first round so threads alternate packages in equal blocks.
            std::size_t npkg = tree.size(), first_round = 0;
            for (auto& [pkg, cores] : tree) first_round += cores.size();
            std::size_t want = std::min<std::size_t>(static_cast<std::size_t>(threads), first_round);
            std::vector<std::vector<int>> per_pkg;
            for (auto& [pkg, cores] : tree) {
                per_pkg.emplace_back();
                for (auto& [core, cpus] : cores) per_pkg.back().push_back(cpus[0]);
            }
            std::vector<int> head;
            for (std::size_t p = 0; p < npkg; ++p) {
                std::size_t share = want / npkg + (p < want % npkg ? 1 : 0);
                for (std::size_t i = 0; i < share && i < per_pkg[p].size(); ++i) head.push_back(per_pkg[p][i]);
            }
            std::set<int> used(head.begin(), head.end());
            for (int cpu : order)
                if (!used.count(cpu)) head.push_back(cpu);
            order = head;
        }
    }
    std::vector<int> plan;
    for (int t = 0; t < threads; ++t) plan.push_back(order[static_cast<std::size_t>(t) % order.size()]);
    return plan;
}

std::vector<CpuTopologyEntry> current_cpu_topology() {
    std::vector<CpuTopologyEntry> out;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return out;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set)) continue;
        auto base = fmt::format("/sys/devices/system/cpu/cpu{}/topology/", cpu);
        auto read_int = [&](const char* f, int fallback) {
            auto t = read_file(base + f);
            try {
                return t ? std::stoi(*t) : fallback;
            } catch (const std::exception&) {
                return fallback;
            }
        };
        out.push_back({cpu, read_int("physical_package_id", 0), read_int("core_id", cpu)});
    }
    return out;
}

}  // namespace neuroperf
