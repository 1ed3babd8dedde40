// Commands of the neuroperf tool; each returns the process exit code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "neuroperf/context.hpp"
#include "neuroperf/fields.hpp"

namespace neuroperf::cli {

/// `--isa X` of info, simulate and a one-variant bench: the kernels' variant for the whole run.
/// Sets NEUROPERF_ISA (read when the contexts are made) and, unless already set, the variables
/// the BLAS libraries and libxsmm read when they load (OPENBLAS_CORETYPE, MKL_ENABLE_INSTRUCTIONS,
/// LIBXSMM_TARGET), so that they, and the peers the run starts, stay within that instruction
/// set too. ValueError for an unknown variant or one this CPU cannot run. Call before anything
/// makes a context.
void apply_isa_option(const std::string& isa);
/// The variants a comma-separated `--isa` list names (ValueError as above).
std::vector<Isa> parse_isa_list(const std::string& list);

struct InfoOptions {
    bool json = false;
    bool peak = false;
};
int run_info(const InfoOptions& options);
/// The JSON document `info --json` prints.
nlohmann::json info_json(const Context& ctx, bool peak);

struct BenchOptions {
    std::string suite;
    bool quick = false;
    int threads = 0;  ///< 0 = the context's count
    std::filesystem::path out_dir = "results";
    bool peers = false;
    bool plot = true;
    double min_time = 0;  ///< seconds per benchmark; 0 = suite default
    std::string filter;   ///< regular expression: run only the matching benchmarks (and peers' rows)
    /// Comma-separated kernel variants: our rows once per variant, "/isa=<variant>" appended to
    /// their names. Empty: the default variant, names unchanged. One variant: applied to the whole
    /// run as apply_isa_option does (main() does it before anything else).
    std::string isa;
};
int run_bench(const BenchOptions& options);

struct JitOptions {
    std::string action;  ///< "list" | "clear" | "info"
};
/// `neuroperf jit`: the JIT cache in <cache_dir>/jit (list entries, clear them, show the setup).
int run_jit(const JitOptions& options);

struct SimulateOptions {
    std::string model = "cuba";     ///< "cuba" | "coba" (add_vogels_abbott)
    long neurons = 4000;
    std::string duration = "1s";
    std::string dt = "0.1ms";
    int threads = 0;                ///< 0 = the context's count
    std::uint64_t seed = 1;
    double probability = 0;         ///< 0: 0.02 · 4000 / max(N, 4000) (80 synapses per neuron at N ≥ 4000)
    bool no_jit = false;
    bool plot = true;
    std::filesystem::path out_dir;  ///< empty: no files
};
/// `neuroperf simulate`: a Vogels-Abbott network, summary, spikes.npz + summary.json + raster.png.
int run_simulate(const SimulateOptions& options);

/// One benchmark of a suite: `run(iterations)` performs that many timed repetitions of the work
/// (setup happens in `make`, outside the timing).
struct BenchCase {
    std::string name;                  ///< "<op>/<impl>/<param>=<value>/..."
    double flops_per_iteration = 0;    ///< for the GFLOPS counter (0: none)
    std::string label;                 ///< shown beside the row, e.g. the backend auto chose
    std::function<std::function<void()>()> make;  ///< builds inputs, returns the timed call
    /// Optional: counters read after the timed runs (added to the row, e.g. makespan_vs_optimal).
    std::function<std::map<std::string, double>()> counters{};
    /// Optional: name of the row this one's `speedup` counter is measured against
    /// (that row's time / this row's time, same aggregate).
    std::string speedup_over{};
};

/// A peer script to run with the suite (`bench/peers/<script>` with its arguments).
struct PeerRun {
    std::string script;
    std::vector<std::string> args;
};

struct Suite {
    std::vector<BenchCase> cases;
    std::vector<PeerRun> peers;
    double min_time = 0.2;
    int repetitions = 3;
};

/// Builds the named suite; throws ValueError listing the suites for an unknown name.
Suite make_suite(const std::string& name, bool quick, int threads, const Context& ctx);
std::vector<std::string> suite_names();

/// Directory holding plot.py and peers/ (installed share dir, else the source tree).
std::filesystem::path bench_scripts_dir();
/// Python interpreter for plots and peers ($NEUROPERF_PYTHON, the project's .venv, python3).
std::string python_executable();
/// Runs a script's argv (argv[0] searched on PATH; neuroperf::run_process, never fork), stdout to
/// `stdout_file` if non-empty; returns the exit status (-1 if it could not start).
int run_script(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file = {});

/// Prints a result struct's fields (its field list, neuroperf/fields.hpp), one "name  value"
/// line each; nested structs as "parent.name" lines. The CLI's summaries are made this way.
template <class S>
void print_fields(const S& s, const std::string& prefix = {}) {
    visit_fields(s, [&](const char* name, const auto& v) {
        using V = std::remove_cvref_t<decltype(v)>;
        const std::string key = prefix + name;
        if constexpr (HasFields<V>) {
            print_fields(v, key + ".");
        } else if constexpr (std::is_same_v<V, bool>) {
            fmt::print("{:<22} {}\n", key, v ? "yes" : "no");
        } else if constexpr (std::is_floating_point_v<V>) {
            fmt::print("{:<22} {:.6g}\n", key, v);
        } else if constexpr (std::is_arithmetic_v<V> || std::is_same_v<V, std::string>) {
            fmt::print("{:<22} {}\n", key, v);
        }
    });
}

}  // namespace neuroperf::cli
