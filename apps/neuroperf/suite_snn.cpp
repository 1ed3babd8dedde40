// `neuroperf bench --suite snn`: the Vogels-Abbott CUBA network (add_vogels_abbott: Brian2's
// examples/CUBA.py, 3200 exc / 800 inh, p = 0.02) simulated by Network::run, and, with --peers,
// the same network in Brian2 (bench/peers/brian2_cuba.py: Cython runtime and cpp_standalone).
//
// Rows (one timed call = one run() of the given simulated duration, network built and the
// kernel compiled beforehand; the network keeps running from call to call, stationary):
//   cuba/auto/neurons=4000/duration=<1s|10s>/dtype=float32/threads=<1|T>   (state in float32;
//                                      Brian2's rows at float64, its default, and float32)
//   cuba/auto/neurons=40000/duration=1s/dtype=float32/threads=<1|T>   p = 0.002 (80 synapses per neuron)
//   model_change/auto/neurons=4000     new network on a new context: build + cold JIT compile (no
//                                      cache, empty registry) + first step
//   cuba_synvar/auto/neurons=4000/duration=1s/dtype=float32/threads=<1|T>  the same network with per-synapse
//                                      weights (normal, sd = 20% of the mean) and delays (1..20 steps)
// The quick suite (`--suite quick`) has one short row: cuba/auto/neurons=4000/duration=0.2s/dtype=float32/threads=1.
// Counters: events_per_second (synaptic events / loop time), rate_hz, cv_isi.
#include <memory>

#include <fmt/format.h>

#include "neuroperf/network.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

struct Last {
    SimulationSummary s;
};

// The CUBA network of add_vogels_abbott; `synvar`: the same with per-synapse weights and delays.
void add_cuba(Network& net, index_t n, double p, bool synvar) {
    if (!synvar) {
        add_vogels_abbott(net, "cuba", n, p, true);
        return;
    }
    PopulationSpec ps;  // add_vogels_abbott's CUBA parameters
    ps.name = "cuba";
    ps.size = n;
    ps.lif.tau_m = 20;
    ps.lif.tau_e = 5;
    ps.lif.tau_i = 10;
    ps.lif.v_thresh = -50;
    ps.lif.v_reset = -60;
    ps.lif.v_rest = -49;
    ps.lif.refractory = 5;
    ps.v_init_min = -60;
    ps.v_init_max = -50;
    PopulationId pop = net.add_population(ps);
    const index_t ne = n * 4 / 5;
    net.add_projection({.source = pop, .target = pop, .source_end = ne, .probability = p, .weight = 1.62,
                        .delay_steps = 1, .weight_sd = 0.2 * 1.62, .delay_max_steps = 20});
    net.add_projection({.source = pop, .target = pop, .source_begin = ne, .probability = p, .weight = -9,
                        .type = SynapseType::inhibitory, .delay_steps = 1, .weight_sd = 0.2 * 9, .delay_max_steps = 20});
    net.add_spike_monitor(pop);
}

BenchCase cuba_case(const Context& ctx, index_t n, double p, double duration_ms, int threads, bool synvar = false) {
    auto last = std::make_shared<Last>();
    BenchCase c;
    c.name = fmt::format("{}/auto/neurons={}/duration={}s/dtype=float32/threads={}", synvar ? "cuba_synvar" : "cuba", n,
                         duration_ms / 1e3, threads);
    c.make = [=] {
        NetworkOptions o;
        o.num_threads = threads;
        o.seed = 1;
        auto net = std::make_shared<Network>(o, ctx);
        add_cuba(*net, n, p, synvar);
        net->run(0);  // build + compile outside the timing
        return std::function<void()>([net, last, duration_ms] { last->s = net->run(duration_ms).summary; });
    };
    c.counters = [last] {
        return std::map<std::string, double>{{"events_per_second", last->s.events_per_second},
                                             {"rate_hz", last->s.mean_rate_hz},
                                             {"cv_isi", last->s.cv_isi},
                                             {"jit_compiled", last->s.jit_compiled ? 1.0 : 0.0}};
    };
    return c;
}

}  // namespace

Suite make_snn_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    s.min_time = 1e-3;  // one call per repetition: a call is a whole simulation
    s.repetitions = 3;
    std::vector<int> ts{1};
    if (threads > 1) ts.push_back(threads);
    std::vector<double> durations{1000};
    if (!quick) durations.push_back(10000);
    for (double d : durations)
        for (int t : ts) s.cases.push_back(cuba_case(ctx, 4000, 0.02, d, t));
    for (int t : ts) s.cases.push_back(cuba_case(ctx, 40000, 0.002, quick ? 200 : 1000, t));
    for (int t : ts) s.cases.push_back(cuba_case(ctx, 4000, 0.02, 1000, t, true));
    BenchCase mc;
    mc.name = "model_change/auto/neurons=4000";
    mc.make = [ctx] {
        return std::function<void()>([isa = std::string(isa_name(ctx.isa()))] {
            // A new context per call (its in-memory kernel registry starts empty) and no disk
            // cache: every call compiles the kernel cold, as a changed model would.
            ContextOptions co;
            co.calibrate = false;
            co.isa = isa;  // the suite's kernel variant (bench --isa)
            NetworkOptions o;
            o.num_threads = 1;
            o.jit.cache_compiled_functions = false;
            Network net(o, make_context(co));
            add_vogels_abbott(net, "cuba", 4000, 0.02, false);
            net.run(0.1);  // one step
        });
    };
    s.cases.push_back(mc);
    std::vector<std::string> args{"--sizes", "4000,40000", "--threads", fmt::format("{}", threads), "--durations", quick ? "1" : "1,10",
                                  "--repetitions", fmt::format("{}", s.repetitions)};
    if (quick) args.push_back("--quick");
    s.peers.push_back({"brian2_cuba.py", args});
    return s;
}

std::vector<BenchCase> snn_quick_cases(const Context& ctx) { return {cuba_case(ctx, 4000, 0.02, 200, 1)}; }

}  // namespace neuroperf::cli
