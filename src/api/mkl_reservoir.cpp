// MKLOptimizer's reservoir updates: argument checks, layout preparation, then the fused kernel
// (src/kernels/reservoir.cpp). See docs/guide/reservoir.md.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/optimizer.hpp"
#include "kernels/reservoir.hpp"
#include "neuroperf/cpu.hpp"

namespace neuroperf {

namespace {


bool has_storage(const auto& view) { return view.data() != nullptr || view.rank() != 0; }

template <class T>
void check_rank1(const char* arg, ArrayView<const T> v, index_t n, const char* what) {
    if (v.rank() != 1 || v.shape(0) != n)
        throw ShapeError(fmt::format("{}: expected shape ({},) ({}), got {}", arg, n, what, v.layout().shape_string()));
}

template <class T>
void check_finite_view(const char* arg, ArrayView<const T> v) {
    if (v.rank() == 1) {
        for (index_t i = 0; i < v.shape(0); ++i)
            if (!std::isfinite(v(i)))
                throw ValueError(fmt::format("{}: expected finite values (check_finite), got {} at [{}]", arg, v(i), i));
    } else {
        for (index_t i = 0; i < v.shape(0); ++i)
            for (index_t j = 0; j < v.shape(1); ++j)
                if (!std::isfinite(v(i, j)))
                    throw ValueError(fmt::format("{}: expected finite values (check_finite), got {} at [{}, {}]", arg,
                                                 v(i, j), i, j));
    }
}

// Shape of everything but the state / inputs; returns D.
template <class T>
index_t check_weights(ArrayView<const T> w_in, index_t w_rows, index_t w_cols, index_t n,
                                          const ReservoirOptions<T>& o) {
    if (w_rows != n || w_cols != n)
        throw ShapeError(fmt::format("reservoir_weights: expected shape ({}, {}) (N × N, N from the state), got ({}, {})",
                                     n, n, w_rows, w_cols));
    if (w_in.rank() != 2 || w_in.shape(0) != n)
        throw ShapeError(fmt::format("input_weights: expected shape ({}, D) (N × D, N from the state), got {}", n,
                                     w_in.layout().shape_string()));
    if (has_storage(o.bias)) check_rank1<T>("options.bias", o.bias, n, "N, or empty for 0");
    if (!(o.leak_rate > T(0) && o.leak_rate <= T(1)))
        throw ValueError(fmt::format("options.leak_rate: expected a value in (0, 1], got {}", o.leak_rate));
    if (o.check_finite) {
        check_finite_view<T>("input_weights", w_in);
        if (has_storage(o.bias)) check_finite_view<T>("options.bias", o.bias);
    }
    return w_in.shape(1);
}

template <class T>
void check_dense_w(ArrayView<const T> w, const ReservoirOptions<T>& o) {
    if (w.rank() != 2)
        throw ShapeError(fmt::format("reservoir_weights: expected a rank-2 array (N × N), got shape {}", w.layout().shape_string()));
    if (o.check_finite) check_finite_view<T>("reservoir_weights", w);
}

template <class T>
void check_csr_w(const CsrMatrix<T>& w, const ReservoirOptions<T>& o) {
    if (!o.check_finite) return;
    auto v = w.values();
    for (std::size_t e = 0; e < v.size(); ++e)
        if (!std::isfinite(v[e]))
            throw ValueError(fmt::format("reservoir_weights: expected finite values (check_finite), got {} at stored entry {}", v[e], e));
}

// Dense W as row-major rows with unit column stride: the view itself when it has one, else a
// packed copy (one allocation per call).
template <class T>
kernels::DenseRows<T> dense_rows(ArrayView<const T> w, Array<T>& packed) {
    if (w.shape(1) <= 1 || w.stride(1) == 1) return {w.data(), w.shape(0) <= 1 ? w.shape(1) : w.stride(0)};
    packed = Array<T>::copy_of(w);
    return {packed.data(), w.shape(1)};
}

// Work units of a CSR step as kernels::csr_work counts them (stored entries, the input term).
template <class T>
double csr_work(const CsrMatrix<T>& w, index_t n, index_t d) {
    return static_cast<double>(w.nnz()) + 4.0 * static_cast<double>(n) + static_cast<double>(n) * static_cast<double>(d);
}

// run_reservoir narrows CSR column indices to 16 bits from this many steps on.
constexpr index_t kNarrowMinSteps = 4;

// Streaming from DRAM the gather instruction wins, from cache scalar loads do
// (kernels::CsrRows::hw_gather): the last-level cache decides (32 MB if unknown), for entries
// of sizeof(T) + index_bytes bytes.
template <class T>
bool gather_from_memory(const CsrMatrix<T>& w, std::size_t index_bytes) {
    std::int64_t llc = cpu_info().cache_bytes(3);
    if (llc <= 0) llc = std::int64_t{32} << 20;
    return static_cast<double>(w.nnz()) * static_cast<double>(sizeof(T) + index_bytes) > static_cast<double>(llc);
}

template <class T>
kernels::CsrRows<T> csr_rows(const CsrMatrix<T>& w) {
    kernels::CsrRows<T> rows{w.row_ptr().data(), w.col_idx().data(), w.values().data()};
    rows.hw_gather = gather_from_memory(w, sizeof(std::int32_t));
    return rows;
}

template <class T>
kernels::ReservoirStep<T> base_step(const MKLOptimizer& opt, int threads, const ReservoirOptions<T>& o, index_t n) {
    const MKLConfig& cfg = opt.config();
    kernels::ReservoirStep<T> s;
    s.isa = opt.context().isa();
    s.n = n;
    if (has_storage(o.bias) && n > 0) {
        s.bias = o.bias.data();
        s.bias_stride = o.bias.stride(0);
    }
    s.leak = o.leak_rate;
    s.activation = o.activation;
    s.precision = kernels::parse_precision(cfg.precision_mode);
    s.threads = threads;
    s.ftz = cfg.enable_fast_math;
    return s;
}

// The per-thread buffer holding x_old for in-place steps (and non-contiguous states): grows to
// the largest N seen on the thread, then is reused, so warm calls do not allocate.
template <class T>
T* state_buffer(index_t n) {
    static thread_local std::vector<T> buffer;
    if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
    return buffer.data();
}

template <class T>
const T* contiguous_state(ArrayView<const T> x, bool force_copy) {
    index_t n = x.shape(0);
    if (!force_copy && (n <= 1 || x.stride(0) == 1)) return x.data();
    T* buf = state_buffer<T>(n);
    for (index_t i = 0; i < n; ++i) buf[i] = x(i);
    return buf;
}

template <class T>
void check_no_overlap(ArrayView<T> state, std::initializer_list<std::pair<const char*, ArrayView<const T>>> others) {
    for (const auto& [name, v] : others)
        if (has_storage(v) && may_alias(state, v))
            throw ValueError(fmt::format("reservoir_state: must not overlap {}, but it does", name));
}

// One step from x_old (contiguous) into x_new; `w` is DenseRows or CsrRows.
template <class T, class W>
void single_step(const MKLOptimizer& opt, int threads, ArrayView<const T> w_in, ArrayView<const T> u, const T* x_old,
                 ArrayView<T> x_new, const W& w, const ReservoirOptions<T>& o, double work) {
    index_t n = x_new.shape(0);
    const MKLConfig& cfg = opt.config();
    auto s = base_step<T>(opt, threads, o, n);
    s.x_old = x_old;
    s.x_new = x_new.data();
    s.x_new_stride = n <= 1 ? 1 : x_new.stride(0);
    s.w_in = w_in.data();
    s.w_in_row_stride = w_in.stride(0);
    s.w_in_col_stride = w_in.shape(1) <= 1 ? 1 : w_in.stride(1);
    s.d = w_in.shape(1);
    s.u = u.data();
    s.u_stride = u.shape(0) <= 1 ? 1 : u.stride(0);
    // The team is prepared only when the kernel will use it (kernels::reservoir_threads).
    runtime::CallScope scope(cfg.enable_fast_math, cfg.thread_affinity, kernels::reservoir_threads(work, threads, n), work);
    kernels::reservoir_step<T>(s, w);
}

template <class T>
void check_state_and_input(ArrayView<const T> state, ArrayView<const T> u, index_t d) {
    if (state.rank() != 1)
        throw ShapeError(fmt::format("reservoir_state: expected a rank-1 array (N,), got shape {}", state.layout().shape_string()));
    check_rank1<T>("input_spikes", u, d, "D, the columns of input_weights");
}

// Sequence: P = U·W_inᵀ (T × N) in one GEMM, then T steps writing row t of the states.
template <class T, class W>
Array<T> run_sequence(const MKLOptimizer& opt, int threads, ArrayView<const T> state0, ArrayView<const T> w_in,
                      ArrayView<const T> inputs, const W& w, const ReservoirOptions<T>& o, double work) {
    index_t n = state0.shape(0), steps = inputs.shape(0);
    Array<T> states = Array<T>::uninitialized({steps, n});  // the sequence writes every step
    if (steps == 0 || n == 0) return states;
    // P = U·W_inᵀ in a per-thread buffer reused across calls (no page faults once warm).
    static thread_local std::vector<T> pre_buffer;
    std::size_t need = static_cast<std::size_t>(steps) * static_cast<std::size_t>(n);
    if (pre_buffer.size() < need) pre_buffer.resize(need);
    ArrayView<T> pre(pre_buffer.data(), {steps, n});
    const MKLConfig& cfg = opt.config();
    const int step_threads = kernels::reservoir_threads(work, threads, n);
    const double gemm_work = static_cast<double>(steps) * static_cast<double>(n) * static_cast<double>(inputs.shape(1));
    if (inputs.shape(1) == 0) {
        std::fill_n(pre_buffer.data(), need, T(0));  // D = 0: no input term
    } else if (threads > 1 && kernels::reservoir_gemm_threads(gemm_work, step_threads, threads) == 1) {
        // A small GEMM runs on the calling thread (kernels::reservoir_gemm_threads): an
        // optimizer on the same context with one thread: the GEMM a 1-thread call runs, so the
        // states equal that call's bit for bit.
        MKLConfig one = cfg;
        one.num_threads = 1;
        one.verbose = false;
        MKLOptimizer(std::move(one), opt.context()).matrix_multiply_into<T>(inputs, w_in, pre, false, true);
    } else {
        opt.matrix_multiply_into<T>(inputs, w_in, pre, false, true);
    }
    auto s = base_step<T>(opt, threads, o, n);
    auto scope = api::call_scope(opt, step_threads, work);
    s.x_old = contiguous_state<T>(state0, false);
    s.input_pre = pre.data();
    kernels::reservoir_sequence<T>(s, w, steps, states.data());
    return states;
}

template <class T>
void check_inputs(ArrayView<const T> state0, ArrayView<const T> inputs, index_t d) {
    if (state0.rank() != 1)
        throw ShapeError(fmt::format("state0: expected a rank-1 array (N,), got shape {}", state0.layout().shape_string()));
    if (inputs.rank() != 2 || inputs.shape(1) != d)
        throw ShapeError(fmt::format("inputs: expected shape (T, {}) (T × D, D the columns of input_weights), got {}", d,
                                     inputs.layout().shape_string()));
}

void log_step(const MKLOptimizer& opt, const char* what, const char* storage, DType dt, index_t n, index_t d,
              double work, int threads) {
    if (!opt.config().verbose) return;
    opt.context().log(fmt::format("{} {} ({}): N={}, D={}, {} thread(s), precision {}", what, storage, dtype_name(dt), n, d,
                                  kernels::reservoir_threads(work, threads, n), opt.config().precision_mode));
}

}  // namespace

template <class T>
Array<T> MKLOptimizer::optimize_reservoir_update(ArrayView<const T> reservoir_state, ArrayView<const T> input_weights,
                                                 ArrayView<const T> reservoir_weights, ArrayView<const T> input_spikes,
                                                 const ReservoirOptions<T>& options) const {
    if (reservoir_state.rank() != 1)
        throw ShapeError(fmt::format("reservoir_state: expected a rank-1 array (N,), got shape {}",
                                     reservoir_state.layout().shape_string()));
    check_dense_w<T>(reservoir_weights, options);
    index_t n = reservoir_state.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.shape(0), reservoir_weights.shape(1), n, options);
    check_state_and_input<T>(reservoir_state, input_spikes, d);
    Array<T> out({n});
    if (n == 0) return out;
    Array<T> packed;
    auto rows = dense_rows<T>(reservoir_weights, packed);
    int t = num_threads();
    double work = double(n) * double(n + d);
    log_step(*this, "reservoir_update", "dense", dtype_of<T>(), n, d, work, t);
    single_step<T>(*this, t, input_weights, input_spikes, contiguous_state<T>(reservoir_state, false), out.view(), rows,
                   options, work);
    return out;
}

template <class T>
Array<T> MKLOptimizer::optimize_reservoir_update(ArrayView<const T> reservoir_state, ArrayView<const T> input_weights,
                                                 const CsrMatrix<T>& reservoir_weights, ArrayView<const T> input_spikes,
                                                 const ReservoirOptions<T>& options) const {
    if (reservoir_state.rank() != 1)
        throw ShapeError(fmt::format("reservoir_state: expected a rank-1 array (N,), got shape {}",
                                     reservoir_state.layout().shape_string()));
    index_t n = reservoir_state.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.rows(), reservoir_weights.cols(), n, options);
    check_csr_w<T>(reservoir_weights, options);
    check_state_and_input<T>(reservoir_state, input_spikes, d);
    Array<T> out({n});
    if (n == 0) return out;
    int t = num_threads();
    double work = csr_work(reservoir_weights, n, d);
    log_step(*this, "reservoir_update", "csr", dtype_of<T>(), n, d, work, t);
    single_step<T>(*this, t, input_weights, input_spikes, contiguous_state<T>(reservoir_state, false), out.view(),
                   csr_rows(reservoir_weights), options, work);
    return out;
}

template <class T>
void MKLOptimizer::reservoir_update_inplace(ArrayView<T> reservoir_state, ArrayView<const T> input_weights,
                                            ArrayView<const T> reservoir_weights, ArrayView<const T> input_spikes,
                                            const ReservoirOptions<T>& options) const {
    ArrayView<const T> state = reservoir_state;
    if (state.rank() != 1)
        throw ShapeError(fmt::format("reservoir_state: expected a rank-1 array (N,), got shape {}", state.layout().shape_string()));
    check_dense_w<T>(reservoir_weights, options);
    index_t n = state.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.shape(0), reservoir_weights.shape(1), n, options);
    check_state_and_input<T>(state, input_spikes, d);
    if (n == 0) return;
    check_no_overlap<T>(reservoir_state, {{"input_weights", input_weights}, {"reservoir_weights", reservoir_weights},
                                          {"input_spikes", input_spikes}, {"options.bias", options.bias}});
    Array<T> packed;
    auto rows = dense_rows<T>(reservoir_weights, packed);
    int t = num_threads();
    double work = double(n) * double(n + d);
    log_step(*this, "reservoir_update_inplace", "dense", dtype_of<T>(), n, d, work, t);
    single_step<T>(*this, t, input_weights, input_spikes, contiguous_state<T>(state, true), reservoir_state, rows, options,
                   work);
}

template <class T>
void MKLOptimizer::reservoir_update_inplace(ArrayView<T> reservoir_state, ArrayView<const T> input_weights,
                                            const CsrMatrix<T>& reservoir_weights, ArrayView<const T> input_spikes,
                                            const ReservoirOptions<T>& options) const {
    ArrayView<const T> state = reservoir_state;
    if (state.rank() != 1)
        throw ShapeError(fmt::format("reservoir_state: expected a rank-1 array (N,), got shape {}", state.layout().shape_string()));
    index_t n = state.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.rows(), reservoir_weights.cols(), n, options);
    check_csr_w<T>(reservoir_weights, options);
    check_state_and_input<T>(state, input_spikes, d);
    if (n == 0) return;
    check_no_overlap<T>(reservoir_state, {{"input_weights", input_weights}, {"input_spikes", input_spikes},
                                          {"options.bias", options.bias}});
    auto vals = reservoir_weights.values();
    if (!vals.empty()) {
        ArrayView<const T> wv(vals.data(), {static_cast<index_t>(vals.size())});
        check_no_overlap<T>(reservoir_state, {{"reservoir_weights", wv}});
    }
    int t = num_threads();
    double work = csr_work(reservoir_weights, n, d);
    log_step(*this, "reservoir_update_inplace", "csr", dtype_of<T>(), n, d, work, t);
    single_step<T>(*this, t, input_weights, input_spikes, contiguous_state<T>(state, true), reservoir_state,
                   csr_rows(reservoir_weights), options, work);
}

template <class T>
Array<T> MKLOptimizer::run_reservoir(ArrayView<const T> state0, ArrayView<const T> input_weights,
                                     ArrayView<const T> reservoir_weights, ArrayView<const T> inputs,
                                     const ReservoirOptions<T>& options) const {
    if (state0.rank() != 1)
        throw ShapeError(fmt::format("state0: expected a rank-1 array (N,), got shape {}", state0.layout().shape_string()));
    check_dense_w<T>(reservoir_weights, options);
    index_t n = state0.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.shape(0), reservoir_weights.shape(1), n, options);
    check_inputs<T>(state0, inputs, d);
    Array<T> packed;
    kernels::DenseRows<T> rows{};
    if (n > 0) rows = dense_rows<T>(reservoir_weights, packed);
    int t = num_threads();
    double work = double(n) * double(n);
    log_step(*this, "run_reservoir", "dense", dtype_of<T>(), n, d, work, t);
    return run_sequence<T>(*this, t, state0, input_weights, inputs, rows, options, work);
}

template <class T>
Array<T> MKLOptimizer::run_reservoir(ArrayView<const T> state0, ArrayView<const T> input_weights,
                                     const CsrMatrix<T>& reservoir_weights, ArrayView<const T> inputs,
                                     const ReservoirOptions<T>& options) const {
    if (state0.rank() != 1)
        throw ShapeError(fmt::format("state0: expected a rank-1 array (N,), got shape {}", state0.layout().shape_string()));
    index_t n = state0.shape(0);
    index_t d = check_weights<T>(input_weights, reservoir_weights.rows(), reservoir_weights.cols(), n, options);
    check_csr_w<T>(reservoir_weights, options);
    check_inputs<T>(state0, inputs, d);
    int t = num_threads();
    double work = csr_work(reservoir_weights, n, 0);
    log_step(*this, "run_reservoir", "csr", dtype_of<T>(), n, d, work, t);
    // Long sequences over a matrix with ≤ 65536 columns read 16-bit column indices: each step
    // streams 2 instead of 4 bytes per index. The narrowed copy is cached with the matrix
    // (CsrMatrix::col_idx16), so only the first such call pays its one pass over col_idx.
    auto rows = csr_rows(reservoir_weights);
    if (inputs.shape(0) >= kNarrowMinSteps && n > 0 && reservoir_weights.cols() <= kernels::kNarrowMaxCols) {
        auto c16 = reservoir_weights.col_idx16();
        if (c16.size() == static_cast<std::size_t>(reservoir_weights.nnz()) && !c16.empty()) {
            rows.col16 = c16.data();
            rows.hw_gather = gather_from_memory(reservoir_weights, sizeof(std::uint16_t));
        }
    }
    return run_sequence<T>(*this, t, state0, input_weights, inputs, rows, options, work);
}

#define NEUROPERF_INSTANTIATE(T)                                                                                        \
    template Array<T> MKLOptimizer::optimize_reservoir_update<T>(ArrayView<const T>, ArrayView<const T>,               \
                                                                 ArrayView<const T>, ArrayView<const T>,               \
                                                                 const ReservoirOptions<T>&) const;                    \
    template Array<T> MKLOptimizer::optimize_reservoir_update<T>(ArrayView<const T>, ArrayView<const T>,               \
                                                                 const CsrMatrix<T>&, ArrayView<const T>,              \
                                                                 const ReservoirOptions<T>&) const;                    \
    template void MKLOptimizer::reservoir_update_inplace<T>(ArrayView<T>, ArrayView<const T>, ArrayView<const T>,      \
                                                            ArrayView<const T>, const ReservoirOptions<T>&) const;     \
    template void MKLOptimizer::reservoir_update_inplace<T>(ArrayView<T>, ArrayView<const T>, const CsrMatrix<T>&,     \
                                                            ArrayView<const T>, const ReservoirOptions<T>&) const;     \
    template Array<T> MKLOptimizer::run_reservoir<T>(ArrayView<const T>, ArrayView<const T>, ArrayView<const T>,       \
                                                     ArrayView<const T>, const ReservoirOptions<T>&) const;            \
    template Array<T> MKLOptimizer::run_reservoir<T>(ArrayView<const T>, ArrayView<const T>, const CsrMatrix<T>&,      \
                                                     ArrayView<const T>, const ReservoirOptions<T>&) const;
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
