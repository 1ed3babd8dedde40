// The builtin GEMM against a deliberately naive triple loop in long double, for every
// instruction-set variant this CPU can run and for the dispatched entry point: every transpose,
// empty/odd/prime sizes, strided operands, alpha/beta variants, NaN/Inf, 1 and 2 threads.
// Tolerance is a residual bound in the style of BLIS's test_gemm: per element
// |C - Cref| <= c·k·eps·(|alpha|·Σ|a||b| + |beta|·|C0|).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "blas/builtin/gemm_variants.hpp"
#include "blas/builtin_gemm.hpp"

namespace {

namespace builtin = neuroperf::blas::builtin;
using idx = std::int64_t;
using neuroperf::Isa;
using neuroperf::isa_name;
using neuroperf::isa_supported;

struct Shape {
  idx m, n, k;
};

struct Case {
  bool trans_a = false, trans_b = false;
  Shape shape{};
  idx pad = 0;  // extra elements per row of A, B and C beyond what the shape needs
  double alpha = 1.0, beta = 0.0;
  int threads = 1;
};

std::string describe(const Case& c) {
  return "ta=" + std::to_string(c.trans_a) + " tb=" + std::to_string(c.trans_b) +
         " m=" + std::to_string(c.shape.m) + " n=" + std::to_string(c.shape.n) +
         " k=" + std::to_string(c.shape.k) + " pad=" + std::to_string(c.pad) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) +
         " threads=" + std::to_string(c.threads);
}

// A GEMM under test: the dispatched entry point or one variant.
template <class T>
struct Impl {
  std::string name;
  builtin::GemmFn<T> fn;
};

template <class T>
std::vector<Impl<T>> implementations() {
  std::vector<Impl<T>> out{{"dispatch", [](bool ta, bool tb, idx m, idx n, idx k, T alpha,
                                           const T* a, idx lda, const T* b, idx ldb, T beta,
                                           T* c, idx ldc, int threads) {
                              builtin::gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                                               ldc, threads);
                            }}};
  for (const builtin::Variant& v : builtin::variants()) {
    if (v.supported) {
      out.push_back({isa_name(v.isa), builtin::variant_gemm<T>(v)});
    }
  }
  return out;
}

// Operands of one case, laid out row-major with the case's padding. Padding holds a sentinel
// that must survive in C and must never be read into the result from A or B.
template <class T>
struct Operands {
  idx a_rows, a_cols, b_rows, b_cols;
  idx lda, ldb, ldc;
  std::vector<T> a, b, c0;

  Operands(const Case& cs, std::mt19937& rng) {
    const auto [m, n, k] = cs.shape;
    a_rows = cs.trans_a ? k : m;
    a_cols = cs.trans_a ? m : k;
    b_rows = cs.trans_b ? n : k;
    b_cols = cs.trans_b ? k : n;
    lda = a_cols + cs.pad;
    ldb = b_cols + cs.pad;
    ldc = n + cs.pad;
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const T sentinel = std::numeric_limits<T>::quiet_NaN();
    auto fill = [&](std::vector<T>& v, idx rows, idx cols, idx ld, bool nan_inside) {
      v.assign(static_cast<std::size_t>(rows * ld), sentinel);
      for (idx i = 0; i < rows; ++i) {
        for (idx j = 0; j < cols; ++j) {
          v[static_cast<std::size_t>(i * ld + j)] = nan_inside ? sentinel : static_cast<T>(u(rng));
        }
      }
    };
    fill(a, a_rows, a_cols, lda, false);
    fill(b, b_rows, b_cols, ldb, false);
    // beta == 0: C must not be read, so fill it with NaN.
    fill(c0, m, n, ldc, cs.beta == 0.0);
  }

  T op_a(const Case& cs, idx i, idx p) const {
    return a[static_cast<std::size_t>(cs.trans_a ? p * lda + i : i * lda + p)];
  }
  T op_b(const Case& cs, idx p, idx j) const {
    return b[static_cast<std::size_t>(cs.trans_b ? j * ldb + p : p * ldb + j)];
  }
};

template <class T>
void check_case(const Impl<T>& impl, const Case& cs, const Operands<T>& ops) {
  const auto [m, n, k] = cs.shape;
  std::vector<T> c = ops.c0;
  impl.fn(cs.trans_a, cs.trans_b, m, n, k, static_cast<T>(cs.alpha), ops.a.data(), ops.lda,
          ops.b.data(), ops.ldb, static_cast<T>(cs.beta), c.data(), ops.ldc, cs.threads);

  const long double eps = std::numeric_limits<T>::epsilon();
  const long double alpha = cs.alpha;
  const long double beta = cs.beta;
  int failures = 0;
  for (idx i = 0; i < m; ++i) {
    for (idx j = 0; j < ops.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * ops.ldc + j);
      const T got = c[at];
      if (j >= n) {  // padding of C is never written
        ASSERT_TRUE(std::isnan(got)) << impl.name << " wrote C padding, " << describe(cs);
        continue;
      }
      long double sum = 0;
      long double magnitude = 0;
      for (idx p = 0; p < k; ++p) {
        const long double x = ops.op_a(cs, i, p);
        const long double y = ops.op_b(cs, p, j);
        sum += x * y;
        magnitude += std::fabs(x * y);
      }
      long double ref = alpha * sum;
      long double bound = std::fabs(alpha) * magnitude;
      if (beta != 0) {
        ref += beta * static_cast<long double>(ops.c0[at]);
        bound += std::fabs(beta * static_cast<long double>(ops.c0[at]));
      }
      const long double tol =
          4 * static_cast<long double>(k + 2) * eps * bound + std::numeric_limits<T>::min();
      const bool ok = std::fabs(static_cast<long double>(got) - ref) <= tol;
      if (!ok && ++failures <= 3) {
        ADD_FAILURE() << impl.name << " C(" << i << "," << j << ") = " << got << ", expected "
                      << static_cast<double>(ref) << " ± " << static_cast<double>(tol) << ", "
                      << describe(cs);
      }
    }
  }
  ASSERT_EQ(failures, 0) << impl.name << ", " << describe(cs);
}

template <class T>
void run_cases(const std::vector<Case>& cases) {
  std::mt19937 rng(20240611);
  for (const Case& cs : cases) {
    const Operands<T> ops(cs, rng);
    for (const Impl<T>& impl : implementations<T>()) {
      check_case(impl, cs, ops);
      if (::testing::Test::HasFatalFailure()) {
        return;
      }
    }
  }
}

struct Scalars {
  double alpha, beta;
};
// beta 0 (C is NaN-filled and must be ignored), beta 1 (accumulate), and general values.
constexpr Scalars scalar_variants[] = {{1.0, 0.0}, {1.0, 1.0}, {2.5, -0.5}};

template <class T>
class BuiltinGemm : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(BuiltinGemm, Types);

TYPED_TEST(BuiltinGemm, EverySmallShapeEveryTranspose) {
  const idx sizes[] = {0, 1, 2, 3, 5, 9, 17};
  std::vector<Case> cases;
  for (int t = 0; t < 4; ++t) {
    for (idx m : sizes) {
      for (idx n : sizes) {
        for (idx k : sizes) {
          for (const Scalars& s : scalar_variants) {
            Case cs;
            cs.trans_a = (t & 1) != 0;
            cs.trans_b = (t & 2) != 0;
            cs.shape = {m, n, k};
            cs.pad = (m + n + k) % 3;  // mix tight and strided layouts
            cs.alpha = s.alpha;
            cs.beta = s.beta;
            cs.threads = (m + n) % 2 == 0 ? 1 : 2;
            cases.push_back(cs);
          }
        }
      }
    }
  }
  run_cases<TypeParam>(cases);
}

TYPED_TEST(BuiltinGemm, LargerAndMixedShapes) {
  // Squares around the register and cache blocks, long/thin mixes, a k that crosses the
  // k-blocking, an m that crosses the m-blocking and an n that crosses the n-blocking.
  const Shape shapes[] = {{64, 64, 64},  {100, 100, 100}, {257, 257, 257}, {17, 3, 100},
                          {3, 17, 257},  {257, 1, 64},    {1, 257, 100},   {100, 257, 17},
                          {64, 100, 257}, {257, 64, 9},   {211, 45, 517},  {3, 4133, 5},
                          {29, 31, 1031}};
  std::vector<Case> cases;
  for (int t = 0; t < 4; ++t) {
    for (const Shape& shape : shapes) {
      for (int threads : {1, 2}) {
        Case cs;
        cs.trans_a = (t & 1) != 0;
        cs.trans_b = (t & 2) != 0;
        cs.shape = shape;
        cs.pad = threads == 1 ? 0 : 7;
        const Scalars& s = scalar_variants[static_cast<std::size_t>(t + threads) % 3];
        cs.alpha = s.alpha;
        cs.beta = s.beta;
        cs.threads = threads;
        cases.push_back(cs);
      }
    }
  }
  run_cases<TypeParam>(cases);
}

TYPED_TEST(BuiltinGemm, ZeroDepthScalesC) {
  using T = TypeParam;
  for (const Impl<T>& impl : implementations<T>()) {
    std::vector<T> c(6, T(3));
    impl.fn(false, false, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(2), c.data(), 3, 1);
    for (T x : c) {
      EXPECT_EQ(x, T(6)) << impl.name;
    }
    c.assign(6, std::numeric_limits<T>::quiet_NaN());
    impl.fn(true, true, 2, 3, 0, T(1), nullptr, 2, nullptr, 1, T(0), c.data(), 3, 2);
    for (T x : c) {
      EXPECT_EQ(x, T(0)) << impl.name << ": beta == 0 must overwrite NaN with 0";
    }
    // m == 0 or n == 0: nothing is touched, not even with null pointers.
    impl.fn(false, false, 0, 3, 4, T(1), nullptr, 4, nullptr, 3, T(0), nullptr, 3, 1);
    impl.fn(false, false, 3, 0, 4, T(1), nullptr, 4, nullptr, 1, T(0), nullptr, 1, 2);
  }
}

// NaN and Inf in A or B reach every element of C they touch, even when multiplied by zero.
TYPED_TEST(BuiltinGemm, NanAndInfPropagate) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  const idx m = 37, n = 45, k = 29;
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0;
    const bool tb = (t & 2) != 0;
    for (int threads : {1, 2}) {
      for (const Impl<T>& impl : implementations<T>()) {
        // op(A) all zeros except one NaN at (5, 7) and +Inf at (20, 3); op(B) all zeros except
        // one NaN at (11, 40) and row 3 positive.
        std::vector<T> a(static_cast<std::size_t>(m * k), T(0));
        std::vector<T> b(static_cast<std::size_t>(k * n), T(0));
        const idx lda = ta ? m : k;
        const idx ldb = tb ? k : n;
        auto at_a = [&](idx i, idx p) -> T& {
          return a[static_cast<std::size_t>(ta ? p * lda + i : i * lda + p)];
        };
        auto at_b = [&](idx p, idx j) -> T& {
          return b[static_cast<std::size_t>(tb ? j * ldb + p : p * ldb + j)];
        };
        at_a(5, 7) = nan;
        at_a(20, 3) = inf;
        at_b(11, 40) = nan;
        for (idx j = 0; j < n; ++j) {
          at_b(3, j) = T(1);
        }
        std::vector<T> c(static_cast<std::size_t>(m * n), T(0));
        impl.fn(ta, tb, m, n, k, T(1), a.data(), lda, b.data(), ldb, T(0), c.data(), n,
                threads);
        for (idx i = 0; i < m; ++i) {
          for (idx j = 0; j < n; ++j) {
            const T got = c[static_cast<std::size_t>(i * n + j)];
            if (i == 5 || j == 40) {
              EXPECT_TRUE(std::isnan(got)) << impl.name << " (" << i << "," << j << ") t=" << t;
            } else if (i == 20) {
              EXPECT_EQ(got, inf) << impl.name << " (" << i << "," << j << ") t=" << t;
            } else {
              EXPECT_EQ(got, T(0)) << impl.name << " (" << i << "," << j << ") t=" << t;
            }
          }
        }
      }
    }
  }
}

// Repeated calls of different sizes reuse and regrow the per-thread pack buffers.
TYPED_TEST(BuiltinGemm, RepeatedCallsAreIdentical) {
  using T = TypeParam;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const idx n = 300;
  std::vector<T> a(n * n), b(n * n);
  for (T& x : a) x = static_cast<T>(u(rng));
  for (T& x : b) x = static_cast<T>(u(rng));
  std::vector<T> first(n * n), again(n * n), small(9);
  builtin::gemm<T>(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), first.data(), n);
  builtin::gemm<T>(false, false, 3, 3, 3, T(1), a.data(), n, b.data(), n, T(0), small.data(), 3);
  builtin::gemm<T>(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), again.data(), n);
  EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * sizeof(T)), 0);
  // Thread count does not change the result: each element is summed in the same order.
  for (int threads : {2, 3}) {
    std::fill(again.begin(), again.end(), T(0));
    builtin::gemm<T>(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), again.data(),
                     n, threads);
    EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * sizeof(T)), 0) << threads;
  }
}

// The table lists every built variant widest first, supported exactly when the CPU runs it,
// and the entry point runs the variant it is asked for (a context's ContextOptions::isa).
TEST(BuiltinGemmDispatch, VariantsAndTheIsaAskedFor) {
  std::vector<Isa> listed;
  for (const builtin::Variant& v : builtin::variants()) {
    listed.push_back(v.isa);
    EXPECT_EQ(v.supported, isa_supported(v.isa)) << isa_name(v.isa);
  }
  ASSERT_FALSE(listed.empty());
  EXPECT_EQ(listed.back(), Isa::generic);
  EXPECT_TRUE(builtin::variants().back().supported);
  // Each supported variant through the entry point equals the variant called directly.
  const idx n = 67;
  std::vector<float> a(n * n), b(n * n), c1(n * n), c2(n * n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& x : a) x = u(rng);
  for (float& x : b) x = u(rng);
  for (const builtin::Variant& v : builtin::variants()) {
    if (!v.supported) continue;
    builtin::gemm<float>(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c1.data(), n, 1, v.isa);
    v.sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c2.data(), n, 1);
    EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0) << isa_name(v.isa);
  }
}

}  // namespace
