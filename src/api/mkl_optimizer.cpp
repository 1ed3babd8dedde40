// MKLOptimizer: configuration, GEMM, elementwise math and the benchmark. The spike and
// reservoir operations are in mkl_convolution.cpp, mkl_reservoir.cpp, mkl_batch.cpp and
// mkl_spectral.cpp.
#include "neuroperf/mkl_optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "api/gbench.hpp"
#include "api/optimizer.hpp"
#include "core/bench_args.hpp"
#include "core/json_fields.hpp"
#include "kernels/elementwise.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/stats.hpp"
#include "neuroperf/timer.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf {
namespace {

const std::vector<std::string> kPrecisions{"high", "low", "ep"};

void check_one_of(const char* field, const std::string& value, const std::vector<std::string>& allowed) {
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
        throw ValueError(fmt::format("MKLConfig.{}: expected one of \"{}\", got \"{}\"", field,
                                     fmt::join(allowed, "\", \""), value));
}

// A rank-2 operand as the row-major BLAS interface wants it: pointer, row stride, transpose.
template <class T>
struct Operand {
    const T* ptr = nullptr;
    index_t ld = 1;
    bool trans = false;
    Array<T> copy;
};

template <class T>
Operand<T> as_operand(ArrayView<const T> v, bool trans) {
    index_t r = v.shape(0), c = v.shape(1), s0 = v.stride(0), s1 = v.stride(1);
    Operand<T> op;
    if ((c <= 1 || s1 == 1) && (r <= 1 || s0 >= std::max<index_t>(c, 1))) {
        op.ptr = v.data();
        op.ld = r <= 1 ? std::max<index_t>(c, 1) : s0;
        op.trans = trans;
    } else if ((r <= 1 || s0 == 1) && (c <= 1 || s1 >= std::max<index_t>(r, 1))) {
        op.ptr = v.data();  // column-major storage is the row-major transpose
        op.ld = c <= 1 ? std::max<index_t>(r, 1) : s1;
        op.trans = !trans;
    } else {
        op.copy = Array<T>::copy_of(v);
        op.ptr = op.copy.data();
        op.ld = std::max<index_t>(c, 1);
        op.trans = trans;
    }
    return op;
}

std::string shape_str(const Layout& l) { return l.shape_string(); }

}  // namespace

void MKLConfig::validate() const {
    if (num_threads < 0)
        throw ValueError(fmt::format("MKLConfig.num_threads: expected >= 0 (0 = auto), got {}", num_threads));
    check_one_of("thread_affinity", thread_affinity, runtime::affinity_policies());
    check_one_of("precision_mode", precision_mode, kPrecisions);
    if (backend != "auto") {
        auto names = blas::known_backend_names();
        names.insert(names.begin(), "auto");
        check_one_of("backend", backend, names);
    }
}

MKLOptimizer::MKLOptimizer(MKLConfig config)
    : MKLOptimizer(config, [&] {
          config.validate();
          ContextOptions o;
          o.num_threads = config.num_threads;
          o.backend = config.backend;
          o.verbose = config.verbose;
          return make_context(std::move(o));
      }()) {}

MKLOptimizer::MKLOptimizer(MKLConfig config, Context context)
    : config_(std::move(config)), context_(std::move(context)) {
    config_.validate();
    if (config_.backend != "auto") runtime::impl_of(context_).backend_named(config_.backend);
    // The optimizer's own verbosity: the context (possibly shared, e.g. the default one) is
    // immutable and stays as it was.
    if (runtime::logs(context_, config_.verbose)) {
        runtime::emit(context_, fmt::format("MKLOptimizer: threads={}, affinity={}, fast_math={}, precision={}, backend={}",
                                 num_threads(), config_.thread_affinity, config_.enable_fast_math,
                                 config_.precision_mode, config_.backend));
    }
}

int MKLOptimizer::num_threads() const {
    return config_.num_threads > 0 ? config_.num_threads : context_.num_threads();
}

template <class T>
GemmKernel<T> MKLOptimizer::kernel(index_t m, index_t n, index_t k) const {
    int t = num_threads();
    return config_.backend == "auto" ? runtime::impl_of(context_).gemm<T>(m, n, k, t, config_.verbose)
                                     : context_.gemm_on<T>(config_.backend, t);
}

template <class T>
std::string MKLOptimizer::backend_for(index_t m, index_t n, index_t k) const {
    return kernel<T>(m, n, k).backend();
}

template <class T>
void MKLOptimizer::matrix_multiply_into(ArrayView<const T> a, ArrayView<const T> b, ArrayView<T> out,
                                        bool transpose_a, bool transpose_b) const {
    if (a.rank() != 2) throw ShapeError(fmt::format("a: expected a rank-2 array, got shape {}", shape_str(a.layout())));
    if (b.rank() != 2) throw ShapeError(fmt::format("b: expected a rank-2 array, got shape {}", shape_str(b.layout())));
    index_t m = transpose_a ? a.shape(1) : a.shape(0), k = transpose_a ? a.shape(0) : a.shape(1);
    index_t kb = transpose_b ? b.shape(1) : b.shape(0), n = transpose_b ? b.shape(0) : b.shape(1);
    if (k != kb)
        throw ShapeError(fmt::format("b: expected {} rows in op(b) to match the columns of op(a) (a{} shape {}), got "
                                     "op(b) shape ({}, {})", k, transpose_a ? "ᵀ" : "", shape_str(a.layout()), kb, n));
    if (out.rank() != 2 || out.shape(0) != m || out.shape(1) != n)
        throw ShapeError(fmt::format("out: expected shape ({}, {}), got {}", m, n, shape_str(out.layout())));
    if (m == 0 || n == 0) return;
    if (out.data() == nullptr) throw ValueError("out: expected storage for a non-empty result, got a null data pointer");
    if (may_alias(out, a) || may_alias(out, b))
        throw ValueError(fmt::format("out: must not overlap the inputs, but it overlaps {}", may_alias(out, a) ? "a" : "b"));

    if (k == 0) {  // an empty sum: zeros (not left to each backend's beta = 0 handling)
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) out(i, j) = T(0);
        return;
    }
    auto gemm = kernel<T>(m, n, k);
    if (api::logs(*this))
        api::emit(*this, fmt::format("matrix_multiply {} ({}x{}x{}): backend {}, {} thread(s)", dtype_name(dtype_of<T>()), m,
                                     n, k, gemm.backend(), gemm.threads()));
    auto scope = api::call_scope(*this, gemm.threads(), static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));

    Operand<T> A = as_operand(a, transpose_a), B = as_operand(b, transpose_b);
    index_t s0 = out.stride(0), s1 = out.stride(1);
    if ((n <= 1 || s1 == 1) && (m <= 1 || s0 >= n)) {
        gemm(A.trans, B.trans, m, n, k, T(1), A.ptr, A.ld, B.ptr, B.ld, T(0), out.data(), m <= 1 ? std::max<index_t>(n, 1) : s0);
    } else if ((m <= 1 || s0 == 1) && (n <= 1 || s1 >= m)) {
        // Column-major output: Cᵀ = op(B)ᵀ·op(A)ᵀ written row-major.
        gemm(!B.trans, !A.trans, n, m, k, T(1), B.ptr, B.ld, A.ptr, A.ld, T(0), out.data(), n <= 1 ? std::max<index_t>(m, 1) : s1);
    } else {
        Array<T> tmp({m, n});
        gemm(A.trans, B.trans, m, n, k, T(1), A.ptr, A.ld, B.ptr, B.ld, T(0), tmp.data(), n);
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) out(i, j) = tmp(i, j);
    }
}

template <class T>
Array<T> MKLOptimizer::optimize_matrix_multiply(ArrayView<const T> a, ArrayView<const T> b, bool transpose_a,
                                                bool transpose_b) const {
    if (a.rank() != 2) throw ShapeError(fmt::format("a: expected a rank-2 array, got shape {}", shape_str(a.layout())));
    if (b.rank() != 2) throw ShapeError(fmt::format("b: expected a rank-2 array, got shape {}", shape_str(b.layout())));
    index_t m = transpose_a ? a.shape(1) : a.shape(0), n = transpose_b ? b.shape(0) : b.shape(1);
    // matrix_multiply_into writes every element (zeros when k = 0).
    Array<T> c = Array<T>::uninitialized({m, n});
    matrix_multiply_into<T>(a, b, c.view(), transpose_a, transpose_b);
    return c;
}

DynArray MKLOptimizer::optimize_matrix_multiply(const DynView& a, const DynView& b, bool transpose_a,
                                                bool transpose_b) const {
    if (a.dtype != b.dtype)
        throw ShapeError(fmt::format("b: expected the dtype of a ({}), got {}", dtype_name(a.dtype), dtype_name(b.dtype)));
    if (a.dtype == DType::float32)
        return optimize_matrix_multiply<float>(a.as<float>("a"), b.as<float>("b"), transpose_a, transpose_b);
    return optimize_matrix_multiply<double>(a.as<double>("a"), b.as<double>("b"), transpose_a, transpose_b);
}

namespace {

// y = f(x) into a new array: from x itself when contiguous (one read, one write), else from a
// contiguous copy computed in place.
template <class T>
Array<T> elementwise(ArrayView<const T> x, void (*f)(Isa, kernels::Precision, std::int64_t, const T*, T*), Isa isa,
                     kernels::Precision p) {
    if (x.is_contiguous()) {
        Array<T> y = Array<T>::uninitialized(std::span<const index_t>(x.layout().shape.data(), static_cast<std::size_t>(x.rank())));
        f(isa, p, y.size(), x.data(), y.data());
        return y;
    }
    Array<T> y = Array<T>::copy_of(x);
    f(isa, p, y.size(), y.data(), y.data());
    return y;
}

}  // namespace

template <class T>
Array<T> MKLOptimizer::vector_tanh(ArrayView<const T> x) const {
    return elementwise<T>(x, &kernels::vtanh<T>, context_.isa(), kernels::parse_precision(config_.precision_mode));
}

template <class T>
Array<T> MKLOptimizer::vector_exp(ArrayView<const T> x) const {
    return elementwise<T>(x, &kernels::vexp<T>, context_.isa(), kernels::parse_precision(config_.precision_mode));
}

namespace {
double median_call_seconds(const std::function<void()>& call, int iterations) {
    call();  // warm-up
    std::vector<double> t;
    for (int i = 0; i < iterations; ++i) {
        Timer timer;
        call();
        t.push_back(timer.seconds());
    }
    return median(t);
}

template <class T>
void bench_gemm(const MKLOptimizer& opt, index_t n, int iterations, BenchmarkReport& report) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> dist;
    Array<T> a({n, n}), b({n, n}), c({n, n});
    for (index_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<T>(dist(rng));
    for (index_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<T>(dist(rng));
    // The baseline goes through the same façade (checks, thread setup) on the builtin GEMM.
    MKLConfig base_cfg = opt.config();
    base_cfg.backend = "builtin";
    base_cfg.verbose = false;
    MKLOptimizer base(base_cfg, opt.context());
    double t_base = median_call_seconds([&] { base.matrix_multiply_into<T>(a.view(), b.view(), c.view()); }, iterations);
    double t_opt = median_call_seconds([&] { opt.matrix_multiply_into<T>(a.view(), b.view(), c.view()); }, iterations);
    BenchmarkEntry e;
    e.operation = std::is_same_v<T, float> ? "sgemm" : "dgemm";
    e.size = n;
    e.backend = opt.backend_for<T>(n, n, n);
    e.baseline = "builtin";
    e.baseline_seconds = t_base;
    e.optimized_seconds = t_opt;
    e.speedup = t_base / t_opt;
    e.gflops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / t_opt * 1e-9;
    report.entries.push_back(e);
}
}  // namespace

BenchmarkReport MKLOptimizer::benchmark_performance(std::vector<index_t> matrix_sizes, int num_iterations,
                                                    const std::filesystem::path& output_path, const ProgressFn& progress) const {
    core::check_benchmark_arguments(matrix_sizes, "matrix_sizes", num_iterations);
    BenchmarkReport report;
    report.threads = num_threads();
    report.iterations = num_iterations;
    const double units = 2.0 * static_cast<double>(matrix_sizes.size());
    for (index_t n : matrix_sizes) {
        bench_gemm<float>(*this, n, num_iterations, report);
        if (progress) progress(static_cast<double>(report.entries.size()) / units, fmt::format("sgemm n={}", n));
        bench_gemm<double>(*this, n, num_iterations, report);
        if (progress) progress(static_cast<double>(report.entries.size()) / units, fmt::format("dgemm n={}", n));
        if (api::logs(*this)) {
            const auto& s = report.entries[report.entries.size() - 2];
            api::emit(*this, fmt::format("benchmark n={}: sgemm {} {:.1f} GFLOP/s, {:.2f}x over builtin", n, s.backend, s.gflops, s.speedup));
        }
    }
    if (!output_path.empty()) report.save(output_path);
    return report;
}

double BenchmarkReport::average_speedup() const {
    if (entries.empty()) return 0;
    double log_sum = 0;
    for (const auto& e : entries) log_sum += std::log(e.speedup);
    return std::exp(log_sum / static_cast<double>(entries.size()));
}

double BenchmarkReport::max_speedup() const {
    double m = 0;
    for (const auto& e : entries) m = std::max(m, e.speedup);
    return m;
}

std::string BenchmarkReport::to_json() const {
    nlohmann::json rows = nlohmann::json::array();
    auto row = [&](const BenchmarkEntry& e, const std::string& impl, double seconds) {
        const double n = static_cast<double>(e.size);
        auto r = api::gbench_row(fmt::format("{}/{}/n={}/threads={}", e.operation, impl, e.size, threads), seconds, iterations);
        r["GFLOPS"] = 2.0 * n * n * n / seconds * 1e-9;
        r["label"] = impl == "auto" ? e.backend : e.baseline;
        return r;
    };
    for (const auto& e : entries) {
        rows.push_back(row(e, "auto", e.optimized_seconds));
        rows.push_back(row(e, e.baseline, e.baseline_seconds));
    }
    return api::gbench_document(std::move(rows), {{"threads", threads},
                                                  {"average_speedup", average_speedup()},
                                                  {"max_speedup", max_speedup()},
                                                  {"report", core::to_json_value(*this)}});
}

void BenchmarkReport::save(const std::filesystem::path& path) const { write_file_atomic(path, to_json()); }

NEUROPERF_INSTANTIATE_TO_JSON(BenchmarkEntry);
NEUROPERF_INSTANTIATE_TO_JSON(BenchmarkReport);

MKLOptimizer api::single_thread_optimizer(const Context& ctx) {
    MKLConfig cfg;
    cfg.num_threads = 1;
    cfg.thread_affinity = "none";
    return MKLOptimizer(cfg, ctx);
}

MKLOptimizer enable_mkl_optimization(MKLConfig config) {
    config.validate();
    return MKLOptimizer(std::move(config), default_context());
}

#define NEUROPERF_INSTANTIATE(T)                                                                                     \
    template Array<T> MKLOptimizer::optimize_matrix_multiply<T>(ArrayView<const T>, ArrayView<const T>, bool, bool) \
        const;                                                                                                       \
    template void MKLOptimizer::matrix_multiply_into<T>(ArrayView<const T>, ArrayView<const T>, ArrayView<T>, bool,  \
                                                        bool) const;                                                 \
    template Array<T> MKLOptimizer::vector_tanh<T>(ArrayView<const T>) const;                                         \
    template Array<T> MKLOptimizer::vector_exp<T>(ArrayView<const T>) const;                                          \
    template std::string MKLOptimizer::backend_for<T>(index_t, index_t, index_t) const;
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
