// Fused reservoir (echo state network) step: x' = (1 − a)·x + a·f(W_in·u + W·x + b), one pass
// over row blocks of W (dense row-major or CSR), no allocation. The façade
// (src/api/mkl_reservoir.cpp) validates shapes and prepares the pointers.
#pragma once

#include <cstdint>

#include "kernels/elementwise.hpp"
#include "neuroperf/reservoir.hpp"

namespace neuroperf::kernels {

/// Rows of a row-major matrix with unit column stride; row i starts at data + i·ld.
template <class T>
struct DenseRows {
    const T* data = nullptr;
    std::int64_t ld = 0;
};

/// A CSR matrix's arrays (see neuroperf::CsrMatrix). `col16`, when set, holds the same column
/// indices narrowed to 16 bits (CsrMatrix::col_idx16) and is read instead of col_idx: at
/// N = 10⁴, d = 0.1 a step streams 60 MB instead of 80 MB from DRAM.
template <class T>
struct CsrRows {
    const std::int64_t* row_ptr = nullptr;
    const std::int32_t* col_idx = nullptr;
    const T* values = nullptr;
    const std::uint16_t* col16 = nullptr;
    /// The avx512 and avx2 variants gather x with vgatherdps/pd (true) or with scalar loads
    /// (false), for 16- and 32-bit indices alike. Measured on Zen 4, float, 1 thread, 16-bit indices:
    /// streaming from DRAM (N = 10⁴, d = 0.1, 60 MB) the instruction is 1.47× faster (6.15 vs
    /// 9.0 ms per step); with the matrix in cache (N = 2000, d = 0.1, 2.4 MB) the scalar loads
    /// are 1.27× faster (142 vs 180 µs). 32-bit indices, one step at N = 10⁴: 7.3-8.4 → 6.3 ms.
    /// The façade sets it when the matrix does not fit the last-level cache.
    bool hw_gather = false;
    /// Set by the sequence for one step: W·x of that step, computed beforehand (the sliced
    /// rows of kernels/reservoir_slices.hpp), read instead of the rows.
    const T* row_sums = nullptr;
};

/// Column counts up to this fit 16-bit indices (0 … 65535).
inline constexpr std::int64_t kNarrowMaxCols = 65536;

/// One step's operands. x_old must be contiguous and must not overlap x_new (the in-place
/// façade copies the state into a per-thread buffer first).
template <class T>
struct ReservoirStep {
    std::int64_t n = 0;
    const T* x_old = nullptr;
    T* x_new = nullptr;
    std::int64_t x_new_stride = 1;
    /// Input term: either precomputed (W_in·u)_i, contiguous N (the sequence variant's GEMM row)...
    const T* input_pre = nullptr;
    /// ...or W_in (N × d, any strides) times u (d, any stride), computed row by row.
    const T* w_in = nullptr;
    std::int64_t w_in_row_stride = 0, w_in_col_stride = 1, d = 0;
    const T* u = nullptr;
    std::int64_t u_stride = 1;
    const T* bias = nullptr;  ///< null = 0
    std::int64_t bias_stride = 1;
    T leak = T(1);
    Activation activation = Activation::tanh;
    Precision precision = Precision::high;
    int threads = 1;   ///< upper bound; used only when the step is large enough to pay
    bool ftz = false;  ///< set FTZ/DAZ on the worker threads of a parallel step
    Isa isa = Isa::generic;  ///< the variant that runs (the caller's context's)
};

/// Rows per block: pre-activations of a block live in a stack buffer, the activation and the
/// leak run on the block right after. Block boundaries never depend on the thread count, so the
/// result is bit-identical for any number of threads.
inline constexpr std::int64_t kReservoirBlock = 256;

/// Threads a step of `work` multiply-adds will use out of `threads` (pure function): one below
/// kReservoirParallelWork, where a parallel region costs more than it saves.
inline constexpr double kReservoirParallelWork = 60000.0;
int reservoir_threads(double work, int threads, std::int64_t n);

/// First block of thread `id` (0 ≤ id ≤ nt; id = nt gives the block count) when the
/// ⌈n / kReservoirBlock⌉ blocks of a step are shared out in nt contiguous ranges of about equal
/// cost (pure function). Cost of a row: its stored entries plus kReservoirRowCost (row_ptr =
/// null: dense, every row the same). Thread id runs blocks [split(id), split(id + 1)); whole
/// blocks only, so the results do not depend on the split.
inline constexpr std::int64_t kReservoirRowCost = 4;
std::int64_t reservoir_block_split(std::int64_t n, const std::int64_t* row_ptr, int id, int nt);

/// Threads for run_reservoir's input GEMM P = U·W_inᵀ of `work` = T·N·D multiply-adds, out of
/// `threads`, when the steps run on `step_threads` (reservoir_threads) (pure function): one when
/// the steps run on one thread and work < kReservoirGemmParallelWork, else `threads`. A small
/// GEMM on the thread team saves tens of µs, but the idle worker then spins beside the caller's
/// single-threaded steps: at N = 500, D = 50, T = 100 (2.5·10⁶) that made the whole call 1.4×
/// slower than on 1 thread (docs/guide/reservoir.md). Steps on several threads keep the worker
/// busy anyway, so their GEMM keeps the threads.
inline constexpr double kReservoirGemmParallelWork = 8.0e6;
int reservoir_gemm_threads(double work, int step_threads, int threads);

template <class T>
void reservoir_step(const ReservoirStep<T>& step, const DenseRows<T>& w);
template <class T>
void reservoir_step(const ReservoirStep<T>& step, const CsrRows<T>& w);

/// `steps` steps of a sequence into `states` (steps × n, contiguous rows): step q reads
/// first.x_old (q = 0) or row q − 1, first.input_pre + q·n, and writes row q. One parallel
/// region for the whole sequence (a barrier between steps) when the step is large enough.
template <class T>
void reservoir_sequence(const ReservoirStep<T>& first, const DenseRows<T>& w, std::int64_t steps, T* states);
template <class T>
void reservoir_sequence(const ReservoirStep<T>& first, const CsrRows<T>& w, std::int64_t steps, T* states);

/// z[i] = f(z[i]) for i < n at precision p, on variant `isa`: the activation the steps of that
/// variant apply (float is evaluated in double and rounded once: ≤ 1 ulp).
template <class T>
void apply_activation(Isa isa, Activation f, Precision p, std::int64_t n, T* z);

}  // namespace neuroperf::kernels
