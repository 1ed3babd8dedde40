// `neuroperf bench --suite reservoir`: echo state network sequences (run_reservoir, CSR W,
// float32, tanh, leak 1) against scipy and ReservoirPy on bit-identical inputs.
//
// Rows: reservoir/<impl>/N=<n>/density=<d>/threads=<t>; one timed call runs kSteps steps (the
// U·W_inᵀ GEMM included), so time per step = row time / kSteps. The inputs come from a counter
// hash both sides compute identically (bench/peers/scipy_esn.py documents the same recipe):
//   h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i),  sym = ((h >> 11)·2⁻⁵³)·2 − 1
//   W: k = max(1, round(d·N)) entries per row, entry j of row i in column j·(N/k) + h(1, i·k+j) mod (N/k)
//      (columns strictly increase), value sym(h(2, i·k+j)) / sqrt(k);
//   W_in (N × D): sym(h(3, i·D+j))·0.5;  U (T × D): sym(h(4, t·D+j));  state0 = 0.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/sparse.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

constexpr index_t kSteps = 100;
constexpr index_t kInputDim = 50;
constexpr std::uint64_t kSeed = 42;

double sym(std::uint64_t stream, std::uint64_t i) {
    std::uint64_t h = splitmix64(kSeed ^ (stream << 48) ^ i);
    return hash_to_symmetric(h);
}

struct EsnInputs {
    CsrMatrix<float> w;
    Array<float> w_in, inputs, state0;
};

std::shared_ptr<EsnInputs> esn_inputs(index_t n, double density) {
    static std::mutex mu;
    static std::tuple<index_t, double, std::shared_ptr<EsnInputs>> last{-1, 0.0, nullptr};  // one size alive
    std::lock_guard lock(mu);
    if (std::get<0>(last) == n && std::get<1>(last) == density) return std::get<2>(last);
    last = {-1, 0.0, nullptr};
    index_t k = std::max<index_t>(1, std::llround(density * static_cast<double>(n))), stride = n / k;
    std::vector<std::int64_t> row_ptr(static_cast<std::size_t>(n) + 1);
    std::vector<std::int32_t> col(static_cast<std::size_t>(n * k));
    std::vector<float> val(static_cast<std::size_t>(n * k));
    double scale = 1.0 / std::sqrt(static_cast<double>(k));
    for (index_t i = 0; i < n; ++i) {
        row_ptr[static_cast<std::size_t>(i) + 1] = (i + 1) * k;
        for (index_t j = 0; j < k; ++j) {
            auto e = static_cast<std::uint64_t>(i * k + j);
            std::uint64_t off = splitmix64(kSeed ^ (std::uint64_t{1} << 48) ^ e) % static_cast<std::uint64_t>(stride);
            col[e] = static_cast<std::int32_t>(j * stride + static_cast<index_t>(off));
            val[e] = static_cast<float>(sym(2, e) * scale);
        }
    }
    auto in = std::make_shared<EsnInputs>(EsnInputs{CsrMatrix<float>(n, n, std::move(row_ptr), std::move(col), std::move(val)),
                                                    Array<float>({n, kInputDim}), Array<float>({kSteps, kInputDim}),
                                                    Array<float>({n})});
    for (index_t i = 0; i < n * kInputDim; ++i) in->w_in.data()[i] = static_cast<float>(sym(3, static_cast<std::uint64_t>(i)) * 0.5);
    for (index_t i = 0; i < kSteps * kInputDim; ++i) in->inputs.data()[i] = static_cast<float>(sym(4, static_cast<std::uint64_t>(i)));
    last = {n, density, in};
    return in;
}

struct Config {
    index_t n;
    double density;
    bool multi_thread;  // also run at the suite's thread count
};

}  // namespace

Suite make_reservoir_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.3;
    s.repetitions = quick ? 1 : 5;
    std::vector<Config> configs = quick ? std::vector<Config>{{500, 0.01, false}, {2000, 0.1, true}}
                                        : std::vector<Config>{{500, 0.01, true}, {2000, 0.1, true}, {10000, 0.1, true}};
    for (const auto& c : configs) {
        std::vector<int> tl{1};
        if (c.multi_thread && threads > 1) tl.push_back(threads);
        for (int t : tl) {
            MKLConfig cfg;
            cfg.num_threads = t;
            auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
            auto params = fmt::format("N={}/density={}/threads={}", c.n, c.density, t);
            double k = std::max(1.0, std::round(c.density * static_cast<double>(c.n)));
            // Multiply-adds per call: W (N·k) and W_in (N·D) per step.
            double flops = 2.0 * static_cast<double>(kSteps) * static_cast<double>(c.n) * (k + kInputDim);
            index_t n = c.n;
            double d = c.density;
            s.cases.push_back({fmt::format("reservoir/auto/{}", params), flops,
                               fmt::format("{} steps/call, float32, CSR", kSteps), [opt, n, d] {
                                   auto in = esn_inputs(n, d);
                                   return std::function<void()>([opt, in] {
                                       auto states = opt->run_reservoir<float>(in->state0.view(), in->w_in.view(), in->w,
                                                                               in->inputs.view());
                                       if (states.size() == 0) throw ValueError("reservoir: empty result");
                                   });
                               }});
            std::string sizes = fmt::format("{}", c.n);
            std::vector<std::string> args{"--sizes", sizes, "--density", fmt::format("{}", c.density), "--threads",
                                          std::to_string(t), "--min-time", fmt::format("{}", s.min_time),
                                          "--seed", std::to_string(kSeed), "--steps", std::to_string(kSteps),
                                          "--input-dim", std::to_string(kInputDim)};
            s.peers.push_back({"scipy_esn.py", args});
            s.peers.push_back({"reservoirpy_esn.py", args});
        }
    }
    return s;
}

}  // namespace neuroperf::cli
