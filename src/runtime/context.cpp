#include "runtime/context_impl.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"

namespace neuroperf {
namespace runtime {

int default_thread_count() {
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
        char* end = nullptr;
        long v = std::strtol(env, &end, 10);
        if (end != env && v > 0 && (*end == '\0' || *end == ',')) return static_cast<int>(v);
    }
    return available_cpus();
}

namespace {

ContextOptions completed(ContextOptions o) {
    if (o.num_threads < 0) throw ValueError(fmt::format("num_threads: expected >= 0 (0 = auto), got {}", o.num_threads));
    if (o.cache_dir.empty()) o.cache_dir = neuroperf::cache_dir();
    if (!o.log) o.log = [](std::string_view m) { std::cerr << "[neuroperf] " << m << '\n'; };
    if (o.backend.empty()) o.backend = "auto";
    if (o.isa.empty()) o.isa = "auto";
    return o;
}

}  // namespace

ContextImpl::ContextImpl(ContextOptions opts)
    : options_(completed(std::move(opts))),
      threads_(options_.num_threads > 0 ? options_.num_threads : default_thread_count()),
      isa_(resolve_isa(options_.isa, "ContextOptions.isa")) {
    backend_request_ = options_.backend;
    backend_request_source_ = options_.backend == "auto" ? "default" : "options";
    if (const char* env = std::getenv("NEUROPERF_BLAS"); env && *env && backend_request_ == "auto") {
        backend_request_ = env;
        backend_request_source_ = "NEUROPERF_BLAS";
    }
    if (backend_request_ != "auto") {
        const auto& names = blas::known_backend_names();
        if (std::find(names.begin(), names.end(), backend_request_) == names.end())
            throw ValueError(fmt::format("backend{}: expected \"auto\" or one of {}, got \"{}\"",
                                         backend_request_source_ == "NEUROPERF_BLAS" ? " (from NEUROPERF_BLAS)" : "",
                                         fmt::join(names, ", "), backend_request_));
        backend_named(backend_request_);  // throws if not available here
    }
}

const blas::Backend& ContextImpl::backend_named(std::string_view name) const {
    if (name == "builtin") return registry_.builtin(isa_);
    if (const auto* be = registry_.find(name)) return *be;
    std::string reason = "unknown backend";
    for (const auto& be : registry_.backends())
        if (be->info.name == name) reason = be->info.reason;
    throw BackendError(fmt::format("backend \"{}\" is not available ({}); available: {}", name, reason,
                                   registry_.available_names()));
}

std::unique_ptr<ContextImpl::Choices> ContextImpl::make_choices(int t, bool force, bool verbose) const {
    auto c = std::make_unique<Choices>();
    auto fill = [&](auto&& pick) {
        for (std::size_t op = 0; op < 2; ++op)
            for (std::size_t b = 0; b < kGemmBuckets; ++b) pick(op, b);
    };
    auto log = [&](const std::string& m) {
        if (verbose || options_.verbose) emit(m);
    };
    if (backend_request_ != "auto") {
        const auto& be = backend_named(backend_request_);
        std::string why = backend_request_source_ == "NEUROPERF_BLAS" ? fmt::format("NEUROPERF_BLAS={}", backend_request_)
                                                                      : fmt::format("requested backend \"{}\"", backend_request_);
        fill([&](std::size_t op, std::size_t b) { c->backend[op][b] = &be, c->why[op][b] = why; });
    } else if (!options_.calibrate) {
        const blas::Backend* first = nullptr;
        for (const char* name : {"mkl", "openblas", "blis"})
            if (!first) first = registry_.find(name);
        if (!first) first = &registry_.builtin(isa_);
        fill([&](std::size_t op, std::size_t b) {
            c->backend[op][b] = first;
            c->why[op][b] = "uncalibrated: first present in the order mkl, openblas, blis, builtin";
        });
    } else {
        auto file = options_.cache_dir / "blas-calibration.json";
        auto key = blas::calibration_key(registry_, t, isa_);
        std::optional<blas::Calibration> cal;
        if (!force) cal = blas::load_calibration(file, key, registry_);
        if (cal) {
            log(fmt::format("calibration for {} thread(s) loaded from {}", t, file.string()));
        } else {
            log(fmt::format("calibrating BLAS backends at {} thread(s)...", t));
            cal = blas::measure_calibration(registry_, t, isa_);
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

const ContextImpl::Choices& ContextImpl::choices_for(int threads, bool verbose) const {
    auto slot = static_cast<std::size_t>(std::clamp(threads, 1, kThreadSlots - 1));
    if (const Choices* c = slots_[slot].load(std::memory_order_acquire)) return *c;
    std::lock_guard lock(mutex_);
    if (const Choices* c = slots_[slot].load(std::memory_order_acquire)) return *c;  // lost the race
    owned_.push_back(make_choices(threads, false, verbose));
    slots_[slot].store(owned_.back().get(), std::memory_order_release);
    return *owned_.back();
}

void ContextImpl::calibrate(int threads, bool force, bool verbose) const {
    if (!force) {
        choices_for(threads, verbose);
        return;
    }
    auto slot = static_cast<std::size_t>(std::clamp(threads, 1, kThreadSlots - 1));
    std::lock_guard lock(mutex_);
    owned_.push_back(make_choices(threads, true, verbose));
    slots_[slot].store(owned_.back().get(), std::memory_order_release);
}

const blas::Backend& ContextImpl::backend_for(BlasOp op, int bucket, int threads, bool verbose) const {
    return *choices_for(threads, verbose).backend[static_cast<std::size_t>(op)][static_cast<std::size_t>(bucket)];
}

std::vector<BackendChoice> ContextImpl::choices(int threads, bool verbose) const {
    const Choices& c = choices_for(threads, verbose);
    std::vector<BackendChoice> out;
    for (std::size_t op = 0; op < 2; ++op)
        for (std::size_t b = 0; b < kGemmBuckets; ++b)
            out.push_back({static_cast<BlasOp>(op), static_cast<int>(b), c.backend[op][b]->info.name, c.why[op][b]});
    return out;
}

std::shared_ptr<void> ContextImpl::service_slot(const void* key, const std::function<std::shared_ptr<void>()>& make) const {
    std::lock_guard lock(services_mutex_);
    for (const auto& [k, s] : services_)
        if (k == key) return s;
    services_.emplace_back(key, make());
    return services_.back().second;
}

}  // namespace runtime

int Context::num_threads() const { return impl_->threads(); }
const std::string& Context::backend_request() const { return impl_->backend_request(); }
const std::filesystem::path& Context::cache_dir() const { return impl_->options().cache_dir; }
Isa Context::isa() const { return impl_->isa(); }
bool Context::verbose() const { return impl_->verbose(); }
void Context::log(std::string_view message) const { impl_->log(message); }
const ContextOptions& Context::options() const { return impl_->options(); }

std::vector<BackendInfo> Context::backends() const {
    std::vector<BackendInfo> out;
    for (const auto& listed : impl_->registry().backends()) {
        const blas::Backend* be = listed->info.name == "builtin" ? &impl_->registry().builtin(isa()) : listed.get();
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
    return impl_->gemm<T>(m, n, k, threads > 0 ? threads : num_threads());
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
    return Context(std::make_shared<const runtime::ContextImpl>(std::move(options)));
}

Context default_context() {
    static Context ctx = make_context();
    return ctx;
}

}  // namespace neuroperf
