#include "api/gbench.hpp"

#include "neuroperf/cpu.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::api {

nlohmann::json gbench_row(const std::string& name, double seconds, int iterations) {
    return {{"name", name},        {"run_name", name},     {"run_type", "iteration"},  {"repetitions", 1},
            {"repetition_index", 0}, {"threads", 1},        {"iterations", iterations}, {"real_time", seconds * 1e9},
            {"cpu_time", seconds * 1e9}, {"time_unit", "ns"}};
}

std::string gbench_document(nlohmann::json rows, const nlohmann::json& context) {
    const auto& cpu = cpu_info();
    nlohmann::json ctx{{"library", "neuroperf"}, {"library_version", version()}, {"cpu_model", cpu.model_name},
                       {"num_cpus", cpu.available_cpus}};
    ctx.update(context);
    return nlohmann::json{{"context", ctx}, {"benchmarks", std::move(rows)}}.dump(2);
}

}  // namespace neuroperf::api
