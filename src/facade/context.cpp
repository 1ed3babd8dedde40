#include "facade/context_impl.hpp"

#include <algorithm>
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

std::unique_ptr<ContextImpl::Choices> ContextImpl::make_choices(int t, bool force) const {
    auto c = std::make_unique<Choices>();
    auto fill = [&](auto&& pick) {
        for (std::size_t op = 0; op < 2; ++op)
            for (std::size_t b = 0; b < kGemmBuckets; ++b) pick(op, b);
    };
    auto log = [&](const std::string& m) {
        if (options.verbose) options.log(m);
    };
    if (backend_request != "auto") {
        const auto& be = backend_named(backend_request);
        std::string why = backend_request_source == "NEUROPERF_BLAS" ? fmt::format("NEUROPERF_BLAS={}", backend_request)
                                                                     : fmt::format("requested backend \"{}\"", backend_request);
        fill([&](std::size_t op, std::size_t b) { c->backend[op][b] = &be, c->why[op][b] = why; });
    } else if (!options.calibrate) {
        const blas::Backend* first = nullptr;
        for (const char* name : {"mkl", "openblas", "blis", "builtin"})
            if (!first) first = registry_.find(name);
        fill([&](std::size_t op, std::size_t b) {
            c->backend[op][b] = first;
            c->why[op][b] = "uncalibrated: first present in the order mkl, openblas, blis, builtin";
        });
    } else {
        auto file = options.cache_dir / "blas-calibration.json";
        auto key = blas::calibration_key(registry_, t);
        std::optional<blas::Calibration> cal;
        if (!force) cal = blas::load_calibration(file, key, registry_);
        if (cal) {
            log(fmt::format("calibration for {} thread(s) loaded from {}", t, file.string()));
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
        fill([&](std::size_t op, std::size_t b) {
            c->backend[op][b] = &backend_named(cal->best[op][b]);
            c->why[op][b] = cal->why[op][b];
        });
    }
    return c;
}

const ContextImpl::Choices& ContextImpl::choices_for(int threads) const {
    auto slot = static_cast<std::size_t>(std::clamp(threads, 1, kThreadSlots - 1));
    if (const Choices* c = slots_[slot].load(std::memory_order_acquire)) return *c;
    std::lock_guard lock(mutex_);
    if (const Choices* c = slots_[slot].load(std::memory_order_acquire)) return *c;  // lost the race
    owned_.push_back(make_choices(threads, false));
    slots_[slot].store(owned_.back().get(), std::memory_order_release);
    return *owned_.back();
}

void ContextImpl::calibrate(int threads, bool force) const {
    if (!force) {
        choices_for(threads);
        return;
    }
    auto slot = static_cast<std::size_t>(std::clamp(threads, 1, kThreadSlots - 1));
    std::lock_guard lock(mutex_);
    owned_.push_back(make_choices(threads, true));
    slots_[slot].store(owned_.back().get(), std::memory_order_release);
}

const blas::Backend& ContextImpl::backend_for(BlasOp op, int bucket, int threads) const {
    return *choices_for(threads).backend[static_cast<std::size_t>(op)][static_cast<std::size_t>(bucket)];
}

std::vector<BackendChoice> ContextImpl::choices(int threads) const {
    const Choices& c = choices_for(threads);
    std::vector<BackendChoice> out;
    for (std::size_t op = 0; op < 2; ++op)
        for (std::size_t b = 0; b < kGemmBuckets; ++b)
            out.push_back({static_cast<BlasOp>(op), static_cast<int>(b), c.backend[op][b]->info.name, c.why[op][b]});
    return out;
}

}  // namespace detail

const char* blas_op_name(BlasOp op) { return op == BlasOp::sgemm ? "sgemm" : "dgemm"; }

int gemm_bucket(index_t m, index_t n, index_t k) {
    // Cube root of m·n·k compared through cubes; double holds the product without overflow and
    // exactly below 2^53, far beyond the last edge.
    double v = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    for (int b = 0; b < kGemmBuckets - 1; ++b) {
        auto e = static_cast<double>(kGemmBucketEdges[b]);
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

std::vector<BackendChoice> Context::choices() const { return impl_->choices(num_threads()); }
void Context::calibrate(bool force) const { impl_->calibrate(num_threads(), force); }

template <class T>
GemmKernel<T> Context::gemm(index_t m, index_t n, index_t k, int threads) const {
    int t = threads > 0 ? threads : num_threads();
    const auto& be = impl_->backend_for(gemm_op<T>(), gemm_bucket(m, n, k), t);
    return {be.template gemm<T>(), &be, be.info.name.c_str(), t};
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
