// The LIF step in the three ISA variants (core/simd.hpp). This file is compiled with
// -ffp-contract=off (src/CMakeLists.txt): no variant fuses a multiply-add, so every variant, the
// generated kernels (also unfused) and any thread count give the same bits.
#include "kernels/lif.hpp"

#include "core/simd.hpp"
#include "kernels/vmath.hpp"

#include <bit>
#include <cmath>

namespace neuroperf::kernels {
namespace {

// Propagator from g (decaying with τs) to v over dt in dv/dt = (−(v − v∞) + g)/τm: the
// exact solution's g-term, with the τs = τm limit (dt/τm)·exp(−dt/τm).
double propagator(double dt, double tau_m, double tau_s) {
    if (tau_s == tau_m) return dt / tau_m * std::exp(-dt / tau_m);
    return tau_s / (tau_s - tau_m) * (std::exp(-dt / tau_s) - std::exp(-dt / tau_m));
}

[[gnu::always_inline]] inline double lif_exp(double x) {
    x = x < -kLifExpClamp ? -kLifExpClamp : x;
    x = x > kLifExpClamp ? kLifExpClamp : x;
    return vmath::exp_core<kLifExpDegree, false>(x);
}

template <class T, bool Conductance>
NP_INLINE void update(const LifConstants<T>& c, SpikeStepArgs<T>& a) {
    const std::int64_t b = a.begin, e = a.end;
    T* __restrict v = a.v;
    T* __restrict ge = a.g_e;
    T* __restrict gi = a.g_i;
    std::int32_t* __restrict rf = a.refractory;
    const std::int64_t slot = (a.step % c.d) * c.n;
    T* __restrict ie = a.in_e + slot;
    T* __restrict ii = a.in_i + slot;
    // Spike flags go to spikes[i − begin] first (vectorisable), then are compacted in place.
    std::int32_t* __restrict flag = a.spikes - b;
    const T v_inf = c.v_inf, p_vv = c.p_vv, p_ve = c.p_ve, p_vi = c.p_vi, p_ee = c.p_ee, p_ii = c.p_ii;
    const T ca = c.a, e_exc = c.e_exc, e_inh = c.e_inh, vt = c.v_thresh, vr = c.v_reset;
    const std::int32_t ref = c.ref_steps;
#pragma omp simd
    for (std::int64_t i = b; i < e; ++i) {
        T gei = ge[i] + ie[i];
        ie[i] = T(0);
        T gii = gi[i] + ii[i];
        ii[i] = T(0);
        std::int32_t r = rf[i];
        T vi = v[i];
        T vn;
        if constexpr (Conductance) {
            T gt = T(1) + gei + gii;
            T vinf = (v_inf + gei * e_exc + gii * e_inh) / gt;
            vn = vinf + (vi - vinf) * static_cast<T>(lif_exp(static_cast<double>(ca * gt)));
        } else {
            vn = v_inf + (vi - v_inf) * p_vv + gei * p_ve + gii * p_vi;
        }
        bool active = r <= 0;
        vn = active ? vn : vi;
        bool spk = active & (vn >= vt);
        v[i] = spk ? vr : vn;
        rf[i] = spk ? ref : (active ? 0 : r - 1);
        ge[i] = gei * p_ee;
        gi[i] = gii * p_ii;
        flag[i] = spk;
    }
    // Compaction as in the generated kernel (jit/spike_codegen.cpp): blocks of 16 flags tested
    // at once, a block with a spike walked; spikes[k] only overwrites flags already read.
    std::int64_t k = 0, i = b;
    for (; i + 16 <= e; i += 16) {
        std::int32_t any = 0;
        for (int u = 0; u < 16; ++u) any |= flag[i + u];
        if (!any) continue;
        for (int u = 0; u < 16; ++u)
            if (flag[i + u]) a.spikes[k++] = static_cast<std::int32_t>(i + u);
    }
    for (; i < e; ++i)
        if (flag[i]) a.spikes[k++] = static_cast<std::int32_t>(i);
    a.num_spikes = k;
}

template <class T>
NP_INLINE void propagate(const LifConstants<T>& c, SpikeStepArgs<T>& a) {
    const std::int32_t* sp = a.spikes;
    const std::int64_t ns = a.num_spikes, nt = c.n_targets, d = c.d, t = a.step;
    const std::int64_t* __restrict rp = a.row_ptr;
    const std::int32_t* __restrict col = a.col_idx;
    const T* __restrict w = a.weights;
    const std::int32_t* __restrict dl = a.delays;
    for (std::int64_t k = 0; k < ns; ++k) {
        const std::int64_t j = sp[k];
        T* __restrict buf = j < c.exc ? a.out_e : a.out_i;
        const std::int64_t s1 = rp[j + 1];
        if (c.uniform_delay > 0) {
            T* __restrict dst = buf + ((t + c.uniform_delay) % d) * nt;
            // Columns strictly increase within a row: no two lanes hit one target.
#pragma omp simd
            for (std::int64_t s = rp[j]; s < s1; ++s) dst[col[s]] += w[s];
        } else {
#pragma omp simd
            for (std::int64_t s = rp[j]; s < s1; ++s) buf[((t + dl[s]) % d) * nt + col[s]] += w[s];
        }
    }
}

template <Isa V, class T>
NP_INLINE void step_body(const LifConstants<T>& c, SpikeStepArgs<T>& args, int phases) {
    if (phases & kLifUpdate) {
        if (c.conductance) update<T, true>(c, args);
        else update<T, false>(c, args);
    }
    if (phases & kLifPropagate) propagate(c, args);
}
NP_ISA_VARIANTS((template <class T>), void, step, (const LifConstants<T>& c, SpikeStepArgs<T>& args, int phases), (c, args, phases), T)
template <class T>
constexpr core::IsaTable<void (*)(const LifConstants<T>&, SpikeStepArgs<T>&, int)> kStep = NP_ISA_TABLE(step, <T>);

}  // namespace

template <class T>
LifConstants<T> lif_constants(const LifSpec& s) {
    LifConstants<T> c;
    c.conductance = s.synapse == SynapseModel::conductance;
    c.n = s.num_neurons;
    c.n_targets = s.targets();
    c.exc = s.excitatory();
    c.d = s.max_delay;
    c.uniform_delay = s.uniform_delay;
    c.ref_steps = s.refractory_steps();
    c.v_inf = static_cast<T>(s.v_rest + s.i_ext);
    c.p_vv = static_cast<T>(std::exp(-s.dt / s.tau_m));
    c.p_ve = static_cast<T>(propagator(s.dt, s.tau_m, s.tau_e));
    c.p_vi = static_cast<T>(propagator(s.dt, s.tau_m, s.tau_i));
    c.p_ee = static_cast<T>(std::exp(-s.dt / s.tau_e));
    c.p_ii = static_cast<T>(std::exp(-s.dt / s.tau_i));
    c.a = static_cast<T>(-s.dt / s.tau_m);
    c.e_exc = static_cast<T>(s.e_exc);
    c.e_inh = static_cast<T>(s.e_inh);
    c.v_thresh = static_cast<T>(s.v_thresh);
    c.v_reset = static_cast<T>(s.v_reset);
    return c;
}

template <class T>
void lif_step(Isa isa, const LifConstants<T>& c, SpikeStepArgs<T>& args, int phases) {
    kStep<T>[isa](c, args, phases);
}

template LifConstants<float> lif_constants<float>(const LifSpec&);
template LifConstants<double> lif_constants<double>(const LifSpec&);
template void lif_step<float>(Isa, const LifConstants<float>&, SpikeStepArgs<float>&, int);
template void lif_step<double>(Isa, const LifConstants<double>&, SpikeStepArgs<double>&, int);

}  // namespace neuroperf::kernels
