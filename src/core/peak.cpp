// Machine limits for `neuroperf info --peak`: fp32 FMA throughput of one core and streaming memory
// bandwidth. Rough roofline numbers (a few percent), not a benchmark suite.
#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace neuroperf {
namespace core {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One block of independent FMA chains; returns a value depending on every chain so the work
// cannot be dropped. acc = acc * m + a converges to a / (1 - m): no overflow, no denormals.
using FmaBlock = float (*)(long iters, float seed);

constexpr float kMul = 0.99999994f;
constexpr float kAdd = 1e-7f;

#if defined(__x86_64__)
// Zen 4 issues one zmm FMA per cycle, Intel server cores two, with 4-cycle latency: 16 chains cover
// latency x throughput everywhere, and 16 + 2 zmm registers fit in the 32 available.
constexpr int kChains512 = 16;
constexpr double kFlopsPerIter512 = kChains512 * 16 * 2;

__attribute__((target("avx512f,fma"))) float fma_block_avx512(long iters, float seed) {
    __m512 acc[kChains512];
    for (int k = 0; k < kChains512; ++k) acc[k] = _mm512_set1_ps(seed + 1e-3f * static_cast<float>(k));
    const __m512 m = _mm512_set1_ps(kMul);
    const __m512 a = _mm512_set1_ps(kAdd);
    for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < kChains512; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
    }
    __m512 sum = acc[0];
    for (int k = 1; k < kChains512; ++k) sum = _mm512_add_ps(sum, acc[k]);
    // Not _mm512_reduce_add_ps: GCC 12's version trips -Wuninitialized inside its own header.
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum);
    float total = 0.0f;
    for (float v : lanes) total += v;
    return total;
}

// 16 ymm registers: 12 chains + 2 constants (2 FMA/cycle x 4-5 cycles latency needs 8-10).
constexpr int kChains256 = 12;
constexpr double kFlopsPerIter256 = kChains256 * 8 * 2;

__attribute__((target("avx,fma"))) float fma_block_avx2(long iters, float seed) {
    __m256 acc[kChains256];
    for (int k = 0; k < kChains256; ++k) acc[k] = _mm256_set1_ps(seed + 1e-3f * static_cast<float>(k));
    const __m256 m = _mm256_set1_ps(kMul);
    const __m256 a = _mm256_set1_ps(kAdd);
    for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < kChains256; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
    }
    __m256 sum = acc[0];
    for (int k = 1; k < kChains256; ++k) sum = _mm256_add_ps(sum, acc[k]);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum);
    float total = 0.0f;
    for (float v : lanes) total += v;
    return total;
}
#endif

// No FMA unit: separate multiply and add (2 flops), which the compiler may vectorise with SSE.
constexpr int kChainsScalar = 16;
constexpr double kFlopsPerIterScalar = kChainsScalar * 2;

float fma_block_scalar(long iters, float seed) {
    float acc[kChainsScalar];
    for (int k = 0; k < kChainsScalar; ++k) acc[k] = seed + 1e-3f * static_cast<float>(k);
    for (long i = 0; i < iters; ++i) {
        for (int k = 0; k < kChainsScalar; ++k) acc[k] = acc[k] * kMul + kAdd;
    }
    float total = 0.0f;
    for (float v : acc) total += v;
    return total;
}

// Best rate over ~10 ms blocks within `budget_s`: robust against a preemption or a clock ramp.
double measure_fma_gflops(FmaBlock block, double flops_per_iter, double budget_s) {
    volatile float seed_source = 1.0f;
    const float seed = seed_source;
    float checksum = 0.0f;

    long iters = 1 << 12;
    // Calibrate the block length (also warms the core up to its sustained clock).
    for (;;) {
        const auto t0 = Clock::now();
        checksum += block(iters, seed);
        if (seconds_since(t0) > 2e-3 || iters > (1L << 40)) break;
        iters *= 2;
    }
    iters *= 5;  // ~10 ms

    double best = 0.0;
    const auto start = Clock::now();
    do {
        const auto t0 = Clock::now();
        checksum += block(iters, seed);
        const double dt = seconds_since(t0);
        if (dt > 0.0) best = std::max(best, flops_per_iter * static_cast<double>(iters) / dt);
    } while (seconds_since(start) < budget_s);

    volatile float sink = checksum;
    static_cast<void>(sink);
    return best * 1e-9;
}

double measure_fp32_gflops(const IsaFeatures& isa, double budget_s) {
#if defined(__x86_64__)
    if (isa.avx512f && isa.fma) return measure_fma_gflops(fma_block_avx512, kFlopsPerIter512, budget_s);
    if (isa.avx && isa.fma) return measure_fma_gflops(fma_block_avx2, kFlopsPerIter256, budget_s);
#else
    static_cast<void>(isa);
#endif
    return measure_fma_gflops(fma_block_scalar, kFlopsPerIterScalar, budget_s);
}

struct FreeDeleter {
    void operator()(double* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<double, FreeDeleter>;

Buffer allocate_stream_array(std::size_t n) {
    constexpr std::size_t kAlign = std::size_t{2} << 20;  // huge-page aligned: fewer TLB misses
    const std::size_t bytes = (n * sizeof(double) + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, bytes);
    if (p == nullptr) throw Error("measure_peak: cannot allocate " + std::to_string(bytes) + " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);  // advisory; failure is harmless
#endif
    return Buffer(static_cast<double*>(p));
}

// Total size of the three arrays: at least 4x all last-level cache and 256 MiB, at most a quarter
// of physical memory.
std::size_t stream_bytes(const CpuInfo& info) {
    std::int64_t llc_total = 0;
    if (!info.caches.empty()) {
        const CacheLevel& llc = info.caches.back();
        const int instances = llc.shared_by_cpus > 0
                                  ? std::max(1, (info.logical_cpus_online + llc.shared_by_cpus - 1) /
                                                    llc.shared_by_cpus)
                                  : 1;
        llc_total = llc.size_bytes * instances;
    }
    std::int64_t bytes = std::max<std::int64_t>(std::int64_t{256} << 20, 4 * llc_total);
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) {
        const std::int64_t quarter = static_cast<std::int64_t>(pages) * page_size / 4;
        bytes = std::min(bytes, std::max<std::int64_t>(quarter, std::int64_t{64} << 20));
    }
    return static_cast<std::size_t>(bytes);
}

// STREAM triad a = b + s*c with `threads` threads; bytes counted as STREAM does (2 reads + 1 write
// per element, write-allocate traffic not counted). Best of the repetitions.
double measure_triad_gbs(int threads, std::size_t total_bytes, double budget_s) {
    const std::size_t n = total_bytes / (3 * sizeof(double));
    const std::ptrdiff_t len = static_cast<std::ptrdiff_t>(n);
    Buffer a_buf = allocate_stream_array(n), b_buf = allocate_stream_array(n), c_buf = allocate_stream_array(n);
    double* const a = a_buf.get();
    double* const b = b_buf.get();
    double* const c = c_buf.get();

    // First touch with the same static schedule as the timed loop: pages land near their thread.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::ptrdiff_t i = 0; i < len; ++i) {
        a[i] = 0.0;
        b[i] = 1.0;
        c[i] = 2.0;
    }

    volatile double scalar_source = 3.0;
    double s = scalar_source;
    double checksum = 0.0;
    double best = 0.0;
    const auto start = Clock::now();
    for (int rep = 0; rep < 50; ++rep) {
        const auto t0 = Clock::now();
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (std::ptrdiff_t i = 0; i < len; ++i) a[i] = b[i] + s * c[i];
        const double dt = seconds_since(t0);
        // Reading the result after each pass keeps the stores observable.
        checksum += a[(static_cast<std::size_t>(rep) * 7919u) % n];
        s += 1.0;
        if (rep > 0 && dt > 0.0)  // the first pass warms the thread team and the TLB
            best = std::max(best, 3.0 * sizeof(double) * static_cast<double>(n) / dt);
        if (rep >= 3 && seconds_since(start) > budget_s) break;
    }
    volatile double sink = checksum;
    static_cast<void>(sink);
    return best * 1e-9;
}

}  // namespace
}  // namespace core

PeakMeasurement measure_peak(int threads) {
    if (threads < 0)
        throw ValueError("measure_peak: threads must be >= 0 (0 = available CPUs), got " +
                         std::to_string(threads));
    const CpuInfo& info = cpu_info();
    PeakMeasurement result;
    result.threads = threads == 0 ? available_cpus() : threads;
    result.fp32_gflops_per_core = core::measure_fp32_gflops(info.isa, 0.25);
    result.memory_bandwidth_gbs =
        core::measure_triad_gbs(result.threads, core::stream_bytes(info), 0.35);
    return result;
}

}  // namespace neuroperf
