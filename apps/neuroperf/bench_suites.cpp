// The benchmark suites: which rows each runs, and the peers that run beside them.
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "cli.hpp"
#include "suites.hpp"
#include "neuroperf/array.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"

namespace neuroperf::cli {
namespace {

// Inputs of one GEMM size, shared by every implementation's row (same seed, same values).
template <class T>
struct GemmInputs {
    Array<T> a, b, c;
};

template <class T>
std::shared_ptr<GemmInputs<T>> gemm_inputs(index_t n) {
    static std::mutex mu;
    static std::pair<index_t, std::shared_ptr<GemmInputs<T>>> last{-1, nullptr};  // keep one size alive
    std::lock_guard lock(mu);
    if (last.first == n) return last.second;
    last = {n, nullptr};  // free the previous size before allocating the next
    auto in = std::make_shared<GemmInputs<T>>(GemmInputs<T>{Array<T>({n, n}), Array<T>({n, n}), Array<T>({n, n})});
    // As bench/peers/numpy_gemm.py: a[i] = 2·unit(h(1, i)) − 1, b[i] = 2·unit(h(2, i)) − 1 (row-major),
    // h(stream, i) = splitmix64(42 ^ (stream << 48) ^ i), unit = (h >> 11)·2⁻⁵³, rounded to T.
    auto h = [](std::uint64_t stream, index_t i) { return splitmix64(42 ^ (stream << 48) ^ static_cast<std::uint64_t>(i)); };
    for (index_t i = 0; i < n * n; ++i) in->a.data()[i] = static_cast<T>(hash_to_symmetric(h(1, i)));
    for (index_t i = 0; i < n * n; ++i) in->b.data()[i] = static_cast<T>(hash_to_symmetric(h(2, i)));
    last = {n, in};
    return in;
}

template <class T>
void add_gemm_rows(Suite& suite, const Context& ctx, const std::vector<index_t>& sizes, const std::vector<int>& thread_counts) {
    const char* op = dtype_of<T>() == DType::float32 ? "sgemm" : "dgemm";
    std::vector<BackendInfo> backends;
    for (const auto& b : ctx.backends())
        if (b.available) backends.push_back(b);
    for (int t : thread_counts) {
        MKLConfig cfg;
        cfg.num_threads = t;
        auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
        for (index_t n : sizes) {
            double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
            auto params = fmt::format("n={}/threads={}", n, t);
            // auto: the GEMM neuroperf picks for this size, dispatched once (what its kernels use).
            auto chosen = ctx.gemm<T>(n, n, n, t);
            suite.cases.push_back({fmt::format("{}/auto/{}", op, params), flops, fmt::format("-> {}", chosen.backend()),
                                   [chosen, n] {
                                       auto in = gemm_inputs<T>(n);
                                       return std::function<void()>([chosen, in, n] {
                                           chosen(false, false, n, n, n, T(1), in->a.data(), n, in->b.data(), n, T(0),
                                                  in->c.data(), n);
                                       });
                                   }});
            // mkl_optimizer: the API's call, with its shape checks and per-call thread setup.
            suite.cases.push_back({fmt::format("{}/mkl_optimizer/{}", op, params), flops,
                                   fmt::format("-> {}", opt->backend_for<T>(n, n, n)), [opt, n] {
                                       auto in = gemm_inputs<T>(n);
                                       return std::function<void()>([opt, in] {
                                           opt->matrix_multiply_into<T>(in->a.view(), in->b.view(), in->c.view());
                                       });
                                   }});
            for (const auto& be : backends) {
                if (n > be.max_gemm_dim) continue;  // e.g. libxsmm: small GEMMs only
                auto kernel = ctx.gemm_on<T>(be.name, t);
                suite.cases.push_back({fmt::format("{}/{}/{}", op, be.name, params), flops, "", [kernel, n] {
                                           auto in = gemm_inputs<T>(n);
                                           return std::function<void()>([kernel, in, n] {
                                               kernel(false, false, n, n, n, T(1), in->a.data(), n, in->b.data(), n,
                                                      T(0), in->c.data(), n);
                                           });
                                       }});
            }
        }
    }
}

std::string join_sizes(const std::vector<index_t>& v) {
    return fmt::format("{}", fmt::join(v, ","));
}

void add_numpy_peer(Suite& suite, const std::vector<index_t>& sizes, const std::vector<int>& thread_counts,
                    const std::string& dtypes, double min_time) {
    for (int t : thread_counts)
        suite.peers.push_back({"numpy_gemm.py", {"--sizes", join_sizes(sizes), "--dtypes", dtypes, "--threads",
                                                 std::to_string(t), "--min-time", fmt::format("{}", min_time), "--seed", "42"}});
}

std::vector<int> thread_list(int threads) {
    return threads > 1 ? std::vector<int>{1, threads} : std::vector<int>{1};
}

}  // namespace

std::vector<std::string> suite_names() {
    return {"gemm", "conv", "reservoir", "batch", "eigen", "elementwise", "parallel", "jit", "snn", "quick"};
}

Suite make_suite(const std::string& name, bool quick, int threads, const Context& ctx) {
    Suite s;
    if (name == "gemm") {
        std::vector<index_t> sizes = quick ? std::vector<index_t>{8, 64, 256}
                                           : std::vector<index_t>{8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
        auto tl = quick ? std::vector<int>{1} : thread_list(threads);
        s.min_time = quick ? 0.02 : 0.2;
        s.repetitions = quick ? 1 : 3;
        add_gemm_rows<float>(s, ctx, sizes, tl);
        add_gemm_rows<double>(s, ctx, sizes, tl);
        add_numpy_peer(s, sizes, tl, "float32,float64", s.min_time);
    } else if (name == "quick") {
        // A short sample of every suite that exists.
        std::vector<index_t> sizes{16, 256, 1024};
        s.min_time = 0.05;
        s.repetitions = 1;
        add_gemm_rows<float>(s, ctx, sizes, thread_list(threads));
        add_gemm_rows<double>(s, ctx, {256}, {1});
        add_numpy_peer(s, sizes, thread_list(threads), "float32", s.min_time);
        for (auto make : {&make_conv_suite, &make_reservoir_suite, &make_batch_suite, &make_eigen_suite, &make_elementwise_suite,
                          &make_parallel_suite, &make_jit_suite}) {
            Suite part = make(true, threads, ctx);
            s.cases.insert(s.cases.end(), part.cases.begin(), part.cases.end());
            s.peers.insert(s.peers.end(), part.peers.begin(), part.peers.end());
        }
        for (BenchCase& c : snn_quick_cases(ctx)) s.cases.push_back(std::move(c));
    } else if (name == "conv") {
        s = make_conv_suite(quick, threads, ctx);
    } else if (name == "reservoir") {
        s = make_reservoir_suite(quick, threads, ctx);
    } else if (name == "batch") {
        s = make_batch_suite(quick, threads, ctx);
    } else if (name == "eigen") {
        s = make_eigen_suite(quick, threads, ctx);
    } else if (name == "elementwise") {
        s = make_elementwise_suite(quick, threads, ctx);
    } else if (name == "parallel") {
        s = make_parallel_suite(quick, threads, ctx);
    } else if (name == "jit") {
        s = make_jit_suite(quick, threads, ctx);
    } else if (name == "snn") {
        s = make_snn_suite(quick, threads, ctx);
    } else {
        throw ValueError(fmt::format("suite: expected one of {}, got \"{}\"", fmt::join(suite_names(), ", "), name));
    }
    return s;
}

}  // namespace neuroperf::cli
