#include "facade/context_impl.hpp"

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"

namespace neuroperf {
namespace detail {

int default_thread_count() {
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
        char* end = nullptr;
        long v = std::strtol(env, &end, 10);
        if (end != env && v > 0 && (*end == '\0' || *end == ',')) return static_cast<int>(v);
    }
    return available_cpus();
}

ContextImpl::ContextImpl(ContextOptions opts) : options(std::move(opts)) {
    if (options.num_threads < 0)
        throw ValueError(fmt::format("num_threads: expected >= 0 (0 = auto), got {}", options.num_threads));
    threads = options.num_threads > 0 ? options.num_threads : default_thread_count();
    if (options.cache_dir.empty()) options.cache_dir = neuroperf::cache_dir();
    if (!options.log) options.log = [](std::string_view m) { std::cerr << "[neuroperf] " << m << '\n'; };

    backend_request = options.backend.empty() ? "auto" : options.backend;
    backend_request_source = options.backend == "auto" ? "default" : "options";
    if (const char* env = std::getenv("NEUROPERF_BLAS"); env && *env && backend_request == "auto") {
        backend_request = env;
        backend_request_source = "NEUROPERF_BLAS";
    }
    if (backend_request != "auto") {
        const auto& names = blas::known_backend_names();
        if (std::find(names.begin(), names.end(), backend_request) == names.end())
            throw ValueError(fmt::format("backend{}: expected \"auto\" or one of {}, got \"{}\"",
                                         backend_request_source == "NEUROPERF_BLAS" ? " (from NEUROPERF_BLAS)" : "",
                                         fmt::join(names, ", "), backend_request));
        backend_named(backend_request);  // throws if not available here
    }
}

const blas::Backend& ContextImpl::backend_named(std::string_view name) const {
    if (const auto* be = registry_.find(name)) return *be;
    std::string reason = "unknown backend";
    for (const auto& be : registry_.backends())
        if (be->info.name == name) reason = be->info.reason;
    throw BackendError(fmt::format("backend \"{}\" is not available ({}); available: {}", name, reason,
                                   registry_.available_names()));
}

void ContextImpl::fill_choices_from(const blas::Calibration& cal) const {
    for (std::size_t op = 0; op < 2; ++op)
        for (std::size_t b = 0; b < kGemmBuckets; ++b) {
            chosen_[op][b] = &backend_named(cal.best[op][b]);
            why_[op][b] = cal.why[op][b];
        }
}

void ContextImpl::calibrate(bool force) const {
    std::lock_guard lock(mutex_);
    int t = threads.load();
    auto log = [&](const std::string& m) {
        if (options.verbose) options.log(m);
    };
    if (backend_request != "auto") {
        const auto& be = backend_named(backend_request);
        for (std::size_t op = 0; op < 2; ++op)
            for (std::size_t b = 0; b < kGemmBuckets; ++b) {
                chosen_[op][b] = &be;
                why_[op][b] = backend_request_source == "NEUROPERF_BLAS"
                                  ? fmt::format("NEUROPERF_BLAS={}", backend_request)
                                  : fmt::format("requested backend \"{}\"", backend_request);
            }
    } else if (!options.calibrate) {
        const blas::Backend* first = nullptr;
        for (const char* name : {"mkl", "openblas", "blis", "builtin"})
            if (!first) first = registry_.find(name);
        for (std::size_t op = 0; op < 2; ++op)
            for (std::size_t b = 0; b < kGemmBuckets; ++b) {
                chosen_[op][b] = first;
                why_[op][b] = fmt::format("uncalibrated: first present in the order mkl, openblas, blis, builtin");
            }
    } else {
        auto file = options.cache_dir / "blas-calibration.json";
        auto key = blas::calibration_key(registry_, t);
        std::optional<blas::Calibration> cal;
        if (!force) cal = blas::load_calibration(file, key, registry_);
        if (cal) {
            log(fmt::format("calibration loaded from {}", file.string()));
        } else {
            log(fmt::format("calibrating BLAS backends at {} thread(s)...", t));
            cal = blas::measure_calibration(registry_, t);
            log(fmt::format("calibration took {:.2f} s", cal->seconds));
            try {
                blas::store_calibration(file, key, *cal);
            } catch (const IOError& e) {
                log(fmt::format("calibration not cached: {}", e.what()));
            }
        }
        fill_choices_from(*cal);
    }
    calibrated_threads_ = t;
    ready_.store(true, std::memory_order_release);
}

void ContextImpl::ensure_choices() const {
    if (!ready_.load(std::memory_order_acquire) || calibrated_threads_ != threads.load(std::memory_order_relaxed)) {
        if (ready_.load() && calibrated_threads_ != threads.load()) ready_.store(false);
        if (!ready_.load()) calibrate(false);
    }
}

const blas::Backend& ContextImpl::backend_for(BlasOp op, int bucket) const {
    ensure_choices();
    return *chosen_[static_cast<std::size_t>(op)][static_cast<std::size_t>(bucket)];
}

std::vector<BackendChoice> ContextImpl::choices() const {
    ensure_choices();
    std::lock_guard lock(mutex_);
    std::vector<BackendChoice> out;
    for (std::size_t op = 0; op < 2; ++op)
        for (std::size_t b = 0; b < kGemmBuckets; ++b)
            out.push_back({static_cast<BlasOp>(op), static_cast<int>(b), chosen_[op][b]->info.name, why_[op][b]});
    return out;
}

}  // namespace detail

const char* blas_op_name(BlasOp op) { return op == BlasOp::sgemm ? "sgemm" : "dgemm"; }

int gemm_bucket(index_t m, index_t n, index_t k) {
    // Cube root of m·n·k compared through cubes, in long double to avoid overflow.
    long double v = static_cast<long double>(m) * static_cast<long double>(n) * static_cast<long double>(k);
    for (int b = 0; b < kGemmBuckets - 1; ++b) {
        long double e = static_cast<long double>(kGemmBucketEdges[b]);
        if (v <= e * e * e) return b;
    }
    return kGemmBuckets - 1;
}

int Context::num_threads() const { return impl_->threads.load(); }

void Context::set_num_threads(int n) {
    if (n < 0) throw ValueError(fmt::format("num_threads: expected >= 0 (0 = auto), got {}", n));
    impl_->threads = n > 0 ? n : detail::default_thread_count();
}

const std::string& Context::backend_request() const { return impl_->backend_request; }
const std::filesystem::path& Context::cache_dir() const { return impl_->options.cache_dir; }
bool Context::verbose() const { return impl_->options.verbose; }
void Context::log(std::string_view message) const {
    if (impl_->options.verbose) impl_->options.log(message);
}

std::vector<BackendInfo> Context::backends() const {
    std::vector<BackendInfo> out;
    for (const auto& be : impl_->registry().backends()) {
        BackendInfo info = be->info;
        if (info.available && be->get_threads) info.threads = be->get_threads();
        out.push_back(std::move(info));
    }
    return out;
}

std::vector<BackendChoice> Context::choices() const { return impl_->choices(); }
void Context::calibrate(bool force) const { impl_->calibrate(force); }

template <class T>
GemmKernel<T> Context::gemm(index_t m, index_t n, index_t k, int threads) const {
    const auto& be = impl_->backend_for(gemm_op<T>(), gemm_bucket(m, n, k));
    return {be.template gemm<T>(), &be, be.info.name.c_str(), threads > 0 ? threads : num_threads()};
}

template <class T>
GemmKernel<T> Context::gemm_on(std::string_view backend, int threads) const {
    const auto& be = impl_->backend_named(backend);
    return {be.template gemm<T>(), &be, be.info.name.c_str(), threads > 0 ? threads : num_threads()};
}

template GemmKernel<float> Context::gemm<float>(index_t, index_t, index_t, int) const;
template GemmKernel<double> Context::gemm<double>(index_t, index_t, index_t, int) const;
template GemmKernel<float> Context::gemm_on<float>(std::string_view, int) const;
template GemmKernel<double> Context::gemm_on<double>(std::string_view, int) const;

Context make_context(ContextOptions options) {
    return Context(std::make_shared<detail::ContextImpl>(std::move(options)));
}

Context default_context() {
    static Context ctx = make_context();
    return ctx;
}

}  // namespace neuroperf
