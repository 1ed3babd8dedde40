// Reports in Google Benchmark's JSON format (what `neuroperf bench` writes and bench/plot.py
// reads), for the api's benchmark calls (private to the api layer).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace neuroperf::api {

/// One row: `name`, measured `seconds` per call over `iterations` calls; counters added by the caller.
nlohmann::json gbench_row(const std::string& name, double seconds, int iterations);

/// {"context": {library, version, CPU, CPUs} + `context`, "benchmarks": rows}, indented.
std::string gbench_document(nlohmann::json rows, const nlohmann::json& context);

}  // namespace neuroperf::api
