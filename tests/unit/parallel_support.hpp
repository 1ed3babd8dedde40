// Helpers of the ParallelProcessor tests (test_parallel.cpp, test_parallel_reasoning.cpp):
// processors on quiet contexts, random operands, and the threads of this process.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <cstring>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"
#include "neuroperf/sparse.hpp"
#include "test_support.hpp"


namespace neuroperf::parallel_test {

using test_support::quiet_opts;


inline Context test_context(int threads = 0) {
    auto o = quiet_opts();
    o.num_threads = threads;
    return make_context(o);
}

inline ParallelProcessor processor(int threads, bool balance = true, std::string strategy = "thread") {
    ParallelConfig cfg;
    cfg.num_threads = threads;
    cfg.enable_load_balancing = balance;
    cfg.parallel_strategy = std::move(strategy);
    return ParallelProcessor(cfg, test_context());
}

template <class T>
Array<T> filled(std::initializer_list<index_t> shape, std::uint64_t seed, double scale = 1.0) {
    Array<T> a(shape);
    std::uint64_t s = seed;
    for (index_t i = 0; i < a.size(); ++i) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        a.data()[i] = static_cast<T>(scale * (static_cast<double>(s >> 11) * 0x1.0p-53 * 2.0 - 1.0));
    }
    return a;
}

template <class T>
CsrMatrix<T> sparse(index_t n, std::uint64_t seed) {
    auto d = filled<T>({n, n}, seed, 0.5);
    for (index_t i = 0; i < n * n; ++i)
        if ((static_cast<std::uint64_t>(i) * 2654435761u + seed) % 5 != 0) d.data()[i] = 0;
    return CsrMatrix<T>::from_dense(d.view());
}

template <class T>
bool bit_equal(const Array<T>& a, const Array<T>& b) {
    return a.layout().shape == b.layout().shape && a.rank() == b.rank() &&
           std::equal(a.data(), a.data() + a.size(), b.data(), [](T x, T y) { return std::memcmp(&x, &y, sizeof(T)) == 0; });
}

// CPU time (ns) each thread of this process has used so far.
inline std::map<long, double> thread_cpu_ns() {
    std::map<long, double> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        long tid = std::stol(e.path().filename().string());
        std::ifstream ss(e.path() / "schedstat");
        double ns = 0;
        if (ss >> ns) {
            out[tid] = ns;
            continue;
        }
        std::ifstream st(e.path() / "stat");  // fallback: utime + stime in clock ticks
        std::string line;
        std::getline(st, line);
        auto rp = line.rfind(')');
        std::istringstream rest(line.substr(rp + 2));
        std::string f;
        double ut = 0, stime = 0;
        for (int field = 3; rest >> f; ++field) {
            if (field == 14) ut = std::stod(f);
            if (field == 15) { stime = std::stod(f); break; }
        }
        out[tid] = (ut + stime) * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return out;
}

inline std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}


}  // namespace neuroperf::parallel_test
