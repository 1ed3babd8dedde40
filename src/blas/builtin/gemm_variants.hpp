// The instruction-set variants of the builtin GEMM and the table that chooses among them.
// Private to src/blas/builtin (and its unit test). Every variant is the same source,
// gemm_kernel.inc, compiled with different target flags into its own namespace.
#pragma once

#include <cstdint>
#include <span>

#include "neuroperf/isa.hpp"

namespace neuroperf::blas::builtin {

/// Signature shared by every variant; same contract as builtin::gemm<T>.
template <class T>
using GemmFn = void (*)(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                        std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
                        std::int64_t ldb, T beta, T* c, std::int64_t ldc, int threads);

// One declaration per variant; the definitions come from gemm_kernel.inc.
#define NEUROPERF_BUILTIN_GEMM_DECLARE_VARIANT(isa)                                            \
  namespace isa {                                                                              \
  template <class T>                                                                           \
  void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,        \
            T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, \
            std::int64_t ldc, int threads);                                                    \
  }
NEUROPERF_BUILTIN_GEMM_DECLARE_VARIANT(generic)
#if defined(__x86_64__)  // CMakeLists.txt builds these exactly on x86-64
NEUROPERF_BUILTIN_GEMM_DECLARE_VARIANT(avx2)
NEUROPERF_BUILTIN_GEMM_DECLARE_VARIANT(avx512)
#endif
#undef NEUROPERF_BUILTIN_GEMM_DECLARE_VARIANT

/// One compiled-in variant. `supported` is whether this CPU can execute it.
struct Variant {
  Isa isa;
  bool supported;
  GemmFn<float> sgemm;
  GemmFn<double> dgemm;
};

/// All compiled-in variants, widest first; the last one (generic) is always supported.
/// Filled once on first use.
std::span<const Variant> variants();

template <class T>
GemmFn<T> variant_gemm(const Variant& v) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return v.sgemm;
  } else {
    return v.dgemm;
  }
}

}  // namespace neuroperf::blas::builtin
