// The fused reservoir step, written once for float/double and instantiated in the three ISA
// variants (core/simd.hpp): the bodies are always_inline templates on the Isa, so each variant's
// wrapper gets its own vectorised copy, and ReservoirStep::isa picks one per call. The
// activation math is kernels/vmath.hpp, shared with vexp / vtanh. avx2 and avx512 make the same
// fused multiply-adds in the same order (the lane counts below do not depend on the register
// width), so they give the same bits; generic does not fuse.
#include "kernels/reservoir.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <type_traits>

#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/simd.hpp"
#include "kernels/reservoir_rows.hpp"
#include "kernels/reservoir_slices.hpp"
#include "kernels/vmath.hpp"

namespace neuroperf::kernels {
namespace {

// ---- activations ----------------------------------------------------------------------------
// The math is kernels/vmath.hpp (shared with vexp / vtanh). Pre-activations are held in double
// (exact for float sums), so float results are f evaluated at the f32 grade (relative error
// ≪ 2^-24) and rounded once: ≤ 1 ulp at every precision. Double uses the grade of the
// precision: high ≤ 1-2 ulp (HA), low a few ulp, ep ≈ 1e-8 relative.
template <vmath::Grade G, bool Fma>
NP_INLINE void activation_loop(Activation f, std::int64_t n, double* z) {
    switch (f) {
        case Activation::identity: return;
        case Activation::relu:
#pragma omp simd
            for (std::int64_t i = 0; i < n; ++i) z[i] = z[i] < 0.0 ? 0.0 : z[i];  // NaN stays NaN
            return;
        case Activation::tanh:
#pragma omp simd
            for (std::int64_t i = 0; i < n; ++i) z[i] = vmath::tanh<G, Fma>(z[i]);
            return;
        case Activation::sigmoid:
#pragma omp simd
            for (std::int64_t i = 0; i < n; ++i) z[i] = vmath::sigmoid<G, Fma>(z[i]);
            return;
    }
}

template <class T, bool Fma>
NP_INLINE void activation_block(Activation f, Precision p, std::int64_t n, double* z) {
    using vmath::Grade;  // Fma: the avx2 and avx512 variants
    if constexpr (std::is_same_v<T, float>) {
        activation_loop<Grade::f32, Fma>(f, n, z);
    } else {
        switch (p) {
            case Precision::high: return activation_loop<Grade::high, Fma>(f, n, z);
            case Precision::low: return activation_loop<Grade::low, Fma>(f, n, z);
            case Precision::ep: return activation_loop<Grade::ep, Fma>(f, n, z);
        }
    }
}

using core::madd;
using namespace rows;

template <Isa V, class T>
NP_INLINE T input_term(const ReservoirStep<T>& s, std::int64_t i) {
    if (s.input_pre) return s.input_pre[i];
    const T* row = s.w_in + i * s.w_in_row_stride;
    if (s.w_in_col_stride == 1 && s.u_stride == 1) return dot_contiguous<V>(s.d, row, s.u);
    T acc = T(0);
    for (std::int64_t j = 0; j < s.d; ++j) acc = madd<V>(row[j * s.w_in_col_stride], s.u[j * s.u_stride], acc);
    return acc;
}

using ActivationFn = void (*)(Activation, Precision, std::int64_t, double*);

// Pre-activations of block rows [r0, r1) into z, then activation and leak on the block. The
// activation is a separate (non-inlined) function of the same instruction set: inlined, its
// constants crowd the row loop out of registers (measured 2× slower row sums).
template <Isa V, class T, class RowSum>
NP_INLINE void finish_block(const ReservoirStep<T>& s, std::int64_t r0, std::int64_t r1, double* z, ActivationFn act,
                            RowSum row_sum) {
    std::int64_t len = r1 - r0;
    if (const T* pre = s.input_pre) {
        // Row sums first, then one vectorised pass adding the input term: the row loop then
        // carries only the sums' chains, so more short rows are in flight at once (same
        // additions, same results; 15% of an N = 500, d = 0.01 step).
        alignas(64) T rs[kReservoirBlock];
        for (std::int64_t i = r0; i < r1; ++i) rs[i - r0] = row_sum(i);
        const T* p = pre + r0;
#pragma omp simd
        for (std::int64_t i = 0; i < len; ++i) z[i] = static_cast<double>(T(p[i] + rs[i]));
    } else {
        for (std::int64_t i = r0; i < r1; ++i) z[i - r0] = static_cast<double>(T(input_term<V>(s, i) + row_sum(i)));
    }
    if (const T* b = s.bias) {
        const std::int64_t bs = s.bias_stride;
        for (std::int64_t i = r0; i < r1; ++i) z[i - r0] = static_cast<double>(T(static_cast<T>(z[i - r0]) + b[i * bs]));
    }
    act(s.activation, s.precision, len, z);
    T* out = s.x_new + r0 * s.x_new_stride;
    if (s.leak == T(1)) {
        for (std::int64_t i = 0; i < len; ++i) out[i * s.x_new_stride] = static_cast<T>(z[i]);
    } else {
        const T a = s.leak, keep = T(1) - s.leak;
        const T* old = s.x_old + r0;
        if (s.x_new_stride == 1) {
#pragma omp simd
            for (std::int64_t i = 0; i < len; ++i) out[i] = madd<V>(keep, old[i], a * static_cast<T>(z[i]));
        } else {
            for (std::int64_t i = 0; i < len; ++i) out[i * s.x_new_stride] = madd<V>(keep, old[i], a * static_cast<T>(z[i]));
        }
    }
}

template <Isa V, class T>
NP_INLINE void dense_blocks(const ReservoirStep<T>& s, const DenseRows<T>& w, std::int64_t b0, std::int64_t b1,
                            ActivationFn act) {
    alignas(64) double z[kReservoirBlock];
    const T* x = s.x_old;
    const std::int64_t n = s.n;
    for (std::int64_t b = b0; b < b1; ++b) {
        std::int64_t r0 = b * kReservoirBlock, r1 = std::min(n, r0 + kReservoirBlock);
        finish_block<V>(s, r0, r1, z, act, [&](std::int64_t i) NP_LAMBDA_INLINE { return dot_contiguous<V>(n, w.data + i * w.ld, x); });
    }
}

template <Isa V, class T>
NP_INLINE void csr_blocks(const ReservoirStep<T>& s, const CsrRows<T>& w, std::int64_t b0, std::int64_t b1,
                          ActivationFn act) {
    alignas(64) double z[kReservoirBlock];
    const T* x = s.x_old;
    const std::int64_t* rp = w.row_ptr;
    const T* val = w.values;
    for (std::int64_t b = b0; b < b1; ++b) {
        std::int64_t r0 = b * kReservoirBlock, r1 = std::min(s.n, r0 + kReservoirBlock);
        const bool hw = w.hw_gather;
        if (const T* sums = w.row_sums) {
            finish_block<V>(s, r0, r1, z, act, [&](std::int64_t i) NP_LAMBDA_INLINE { return sums[i]; });
        } else if (const std::uint16_t* col16 = w.col16) {
            finish_block<V>(s, r0, r1, z, act, [&](std::int64_t i) NP_LAMBDA_INLINE { return dot_csr<V>(rp[i], rp[i + 1], col16, val, x, hw); });
        } else {
            const std::int32_t* col = w.col_idx;
            finish_block<V>(s, r0, r1, z, act, [&](std::int64_t i) NP_LAMBDA_INLINE { return dot_csr<V>(rp[i], rp[i + 1], col, val, x, hw); });
        }
    }
}

// The variants. The activation is a separate (noinline) function of the same variant: see
// finish_block.
template <Isa V, class T>
NP_INLINE void activation_body(Activation f, Precision p, std::int64_t n, double* z) {
    activation_block<T, V != Isa::generic>(f, p, n, z);
}
NP_ISA_VARIANTS((template <class T> __attribute__((noinline))), void, activation, (Activation f, Precision p, std::int64_t n, double* z),
                (f, p, n, z), T)
template <class T>
constexpr core::IsaTable<ActivationFn> kActivation = NP_ISA_TABLE(activation, <T>);

template <Isa V, class T>
NP_INLINE void dense_body(const ReservoirStep<T>& s, const DenseRows<T>& w, std::int64_t b0, std::int64_t b1) {
    dense_blocks<V>(s, w, b0, b1, kActivation<T>[V]);
}
NP_ISA_VARIANTS((template <class T>), void, dense, (const ReservoirStep<T>& s, const DenseRows<T>& w, std::int64_t b0, std::int64_t b1),
                (s, w, b0, b1), T)

template <Isa V, class T>
NP_INLINE void csr_body(const ReservoirStep<T>& s, const CsrRows<T>& w, std::int64_t b0, std::int64_t b1) {
    csr_blocks<V>(s, w, b0, b1, kActivation<T>[V]);
}
NP_ISA_VARIANTS((template <class T>), void, csr, (const ReservoirStep<T>& s, const CsrRows<T>& w, std::int64_t b0, std::int64_t b1),
                (s, w, b0, b1), T)

template <class T, class W>
using BlocksFn = void (*)(const ReservoirStep<T>&, const W&, std::int64_t, std::int64_t);
template <class T>
constexpr core::IsaTable<BlocksFn<T, DenseRows<T>>> kDense = NP_ISA_TABLE(dense, <T>);
template <class T>
constexpr core::IsaTable<BlocksFn<T, CsrRows<T>>> kCsr = NP_ISA_TABLE(csr, <T>);

// `steps` steps (1 for a single step): step q reads first.x_old (q = 0) or row q − 1 of
// `states`, first.input_pre + q·n (when given), and writes first.x_new (single step) or row q.
// Whole blocks only: the same rows go through the same code whatever the thread count or which
// thread runs them. One parallel region for the whole sequence, a barrier between steps;
// workers get the caller's FTZ/DAZ setting.
//
// Each thread owns a contiguous range of blocks of about equal cost and claims them one at a
// time from its own counter; a thread done with its range takes what is left of the others'
// (from their counters, so no block runs twice). On a quiet machine nobody steals; when one
// thread is late (a descheduled vCPU, a slower core), the others finish its blocks instead of
// waiting at the barrier: 9% of a 2-thread N = 10⁴ step was spent there with fixed ranges.
template <class T>
const std::int64_t* row_ptr_of(const DenseRows<T>&) { return nullptr; }
template <class T>
const std::int64_t* row_ptr_of(const CsrRows<T>& w) { return w.row_ptr; }

// Sequences shorter than this keep the rows as they are (the regrouping costs about a step).
inline constexpr std::int64_t kSlicedMinSteps = 4;

struct alignas(64) BlockClaim {  // a thread's blocks of the current step: next to claim, end
    std::atomic<std::int64_t> next[2] = {0, 0};  // one per step parity
    std::int64_t end = 0;
};

template <class T, class W>
void run_blocks(BlocksFn<T, W> fn, const ReservoirStep<T>& first, const W& w, double work, std::int64_t steps,
                T* states) {
    const std::int64_t n = first.n, blocks = (n + kReservoirBlock - 1) / kReservoirBlock;
    auto step_at = [&](std::int64_t q) {
        ReservoirStep<T> st = first;
        if (states) {
            if (q > 0) st.x_old = states + (q - 1) * n;
            st.x_new = states + q * n;
            st.x_new_stride = 1;
            if (first.input_pre) st.input_pre = first.input_pre + q * n;
        }
        return st;
    };
    int t = reservoir_threads(work, first.threads, n);
    if (t <= 1) {
        if constexpr (std::is_same_v<W, CsrRows<T>>) {
            // A sequence of short CSR rows on one thread: the rows regrouped once for the
            // variant's gathers, W·x of each step computed from them (the same bits).
            static thread_local CsrSlices<T> slices;
            static thread_local std::vector<T> sums;
            if (first.isa != Isa::generic && steps >= kSlicedMinSteps && build_csr_slices(w, n, slices)) {
                sums.resize(static_cast<std::size_t>(n));
                CsrRows<T> ws = w;
                ws.row_sums = sums.data();
                for (std::int64_t q = 0; q < steps; ++q) {
                    const ReservoirStep<T> st = step_at(q);
                    sliced_row_sums(first.isa, slices, w, st.x_old, sums.data());
                    fn(st, ws, 0, blocks);
                }
                return;
            }
        }
        for (std::int64_t q = 0; q < steps; ++q) fn(step_at(q), w, 0, blocks);
        return;
    }
    // The claim counters live in a per-caller buffer reused across calls (no allocation per
    // step). Each thread sets its own counters before the first barrier; nothing else is read.
    static thread_local std::unique_ptr<BlockClaim[]> claim_buffer;
    static thread_local int claim_capacity = 0;
    if (claim_capacity < t) {
        claim_buffer = std::make_unique<BlockClaim[]>(static_cast<std::size_t>(t));
        claim_capacity = t;
    }
    BlockClaim* const claims = claim_buffer.get();
#pragma omp parallel num_threads(t)
    {
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
#if defined(__x86_64__)
        unsigned saved = _mm_getcsr(), want = first.ftz ? (saved | 0x8040u) : (saved & ~0x8040u);
        if (want != saved) _mm_setcsr(want);
#endif
        // Ranges of equal cost (stored entries), not of equal row count: rows of a CSR
        // reservoir need not have the same length.
        const std::int64_t* rp = row_ptr_of(w);
        const std::int64_t b0 = reservoir_block_split(n, rp, id, nt), b1 = reservoir_block_split(n, rp, id + 1, nt);
        // Counters of step q live in set q % 2: a thread resets its set for step q + 1 while
        // step q runs (set (q + 1) % 2 was last used by step q − 1, which the barrier closed).
        claims[id].end = b1;
        claims[id].next[0].store(b0, std::memory_order_relaxed);
#pragma omp barrier
        for (std::int64_t q = 0; q < steps; ++q) {
            const int set = static_cast<int>(q & 1);
            claims[id].next[set ^ 1].store(b0, std::memory_order_relaxed);
            const ReservoirStep<T> st = step_at(q);
            for (int k = 0; k < nt; ++k) {  // own range first, then the others'
                BlockClaim& c = claims[(id + k) % nt];
                for (std::int64_t b; (b = c.next[set].fetch_add(1, std::memory_order_relaxed)) < c.end;)
                    fn(st, w, b, b + 1);
            }
            if (q + 1 < steps) {
#pragma omp barrier
            }
        }
#if defined(__x86_64__)
        if (want != saved) _mm_setcsr(saved);
#endif
    }
}

template <class T>
double dense_work(const ReservoirStep<T>& s) {
    double n = static_cast<double>(s.n);
    return n * n + (s.input_pre ? 0.0 : n * static_cast<double>(s.d));
}
template <class T>
double csr_work(const ReservoirStep<T>& s, const CsrRows<T>& w) {
    double n = static_cast<double>(s.n);
    return static_cast<double>(w.row_ptr[s.n]) + 4.0 * n + (s.input_pre ? 0.0 : n * static_cast<double>(s.d));
}

}  // namespace

int reservoir_threads(double work, int threads, std::int64_t n) {
    if (threads <= 1 || work < kReservoirParallelWork) return 1;
    std::int64_t blocks = (n + kReservoirBlock - 1) / kReservoirBlock;
    return static_cast<int>(std::min<std::int64_t>(threads, blocks));
}

std::int64_t reservoir_block_split(std::int64_t n, const std::int64_t* row_ptr, int id, int nt) {
    const std::int64_t blocks = (n + kReservoirBlock - 1) / kReservoirBlock;
    if (id <= 0 || nt <= 0) return 0;
    if (id >= nt) return blocks;
    // Cost of rows [0, r): prefix of stored entries plus the per-row part; non-decreasing in r.
    auto cost = [&](std::int64_t b) {
        std::int64_t r = std::min(n, b * kReservoirBlock);
        return static_cast<double>(row_ptr ? row_ptr[r] : 0) + static_cast<double>(kReservoirRowCost * r);
    };
    const double target = cost(blocks) * static_cast<double>(id) / static_cast<double>(nt);
    std::int64_t lo = 0, hi = blocks;  // first boundary with cost ≥ target
    while (lo < hi) {
        std::int64_t mid = lo + (hi - lo) / 2;
        if (cost(mid) < target) lo = mid + 1;
        else hi = mid;
    }
    // The nearer of the two boundaries around the target.
    if (lo > 0 && target - cost(lo - 1) <= cost(lo) - target) --lo;
    return lo;
}

int reservoir_gemm_threads(double work, int step_threads, int threads) {
    if (threads <= 1) return 1;
    return step_threads <= 1 && work < kReservoirGemmParallelWork ? 1 : threads;
}

template <class T>
void reservoir_step(const ReservoirStep<T>& step, const DenseRows<T>& w) {
    if (step.n == 0) return;
    const auto fn = kDense<T>[step.isa];
    run_blocks<T, DenseRows<T>>(fn, step, w, dense_work(step), 1, nullptr);
}

template <class T>
void reservoir_step(const ReservoirStep<T>& step, const CsrRows<T>& w) {
    if (step.n == 0) return;
    const auto fn = kCsr<T>[step.isa];
    run_blocks<T, CsrRows<T>>(fn, step, w, csr_work(step, w), 1, nullptr);
}

template <class T>
void reservoir_sequence(const ReservoirStep<T>& first, const DenseRows<T>& w, std::int64_t steps, T* states) {
    if (first.n == 0 || steps == 0) return;
    const auto fn = kDense<T>[first.isa];
    run_blocks<T, DenseRows<T>>(fn, first, w, dense_work(first), steps, states);
}

template <class T>
void reservoir_sequence(const ReservoirStep<T>& first, const CsrRows<T>& w, std::int64_t steps, T* states) {
    if (first.n == 0 || steps == 0) return;
    const auto fn = kCsr<T>[first.isa];
    run_blocks<T, CsrRows<T>>(fn, first, w, csr_work(first, w), steps, states);
}

template <class T>
void apply_activation(Isa isa, Activation f, Precision p, std::int64_t n, T* z) {
    const ActivationFn act = kActivation<T>[isa];  // the one the steps of variant `isa` use
    double buf[kReservoirBlock];
    for (std::int64_t i0 = 0; i0 < n; i0 += kReservoirBlock) {
        std::int64_t len = std::min(kReservoirBlock, n - i0);
        for (std::int64_t i = 0; i < len; ++i) buf[i] = static_cast<double>(z[i0 + i]);
        act(f, p, len, buf);
        for (std::int64_t i = 0; i < len; ++i) z[i0 + i] = static_cast<T>(buf[i]);
    }
}

#define NEUROPERF_INSTANTIATE(T)                                                  \
    template void reservoir_step<T>(const ReservoirStep<T>&, const DenseRows<T>&); \
    template void reservoir_step<T>(const ReservoirStep<T>&, const CsrRows<T>&);   \
    template void reservoir_sequence<T>(const ReservoirStep<T>&, const DenseRows<T>&, std::int64_t, T*); \
    template void reservoir_sequence<T>(const ReservoirStep<T>&, const CsrRows<T>&, std::int64_t, T*);   \
    template void apply_activation<T>(Isa, Activation, Precision, std::int64_t, T*);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
