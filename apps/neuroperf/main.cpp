// neuroperf: command-line front end of the library (info, bench).
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/version.hpp"

int main(int argc, char** argv) {
    using namespace neuroperf::cli;
    CLI::App app{"neuroperf: performance layer for spiking networks and reservoir computing"};
    app.set_version_flag("--version", std::string("neuroperf ") + neuroperf::version());
    app.require_subcommand(1);

    InfoOptions info;
    auto* info_cmd = app.add_subcommand("info", "Show CPU, BLAS backends found, the backend chosen per operation and why");
    info_cmd->add_flag("--json", info.json, "Print JSON instead of text");
    info_cmd->add_flag("--peak", info.peak, "Also measure fp32 peak GFLOP/s and memory bandwidth (~1 s)");
    std::string run_isa;  // --isa of info and simulate
    const char* isa_help = "Kernel variant for the run: generic | avx2 | avx512 (default: the widest this CPU runs)";
    info_cmd->add_option("--isa", run_isa, isa_help);

    BenchOptions bench;
    auto* bench_cmd = app.add_subcommand("bench", "Run a benchmark suite: table on the terminal, JSON + plots in --out");
    bench_cmd->add_option("--suite", bench.suite, "Suite to run")->required()->check(CLI::IsMember(suite_names()));
    bench_cmd->add_flag("--quick", bench.quick, "Short version of the suite");
    bench_cmd->add_option("--threads", bench.threads, "Thread count for the multi-threaded rows (default: all available)")
        ->check(CLI::NonNegativeNumber);
    bench_cmd->add_option("--out", bench.out_dir, "Directory for <suite>.json, .png and .svg")->capture_default_str();
    bench_cmd->add_flag("--peers", bench.peers, "Also run the peers (numpy, ...) from the project's .venv");
    bench_cmd->add_flag("!--no-plot", bench.plot, "Do not draw the plots");
    bench_cmd->add_option("--min-time", bench.min_time, "Seconds per benchmark (default: the suite's)")
        ->check(CLI::NonNegativeNumber);
    bench_cmd->add_option("--filter", bench.filter, "Run only the benchmarks whose name matches this regular expression");
    bench_cmd->add_option("--isa", bench.isa,
                          "Kernel variants, comma-separated (generic,avx2,avx512): our rows once per variant, named "
                          ".../isa=<variant>; one variant applies to the whole run");

    JitOptions jit;
    auto* jit_cmd = app.add_subcommand("jit", "Inspect or clear the JIT compiler's cache of compiled kernels");
    jit_cmd->add_option("action", jit.action, "list | clear | info")->required()->check(CLI::IsMember({"list", "clear", "info"}));

    SimulateOptions sim;
    auto* sim_cmd = app.add_subcommand("simulate", "Run the Vogels-Abbott CUBA/COBA spiking network; summary, spikes.npz, raster plot");
    sim_cmd->add_option("--model", sim.model, "cuba | coba")->check(CLI::IsMember({"cuba", "coba"}))->capture_default_str();
    sim_cmd->add_option("--neurons", sim.neurons, "Neurons (80% excitatory)")->capture_default_str();
    sim_cmd->add_option("--duration", sim.duration, "Simulated time (1s, 250ms)")->capture_default_str();
    sim_cmd->add_option("--dt", sim.dt, "Time step")->capture_default_str();
    sim_cmd->add_option("--threads", sim.threads, "Threads (0: OMP_NUM_THREADS or all cores)")->check(CLI::NonNegativeNumber);
    sim_cmd->add_option("--seed", sim.seed, "Random seed (connectivity, initial v)")->capture_default_str();
    sim_cmd->add_option("--p", sim.probability, "Connection probability (default 0.02 at 4000 neurons, 80 synapses/neuron above)");
    sim_cmd->add_flag("--no-jit", sim.no_jit, "Use the AOT kernel instead of compiling the population step");
    sim_cmd->add_flag("!--no-plot", sim.plot, "Do not draw raster.png");
    sim_cmd->add_option("--out", sim.out_dir, "Directory for spikes.npz, summary.json, raster.png");
    sim_cmd->add_option("--isa", run_isa, isa_help);

    CLI11_PARSE(app, argc, argv);
    try {
        // Before anything makes a context (the variant and the libraries' switches are read then).
        if (!run_isa.empty()) apply_isa_option(run_isa);
        if (*bench_cmd && !bench.isa.empty() && parse_isa_list(bench.isa).size() == 1) apply_isa_option(bench.isa);
        if (*info_cmd) return run_info(info);
        if (*bench_cmd) return run_bench(bench);
        if (*jit_cmd) return run_jit(jit);
        if (*sim_cmd) return run_simulate(sim);
    } catch (const neuroperf::Error& e) {
        std::cerr << "neuroperf: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
