#include "blas/xsmm.hpp"

#include <algorithm>
#include <mutex>
#include <type_traits>

#include <fmt/format.h>

#include "blas/builtin_gemm.hpp"

#if NEUROPERF_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

namespace neuroperf::blas::xsmm {

#if NEUROPERF_HAVE_LIBXSMM
namespace {

template <class T>
using XsmmFn = std::conditional_t<std::is_same_v<T, float>, libxsmm_smmfunction, libxsmm_dmmfunction>;

template <class T>
XsmmFn<T> dispatch(libxsmm_blasint m, libxsmm_blasint n, libxsmm_blasint k, libxsmm_blasint lda,
                   libxsmm_blasint ldb, libxsmm_blasint ldc, T alpha, T beta, int flags) {
    if constexpr (std::is_same_v<T, float>)
        return libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
    else
        return libxsmm_dmmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
}

// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: libxsmm (column-major) gets
// B as its first operand and A as its second, with the transposes carried over.
template <class T>
void gemm_thunk(const void*, int threads, bool ta, bool tb, index_t m, index_t n, index_t k, T alpha,
                const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    if (m == 0 || n == 0) return;
    if (std::max({m, n, k}) <= kMaxDim && k > 0 && (beta == T(0) || beta == T(1)) && alpha == T(1)) {
        int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
        if (beta == T(0)) flags |= LIBXSMM_GEMM_FLAG_BETA_0;
        // A repeated shape skips libxsmm's registry lookup: the last kernel is kept per thread.
        struct Last {
            index_t m = -1, n = -1, k = -1, lda = -1, ldb = -1, ldc = -1;
            int flags = -1;
            XsmmFn<T> fn = nullptr;
        };
        thread_local Last last;
        XsmmFn<T> fn;
        if (last.m == m && last.n == n && last.k == k && last.lda == lda && last.ldb == ldb && last.ldc == ldc &&
            last.flags == flags) {
            fn = last.fn;
        } else {
            fn = dispatch<T>(static_cast<libxsmm_blasint>(n), static_cast<libxsmm_blasint>(m),
                             static_cast<libxsmm_blasint>(k), static_cast<libxsmm_blasint>(ldb),
                             static_cast<libxsmm_blasint>(lda), static_cast<libxsmm_blasint>(ldc), alpha, beta, flags);
            last = {m, n, k, lda, ldb, ldc, flags, fn};
        }
        if (fn) {
            fn(b, a, c);
            return;
        }
    }
    builtin::gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

}  // namespace

std::unique_ptr<Backend> make_backend() {
    static std::once_flag init;
    std::call_once(init, [] { libxsmm_init(); });
    auto be = std::make_unique<Backend>();
    be->info.name = "libxsmm";
    be->info.available = true;
    be->info.version = fmt::format("libxsmm {} (target {})", LIBXSMM_VERSION, libxsmm_get_target_arch());
    be->info.path = "(linked in)";
    be->info.threading = "single-threaded";
    be->info.reason = fmt::format("small GEMM only: m, n, k <= {}, alpha = 1, beta in {{0, 1}}; other calls use builtin", kMaxDim);
    be->info.routines = {"sgemm", "dgemm"};
    be->sgemm = &gemm_thunk<float>;
    be->dgemm = &gemm_thunk<double>;
    be->info.max_gemm_dim = kMaxDim;
    return be;
}

template <class T>
const void* dispatch_row_major(index_t m, index_t n, index_t k) {
    if (std::min({m, n, k}) < 1 || std::max({m, n, k}) > kMaxDim) return nullptr;
    static std::once_flag init;
    std::call_once(init, [] { libxsmm_init(); });
    // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: B first (see gemm_thunk).
    auto fn = dispatch<T>(static_cast<libxsmm_blasint>(n), static_cast<libxsmm_blasint>(m), static_cast<libxsmm_blasint>(k),
                          static_cast<libxsmm_blasint>(n), static_cast<libxsmm_blasint>(k), static_cast<libxsmm_blasint>(n),
                          T(1), T(0), LIBXSMM_GEMM_FLAG_BETA_0);
    return reinterpret_cast<const void*>(fn);
}

template <class T>
void call_row_major(const void* fn, const T* a, const T* b, T* c) {
    reinterpret_cast<XsmmFn<T>>(const_cast<void*>(fn))(b, a, c);
}

#else

template <class T>
const void* dispatch_row_major(index_t, index_t, index_t) {
    return nullptr;
}
template <class T>
void call_row_major(const void*, const T*, const T*, T*) {}

std::unique_ptr<Backend> make_backend() {
    auto be = std::make_unique<Backend>();
    be->info.name = "libxsmm";
    be->info.reason = "not built in (configure with -DNEUROPERF_WITH_LIBXSMM=ON)";
    return be;
}

#endif

template const void* dispatch_row_major<float>(index_t, index_t, index_t);
template const void* dispatch_row_major<double>(index_t, index_t, index_t);
template void call_row_major<float>(const void*, const float*, const float*, float*);
template void call_row_major<double>(const void*, const double*, const double*, double*);

}  // namespace neuroperf::blas::xsmm
