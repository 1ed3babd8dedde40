#include "blas/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/timer.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::blas {
namespace {

constexpr int kFormatVersion = 2;  // 2: the thin bucket

// Best time of one call of backend `be` on m×n×n (m rows of A against an n×n B) within a small
// budget: tiny calls are batched so the timer's resolution does not matter; slow calls are timed
// once or twice.
template <class T>
double time_gemm(const Backend& be, int threads, index_t m, index_t n, const std::vector<T>& a,
                 const std::vector<T>& b, std::vector<T>& c) {
    auto fn = be.gemm<T>();
    auto call = [&] { fn(&be, threads, false, false, m, n, n, T(1), a.data(), n, b.data(), n, T(0), c.data(), n); };
    Timer warm;
    call();  // warm-up: first touch, thread start, JIT
    double first = warm.seconds();
    if (first > 0.05) return first;  // far too slow to win: one call tells
    double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(n);
    int batch = static_cast<int>(std::clamp(2e5 / flops, 1.0, 4096.0));
    double best = 1e300, spent = 0;
    for (int rep = 0; rep < 30 && (rep < 2 || spent < 0.01); ++rep) {
        Timer t;
        for (int i = 0; i < batch; ++i) call();
        double s = t.seconds();
        spent += s;
        best = std::min(best, s / batch);
    }
    return best;
}

template <class T>
void calibrate_op(const Registry& reg, int threads, Isa isa, int op, Calibration& cal) {
    std::mt19937 rng(12345);
    std::uniform_real_distribution<double> dist(-1, 1);
    std::vector<const Backend*> contenders;  // the builtin GEMM at the context's variant
    for (const auto& be : reg.backends())
        if (be->info.available) contenders.push_back(be->info.name == "builtin" ? &reg.builtin(isa) : be.get());
    const std::vector<const Backend*> all = contenders;
    for (int bucket = 0; bucket < kGemmBuckets; ++bucket) {
        const bool thin = bucket == kGemmThinBucket;
        const index_t n = kGemmBucketSizes[bucket], m = thin ? kGemmThinCalibrationRows : n;
        // The thin bucket ranks differently from the square ones: every backend is timed again.
        if (thin) contenders = all;
        std::vector<T> a(static_cast<std::size_t>(m * n)), b(static_cast<std::size_t>(n * n)), c(a.size());
        for (auto& x : a) x = static_cast<T>(dist(rng));
        for (auto& x : b) x = static_cast<T>(dist(rng));
        // Two passes, the second in reverse order, keeping each backend's best: what ran just
        // before (another library's thread team, cache contents) otherwise biases the ranking.
        std::vector<std::pair<double, const Backend*>> results;
        for (const Backend* be : contenders)
            if (n <= be->info.max_gemm_dim) results.emplace_back(0.0, be);
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t i = 0; i < results.size(); ++i) {
                auto& [gflops, be] = results[pass == 0 ? i : results.size() - 1 - i];
                double s = time_gemm<T>(*be, threads, m, n, a, b, c);
                gflops = std::max(gflops, 2.0 * static_cast<double>(m * n * n) / s * 1e-9);
            }
        }
        // Highest GFLOP/s wins; backends are listed in preference order, so a tie keeps the earlier.
        auto best = *std::max_element(results.begin(), results.end(),
                                      [](const auto& x, const auto& y) { return x.first < y.first; });
        auto& slot = cal.best[static_cast<std::size_t>(op)][static_cast<std::size_t>(bucket)];
        slot = best.second->info.name;
        std::string why = thin ? fmt::format("calibrated at m={}, n=k={}: {} {:.1f} GFLOP/s", m, n, slot, best.first)
                               : fmt::format("calibrated at n={}: {} {:.1f} GFLOP/s", n, slot, best.first);
        for (const auto& [g, be] : results)
            if (be != best.second) why += fmt::format(", {} {:.1f}", be->info.name, g);
        cal.why[static_cast<std::size_t>(op)][static_cast<std::size_t>(bucket)] = why;
        // From n = 128 on, per-call overheads are amortised: a backend below a quarter of the
        // best does not catch up at larger sizes. Dropping it keeps calibration to a few seconds.
        if (n >= 128) std::erase_if(contenders, [&](const Backend* be) {
            for (const auto& [g, r] : results)
                if (r == be) return g < 0.25 * best.first;
            return false;
        });
    }
}

}  // namespace

std::string calibration_key(const Registry& registry, int threads, Isa isa) {
    std::string key = fmt::format("{}|threads={}|isa={}|neuroperf {}", cpu_info().model_name, threads, isa_name(isa), version());
    for (const auto& be : registry.backends())
        if (be->info.available) key += fmt::format("|{} {}", be->info.name, be->info.version);
    return key;
}

Calibration measure_calibration(const Registry& registry, int threads, Isa isa) {
    Timer t;
    Calibration cal;
    calibrate_op<float>(registry, threads, isa, 0, cal);
    calibrate_op<double>(registry, threads, isa, 1, cal);
    cal.seconds = t.seconds();
    return cal;
}

std::optional<Calibration> load_calibration(const std::filesystem::path& file, const std::string& key,
                                            const Registry& registry) {
    auto text = read_file(file);
    if (!text) return std::nullopt;
    try {
        auto j = nlohmann::json::parse(*text);
        if (j.at("format").get<int>() != kFormatVersion) return std::nullopt;
        const auto& e = j.at("entries").at(key);
        Calibration cal;
        for (std::size_t op = 0; op < 2; ++op) {
            const auto& rows = e.at(op == 0 ? "sgemm" : "dgemm");
            if (rows.size() != kGemmBuckets) return std::nullopt;
            for (std::size_t bk = 0; bk < kGemmBuckets; ++bk) {
                cal.best[op][bk] = rows.at(bk).at("backend").get<std::string>();
                cal.why[op][bk] = rows.at(bk).at("why").get<std::string>();
                if (!registry.find(cal.best[op][bk])) return std::nullopt;
            }
        }
        cal.seconds = e.value("seconds", 0.0);
        return cal;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // corrupt or from another format: measure again
    }
}

void store_calibration(const std::filesystem::path& file, const std::string& key, const Calibration& cal) {
    nlohmann::json j;
    if (auto text = read_file(file)) {
        j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || j.value("format", 0) != kFormatVersion || !j.contains("entries") ||
            !j["entries"].is_object())
            j = nlohmann::json::object();
    }
    j["format"] = kFormatVersion;
    nlohmann::json e;
    for (std::size_t op = 0; op < 2; ++op) {
        auto rows = nlohmann::json::array();
        for (std::size_t bk = 0; bk < kGemmBuckets; ++bk)
            rows.push_back({{"n", kGemmBucketSizes[bk]}, {"backend", cal.best[op][bk]}, {"why", cal.why[op][bk]}});
        e[op == 0 ? "sgemm" : "dgemm"] = rows;
    }
    e["seconds"] = cal.seconds;
    j["entries"][key] = e;
    write_file_atomic(file, j.dump(2));
}

}  // namespace neuroperf::blas
