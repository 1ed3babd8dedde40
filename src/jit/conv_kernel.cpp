// JITCompiler::compile_convolution_kernel and its kernel object: the compiled FIR filter
// (jit/conv_codegen.cpp) or, as fallback, the AOT direct convolution (kernels/conv_direct.cpp).
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "jit/conv_codegen.hpp"
#include "jit/kernel_state.hpp"
#include "kernels/convolution.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf {

template <class T>
struct ConvolutionKernel<T>::State {
    std::vector<T> taps;
    kernels::ConvGeometry geometry;
    jit::CompiledKernel compiled;
    void (*entry)(const void*, void*) = nullptr;
    Isa isa = Isa::generic;  // the context's variant: the AOT fallback's
};

template <class T>
void ConvolutionKernel<T>::operator()(const T* x, T* out) const {
    const auto& st = *state_;
    if (st.entry) {
        st.entry(x, out);
        return;
    }
    kernels::ConvBatch<T> b;
    b.x = x;
    b.channels = 1;
    b.out = out;
    b.isa = st.isa;
    kernels::conv_direct(b, st.taps.data(), st.geometry, 1);
}

template <class T>
Array<T> ConvolutionKernel<T>::operator()(ArrayView<const T> x) const {
    const auto& g = state_->geometry;
    if (x.rank() < 1 || x.rank() > 2 || x.shape(x.rank() - 1) != g.n)
        throw ShapeError(fmt::format("x: expected shape ({}) or (channels, {}), got {}", g.n, g.n, x.layout().shape_string()));
    const index_t channels = x.rank() == 2 ? x.shape(0) : 1;
    Array<T> out = x.rank() == 2 ? Array<T>({channels, g.out_len}) : Array<T>({g.out_len});
    std::vector<T> row(static_cast<std::size_t>(g.n));
    const index_t ts = x.stride(x.rank() - 1), cs = x.rank() == 2 ? x.stride(0) : 0;
    for (index_t c = 0; c < channels; ++c) {
        const T* src = x.data() + c * cs;
        if (ts != 1) {
            for (index_t t = 0; t < g.n; ++t) row[static_cast<std::size_t>(t)] = src[t * ts];
            src = row.data();
        }
        (*this)(src, out.data() + c * g.out_len);
    }
    return out;
}

template <class T>
index_t ConvolutionKernel<T>::signal_length() const {
    return state_->geometry.n;
}
template <class T>
index_t ConvolutionKernel<T>::output_length() const {
    return state_->geometry.out_len;
}
NEUROPERF_JIT_KERNEL_ACCESSORS(ConvolutionKernel)

template <class T>
ConvolutionKernel<T> JITCompiler::compile_convolution_kernel(ArrayView<const T> taps, index_t signal_length,
                                                             const std::string& mode) const {
    const kernels::ConvMode m = kernels::parse_conv_mode(mode);
    if (taps.rank() != 1 || taps.size() < 1)
        throw ShapeError(fmt::format("taps: expected a non-empty 1-D array, got {}", taps.layout().shape_string()));
    if (signal_length < 1) throw ValueError(fmt::format("signal_length: expected ≥ 1, got {}", signal_length));
    if (taps.size() > 1000000) throw ValueError(fmt::format("taps: at most 1000000 can be baked in, got {}", taps.size()));
    auto st = std::make_shared<typename ConvolutionKernel<T>::State>();
    for (index_t i = 0; i < taps.size(); ++i) {
        T v = taps(i);
        if (!std::isfinite(v)) throw ValueError(fmt::format("taps: expected finite values, got {} at index {}", v, i));
        st->taps.push_back(v);
    }
    st->geometry = kernels::conv_geometry(m, signal_length, taps.size());
    // Multiply-adds fused as the AOT clone for this CPU does, or freely under fast math.
    const Isa isa = st->isa = context_.isa();
    const jit::ConvKernelDescriptor<T> desc{st->taps, st->geometry, isa, jit::aot_uses_fma(isa) || config_.enable_fastmath,
                                            config_.enable_fastmath};
    jit::KernelRequest req;
    req.kernel = "convolution";
    req.descriptor = jit::descriptor_key(desc);
    req.generate = [desc](const std::string& entry) { return jit::conv_source<T>(desc, entry); };
    req.parallel = false;  // one channel per call: nothing to share out
    // The tiled kernel is written out in full (conv_codegen.hpp): -O1 compiles it faster (16
    // taps: 78-82 ms against the looped kernel's 94-99 at -O3) and runs it as fast.
    if (jit::conv_tiled(st->geometry.k, desc.fastmath, desc.fma, desc.isa)) req.extra_flags = {"-O1"};
    st->compiled = jit::compile_kernel(config_, context_, std::move(req));
    st->entry = st->compiled.template entry<void (*)(const void*, void*)>();
    return ConvolutionKernel<T>(std::move(st));
}

template class ConvolutionKernel<float>;
template class ConvolutionKernel<double>;
template ConvolutionKernel<float> JITCompiler::compile_convolution_kernel<float>(ArrayView<const float>, index_t,
                                                                                const std::string&) const;
template ConvolutionKernel<double> JITCompiler::compile_convolution_kernel<double>(ArrayView<const double>, index_t,
                                                                                  const std::string&) const;

}  // namespace neuroperf
