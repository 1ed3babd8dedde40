// JITCompiler::compile_matrix_multiply_kernel: libxsmm's JIT (machine code generated for the
// exact shape, no compiler run) for small shapes, the context's GEMM choice otherwise.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>

#include "blas/xsmm.hpp"
#include "runtime/context_impl.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf {

template <class T>
struct MatmulKernel<T>::State {
    index_t m = 0, n = 0, k = 0;
    const void* xsmm = nullptr;
    GemmKernel<T> gemm;
    std::string backend, source, key, reason;
};

template <class T>
void MatmulKernel<T>::operator()(const T* a, const T* b, T* c) const {
    const auto& st = *state_;
    if (st.m == 0 || st.n == 0) return;
    if (st.k == 0) {
        std::fill_n(c, st.m * st.n, T(0));
        return;
    }
    if (st.xsmm) blas::xsmm::call_row_major<T>(st.xsmm, a, b, c);
    else st.gemm(false, false, st.m, st.n, st.k, T(1), a, st.k, b, st.n, T(0), c, st.n);
}

template <class T>
Array<T> MatmulKernel<T>::operator()(ArrayView<const T> a, ArrayView<const T> b) const {
    const auto& st = *state_;
    if (a.rank() != 2 || a.shape(0) != st.m || a.shape(1) != st.k)
        throw ShapeError(fmt::format("a: expected shape ({}, {}) (baked into this matmul kernel), got {}", st.m, st.k,
                                     a.layout().shape_string()));
    if (b.rank() != 2 || b.shape(0) != st.k || b.shape(1) != st.n)
        throw ShapeError(fmt::format("b: expected shape ({}, {}) (baked into this matmul kernel), got {}", st.k, st.n,
                                     b.layout().shape_string()));
    Array<T> ca, cb;
    if (!a.is_contiguous()) {
        ca = Array<T>::copy_of(a);
        a = ca.view();
    }
    if (!b.is_contiguous()) {
        cb = Array<T>::copy_of(b);
        b = cb.view();
    }
    Array<T> c({st.m, st.n});
    (*this)(a.data(), b.data(), c.data());
    return c;
}

template <class T>
index_t MatmulKernel<T>::m() const { return state_->m; }
template <class T>
index_t MatmulKernel<T>::n() const { return state_->n; }
template <class T>
index_t MatmulKernel<T>::k() const { return state_->k; }
template <class T>
const std::string& MatmulKernel<T>::backend() const { return state_->backend; }
template <class T>
const std::string& MatmulKernel<T>::source() const { return state_->source; }
template <class T>
const std::string& MatmulKernel<T>::key() const { return state_->key; }
template <class T>
bool MatmulKernel<T>::is_compiled() const { return state_->xsmm != nullptr; }
template <class T>
const std::string& MatmulKernel<T>::fallback_reason() const { return state_->reason; }

template <class T>
MatmulKernel<T> JITCompiler::compile_matrix_multiply_kernel(index_t M, index_t N, index_t K) const {
    for (auto [name, v] : {std::pair{"M", M}, {"N", N}, {"K", K}})
        if (v < 0) throw ValueError(fmt::format("{}: expected ≥ 0, got {}", name, v));
    auto st = std::make_shared<typename MatmulKernel<T>::State>();
    st->m = M;
    st->n = N;
    st->k = K;
    const char* dt = std::is_same_v<T, float> ? "f32" : "f64";
    const bool small = std::max({M, N, K}) <= blas::xsmm::kMaxDim && std::min({M, N, K}) >= 1;
    if (config_.enable_jit && small) st->xsmm = blas::xsmm::dispatch_row_major<T>(M, N, K);
    if (st->xsmm) {
        st->backend = "libxsmm";
        st->source = fmt::format("(no source: libxsmm's JIT generated machine code for C({0}×{1}) = A({0}×{2})·B({2}×{1}), "
                                 "{3}, row-major, beta 0, for this CPU)", M, N, K, dt);
        st->key = fmt::format("matmul/{}/M={}/N={}/K={}/libxsmm", dt, M, N, K);
    } else {
        st->gemm = context_.gemm<T>(M, N, K, 0);
        st->backend = st->gemm.backend();
        st->source = fmt::format("(no source: the context's GEMM, backend {}, serves C({}×{}) = A·B)", st->backend, M, N);
        st->key = fmt::format("matmul/{}/M={}/N={}/K={}/{}", dt, M, N, K, st->backend);
        st->reason = !config_.enable_jit ? "JIT disabled (JITConfig.enable_jit = false)"
                     : !small ? fmt::format("shape beyond libxsmm's JIT (every dimension 1..{}): the context's GEMM",
                                             blas::xsmm::kMaxDim)
                              : "libxsmm not built in or declined the shape: the context's GEMM";
    }
    if (runtime::logs(context_, config_.verbose))
        runtime::emit(context_, fmt::format("jit: matmul {}×{}×{} {} -> {}", M, N, K, dt, st->backend));
    return MatmulKernel<T>(std::move(st));
}

template class MatmulKernel<float>;
template class MatmulKernel<double>;
template MatmulKernel<float> JITCompiler::compile_matrix_multiply_kernel<float>(index_t, index_t, index_t) const;
template MatmulKernel<double> JITCompiler::compile_matrix_multiply_kernel<double>(index_t, index_t, index_t) const;

}  // namespace neuroperf
