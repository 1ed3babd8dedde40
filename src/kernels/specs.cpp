// The kernel specs (include/neuroperf/kernel_specs.hpp, reservoir.hpp): names and validation,
// shared by the ahead-of-time kernels and the JIT.
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/kernel_specs.hpp"

namespace neuroperf {

Activation parse_activation(std::string_view name) {
    for (Activation a : {Activation::tanh, Activation::identity, Activation::relu, Activation::sigmoid})
        if (name == activation_name(a)) return a;
    throw ValueError(fmt::format("activation: expected one of \"tanh\", \"identity\", \"relu\", \"sigmoid\", got \"{}\"", name));
}

const char* activation_name(Activation activation) {
    switch (activation) {
        case Activation::tanh: return "tanh";
        case Activation::identity: return "identity";
        case Activation::relu: return "relu";
        case Activation::sigmoid: return "sigmoid";
    }
    return "?";
}

const char* synapse_model_name(SynapseModel model) {
    return model == SynapseModel::conductance ? "conductance" : "current";
}

namespace {

void check_finite(const char* field, double x) {
    if (!std::isfinite(x)) throw ValueError(fmt::format("LifSpec.{}: expected a finite value, got {}", field, x));
}
void check_positive(const char* field, double x) {
    check_finite(field, x);
    if (!(x > 0)) throw ValueError(fmt::format("LifSpec.{}: expected > 0, got {}", field, x));
}

}  // namespace

void LifSpec::validate() const {
    check_positive("dt", dt);
    check_positive("tau_m", tau_m);
    check_positive("tau_e", tau_e);
    check_positive("tau_i", tau_i);
    for (auto [name, x] : {std::pair{"v_rest", v_rest}, {"v_reset", v_reset}, {"v_thresh", v_thresh}, {"i_ext", i_ext},
                           {"e_exc", e_exc}, {"e_inh", e_inh}, {"refractory", refractory}})
        check_finite(name, x);
    if (refractory < 0) throw ValueError(fmt::format("LifSpec.refractory: expected ≥ 0 ms, got {}", refractory));
    if (refractory / dt > 1e9) throw ValueError(fmt::format("LifSpec.refractory: {} ms is more than 1e9 steps of dt={}", refractory, dt));
    constexpr index_t kMaxN = std::numeric_limits<std::int32_t>::max();
    if (num_neurons < 0 || num_neurons > kMaxN)
        throw ValueError(fmt::format("LifSpec.num_neurons: expected 0..{}, got {}", kMaxN, num_neurons));
    if (num_targets < 0 || num_targets > kMaxN)
        throw ValueError(fmt::format("LifSpec.num_targets: expected 0..{} (0 = num_neurons), got {}", kMaxN, num_targets));
    if (exc_count < -1 || exc_count > num_neurons)
        throw ValueError(fmt::format("LifSpec.exc_count: expected -1 (all) or 0..num_neurons={}, got {}", num_neurons, exc_count));
    if (max_delay < 1 || max_delay > 1 << 20)
        throw ValueError(fmt::format("LifSpec.max_delay: expected 1..{} steps, got {}", 1 << 20, max_delay));
    if (uniform_delay < 0 || uniform_delay > max_delay)
        throw ValueError(fmt::format("LifSpec.uniform_delay: expected 0 (per synapse) or 1..max_delay={}, got {}",
                                     max_delay, uniform_delay));
}

std::int32_t LifSpec::refractory_steps() const { return static_cast<std::int32_t>(std::llround(refractory / dt)); }

void ReservoirKernelSpec::validate() const {
    constexpr index_t kMax = 1LL << 31;
    if (num_neurons < 1 || num_neurons >= kMax)
        throw ValueError(fmt::format("ReservoirKernelSpec.num_neurons: expected 1..{}, got {}", kMax - 1, num_neurons));
    if (input_dim < 0 || input_dim >= kMax)
        throw ValueError(fmt::format("ReservoirKernelSpec.input_dim: expected 0..{}, got {}", kMax - 1, input_dim));
    if (!std::isfinite(leak_rate) || !(leak_rate > 0) || leak_rate > 1)
        throw ValueError(fmt::format("ReservoirKernelSpec.leak_rate: expected a value in (0, 1], got {}", leak_rate));
    if (precision != "high" && precision != "low" && precision != "ep")
        throw ValueError(fmt::format("ReservoirKernelSpec.precision: expected \"high\", \"low\" or \"ep\", got \"{}\"", precision));
    if (activation != Activation::tanh && activation != Activation::identity && activation != Activation::relu &&
        activation != Activation::sigmoid)
        throw ValueError(fmt::format("ReservoirKernelSpec.activation: unknown value {}", static_cast<int>(activation)));
}

}  // namespace neuroperf
