#include <iostream>

#include <fmt/format.h>

#include "cli.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/dispatch.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::cli {

nlohmann::json info_json(const Context& ctx, bool peak) {
    const auto& cpu = cpu_info();
    nlohmann::json caches = nlohmann::json::array();
    for (const auto& c : cpu.caches)
        caches.push_back({{"level", c.level}, {"type", c.type}, {"size_bytes", c.size_bytes},
                          {"line_bytes", c.line_bytes}, {"shared_by_cpus", c.shared_by_cpus}});
    nlohmann::json j;
    j["version"] = version();
    j["cpu"] = {{"vendor", cpu.vendor}, {"model", cpu.model_name}, {"family", cpu.family}, {"model_id", cpu.model},
                {"stepping", cpu.stepping}, {"isa", cpu.isa.names()}, {"caches", caches},
                {"cpus_online", cpu.logical_cpus_online}, {"affinity_cpus", cpu.affinity_cpus},
                {"cgroup_cpu_limit", cpu.cgroup_cpu_limit}, {"available_cpus", available_cpus()}};
    j["threads"] = ctx.num_threads();
    nlohmann::json families = nlohmann::json::array();
    for (const KernelFamily& f : kernel_families(ctx.isa())) {
        std::vector<std::string> variants;
        for (Isa v : f.variants) variants.emplace_back(isa_name(v));
        families.push_back({{"name", f.name}, {"description", f.description}, {"variants", variants}, {"runs", isa_name(f.runs)}});
    }
    j["kernels"] = {{"isa", isa_name(ctx.isa())}, {"best", isa_name(best_isa())}, {"families", families}};
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& b : ctx.backends())
        backends.push_back({{"name", b.name}, {"available", b.available}, {"version", b.version}, {"path", b.path},
                            {"threading", b.threading}, {"threads", b.threads}, {"reason", b.reason},
                            {"routines", b.routines}});
    j["backends"] = backends;
    j["backend_request"] = ctx.backend_request();
    nlohmann::json selected = nlohmann::json::object();
    for (const auto& c : ctx.choices()) {
        index_t edge = kGemmBucketEdges[c.bucket];
        selected[blas_op_name(c.op)].push_back({{"bucket", c.bucket}, {"thin", c.bucket == kGemmThinBucket},
                                                {"max_size", edge == INT64_MAX ? nlohmann::json(nullptr) : nlohmann::json(edge)},
                                                {"backend", c.backend}, {"why", c.why}});
    }
    j["selected"] = selected;
    j["cache_dir"] = ctx.cache_dir().string();
    if (peak) {
        auto p1 = measure_peak(1);
        auto pn = measure_peak(0);
        j["peak"] = {{"fp32_gflops_per_core", p1.fp32_gflops_per_core},
                     {"memory_bandwidth_gbs_1_thread", p1.memory_bandwidth_gbs},
                     {"memory_bandwidth_gbs", pn.memory_bandwidth_gbs}, {"threads", pn.threads}};
    }
    return j;
}

int run_info(const InfoOptions& options) {
    Context ctx = default_context();
    auto j = info_json(ctx, options.peak);
    if (options.json) {
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    const auto& c = j["cpu"];
    std::cout << fmt::format("neuroperf {}\n\n", j["version"].get<std::string>());
    std::cout << fmt::format("CPU        {} ({}, family {} model {})\n", c["model"].get<std::string>(),
                             c["vendor"].get<std::string>(), c["family"].get<int>(), c["model_id"].get<int>());
    std::cout << fmt::format("ISA        {}\n", fmt::join(c["isa"].get<std::vector<std::string>>(), " "));
    const auto& kern = j["kernels"];
    const std::string kisa = kern["isa"].get<std::string>(), kbest = kern["best"].get<std::string>();
    std::cout << fmt::format("Kernels    {} ({}; NEUROPERF_ISA=generic|avx2|avx512 or --isa chooses another)\n", kisa,
                             kisa == kbest ? "the widest this CPU runs" : "the widest this CPU runs is " + kbest);
    for (const auto& f : kern["families"])
        std::cout << fmt::format("  {:<13}{:<8}of {:<20} {}\n", f["name"].get<std::string>(), f["runs"].get<std::string>(),
                                 fmt::format("{}", fmt::join(f["variants"].get<std::vector<std::string>>(), " ")),
                                 f["description"].get<std::string>());
    std::string caches;
    for (const auto& k : c["caches"])
        caches += fmt::format("{}L{} {} KiB", caches.empty() ? "" : ", ", k["level"].get<int>(),
                              k["size_bytes"].get<std::int64_t>() / 1024);
    std::cout << fmt::format("Caches     {}\n", caches);
    std::cout << fmt::format("CPUs       {} available ({} online, affinity {}, cgroup limit {})\n",
                             c["available_cpus"].get<int>(), c["cpus_online"].get<int>(), c["affinity_cpus"].get<int>(),
                             c["cgroup_cpu_limit"].get<double>() > 0 ? fmt::format("{:.2f}", c["cgroup_cpu_limit"].get<double>()) : "none");
    std::cout << fmt::format("Threads    {} (OMP_NUM_THREADS or available CPUs)\n", j["threads"].get<int>());
    std::cout << fmt::format("Cache dir  {}\n\nBLAS backends\n", j["cache_dir"].get<std::string>());
    for (const auto& b : j["backends"]) {
        if (b["available"].get<bool>())
            std::cout << fmt::format("  {:<9} yes  {}\n            {}; threading: {}, {}{}\n",
                                     b["name"].get<std::string>(), b["version"].get<std::string>(),
                                     b["path"].get<std::string>().empty() ? "(built in)" : b["path"].get<std::string>(),
                                     b["threading"].get<std::string>(),
                                     b["threads"].get<int>() > 0 ? fmt::format("{} thread(s)", b["threads"].get<int>())
                                                                 : std::string("library's default thread count"),
                                     b["reason"].get<std::string>().empty() ? "" : "\n            " + b["reason"].get<std::string>());
        else
            std::cout << fmt::format("  {:<9} no   {}\n", b["name"].get<std::string>(), b["reason"].get<std::string>());
    }
    std::cout << fmt::format("\nChoice per operation and size (request: {})\n", j["backend_request"].get<std::string>());
    for (const char* op : {"sgemm", "dgemm"}) {
        for (const auto& s : j["selected"][op]) {
            std::string range = s["bucket"].get<int>() == kGemmThinBucket
                                    ? fmt::format("thin m <= {}", kGemmThinRows)
                                    : s["max_size"].is_null() ? "n > 768"
                                                              : fmt::format("n <= {}", s["max_size"].get<std::int64_t>());
            std::cout << fmt::format("  {} {:<12} {:<9} {}\n", op, range, s["backend"].get<std::string>(),
                                     s["why"].get<std::string>());
        }
    }
    if (j.contains("peak")) {
        const auto& p = j["peak"];
        std::cout << fmt::format("\nMeasured   fp32 peak {:.1f} GFLOP/s per core; memory bandwidth {:.1f} GB/s (1 thread), "
                                 "{:.1f} GB/s ({} threads)\n",
                                 p["fp32_gflops_per_core"].get<double>(), p["memory_bandwidth_gbs_1_thread"].get<double>(),
                                 p["memory_bandwidth_gbs"].get<double>(), p["threads"].get<int>());
    }
    return 0;
}

}  // namespace neuroperf::cli
