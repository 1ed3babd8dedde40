// The eigen suite: verified spectral radius of sparse reservoirs (eigen/...) and all eigenvalues
// of dense matrices (eigvals/...), with scipy's eigs / eigvals on the same inputs as peers.
//
// Inputs are defined by a counter-based hash so the peer (bench/peers/scipy_eigen.py) builds
// bit-identical matrices without files: entry (i, j) of seed s uses h = splitmix64((s << 40) +
// i·N + j); it is stored when (h >> 11)·2⁻⁵³ < density, with value 2·u − 1, u = (splitmix64(h)
// >> 11)·2⁻⁵³. Dense matrices are the same with density 1.
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

constexpr std::uint64_t kSeed = 42;



std::shared_ptr<CsrMatrix<double>> reservoir(index_t n, double density) {
    static std::mutex mu;
    static std::pair<std::pair<index_t, double>, std::shared_ptr<CsrMatrix<double>>> last{{-1, 0}, nullptr};
    std::lock_guard lock(mu);
    if (last.first == std::make_pair(n, density)) return last.second;
    last = {{n, density}, nullptr};
    std::vector<std::int64_t> rp{0};
    std::vector<std::int32_t> ci;
    std::vector<double> v;
    for (index_t i = 0; i < n; ++i) {
        for (index_t j = 0; j < n; ++j) {
            std::uint64_t h = splitmix64((kSeed << 40) + static_cast<std::uint64_t>(i * n + j));
            if (hash_to_unit(h) < density) {
                ci.push_back(static_cast<std::int32_t>(j));
                v.push_back(2 * hash_to_unit(splitmix64(h)) - 1);
            }
        }
        rp.push_back(static_cast<std::int64_t>(ci.size()));
    }
    last.second = std::make_shared<CsrMatrix<double>>(n, n, std::move(rp), std::move(ci), std::move(v));
    return last.second;
}

std::shared_ptr<Array<double>> dense(index_t n) {
    auto a = std::make_shared<Array<double>>(Array<double>({n, n}));
    for (index_t i = 0; i < n * n; ++i)
        a->data()[i] = 2 * hash_to_unit(splitmix64(splitmix64((kSeed << 40) + static_cast<std::uint64_t>(i)))) - 1;
    return a;
}

}  // namespace

Suite make_eigen_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.5;
    s.repetitions = quick ? 1 : 3;
    MKLConfig cfg;
    cfg.num_threads = threads;
    auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);

    struct Radius {
        index_t n;
        double density;
    };
    std::vector<Radius> radii = quick ? std::vector<Radius>{{2000, 0.01}}
                                      : std::vector<Radius>{{1000, 0.01}, {10000, 0.01}, {10000, 0.1}};
    std::vector<index_t> ns, dens_sizes = quick ? std::vector<index_t>{100, 300} : std::vector<index_t>{100, 500, 1000};
    std::vector<std::string> ds;
    for (auto [n, d] : radii) {
        s.cases.push_back({fmt::format("eigen/auto/N={}/density={}/threads={}", n, d, threads), 0, "verified",
                           [opt, n, d] {
                               auto w = reservoir(n, d);
                               return std::function<void()>([opt, w] { (void)opt->spectral_radius<double>(*w); });
                           }});
        ns.push_back(n);
        ds.push_back(fmt::format("{}", d));
    }
    for (index_t n : dens_sizes) {
        double flops = 10.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
        s.cases.push_back({fmt::format("eigvals/auto/N={}", n), flops, "", [opt, n] {
                               auto a = dense(n);
                               return std::function<void()>(
                                   [opt, a] { (void)opt->optimize_eigenvalue_computation<double>(a->view()); });
                           }});
    }
    std::vector<std::string> pairs;
    for (std::size_t i = 0; i < ns.size(); ++i) pairs.push_back(fmt::format("{}:{}", ns[i], ds[i]));
    std::vector<std::string> sizes;
    for (index_t n : dens_sizes) sizes.push_back(std::to_string(n));
    s.peers.push_back({"scipy_eigen.py", {"--sizes", fmt::format("{}", fmt::join(sizes, ",")), "--sparse",
                                          fmt::format("{}", fmt::join(pairs, ",")), "--threads",
                                          std::to_string(threads), "--min-time", fmt::format("{}", s.min_time),
                                          "--seed", std::to_string(kSeed), "--repetitions", std::to_string(s.repetitions)}});
    return s;
}

}  // namespace neuroperf::cli
