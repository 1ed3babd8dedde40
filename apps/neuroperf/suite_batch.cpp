// `neuroperf bench --suite batch`: spikes (B × N, 0/1, density p) · W (N × M), float32.
// Rows batch/<impl>/B=<b>/N=<n>/M=<m>/density=<p>/threads=<t>:
//   auto  — optimize_batch_processing (the cost model picks the path),
//   gemm  — the same product as a dense GEMM through matrix_multiply_into (the sgemm baseline),
//   event — optimize_batch_processing with NEUROPERF_BATCH_PATH=event,
// and with --peers numpy (B×N @ N×M float32) and scipy_csr (CSR spikes @ dense W).
// Inputs (bench/peers/numpy_batch.py computes the same values), h(stream, i) =
// splitmix64(42 ^ (stream << 48) ^ i), unit = (h >> 11)·2⁻⁵³: W[i] = 2·unit(h(1, i)) − 1
// (row-major, float32), spikes[i] = unit(h(2, i)) < p.
#include <cstdlib>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "neuroperf/array.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

struct BatchInputs {
    Array<float> spikes, w, out;
};

// One (B, N, M, p) input set alive at a time, shared by the rows of that shape.
std::shared_ptr<BatchInputs> batch_inputs(index_t B, index_t N, index_t M, double p) {
    static std::mutex mu;
    static std::string key;
    static std::shared_ptr<BatchInputs> last;
    std::lock_guard lock(mu);
    auto k = fmt::format("{}/{}/{}/{}", B, N, M, p);
    if (k == key && last) return last;
    last.reset();
    auto in = std::make_shared<BatchInputs>(BatchInputs{Array<float>({B, N}), Array<float>({N, M}), Array<float>({B, M})});
    auto h = [](std::uint64_t stream, index_t i) { return splitmix64(42 ^ (stream << 48) ^ static_cast<std::uint64_t>(i)); };
    for (index_t i = 0; i < in->w.size(); ++i) in->w.data()[i] = static_cast<float>(hash_to_symmetric(h(1, i)));
    for (index_t i = 0; i < in->spikes.size(); ++i) in->spikes.data()[i] = hash_to_unit(h(2, i)) < p ? 1.f : 0.f;
    key = k;
    last = in;
    return in;
}

// The path override read by optimize_batch_processing; set when a row is built, before timing
// (auto and gemm rows clear it, so an event row's setting never leaks into them).
void force_path(const char* path) {
    if (path) ::setenv("NEUROPERF_BATCH_PATH", path, 1);
    else ::unsetenv("NEUROPERF_BATCH_PATH");
}

std::string density_str(double p) { return fmt::format("{:g}", p); }

}  // namespace

Suite make_batch_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    const std::vector<index_t> sizes = quick ? std::vector<index_t>{1000} : std::vector<index_t>{4000};
    const std::vector<index_t> batches = quick ? std::vector<index_t>{1, 64} : std::vector<index_t>{1, 16, 64, 256};
    const std::vector<double> densities = quick ? std::vector<double>{0.02} : std::vector<double>{0.005, 0.02, 0.1, 0.3};
    const std::vector<int> thread_counts = quick || threads <= 1 ? std::vector<int>{threads > 1 ? threads : 1}
                                                                 : std::vector<int>{1, threads};
    s.min_time = quick ? 0.05 : 0.2;
    s.repetitions = quick ? 1 : 5;
    for (int t : thread_counts) {
        MKLConfig cfg;
        cfg.num_threads = t;
        auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
        for (index_t n : sizes)
            for (index_t B : batches)
                for (double p : densities) {
                    const index_t N = n, M = n;
                    auto params = fmt::format("B={}/N={}/M={}/density={}/threads={}", B, N, M, density_str(p), t);
                    double flops = 2.0 * static_cast<double>(B) * static_cast<double>(N) * static_cast<double>(M);
                    auto timed_call = [opt, B, N, M, p](const char* path) {
                        return [opt, B, N, M, p, path] {
                            force_path(path);
                            auto in = batch_inputs(B, N, M, p);
                            // Untimed first call: the context's cost model is calibrated at first use.
                            (void)opt->optimize_batch_processing<float>(in->spikes.view(), in->w.view());
                            return std::function<void()>([opt, in] {
                                auto out = opt->optimize_batch_processing<float>(in->spikes.view(), in->w.view());
                                (void)out;
                            });
                        };
                    };
                    s.cases.push_back({fmt::format("batch/auto/{}", params), flops, "", timed_call(nullptr)});
                    s.cases.push_back({fmt::format("batch/gemm/{}", params), flops,
                                       fmt::format("-> {}", opt->backend_for<float>(B, M, N)), [opt, B, N, M, p] {
                                           force_path(nullptr);
                                           auto in = batch_inputs(B, N, M, p);
                                           return std::function<void()>([opt, in] {
                                               opt->matrix_multiply_into<float>(in->spikes.view(), in->w.view(),
                                                                                in->out.view());
                                           });
                                       }});
                    s.cases.push_back({fmt::format("batch/event/{}", params), flops, "", timed_call("event")});
                }
        std::vector<std::string> bs, ds, ns;
        for (auto b : batches) bs.push_back(std::to_string(b));
        for (auto d : densities) ds.push_back(density_str(d));
        for (auto n : sizes) ns.push_back(std::to_string(n));
        std::vector<std::string> args{"--sizes", fmt::format("{}", fmt::join(ns, ",")), "--batches",
                                      fmt::format("{}", fmt::join(bs, ",")), "--densities",
                                      fmt::format("{}", fmt::join(ds, ",")), "--threads", std::to_string(t),
                                      "--min-time", fmt::format("{}", s.min_time), "--seed", "42"};
        // scipy's CSR product is serial: its rows (named threads=1) come from the first run only.
        if (t != thread_counts.front()) args.insert(args.end(), {"--impls", "numpy"});
        s.peers.push_back({"numpy_batch.py", std::move(args)});
    }
    return s;
}

}  // namespace neuroperf::cli
