// The calibrated cost models (api/cost_models.hpp, docs/dev/cost_models.md).
#include "api/cost_models.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/optimizer.hpp"
#include "blas/calibration.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/timer.hpp"
#include "neuroperf/version.hpp"
#include "runtime/context_impl.hpp"

namespace neuroperf::api {
namespace {

using i64 = std::int64_t;
constexpr int kFormatVersion = 1;

// The fastest of a few runs after a warm-up (first touch, thread start, plans).
double min_seconds(const std::function<void()>& run, int reps = 4) {
    run();
    double best = std::numeric_limits<double>::infinity();
    for (int r = 0; r < reps; ++r) {
        Timer t;
        run();
        best = std::min(best, t.seconds());
    }
    return best;
}

// A fitted rate kept within a factor of 20 of its default: a disturbed measurement (another
// process, a frequency change) may mislead a choice, never make it absurd.
double bounded(double fitted, double fallback) {
    if (!(fitted > 0) || !std::isfinite(fitted)) return fallback;
    return std::clamp(fitted, fallback / 20, fallback * 20);
}

// Deterministic inputs: splitmix64 of the position, as the benchmark suites draw theirs.
template <class T>
void fill(T* p, i64 count, std::uint64_t seed, double density = 1.0) {
    for (i64 i = 0; i < count; ++i) {
        const std::uint64_t h = splitmix64(seed ^ static_cast<std::uint64_t>(i));
        p[i] = hash_to_unit(h) < density ? static_cast<T>(hash_to_unit(splitmix64(h)) * 2 - 1) : T(0);
    }
}

// ---- convolution ------------------------------------------------------------------------

// ns per channel of one algorithm on C channels of n samples (density d) and k taps or a family.
template <class T>
double conv_ns(Isa isa, kernels::ConvAlgorithm algo, i64 C, i64 n, i64 k, double d, const SpikeKernel* family) {
    const kernels::ConvGeometry g = kernels::conv_geometry(kernels::ConvMode::full, n, k);
    std::vector<T> x(static_cast<std::size_t>(C * n)), h(static_cast<std::size_t>(k)),
        out(static_cast<std::size_t>(C * g.out_len));
    fill(x.data(), C * n, 11, d);
    fill(h.data(), k, 12);
    kernels::ConvBatch<T> b;
    b.x = x.data(), b.channels = C, b.x_cs = n, b.x_ts = 1;
    b.out = out.data(), b.o_cs = g.out_len, b.o_ts = 1;
    b.isa = isa;
    const double s = min_seconds([&] {
        switch (algo) {
            case kernels::ConvAlgorithm::direct: kernels::conv_direct(b, h.data(), g, 1); break;
            case kernels::ConvAlgorithm::event: kernels::conv_event(b, h.data(), g, 1); break;
            case kernels::ConvAlgorithm::fft: kernels::conv_fft(b, h.data(), g, 1); break;
            case kernels::ConvAlgorithm::iir: kernels::conv_iir(b, *family, g, 1); break;
        }
    });
    return s * 1e9 / static_cast<double>(C);
}

// Two equations a1·u + b1·v = r1, a2·u + b2·v = r2.
std::pair<double, double> solve2(double a1, double b1, double r1, double a2, double b2, double r2) {
    const double det = a1 * b2 - a2 * b1;
    return {(r1 * b2 - r2 * b1) / det, (a1 * r2 - a2 * r1) / det};
}

template <class T>
kernels::ConvCostModel measure_conv(Isa isa) {
    using kernels::ConvAlgorithm;
    const kernels::ConvCostModel def = kernels::default_conv_cost_model(std::is_same_v<T, double>);
    kernels::ConvCostModel m = def;
    // Per channel: tiny rows (the fixed cost), then short and long filters (multiply-adds
    // against samples scanned).
    const double tiny = conv_ns<T>(isa, ConvAlgorithm::direct, 512, 16, 1, 1.0, nullptr);
    const i64 n = 16384;
    const double ta = conv_ns<T>(isa, ConvAlgorithm::direct, 4, n, 2, 1.0, nullptr);
    const double tb = conv_ns<T>(isa, ConvAlgorithm::direct, 4, n, 96, 1.0, nullptr);
    // The fixed cost per channel is the same for every algorithm, so it never changes a choice:
    // m.channel keeps its default (which includes the optimizer's per-call work); the kernels'
    // own share is only taken out of the fits below.
    const double fixed = std::max(0.0, tiny - 32 * (def.mac + def.scan));
    auto [mac, scan] = solve2(2.0 * n, n + 1.0, ta - fixed, 96.0 * n, n + 95.0, tb - fixed);
    m.mac = bounded(mac, def.mac);
    m.scan = bounded(scan, def.scan);
    // Event: a sparse train; what is left after the scans is per spike (set-up plus its taps).
    const double d = 0.05;
    const i64 ke = 32;
    const double te = conv_ns<T>(isa, ConvAlgorithm::event, 4, n, ke, d, nullptr);
    m.spike = bounded((te - fixed - (2.0 * n + ke - 1) * m.scan) / (d * n) - ke * m.mac, def.spike);
    if (kernels::fft_available()) {
        auto fft_case = [&](i64 nn, i64 kk) {
            const double N = static_cast<double>(kernels::fft_size(nn + kk - 1));
            const double t = conv_ns<T>(isa, ConvAlgorithm::fft, 2, nn, kk, 1.0, nullptr) - fixed - (nn + kk - 1.0) * m.scan;
            return std::tuple{2 * N * std::log2(N), N, t};
        };
        auto [a1, b1, r1] = fft_case(4096, 512);
        auto [a2, b2, r2] = fft_case(65536, 512);
        auto [fft, point] = solve2(a1, b1, r1, a2, b2, r2);
        m.fft = bounded(fft, def.fft);
        m.fft_point = bounded(point, def.fft_point);
    }
    for (bool alpha : {false, true}) {
        const SpikeKernel fam = alpha ? AlphaKernel(20, 1) : ExponentialKernel(20, 1);
        const i64 L = kernels::family_length<T>(fam);
        const double steps = static_cast<double>(n + L - 1);
        const double t = conv_ns<T>(isa, ConvAlgorithm::iir, 16, n, L, 1.0, &fam);
        (alpha ? m.iir_alpha : m.iir_exp) = bounded((t - fixed) / steps, alpha ? def.iir_alpha : def.iir_exp);
    }
    return m;
}

// ---- batch product ----------------------------------------------------------------------

template <class T>
kernels::BatchCostModel measure_batch(const MKLOptimizer& opt, int threads) {
    const DType dtype = dtype_of<T>();
    const kernels::BatchCostModel def = kernels::default_batch_cost_model(dtype, threads);
    kernels::BatchCostModel m = def;
    const double bytes = sizeof(T);
    // W large enough not to stay in the last-level cache (64 MB), its 1024 × 1024 corner for the
    // compute-bound cases.
    const i64 big = sizeof(T) == 4 ? 4096 : 2896, small = 1024;
    Array<T> w = Array<T>::uninitialized({big, big});
    fill(w.data(), w.size(), 21);
    MKLConfig cfg = opt.config();
    cfg.num_threads = threads;
    cfg.verbose = false;
    const MKLOptimizer gemm_opt(cfg, opt.context());
    auto gemm_seconds = [&](i64 B, i64 N) {
        Array<T> s({B, N}), out({B, N});
        fill(s.data(), s.size(), 22, 0.5);
        ArrayView<const T> wv(w.data(), std::array<index_t, 2>{N, N}, std::array<index_t, 2>{big, 1});
        return min_seconds([&] { gemm_opt.matrix_multiply_into<T>(s.view(), wv, out.view()); }, 3);
    };
    // Compute-bound (256 rows) and memory-bound (2 rows) GEMMs.
    const double g1 = gemm_seconds(256, small), g2 = gemm_seconds(2, big);
    const double c1 = 2.0 * 256 * small * small, m1 = (small * small + 256.0 * 2 * small) * bytes;
    const double c2 = 2.0 * 2 * big * big, m2 = (static_cast<double>(big) * big + 2.0 * 2 * big) * bytes;
    double flops = c1 / g1, gbytes = m2 / g2;
    for (int it = 0; it < 3; ++it) {  // each case dominated by one term; subtract the other's share
        flops = c1 / std::max(g1 - m.gemm_call_seconds - 0.3 * m1 / gbytes, g1 * 0.1);
        gbytes = m2 / std::max(g2 - m.gemm_call_seconds - 0.3 * c2 / flops, g2 * 0.1);
    }
    m.gemm_flops = bounded(flops, def.gemm_flops);
    m.gemm_bytes = bounded(gbytes, def.gemm_bytes);
    // Event kernel, W beyond the last-level cache as in the problems where the choice is close:
    // a batch of 64 rows at 10 % (accumulation dominates) and one dense row (fetches dominate).
    auto event_case = [&](i64 B, i64 N, double p) {
        Array<T> s({B, N}), out({B, N});
        fill(s.data(), s.size(), 23, p);
        for (i64 i = 0; i < s.size(); ++i) s.data()[i] = s.data()[i] != T(0) ? T(1) : T(0);
        ArrayView<const T> wv(w.data(), std::array<index_t, 2>{N, N}, std::array<index_t, 2>{big, 1});
        auto ev = kernels::events_from_dense<T>(s.view());
        const double t = min_seconds([&] { kernels::event_batch_product<T>(ev, wv, out.view(), threads, opt.context().isa()); }, 3);
        const double b = static_cast<double>(B), n = static_cast<double>(N), z = static_cast<double>(ev.nnz());
        const double q = std::min(1.0, z / (b * n)), touched = n * (1.0 - std::pow(1.0 - q, b));
        return std::tuple{(touched * n + b * n) * bytes, z * n, t - m.event_call_seconds};
    };
    auto [f1, a1, t1] = event_case(64, big, 0.1);
    auto [f2, a2, t2] = event_case(1, big, 0.9);
    auto [inv_bytes, inv_adds] = solve2(f1, a1, t1, f2, a2, t2);
    m.event_bytes = bounded(1.0 / inv_bytes, def.event_bytes);
    m.event_adds = bounded(1.0 / inv_adds, def.event_adds);
    return m;
}

// ---- the context's store, and the cache file ------------------------------------------------

struct CostModelStore {
    std::mutex mutex;
    std::map<std::string, kernels::ConvCostModel> conv;
    std::map<std::string, kernels::BatchCostModel> batch;
};

CostModelStore& store_of(const Context& ctx) {
    return runtime::impl_of(ctx).service<CostModelStore>([] { return std::make_shared<CostModelStore>(); });
}

nlohmann::json to_json(const kernels::ConvCostModel& m) {
    return {{"mac", m.mac}, {"scan", m.scan}, {"spike", m.spike}, {"fft", m.fft}, {"fft_point", m.fft_point},
            {"iir_exp", m.iir_exp}, {"iir_alpha", m.iir_alpha}, {"channel", m.channel}};
}
nlohmann::json to_json(const kernels::BatchCostModel& m) {
    return {{"gemm_flops", m.gemm_flops}, {"gemm_bytes", m.gemm_bytes}, {"event_bytes", m.event_bytes},
            {"event_adds", m.event_adds}, {"gemm_call_seconds", m.gemm_call_seconds},
            {"event_call_seconds", m.event_call_seconds}};
}
void from_json(const nlohmann::json& j, kernels::ConvCostModel& m) {
    m = {j.at("mac"), j.at("scan"), j.at("spike"), j.at("fft"), j.at("fft_point"), j.at("iir_exp"), j.at("iir_alpha"), j.at("channel")};
}
void from_json(const nlohmann::json& j, kernels::BatchCostModel& m) {
    m = {j.at("gemm_flops"), j.at("gemm_bytes"), j.at("event_bytes"), j.at("event_adds"), j.at("gemm_call_seconds"),
         j.at("event_call_seconds")};
}

template <class Model>
std::optional<Model> load(const std::filesystem::path& file, const std::string& key) {
    auto text = read_file(file);
    if (!text) return std::nullopt;
    try {
        auto j = nlohmann::json::parse(*text);
        if (j.at("format").get<int>() != kFormatVersion) return std::nullopt;
        Model m;
        from_json(j.at("entries").at(key), m);
        return m;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // absent, corrupt or from another format: measure again
    }
}

void store(const std::filesystem::path& file, const std::string& key, const nlohmann::json& entry) {
    nlohmann::json j;
    if (auto text = read_file(file)) {
        j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_discarded() || !j.is_object() || j.value("format", 0) != kFormatVersion) j = nlohmann::json();
    }
    j["format"] = kFormatVersion;
    j["entries"][key] = entry;
    write_file_atomic(file, j.dump(2));
}

// The model for `key`: the context's, the cache file's, or measured now (and stored in both).
template <class Model>
Model calibrated(const MKLOptimizer& opt, std::map<std::string, Model> CostModelStore::*table, const std::string& key,
                 const std::function<Model()>& measure) {
    CostModelStore& s = store_of(opt.context());
    std::lock_guard lock(s.mutex);
    auto& t = s.*table;
    if (auto it = t.find(key); it != t.end()) return it->second;
    const auto file = opt.context().cache_dir() / "cost-models.json";
    std::optional<Model> m = load<Model>(file, key);
    if (!m) {
        Timer timer;
        m = measure();
        if (api::logs(opt)) api::emit(opt, fmt::format("cost model {} calibrated in {:.2f} s", key, timer.seconds()));
        try {
            store(file, key, to_json(*m));
        } catch (const IOError& e) {
            if (api::logs(opt)) api::emit(opt, fmt::format("cost model not cached: {}", e.what()));
        }
    }
    t.emplace(key, *m);
    return *m;
}

std::string machine_key(const Context& ctx) {
    return fmt::format("{}|isa={}|neuroperf {}", cpu_info().model_name, isa_name(ctx.isa()), version());
}

}  // namespace

kernels::ConvCostModel conv_cost_model(const MKLOptimizer& opt, bool is_double) {
    if (!opt.context().options().calibrate) return kernels::default_conv_cost_model(is_double);
    const std::string key = fmt::format("conv|{}|{}", is_double ? "float64" : "float32", machine_key(opt.context()));
    const Isa isa = opt.context().isa();
    return calibrated<kernels::ConvCostModel>(opt, &CostModelStore::conv, key, [&] {
        return is_double ? measure_conv<double>(isa) : measure_conv<float>(isa);
    });
}

kernels::BatchCostModel batch_cost_model(const MKLOptimizer& opt, DType dtype, int threads) {
    if (!opt.context().options().calibrate) return kernels::default_batch_cost_model(dtype, threads);
    const auto& impl = runtime::impl_of(opt.context());
    // The GEMM path's speed depends on the backend serving it: the BLAS calibration's key (or
    // the requested backend) is part of this one.
    // (the calibration key names the CPU, variant, thread count and version too).
    const std::string requested = opt.config().backend != "auto" ? opt.config().backend : impl.backend_request();
    const std::string blas = requested != "auto"
                                 ? fmt::format("{}|threads={}|backend={}", machine_key(opt.context()), threads, requested)
                                 : blas::calibration_key(impl.registry(), threads, opt.context().isa());
    const std::string key = fmt::format("batch|{}|{}", dtype_name(dtype), blas);
    return calibrated<kernels::BatchCostModel>(opt, &CostModelStore::batch, key, [&] {
        return dtype == DType::float32 ? measure_batch<float>(opt, threads) : measure_batch<double>(opt, threads);
    });
}

}  // namespace neuroperf::api
