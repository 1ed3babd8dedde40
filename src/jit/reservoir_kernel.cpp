// JITCompiler::compile_reservoir_update_kernel and its kernel object: the compiled step
// (jit/reservoir_codegen.cpp) or, as fallback, the AOT step behind
// MKLOptimizer::reservoir_update_inplace (kernels/reservoir.cpp).
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "jit/kernel_state.hpp"
#include "jit/reservoir_codegen.hpp"
#include "kernels/reservoir.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf {

template <class T>
struct ReservoirUpdateKernel<T>::State {
    ReservoirKernelSpec spec;
    jit::CompiledKernel compiled;
    void (*entry)(const void*) = nullptr;
    int threads = 1;  // AOT fallback's bound (enable_parallel_loops: the context's count)
    Isa isa = Isa::generic;  // the context's variant: the AOT step and activation it mirrors
};

namespace {

template <class T>
void check_shape(const char* arg, ArrayView<const T> v, std::initializer_list<index_t> want) {
    bool ok = v.rank() == static_cast<int>(want.size());
    int k = 0;
    for (index_t w : want) ok = ok && v.shape(k++) == w;
    if (!ok) {
        std::string s = "(";
        int i = 0;
        for (index_t w : want) s += (i++ ? ", " : "") + std::to_string(w);
        s += want.size() == 1 ? ",)" : ")";
        throw ShapeError(fmt::format("{}: expected shape {} (baked into this reservoir kernel), got {}", arg, s,
                                     v.layout().shape_string()));
    }
}

// The AOT step's activation of variant I for the compiled kernels (ReservoirJitArgs::activation).
template <Isa I, class T>
void activation_thunk(int f, int precision, std::int64_t n, T* z) {
    kernels::apply_activation<T>(I, static_cast<Activation>(f), static_cast<kernels::Precision>(precision), n, z);
}
template <class T>
using ActivationThunk = void (*)(int, int, std::int64_t, T*);
template <class T>
constexpr ActivationThunk<T> activation_for(Isa isa) {
    switch (isa) {
        case Isa::avx512: return &activation_thunk<Isa::avx512, T>;
        case Isa::avx2: return &activation_thunk<Isa::avx2, T>;
        default: return &activation_thunk<Isa::generic, T>;
    }
}

// x_old for an in-place step: the AOT façade's per-thread buffer, reused across calls.
template <class T>
T* old_buffer(std::int64_t n) {
    static thread_local std::vector<T> buffer;
    if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
    return buffer.data();
}

template <class T>
void run(const typename ReservoirUpdateKernel<T>::State& st, ArrayView<T> state, ArrayView<const T> w_in,
         ArrayView<const T> u, ArrayView<const T> bias, const kernels::DenseRows<T>* dense, const kernels::CsrRows<T>* csr) {
    const auto& spec = st.spec;
    const index_t n = spec.num_neurons, d = spec.input_dim;
    check_shape<T>("state", state, {n});
    check_shape<T>("input_weights", w_in, {n, d});
    check_shape<T>("input", u, {d});
    if (spec.has_bias) check_shape<T>("bias", bias, {n});
    else if (bias.data() != nullptr && bias.size() > 0)
        throw ValueError("bias: this reservoir kernel was compiled without a bias (ReservoirKernelSpec.has_bias = false), got one");
    T* old = old_buffer<T>(n);
    for (index_t i = 0; i < n; ++i) old[i] = state(i);
    const bool win_c = d == 0 || ((w_in.stride(1) == 1 || d == 1) && (w_in.stride(0) == d || n == 1));
    const bool u_c = d <= 1 || u.stride(0) == 1;
    if (st.entry && win_c && u_c) {
        jit::ReservoirJitArgs<T> a{};
        a.activation = activation_for<T>(st.isa);
        a.x_old = old;
        a.x_new = state.data();
        a.x_new_stride = n <= 1 ? 1 : state.stride(0);
        a.w_in = w_in.data();
        a.u = u.data();
        if (spec.has_bias) {
            a.bias = bias.data();
            a.bias_stride = bias.stride(0);
        }
        if (dense) {
            a.w = dense->data;
            a.ld = dense->ld;
        } else {
            a.row_ptr = csr->row_ptr;
            a.col_idx = csr->col_idx;
            a.values = csr->values;
        }
        st.entry(&a);
        return;
    }
    // The AOT step (also for operands the compiled code does not take: strided W_in or u,
    // whose AOT sums run in another order).
    kernels::ReservoirStep<T> s;
    s.n = n;
    s.x_old = old;
    s.x_new = state.data();
    s.x_new_stride = n <= 1 ? 1 : state.stride(0);
    s.w_in = w_in.data();
    s.w_in_row_stride = w_in.stride(0);
    s.w_in_col_stride = d <= 1 ? 1 : w_in.stride(1);
    s.d = d;
    s.u = u.data();
    s.u_stride = d <= 1 ? 1 : u.stride(0);
    if (spec.has_bias) {
        s.bias = bias.data();
        s.bias_stride = bias.stride(0);
    }
    s.leak = static_cast<T>(spec.leak_rate);
    s.activation = spec.activation;
    s.precision = kernels::parse_precision(spec.precision, "ReservoirKernelSpec.precision");
    s.threads = st.threads;
    s.isa = st.isa;
    if (dense) kernels::reservoir_step<T>(s, *dense);
    else kernels::reservoir_step<T>(s, *csr);
}

}  // namespace

template <class T>
void ReservoirUpdateKernel<T>::operator()(ArrayView<T> state, ArrayView<const T> input_weights,
                                          ArrayView<const T> reservoir_weights, ArrayView<const T> input,
                                          ArrayView<const T> bias) const {
    const auto& st = *state_;
    const index_t n = st.spec.num_neurons;
    if (st.spec.sparse)
        throw ValueError("reservoir_weights: this reservoir kernel was compiled for a CsrMatrix (spec.sparse = true), got a dense array");
    check_shape<T>("reservoir_weights", reservoir_weights, {n, n});
    Array<T> packed;
    kernels::DenseRows<T> rows{reservoir_weights.data(), reservoir_weights.stride(0)};
    if (n > 1 && reservoir_weights.stride(1) != 1) {
        packed = Array<T>::copy_of(reservoir_weights);
        rows = {packed.data(), n};
    }
    if (n == 1) rows.ld = 1;
    run<T>(st, state, input_weights, input, bias, &rows, nullptr);
}

template <class T>
void ReservoirUpdateKernel<T>::operator()(ArrayView<T> state, ArrayView<const T> input_weights,
                                          const CsrMatrix<T>& reservoir_weights, ArrayView<const T> input,
                                          ArrayView<const T> bias) const {
    const auto& st = *state_;
    const index_t n = st.spec.num_neurons;
    if (!st.spec.sparse)
        throw ValueError("reservoir_weights: this reservoir kernel was compiled for a dense array (spec.sparse = false), got a CsrMatrix");
    if (reservoir_weights.rows() != n || reservoir_weights.cols() != n)
        throw ShapeError(fmt::format("reservoir_weights: expected a {}×{} CsrMatrix (baked into this reservoir kernel), got {}×{}",
                                     n, n, reservoir_weights.rows(), reservoir_weights.cols()));
    kernels::CsrRows<T> rows{reservoir_weights.row_ptr().data(), reservoir_weights.col_idx().data(),
                             reservoir_weights.values().data()};
    run<T>(st, state, input_weights, input, bias, nullptr, &rows);
}

template <class T>
const ReservoirKernelSpec& ReservoirUpdateKernel<T>::spec() const {
    return state_->spec;
}
NEUROPERF_JIT_KERNEL_ACCESSORS(ReservoirUpdateKernel)

template <class T>
ReservoirUpdateKernel<T> JITCompiler::compile_reservoir_update_kernel(const ReservoirKernelSpec& spec) const {
    spec.validate();
    auto st = std::make_shared<typename ReservoirUpdateKernel<T>::State>();
    st->spec = spec;
    st->isa = context_.isa();
    const jit::ReservoirKernelDescriptor desc{dtype_of<T>(), spec, st->isa,
                                              jit::reservoir_aot_uses_fma(st->isa) || config_.enable_fastmath,
                                              config_.enable_parallel_loops, config_.enable_fastmath};
    if (desc.parallel) st->threads = context_.num_threads();
    jit::KernelRequest req;
    req.kernel = "reservoir_update";
    req.descriptor = jit::descriptor_key(desc);
    req.generate = [desc](const std::string& entry) { return jit::reservoir_source(desc, entry); };
    req.parallel = desc.parallel && static_cast<double>(spec.num_neurons) * static_cast<double>(spec.num_neurons) >= 60000.0;
    // The generated code is explicit vector code with its loops unrolled where that pays
    // (`#pragma GCC unroll`); the compiler's own unroller only adds compile time (see
    // docs/dev/jit.md, "Reservoir kernel").
    req.extra_flags = {"-fno-unroll-loops", "-O1"};
    st->compiled = jit::compile_kernel(config_, context_, std::move(req));
    st->entry = st->compiled.template entry<void (*)(const void*)>();
    return ReservoirUpdateKernel<T>(std::move(st));
}

template class ReservoirUpdateKernel<float>;
template class ReservoirUpdateKernel<double>;
template ReservoirUpdateKernel<float> JITCompiler::compile_reservoir_update_kernel<float>(const ReservoirKernelSpec&) const;
template ReservoirUpdateKernel<double> JITCompiler::compile_reservoir_update_kernel<double>(const ReservoirKernelSpec&) const;

}  // namespace neuroperf
