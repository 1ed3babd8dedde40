#include "jit/spike_codegen.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "kernels/lif.hpp"

namespace neuroperf::jit {
namespace {

// The exact value as a literal of type T (hexadecimal floating point: no rounding on the way).
template <class T>
std::string lit(T x) {
    return fmt::format("{:a}{}", static_cast<double>(x), std::is_same_v<T, float> ? "f" : "");
}

// kernels::lif_exp (src/kernels/lif.cpp), operation for operation. Under -ffast-math the
// compiler may fold (t + magic) − magic, so that variant rounds with rint instead (same k).
std::string exp_source(bool fastmath) {
    namespace c = kernels::lif_exp_constants;
    std::string poly = fmt::format("    double p = {:a};\n", c::coef[12]);
    for (int d = 11; d >= 0; --d) poly += fmt::format("    p = p * r + {:a};\n", c::coef[d]);
    std::string reduce =
        fastmath ? fmt::format("    const double kf = __builtin_rint(x * {0:a});\n"
                               "    const i64 k = (i64)kf;\n",
                               c::log2e)
                 : fmt::format("    const double t = x * {0:a} + {1:a};\n"
                               "    const double kf = t - {1:a};\n"
                               "    const i64 k = __builtin_bit_cast(i64, t) - __builtin_bit_cast(i64, {1:a});\n",
                               c::log2e, c::magic);
    return fmt::format(R"(// e^x as kernels::lif_exp: clamp, x = k*ln2 + r, degree-12 polynomial, 2^k by bits.
static inline __attribute__((always_inline)) double lif_exp(double x) {{
    x = x < -708.0 ? -708.0 : x;
    x = x > 708.0 ? 708.0 : x;
{0}    const double r = (x - kf * {1:a}) - kf * {2:a};
{3}    return p * __builtin_bit_cast(double, (unsigned long long)(k + 1023) << 52);
}}
)",
                       reduce, c::ln2_hi, c::ln2_lo, poly);
}

}  // namespace

template <class T>
std::string spike_descriptor(const LifSpec& s, bool parallel) {
    return fmt::format("spike_processing/1/{}/{}/{}/{}/{}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{:a}/{}/{}/{}",
                       std::is_same_v<T, float> ? "f32" : "f64", synapse_model_name(s.synapse), s.num_neurons,
                       s.targets(), s.excitatory(), s.dt, s.tau_m, s.tau_e, s.tau_i, s.v_rest, s.v_reset,
                       s.v_thresh, s.i_ext, s.e_exc, s.e_inh, s.refractory, s.max_delay, s.uniform_delay,
                       parallel ? "par" : "seq");
}

template <class T>
std::string spike_source(const LifSpec& spec, const std::string& entry, bool parallel, bool fastmath) {
    const auto c = kernels::lif_constants<T>(spec);
    const char* t = std::is_same_v<T, float> ? "float" : "double";
    std::string vn;
    if (c.conductance)
        vn = fmt::format("        const {0} gt = {1} + gei + gii;\n"
                         "        const {0} vinf = ({2} + gei * {3} + gii * {4}) / gt;\n"
                         "        {0} vn = vinf + (vi - vinf) * ({0})lif_exp((double)({5} * gt));\n",
                         t, lit<T>(1), lit(c.v_inf), lit(c.e_exc), lit(c.e_inh), lit(c.a));
    else
        vn = fmt::format("        {0} vn = {1} + (vi - {1}) * {2} + gei * {3} + gii * {4};\n", t, lit(c.v_inf),
                         lit(c.p_vv), lit(c.p_ve), lit(c.p_vi));
    std::string propagate_inner =
        c.uniform_delay > 0
            ? fmt::format("        T* __restrict dst = buf + ((t + {}LL) % {}LL) * {}LL;\n"
                          "#pragma omp simd\n"
                          "        for (i64 s = rp[j]; s < s1; ++s) dst[col[s]] += w[s];\n",
                          c.uniform_delay, c.d, c.n_targets)
            : fmt::format("#pragma omp simd\n"
                          "        for (i64 s = rp[j]; s < s1; ++s) buf[((t + dl[s]) % {}LL) * {}LL + col[s]] += w[s];\n",
                          c.d, c.n_targets);
    return fmt::format(
        R"(// neuroperf JIT: spike processing kernel ({model} LIF, {t}, N={n}) -- generated; see docs/dev/jit.md
typedef long long i64;
typedef int i32;
typedef {t} T;
// ABI version 1: neuroperf::SpikeStepArgs<T>.
struct Args {{
    T* v; T* ge; T* gi; i32* refractory; T* in_e; T* in_i; i32* spikes; i64 num_spikes;
    const i64* row_ptr; const i32* col_idx; const T* weights; const i32* delays; T* out_e; T* out_i;
    i64 begin; i64 end; i64 step;
}};

{exp_fn}
static void update(Args* a) {{
    const i64 b = a->begin, e = a->end;
    T* __restrict v = a->v;
    T* __restrict ge = a->ge;
    T* __restrict gi = a->gi;
    i32* __restrict rf = a->refractory;
    const i64 slot = (a->step % {d}LL) * {n}LL;
    T* __restrict ie = a->in_e + slot;
    T* __restrict ii = a->in_i + slot;
    i32* __restrict flag = a->spikes - b;
#pragma omp {simd}
    for (i64 i = b; i < e; ++i) {{
        T gei = ge[i] + ie[i];
        ie[i] = {zero};
        T gii = gi[i] + ii[i];
        ii[i] = {zero};
        const i32 r = rf[i];
        const T vi = v[i];
{vn}        const bool active = r <= 0;
        vn = active ? vn : vi;
        const bool spk = active & (vn >= {vt});
        v[i] = spk ? {vr} : vn;
        rf[i] = spk ? {ref} : (active ? 0 : r - 1);
        ge[i] = gei * {pee};
        gi[i] = gii * {pii};
        flag[i] = spk;
    }}
    // Compaction (spikes[k] overwrites flag[b + k], never a flag still to be read): blocks of 16
    // flags are tested with one vectorised OR, and only a block holding a spike is walked.
    // The walks are not unrolled (a branch per neuron or spike, nothing to gain, and clang's
    // unroller costs ~20 ms of the compile).
    i64 k = 0, i = b;
    for (; i + 16 <= e; i += 16) {{
        i32 any = 0;
        for (int u = 0; u < 16; ++u) any |= flag[i + u];
        if (!any) continue;
#pragma GCC unroll 1
        for (int u = 0; u < 16; ++u)
            if (flag[i + u]) a->spikes[k++] = (i32)(i + u);
    }}
#pragma GCC unroll 1
    for (; i < e; ++i)
        if (flag[i]) a->spikes[k++] = (i32)i;
    a->num_spikes = k;
}}

static void propagate(Args* a) {{
    const i32* sp = a->spikes;
    const i64 ns = a->num_spikes, t = a->step;
    const i64* __restrict rp = a->row_ptr;
    const i32* __restrict col = a->col_idx;
    const T* __restrict w = a->weights;
    const i32* __restrict dl = a->delays;
    (void)dl;
#pragma GCC unroll 1
    for (i64 k = 0; k < ns; ++k) {{
        const i64 j = sp[k];
        T* __restrict buf = j < {exc}LL ? a->out_e : a->out_i;
        const i64 s1 = rp[j + 1];
{propagate_inner}    }}
}}

extern "C" __attribute__((visibility("default"))) void {entry}(void* args, int phases) {{
    Args* a = (Args*)args;
    if (phases & 1) update(a);
    if (phases & 2) propagate(a);
}}
extern "C" __attribute__((visibility("default"))) int neuroperf_jit_abi_version(void) {{ return 1; }}
)",
        fmt::arg("exp_fn", c.conductance ? exp_source(fastmath) : std::string()),
        fmt::arg("model", synapse_model_name(spec.synapse)), fmt::arg("t", t), fmt::arg("n", c.n), fmt::arg("d", c.d),
        fmt::arg("simd", parallel ? "parallel for simd if(e - b >= 8192) schedule(static)" : "simd"),
        fmt::arg("zero", lit<T>(0)), fmt::arg("vn", vn), fmt::arg("vt", lit(c.v_thresh)), fmt::arg("vr", lit(c.v_reset)),
        fmt::arg("ref", c.ref_steps), fmt::arg("pee", lit(c.p_ee)), fmt::arg("pii", lit(c.p_ii)),
        fmt::arg("exc", c.exc), fmt::arg("propagate_inner", propagate_inner), fmt::arg("entry", entry));
}

template std::string spike_descriptor<float>(const LifSpec&, bool);
template std::string spike_descriptor<double>(const LifSpec&, bool);
template std::string spike_source<float>(const LifSpec&, const std::string&, bool, bool);
template std::string spike_source<double>(const LifSpec&, const std::string&, bool, bool);

}  // namespace neuroperf::jit
