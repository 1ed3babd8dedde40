// What is baked into the spiking and reservoir kernels: the specs the ahead-of-time kernels
// (kernels layer) and the JIT (which generates the same kernels with the spec's constants as
// literals) share, and the operands of one spiking step. Each has a field list (fields.hpp):
// JIT descriptors hash the specs field by field, and the generated kernels declare their
// argument struct from SpikeStepArgs' list.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "neuroperf/array.hpp"
#include "neuroperf/export.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/reservoir.hpp"

namespace neuroperf {

// --- Spiking neurons: leaky integrate-and-fire population step + spike propagation -----------

/// How synaptic input acts on the membrane.
enum class SynapseModel : std::uint8_t {
    /// CUBA: dv/dt = (v_rest + i_ext − v + g_e + g_i)/τm, dg_e/dt = −g_e/τe, dg_i/dt = −g_i/τi
    /// (g in mV). Linear: integrated exactly with propagator constants (Brian2's `exact`).
    current,
    /// COBA: dv/dt = (v_rest + i_ext − v + g_e·(E_e − v) + g_i·(E_i − v))/τm, conductances in
    /// units of the leak conductance, decaying exactly; v by exponential Euler with the step's
    /// conductances held (Brian2's `exponential_euler`): one exp per neuron and step.
    conductance,
};
NEUROPERF_API const char* synapse_model_name(SynapseModel model);

/// Everything baked into a spike processing kernel. Times in ms, potentials in mV. validate()
/// (called by compile_spike_processing_kernel) throws ValueError naming the field.
struct NEUROPERF_API LifSpec {
    SynapseModel synapse = SynapseModel::current;
    index_t num_neurons = 0;   ///< N: rows of the state arrays and of the arrival rings
    index_t num_targets = 0;   ///< columns of the propagation rings; 0 = num_neurons
    index_t exc_count = -1;    ///< sources j < exc_count drive g_e, the others g_i; −1 = all
    double dt = 0.1;
    double tau_m = 20, tau_e = 5, tau_i = 10;
    double v_rest = -60, v_reset = -60, v_thresh = -50;
    double i_ext = 0;          ///< constant drive, in mV (R·I)
    double e_exc = 0, e_inh = -80;  ///< reversal potentials (conductance model only)
    double refractory = 5;     ///< ms, rounded to steps
    /// D: slots of the delay rings (≥ 1). A spike at step t with delay d (1 ≤ d ≤ D) is added to
    /// ring slot (t + d) mod D and enters g at step t + d (d = 1 is Brian2's zero delay).
    std::int32_t max_delay = 1;
    /// Delay of every synapse in steps (1..D), or 0: per-synapse delays from SpikeStepArgs::delays.
    std::int32_t uniform_delay = 1;

    void validate() const;
    std::int32_t refractory_steps() const;  ///< round(refractory / dt)
    index_t targets() const { return num_targets == 0 ? num_neurons : num_targets; }
    index_t excitatory() const { return exc_count < 0 ? num_neurons : exc_count; }
};

template <>
struct Fields<LifSpec> {
    static constexpr auto list = std::tuple{
        field("synapse", &LifSpec::synapse), field("num_neurons", &LifSpec::num_neurons),
        field("num_targets", &LifSpec::num_targets), field("exc_count", &LifSpec::exc_count),
        field("dt", &LifSpec::dt), field("tau_m", &LifSpec::tau_m), field("tau_e", &LifSpec::tau_e),
        field("tau_i", &LifSpec::tau_i), field("v_rest", &LifSpec::v_rest), field("v_reset", &LifSpec::v_reset),
        field("v_thresh", &LifSpec::v_thresh), field("i_ext", &LifSpec::i_ext), field("e_exc", &LifSpec::e_exc),
        field("e_inh", &LifSpec::e_inh), field("refractory", &LifSpec::refractory),
        field("max_delay", &LifSpec::max_delay), field("uniform_delay", &LifSpec::uniform_delay)};
};
NEUROPERF_CHECK_FIELDS(LifSpec);

/// Operands of one step, in structure-of-arrays layout; this struct is also the compiled
/// kernels' ABI: the generated source declares its layout from Fields<SpikeStepArgs<T>> and
/// checks it member by member (static_assert on offsets), and the ABI version is part of
/// every cache key. Arrays are
/// the caller's: the kernel checks begin/end/step only (like a BLAS call's pointers).
template <class T>
struct SpikeStepArgs {
    T* v = nullptr;                    ///< membrane potential (N)
    T* g_e = nullptr;                  ///< excitatory current/conductance (N)
    T* g_i = nullptr;                  ///< inhibitory current/conductance (N)
    std::int32_t* refractory = nullptr;  ///< steps left (N), 0 when active
    T* in_e = nullptr;                 ///< arrival ring read and cleared by the update (D × N)
    T* in_i = nullptr;
    std::int32_t* spikes = nullptr;    ///< out of update / in of propagate (capacity end − begin)
    std::int64_t num_spikes = 0;       ///< spikes held in `spikes`
    const std::int64_t* row_ptr = nullptr;  ///< synapses: CSR N × num_targets, columns strictly
    const std::int32_t* col_idx = nullptr;  ///< increasing in a row (scipy.sparse layout)
    const T* weights = nullptr;
    const std::int32_t* delays = nullptr;   ///< per synapse, 1..D (uniform_delay == 0 only)
    T* out_e = nullptr;                ///< rings written by propagation (D × num_targets); the
    T* out_i = nullptr;                ///< same as in_e/in_i for a recurrent population
    std::int64_t begin = 0, end = 0;   ///< neuron range of the update [begin, end)
    std::int64_t step = 0;             ///< t ≥ 0, selects the ring slots
};

template <class T>
struct Fields<SpikeStepArgs<T>> {
    using A = SpikeStepArgs<T>;
    static constexpr auto list = std::tuple{
        field("v", &A::v), field("g_e", &A::g_e), field("g_i", &A::g_i), field("refractory", &A::refractory),
        field("in_e", &A::in_e), field("in_i", &A::in_i), field("spikes", &A::spikes),
        field("num_spikes", &A::num_spikes), field("row_ptr", &A::row_ptr), field("col_idx", &A::col_idx),
        field("weights", &A::weights), field("delays", &A::delays), field("out_e", &A::out_e),
        field("out_i", &A::out_i), field("begin", &A::begin), field("end", &A::end), field("step", &A::step)};
};
NEUROPERF_CHECK_FIELDS(SpikeStepArgs<float>);
NEUROPERF_CHECK_FIELDS(SpikeStepArgs<double>);

// --- Reservoir (echo state network) step --------------------------------------------------------

/// Everything baked into a reservoir update kernel (the fused echo-state-network step
/// x' = (1 − a)·x + a·f(W_in·u + W·x + b)). The defaults make a usable kernel on their own
/// (compile_reservoir_update_kernel() with no argument): N = 100, D = 1, a = 1, tanh, dense W,
/// no bias, precision "high". validate() throws ValueError naming the field.
struct NEUROPERF_API ReservoirKernelSpec {
    index_t num_neurons = 100;   ///< N
    index_t input_dim = 1;       ///< D (0: no input term)
    double leak_rate = 1.0;      ///< a in (0, 1], rounded to T
    Activation activation = Activation::tanh;
    bool sparse = false;         ///< W given as a CsrMatrix (N × N) instead of a dense N × N array
    bool has_bias = false;       ///< b given at each call
    /// As MKLConfig::precision_mode ("high" | "low" | "ep"): which tanh/sigmoid the AOT step uses.
    std::string precision = "high";

    void validate() const;
};

template <>
struct Fields<ReservoirKernelSpec> {
    static constexpr auto list = std::tuple{
        field("num_neurons", &ReservoirKernelSpec::num_neurons), field("input_dim", &ReservoirKernelSpec::input_dim),
        field("leak_rate", &ReservoirKernelSpec::leak_rate), field("activation", &ReservoirKernelSpec::activation),
        field("sparse", &ReservoirKernelSpec::sparse), field("has_bias", &ReservoirKernelSpec::has_bias),
        field("precision", &ReservoirKernelSpec::precision)};
};
NEUROPERF_CHECK_FIELDS(ReservoirKernelSpec);

}  // namespace neuroperf
