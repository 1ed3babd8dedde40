// `neuroperf bench`: runs a suite through Google Benchmark, merges the peers' rows, prints a
// table, writes <suite>.json (Google Benchmark format) and draws <suite>.png/.svg.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <regex>
#include <set>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "cli.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/progress.hpp"
#include "neuroperf/subprocess.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::cli {
namespace {

// Google Benchmark appends its settings to names ("/min_time:0.2/real_time/repeats:3"); the
// suite's names are the documented "<op>/<impl>/<param>=<value>/..." without them.
std::string clean_name(std::string name) {
    static const std::regex settings("/(min_time:[0-9.eE+-]+|real_time|repeats:[0-9]+|iterations:[0-9]+)");
    return std::regex_replace(name, settings, "");
}

// Progress while the suite runs (neuroperf::ProgressReporter): a redrawn bar on a terminal, a
// plain line per benchmark otherwise.
class BenchmarkProgress : public benchmark::BenchmarkReporter {
public:
    explicit BenchmarkProgress(std::size_t total) : total_(total), progress_({}, ProgressReporter::Mode::automatic, STDOUT_FILENO) {}
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>& runs) override {
        if (runs.empty()) return;
        ++done_;
        const Run* shown = &runs.front();
        for (const auto& r : runs)
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") shown = &r;
        std::string name = clean_name(shown->run_name.str());
        std::string line = shown->error_occurred
                               ? fmt::format("[{}/{}] {}  ERROR: {}", done_, total_, name, shown->error_message)
                               : fmt::format("[{}/{}] {}  {:.4g} {}", done_, total_, name, shown->GetAdjustedRealTime(),
                                             benchmark::GetTimeUnitString(shown->time_unit));
        std::cout << std::flush;
        progress_.update(static_cast<double>(done_) / static_cast<double>(total_), line);
    }
    void Finalize() override { progress_.finish(false); }

private:
    std::size_t total_, done_ = 0;
    ProgressReporter progress_;
};

double to_seconds(double t, const std::string& unit) {
    if (unit == "ns") return t * 1e-9;
    if (unit == "us") return t * 1e-6;
    if (unit == "ms") return t * 1e-3;
    return t;
}

// Rows to show and plot: the median aggregate of each run, or its iteration row.
std::vector<nlohmann::json> representative_rows(const nlohmann::json& rows) {
    std::map<std::string, nlohmann::json> by_run;
    std::vector<std::string> order;
    for (const auto& r : rows) {
        std::string run = r.value("run_name", r.value("name", ""));
        bool median = r.value("run_type", "") == "aggregate" && r.value("aggregate_name", "") == "median";
        bool iteration = r.value("run_type", "iteration") == "iteration";
        if (!by_run.count(run)) {
            if (!median && !iteration) continue;
            order.push_back(run);
            by_run[run] = r;
        } else if (median) {
            by_run[run] = r;
        }
    }
    std::vector<nlohmann::json> out;
    for (const auto& run : order) out.push_back(by_run[run]);
    return out;
}

std::string format_time(double seconds) {
    if (seconds < 1e-6) return fmt::format("{:.1f} ns", seconds * 1e9);
    if (seconds < 1e-3) return fmt::format("{:.2f} us", seconds * 1e6);
    if (seconds < 1) return fmt::format("{:.2f} ms", seconds * 1e3);
    return fmt::format("{:.3f} s", seconds);
}

// "<op>/<impl>/<params...>" -> (op + params) key, impl. An "/isa=<variant>" parameter (bench
// --isa) is not part of the key: the variants of one row share a block with the peers.
std::pair<std::string, std::string> split_name(const std::string& name) {
    static const std::regex isa_param("/isa=[a-z0-9]+");
    const std::string plain = std::regex_replace(name, isa_param, "");
    auto a = plain.find('/');
    if (a == std::string::npos) return {plain, ""};
    auto b = plain.find('/', a + 1);
    std::string impl = plain.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    std::string key = plain.substr(0, a) + (b == std::string::npos ? "" : plain.substr(b));
    return {key, impl};
}

// The suite with our rows once per variant of `isas` (empty: the context's, names unchanged),
// each on a context of that variant, "/isa=<variant>" appended to the names; peers once.
Suite suite_per_isa(const BenchOptions& options, int threads, const Context& ctx, const std::vector<Isa>& isas) {
    if (isas.empty()) return make_suite(options.suite, options.quick, threads, ctx);
    Suite all;
    for (std::size_t k = 0; k < isas.size(); ++k) {
        ContextOptions o = ctx.options();
        o.isa = isa_name(isas[k]);
        Context c = make_context(o);
        c.calibrate();  // before any timing, so no row pays for it
        Suite s = make_suite(options.suite, options.quick, threads, c);
        const std::string suffix = fmt::format("/isa={}", isa_name(isas[k]));
        for (BenchCase& bc : s.cases) {
            bc.name += suffix;
            if (!bc.speedup_over.empty()) bc.speedup_over += suffix;
            all.cases.push_back(std::move(bc));
        }
        if (k == 0) {
            all.peers = std::move(s.peers);
            all.min_time = s.min_time;
            all.repetitions = s.repetitions;
        }
    }
    return all;
}

// The block key without its "/threads=N" parameter: the same work at any thread count.
std::string without_threads(const std::string& key) {
    static const std::regex threads_param("/threads=[0-9]+");
    return std::regex_replace(key, threads_param, "");
}

// The best peer of each block (same op and parameters; threads included unless `any_threads`):
// its time and implementation name ("impl" or, across thread counts, "impl, threads=N"). Peer
// rows carry "peer" (the script that made them).
std::map<std::string, std::pair<double, std::string>> best_peers(const std::vector<nlohmann::json>& rows, bool any_threads) {
    std::map<std::string, std::pair<double, std::string>> best;
    for (const auto& r : rows) {
        if (!r.contains("peer") || r.value("error_occurred", false)) continue;
        const std::string run = r.value("run_name", r.value("name", ""));
        auto [key, impl] = split_name(run);
        if (any_threads) {
            static const std::regex threads_value("/threads=([0-9]+)");
            std::smatch m;
            if (std::regex_search(run, m, threads_value)) impl += ", threads=" + m[1].str();
            key = without_threads(key);
        }
        const double s = to_seconds(r.value("real_time", 0.0), r.value("time_unit", "ns"));
        if (s > 0 && (!best.count(key) || s < best[key].first)) best[key] = {s, impl};
    }
    return best;
}

// Adds to each of our representative rows (median aggregate, or the single iteration row)
// "vs_best_peer" = best peer's time / ours and "best_peer" = its implementation, when its block
// (same work, same threads) has a peer: the speed-up the docs quote, computed here rather than by
// hand. Where a peer of the same work at another thread count is faster still (a serial peer,
// whose rows say threads=1, against our multi-threaded row), also "vs_fastest_peer" and
// "fastest_peer" ("impl, threads=N").
void annotate_peer_ratios(nlohmann::json& rows) {
    const auto rep = representative_rows(rows);
    const auto best = best_peers(rep, false), fastest = best_peers(rep, true);
    std::set<std::string> rep_runs;
    for (const auto& r : rep) rep_runs.insert(r.value("run_name", r.value("name", "")));
    for (auto& r : rows) {
        const std::string run = r.value("run_name", r.value("name", ""));
        const bool median = r.value("run_type", "") == "aggregate" && r.value("aggregate_name", "") == "median";
        const bool single = r.value("run_type", "iteration") == "iteration" && r.value("repetitions", 1) <= 1;
        if (r.contains("peer") || r.value("error_occurred", false) || !(median || single) || !rep_runs.count(run)) continue;
        const std::string key = split_name(run).first;
        const double s = to_seconds(r.value("real_time", 0.0), r.value("time_unit", "ns"));
        if (s <= 0) continue;
        auto it = best.find(key);
        if (it != best.end()) {
            r["vs_best_peer"] = it->second.first / s;
            r["best_peer"] = it->second.second;
        }
        auto f = fastest.find(without_threads(key));
        if (f != fastest.end() && (it == best.end() || f->second.first < it->second.first)) {
            r["vs_fastest_peer"] = f->second.first / s;
            r["fastest_peer"] = f->second.second;
        }
    }
}

// One block per (op, params), the implementations of each block together (peers included),
// with each row's speed as a percentage of the block's fastest, and for our rows the speed-up
// over the block's best peer.
void print_table(const std::vector<nlohmann::json>& rows) {
    auto run_of = [](const nlohmann::json& r) { return r.value("run_name", r.value("name", "")); };
    std::map<std::string, double> best;
    std::vector<std::string> keys;
    std::map<std::string, std::vector<const nlohmann::json*>> blocks;
    std::size_t w = 9;
    for (const auto& r : rows) {
        auto key = split_name(run_of(r)).first;
        if (!blocks.count(key)) keys.push_back(key);
        blocks[key].push_back(&r);
        w = std::max(w, run_of(r).size());
        if (r.value("error_occurred", false)) continue;
        double s = to_seconds(r.value("real_time", 0.0), r.value("time_unit", "ns"));
        if (!best.count(key) || s < best[key]) best[key] = s;
    }
    std::cout << fmt::format("{:<{}}  {:>11}  {:>9}  {:>8}  {}\n", "benchmark", w, "time", "GFLOP/s", "vs best", "note");
    std::cout << std::string(w + 50, '-') << '\n';
    for (std::size_t b = 0; b < keys.size(); ++b) {
        if (b) std::cout << '\n';
        for (const auto* r : blocks[keys[b]]) {
            std::string name = run_of(*r);
            if (r->value("error_occurred", false)) {
                std::cout << fmt::format("{:<{}}  ERROR {}\n", name, w, r->value("error_message", ""));
                continue;
            }
            double s = to_seconds(r->value("real_time", 0.0), r->value("time_unit", "ns"));
            std::string gf = r->contains("GFLOPS") ? fmt::format("{:.2f}", (*r)["GFLOPS"].get<double>()) : "";
            std::string note = r->value("label", "");
            for (const char* counter : {"speedup", "makespan_vs_optimal", "busy_threads", "pool_start_ms", "dispatch_overhead_us"})
                if (r->contains(counter)) note += fmt::format("{}{} {:.3f}", note.empty() ? "" : "; ", counter, (*r)[counter].get<double>());
            if (r->contains("vs_best_peer"))
                note += fmt::format("{}{:.2f}x best peer ({})", note.empty() ? "" : "; ", (*r)["vs_best_peer"].get<double>(),
                                    r->value("best_peer", ""));
            if (r->contains("vs_fastest_peer"))
                note += fmt::format("{}{:.2f}x fastest peer at any threads ({})", note.empty() ? "" : "; ",
                                    (*r)["vs_fastest_peer"].get<double>(), r->value("fastest_peer", ""));
            std::cout << fmt::format("{:<{}}  {:>11}  {:>9}  {:>7.0f}%  {}\n", name, w, format_time(s), gf,
                                     100.0 * best[keys[b]] / s, note);
        }
    }
}

}  // namespace

std::filesystem::path bench_scripts_dir() {
    if (const char* d = std::getenv("NEUROPERF_BENCH_DIR"); d && *d) return d;
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto share = exe.parent_path().parent_path() / "share" / "neuroperf" / "bench";
        if (std::filesystem::exists(share / "plot.py")) return share;
    }
    return std::filesystem::path(NEUROPERF_SOURCE_DIR) / "bench";
}

std::string python_executable() {
    if (const char* p = std::getenv("NEUROPERF_PYTHON"); p && *p) return p;
    if (std::filesystem::exists(NEUROPERF_VENV_PYTHON)) return NEUROPERF_VENV_PYTHON;
    return "python3";
}

int run_script(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file) {
    std::cout << std::flush;  // the child writes to the same terminal: keep the order
    std::fflush(stdout);
    ProcessOptions o;
    o.search_path = true;
    o.stdout_file = stdout_file;
    o.stdin_fd = STDIN_FILENO;
    auto r = run_process(argv, o);
    return r.started ? r.exit_code : -1;
}

int run_bench(const BenchOptions& options) {
    Context ctx = default_context();
    int threads = options.threads > 0 ? options.threads : ctx.num_threads();
    const std::vector<Isa> isas = options.isa.empty() ? std::vector<Isa>{} : parse_isa_list(options.isa);
    Suite suite = suite_per_isa(options, threads, ctx, isas);
    if (!options.filter.empty()) {
        std::regex re;
        try {
            re = std::regex(options.filter);
        } catch (const std::regex_error& e) {
            throw ValueError(fmt::format("--filter: expected a regular expression, got \"{}\" ({})", options.filter, e.what()));
        }
        // On the suite's names (without bench --isa's "/isa=" part, which is matched too).
        static const std::regex isa_param("/isa=[a-z0-9]+$");
        std::erase_if(suite.cases, [&](const BenchCase& c) {
            return !std::regex_search(std::regex_replace(c.name, isa_param, ""), re) && !std::regex_search(c.name, re);
        });
        if (suite.cases.empty())
            throw ValueError(fmt::format("--filter: no benchmark of suite {} matches \"{}\"", options.suite, options.filter));
    }
    double min_time = options.min_time > 0 ? options.min_time : suite.min_time;

    std::string variants = isa_name(ctx.isa());
    for (std::size_t k = 0; k < isas.size(); ++k) variants = (k ? variants + "," : std::string()) + isa_name(isas[k]);
    std::cout << fmt::format("neuroperf {} bench --suite {}{}: {} benchmarks, threads 1..{}, kernels {}, min time {} s, "
                             "{} repetition(s)\n",
                             version(), options.suite, options.quick ? " --quick" : "", suite.cases.size(), threads,
                             variants, min_time, suite.repetitions)
              << std::flush;
    ctx.calibrate();  // before any timing, so no row pays for it

    std::map<std::string, double> flops;
    benchmark::ClearRegisteredBenchmarks();
    for (const auto& c : suite.cases) {
        flops[c.name] = c.flops_per_iteration;
        auto* b = benchmark::RegisterBenchmark(c.name.c_str(), [c](benchmark::State& st) {
            std::function<void()> call;
            try {
                call = c.make();
            } catch (const std::exception& e) {
                st.SkipWithError(e.what());
                return;
            }
            for (auto _ : st) call();
            if (c.counters)
                for (const auto& [k, v] : c.counters()) st.counters[k] = v;
            st.SetLabel(c.label);
        });
        b->UseRealTime()->MinTime(min_time)->Unit(benchmark::kMicrosecond);
        if (suite.repetitions > 1) b->Repetitions(suite.repetitions)->ReportAggregatesOnly(true);
    }

    ensure_directory(options.out_dir);
    auto json_path = options.out_dir / (options.suite + ".json");
    auto raw_path = options.out_dir / fmt::format(".{}.gbench.json", options.suite);
    std::string out_flag = "--benchmark_out=" + raw_path.string();
    std::vector<std::string> gb_args{"neuroperf", out_flag, "--benchmark_out_format=json"};
    std::vector<char*> gb_argv;
    for (auto& a : gb_args) gb_argv.push_back(a.data());
    int gb_argc = static_cast<int>(gb_argv.size());
    benchmark::Initialize(&gb_argc, gb_argv.data());
    BenchmarkProgress progress(suite.cases.size());
    benchmark::JSONReporter file_reporter;
    benchmark::RunSpecifiedBenchmarks(&progress, &file_reporter);
    benchmark::ClearRegisteredBenchmarks();

    auto raw = read_file(raw_path);
    std::filesystem::remove(raw_path);
    if (!raw) throw IOError(fmt::format("benchmark output '{}' was not written", raw_path.string()));
    auto doc = nlohmann::json::parse(*raw);

    for (auto& r : doc["benchmarks"])
        for (const char* field : {"name", "run_name"})
            if (r.contains(field)) r[field] = clean_name(r[field].get<std::string>());
    // GFLOPS from wall time (Google Benchmark's rate counters use CPU time of one thread).
    for (auto& r : doc["benchmarks"]) {
        std::string run = r.value("run_name", r.value("name", ""));
        if (flops.count(run) && flops[run] > 0 && !r.value("error_occurred", false) &&
            r.value("aggregate_name", "") != "cv" && r.value("aggregate_name", "") != "stddev")
            r["GFLOPS"] = flops[run] / to_seconds(r["real_time"].get<double>(), r["time_unit"]) * 1e-9;
    }

    // speedup counters: the baseline row's time over this row's, per aggregate (or iteration).
    {
        std::map<std::string, std::string> over;
        for (const auto& c : suite.cases)
            if (!c.speedup_over.empty()) over[c.name] = c.speedup_over;
        std::map<std::pair<std::string, std::string>, double> secs;
        for (const auto& r : doc["benchmarks"])
            if (!r.value("error_occurred", false))
                secs[{r.value("run_name", r.value("name", "")), r.value("aggregate_name", "")}] =
                    to_seconds(r.value("real_time", 0.0), r.value("time_unit", "ns"));
        for (auto& r : doc["benchmarks"]) {
            auto it = over.find(r.value("run_name", r.value("name", "")));
            std::string agg = r.value("aggregate_name", "");
            if (it == over.end() || r.value("error_occurred", false) || agg == "cv" || agg == "stddev") continue;
            auto base = secs.find({it->second, agg});
            double mine = to_seconds(r.value("real_time", 0.0), r.value("time_unit", "ns"));
            if (base != secs.end() && mine > 0) r["speedup"] = base->second / mine;
        }
    }

    if (options.peers) {
        for (const auto& p : suite.peers) {
            auto script = bench_scripts_dir() / "peers" / p.script;
            auto out = options.out_dir / fmt::format(".{}.out.json", p.script);
            std::vector<std::string> argv{python_executable(), script.string()};
            argv.insert(argv.end(), p.args.begin(), p.args.end());
            for (std::size_t i = 0; i + 1 < argv.size(); ++i)  // --min-time applies to peers too
                if (argv[i] == "--min-time" && options.min_time > 0) argv[i + 1] = fmt::format("{}", options.min_time);
            std::cout << fmt::format("peer: {}\n", p.script) << std::flush;
            int rc = run_script(argv, out);
            auto text = read_file(out);
            std::filesystem::remove(out);
            nlohmann::json pj = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
            if (rc != 0 || pj.is_discarded() || !pj.contains("benchmarks")) {
                std::cerr << fmt::format("warning: peer {} failed (exit {}); its rows are missing. Install peers with "
                                         "scripts/setup --with-peers.\n", p.script, rc);
                continue;
            }
            for (auto& r : pj["benchmarks"])
                if (options.filter.empty() || std::regex_search(r.value("name", ""), std::regex(options.filter))) {
                    r["peer"] = p.script;
                    doc["benchmarks"].push_back(r);
                }
        }
    }
    annotate_peer_ratios(doc["benchmarks"]);
    doc["context"]["neuroperf_version"] = version();
    doc["context"]["suite"] = options.suite;
    doc["context"]["quick"] = options.quick;
    doc["context"]["neuroperf_threads"] = threads;
    doc["context"]["neuroperf_isa"] = variants;
    doc["context"]["neuroperf_best_isa"] = isa_name(best_isa());
    write_file_atomic(json_path, doc.dump(2));

    std::cout << '\n';
    print_table(representative_rows(doc["benchmarks"]));
    std::cout << fmt::format("\nwrote {}\n", json_path.string());
    if (options.plot) {
        int rc = run_script({python_executable(), (bench_scripts_dir() / "plot.py").string(), json_path.string(),
                                 "--title", fmt::format("neuroperf bench --suite {}", options.suite)});
        if (rc != 0) std::cerr << "warning: plotting failed (needs matplotlib in the project's .venv: scripts/setup)\n";
    }
    return 0;
}

}  // namespace neuroperf::cli
