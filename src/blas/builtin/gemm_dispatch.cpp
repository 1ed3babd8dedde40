// The builtin GEMM's variant table (core/simd.hpp's IsaTable over the per-ISA compilations of
// gemm_kernel.inc) and the entry point that calls the variant of the caller's Isa.
// Compiled with the project's baseline flags, so it runs on every CPU the library targets.
#include <cstdint>
#include <span>

#include "blas/builtin/gemm_variants.hpp"
#include "blas/builtin_gemm.hpp"
#include "core/simd.hpp"

namespace neuroperf::blas::builtin {

namespace {

template <class T>
constexpr core::IsaTable<GemmFn<T>> kGemm{
    &generic::gemm<T>,
#if defined(__x86_64__)  // CMakeLists.txt builds these exactly on x86-64
    &avx2::gemm<T>,
    &avx512::gemm<T>,
#endif
};

}  // namespace

std::span<const Variant> variants() {
  static const Variant table[] = {
#if defined(__x86_64__)
      {Isa::avx512, isa_supported(Isa::avx512), &avx512::gemm<float>, &avx512::gemm<double>},
      {Isa::avx2, isa_supported(Isa::avx2), &avx2::gemm<float>, &avx2::gemm<double>},
#endif
      {Isa::generic, true, &generic::gemm<float>, &generic::gemm<double>},
  };
  return table;
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc, int threads, Isa isa) {
  kGemm<T>[isa](trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float,
                          const float*, std::int64_t, const float*, std::int64_t, float, float*,
                          std::int64_t, int, Isa);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double,
                           const double*, std::int64_t, const double*, std::int64_t, double,
                           double*, std::int64_t, int, Isa);

}  // namespace neuroperf::blas::builtin
