#include "jit/spike_codegen.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "jit/abi_source.hpp"
#include "jit/math_source.hpp"
#include "kernels/lif.hpp"

namespace neuroperf::jit {
namespace {

template <class T>
std::string source(const SpikeKernelDescriptor& desc, const std::string& entry) {
    const LifSpec& spec = desc.spec;
    const bool parallel = desc.parallel, fastmath = desc.fastmath;
    const auto c = kernels::lif_constants<T>(spec);
    const char* t = std::is_same_v<T, float> ? "float" : "double";
    std::string vn;
    if (c.conductance)
        vn = fmt::format("        const {0} gt = {1} + gei + gii;\n"
                         "        const {0} vinf = ({2} + gei * {3} + gii * {4}) / gt;\n"
                         "        {0} vn = vinf + (vi - vinf) * ({0})lif_exp((double)({5} * gt));\n",
                         t, literal<T>(1), literal(c.v_inf), literal(c.e_exc), literal(c.e_inh), literal(c.a));
    else
        vn = fmt::format("        {0} vn = {1} + (vi - {1}) * {2} + gei * {3} + gii * {4};\n", t, literal(c.v_inf),
                         literal(c.p_vv), literal(c.p_ve), literal(c.p_vi));
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
// neuroperf::SpikeStepArgs<T>, declared from its field list:
{args}
{exp_fn}
static void update(Args* a) {{
    const i64 b = a->begin, e = a->end;
    T* __restrict v = a->v;
    T* __restrict ge = a->g_e;
    T* __restrict gi = a->g_i;
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
)",
        fmt::arg("args", struct_source<SpikeStepArgs<T>, T>("Args")),
        fmt::arg("exp_fn", c.conductance ? exp_source({.name = "lif_exp", .vector = false, .degree = kernels::kLifExpDegree,
                                                       .two_factor = false, .clamp = kernels::kLifExpClamp,
                                                       .fastmath = fastmath})
                                         : std::string()),
        fmt::arg("model", synapse_model_name(spec.synapse)), fmt::arg("t", t), fmt::arg("n", c.n), fmt::arg("d", c.d),
        fmt::arg("simd", parallel ? "parallel for simd if(e - b >= 8192) schedule(static)" : "simd"),
        fmt::arg("zero", literal<T>(0)), fmt::arg("vn", vn), fmt::arg("vt", literal(c.v_thresh)), fmt::arg("vr", literal(c.v_reset)),
        fmt::arg("ref", c.ref_steps), fmt::arg("pee", literal(c.p_ee)), fmt::arg("pii", literal(c.p_ii)),
        fmt::arg("exc", c.exc), fmt::arg("propagate_inner", propagate_inner), fmt::arg("entry", entry));
}

}  // namespace

std::string spike_source(const SpikeKernelDescriptor& desc, const std::string& entry) {
    return desc.dtype == DType::float32 ? source<float>(desc, entry) : source<double>(desc, entry);
}

}  // namespace neuroperf::jit
