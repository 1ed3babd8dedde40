// The Vogels-Abbott benchmark networks (CUBA and COBA), as in Brian2's examples.
#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/network.hpp"

namespace neuroperf {

PopulationId add_vogels_abbott(Network& net, const std::string& model, index_t neurons, double probability,
                               bool spike_monitor) {
    if (model != "cuba" && model != "coba")
        throw ValueError(fmt::format("add_vogels_abbott: model: expected 'cuba' or 'coba', got '{}'", model));
    if (neurons < 1) throw ValueError(fmt::format("add_vogels_abbott: neurons: expected ≥ 1, got {}", neurons));
    PopulationSpec ps;
    ps.name = model;
    ps.size = neurons;
    LifSpec& l = ps.lif;
    l.tau_m = 20;
    l.tau_e = 5;
    l.tau_i = 10;
    l.v_thresh = -50;
    l.v_reset = -60;
    l.v_rest = -49;  // E_L: the drive of the benchmark (above threshold)
    l.refractory = 5;
    ps.v_init_min = -60;
    ps.v_init_max = -50;
    double we = 1.62, wi = -9;
    if (model == "coba") {
        // Conductances relative to g_L; E_e 0, E_i −80 mV. Weights: the CUBA jumps 1.62 and −9 mV
        // expressed as conductances at the reset potential (1.62/60, 9/20), as Vogels & Abbott's
        // COBA variant of the same network.
        l.synapse = SynapseModel::conductance;
        l.e_exc = 0;
        l.e_inh = -80;
        we = 1.62 / 60;
        wi = 9.0 / 20;
    }
    PopulationId p = net.add_population(ps);
    const index_t ne = neurons * 4 / 5;
    ProjectionSpec e;
    e.source = e.target = p;
    e.source_end = ne;
    e.probability = probability;
    e.weight = we;
    net.add_projection(e);
    ProjectionSpec i = e;
    i.source_begin = ne;
    i.source_end = neurons;
    i.weight = wi;
    i.type = SynapseType::inhibitory;
    net.add_projection(i);
    if (spike_monitor) net.add_spike_monitor(p);
    return p;
}

}  // namespace neuroperf
