// BLAS backends as seen by users: what was found, and GEMM entry points bound to one backend.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "neuroperf/array.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

/// Operation classes for which the backend is chosen independently.
enum class BlasOp : std::uint8_t { sgemm, dgemm };
NEUROPERF_API const char* blas_op_name(BlasOp op);
template <class T>
constexpr BlasOp gemm_op() { return dtype_of<T>() == DType::float32 ? BlasOp::sgemm : BlasOp::dgemm; }

/// One backend the registry looked for (fields documented in the field list below).
struct BackendInfo {
    std::string name;
    bool available = false;
    std::string version;
    std::string path;
    std::string threading;
    int threads = 0;
    std::string reason;
    std::vector<std::string> routines;
    std::int64_t max_gemm_dim = INT64_MAX;
};

template <>
struct Fields<BackendInfo> {
    using S = BackendInfo;
    static constexpr auto list = std::tuple{
        field("name", &S::name, "\"mkl\", \"openblas\", \"blis\", \"libxsmm\", \"builtin\""),
        field("available", &S::available, "found and usable"), field("version", &S::version, "as the library reports it"),
        field("path", &S::path, "file that was loaded (empty for linked-in backends)"),
        field("threading", &S::threading, "threading layer, e.g. \"openmp (libgomp)\""),
        field("threads", &S::threads, "the library's current thread setting (1 for single-threaded ones)"),
        field("reason", &S::reason, "why it is unavailable, or notes on limits"),
        field("routines", &S::routines, "entry points present: \"sgemm\", \"dgeev\", ..."),
        field("max_gemm_dim", &S::max_gemm_dim, "largest m, n or k it serves itself (beyond: the builtin GEMM)")};
};
NEUROPERF_CHECK_FIELDS(BackendInfo);

/// Size buckets used for the per-size backend choice. Buckets 0-7 are by size: bucket b covers
/// problems whose cube root of m·n·k is at most kGemmBucketEdges[b] (bucket 7 is unbounded).
/// Bucket 8 (kGemmThinBucket) takes the thin products that stream a large B: m ≤ kGemmThinRows
/// rows against n·k ≥ kGemmThinPanel elements of B (a batch of a few rows through a big weight
/// matrix), where backends rank differently than on square problems (memory-bound, packing B
/// costs a pass over it).
inline constexpr int kGemmBuckets = 9;
inline constexpr int kGemmThinBucket = 8;
inline constexpr index_t kGemmThinRows = 64;
inline constexpr index_t kGemmThinPanel = index_t{1} << 20;
inline constexpr index_t kGemmBucketEdges[kGemmBuckets] = {12, 24, 48, 96, 192, 384, 768, INT64_MAX, INT64_MAX};
/// Representative size n of each bucket (what the calibration times: n×n×n; the thin bucket
/// times 16 rows × n × n, B beyond the last-level cache).
inline constexpr index_t kGemmBucketSizes[kGemmBuckets] = {8, 16, 32, 64, 128, 256, 512, 1024, 4000};
inline constexpr index_t kGemmThinCalibrationRows = 16;
/// Bucket of an m×n×k product (O(1)).
NEUROPERF_API int gemm_bucket(index_t m, index_t n, index_t k);

/// Row-major GEMM bound to one backend and thread count (a small value; copy freely):
///   C[m×n] = alpha·op(A)·op(B) + beta·C, op(X) = X or Xᵀ, lda/ldb/ldc = row strides (elements).
/// beta == 0 means C is not read. Arguments are not checked here: the façade checks shapes.
template <class T>
class GemmKernel {
public:
    using Fn = void (*)(const void* state, int threads, bool trans_a, bool trans_b, index_t m,
                        index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                        index_t ldb, T beta, T* c, index_t ldc);
    GemmKernel() = default;
    GemmKernel(Fn fn, const void* state, const char* backend, int threads)
        : fn_(fn), state_(state), backend_(backend), threads_(threads) {}

    void operator()(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                    const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c,
                    index_t ldc) const {
        fn_(state_, threads_, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    explicit operator bool() const { return fn_ != nullptr; }
    const char* backend() const { return backend_; }
    int threads() const { return threads_; }

private:
    Fn fn_ = nullptr;
    const void* state_ = nullptr;
    const char* backend_ = "";
    int threads_ = 1;
};

/// Why a backend serves an operation class and size bucket.
struct BackendChoice {
    BlasOp op = BlasOp::sgemm;
    int bucket = 0;
    std::string backend;
    std::string why;  ///< "calibrated: 81.2 GFLOP/s (openblas 77.0, builtin 60.3)", "NEUROPERF_BLAS=blis", ...
};

}  // namespace neuroperf
