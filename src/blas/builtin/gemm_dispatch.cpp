// Chooses the builtin GEMM variant once, from what the CPU supports, and forwards to it.
// Compiled with the project's baseline flags, so it runs on every CPU the library targets.
#include <cstdint>
#include <span>

#include "blas/builtin/gemm_variants.hpp"
#include "blas/builtin_gemm.hpp"

namespace neuroperf::blas::builtin {

namespace {

bool cpu_has_avx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const Variant& chosen() {
  static const Variant& best = [] () -> const Variant& {
    for (const Variant& v : variants()) {
      if (v.supported) {
        return v;
      }
    }
    return variants().back();
  }();
  return best;
}

}  // namespace

std::span<const Variant> variants() {
  static const Variant table[] = {
#if defined(__x86_64__)
      {"avx512", cpu_has_avx512(), &avx512::gemm<float>, &avx512::gemm<double>},
      {"avx2", cpu_has_avx2(), &avx2::gemm<float>, &avx2::gemm<double>},
#endif
      {"generic", true, &generic::gemm<float>, &generic::gemm<double>},
  };
  return table;
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc, int threads) {
  static const GemmFn<T> fn = variant_gemm<T>(chosen());
  fn(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float,
                          const float*, std::int64_t, const float*, std::int64_t, float, float*,
                          std::int64_t, int);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double,
                           const double*, std::int64_t, const double*, std::int64_t, double,
                           double*, std::int64_t, int);

const char* isa_variant() { return chosen().name; }

}  // namespace neuroperf::blas::builtin
