// Convolution through FFTW (r2c, pointwise product with the kernel's spectrum, c2r); a
// NotBuiltError when built without FFTW (NEUROPERF_WITH_FFTW=OFF).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>

#include "kernels/conv_rows.hpp"

#if NEUROPERF_HAVE_FFTW
#include <fftw3.h>
#endif

namespace neuroperf::kernels {
namespace {

using namespace conv;

#if NEUROPERF_HAVE_FFTW
template <class T>
struct Fftw;
template <>
struct Fftw<double> {
    using plan = fftw_plan;
    using complex = fftw_complex;
    static void* alloc(std::size_t bytes) { return fftw_malloc(bytes); }
    static void free(void* p) { fftw_free(p); }
    static plan r2c(int n, double* in, complex* out) { return fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
    static plan c2r(int n, complex* in, double* out) { return fftw_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
    static void exec_r2c(plan p, double* in, complex* out) { fftw_execute_dft_r2c(p, in, out); }
    static void exec_c2r(plan p, complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
    static void destroy(plan p) { fftw_destroy_plan(p); }
};
template <>
struct Fftw<float> {
    using plan = fftwf_plan;
    using complex = fftwf_complex;
    static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
    static void free(void* p) { fftwf_free(p); }
    static plan r2c(int n, float* in, complex* out) { return fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
    static plan c2r(int n, complex* in, float* out) { return fftwf_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
    static void exec_r2c(plan p, float* in, complex* out) { fftwf_execute_dft_r2c(p, in, out); }
    static void exec_c2r(plan p, complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
    static void destroy(plan p) { fftwf_destroy_plan(p); }
};

// Buffers of E (T or its complex) from the allocator of precision T.
template <class T>
struct FftwDeleter {
    void operator()(void* p) const noexcept { Fftw<T>::free(p); }
};
template <class T, class E>
using FftwBuffer = std::unique_ptr<E[], FftwDeleter<T>>;
template <class T, class E = T>
FftwBuffer<T, E> fftw_buffer(i64 count) {
    auto* p = static_cast<E*>(Fftw<T>::alloc(static_cast<std::size_t>(count) * sizeof(E)));
    if (!p) throw std::bad_alloc();
    return FftwBuffer<T, E>(p);
}

// FFTW's planner is process-wide state and not thread-safe, so plans are made under one lock
// and kept per size for the life of the process (like FFTW wisdom). Executing a plan on new
// arrays (fftw_execute_dft_*) is thread-safe; fftw_malloc gives every buffer the same alignment.
template <class T>
struct PlanPair {
    typename Fftw<T>::plan forward{}, backward{};
};
template <class T>
class PlanCache {
public:
    PlanPair<T> get(int n) {
        std::lock_guard lock(mu_);
        auto it = plans_.find(n);
        if (it != plans_.end()) return it->second;
        auto in = fftw_buffer<T>(n);
        auto out = fftw_buffer<T, typename Fftw<T>::complex>(n / 2 + 1);
        PlanPair<T> p{Fftw<T>::r2c(n, in.get(), out.get()), Fftw<T>::c2r(n, out.get(), in.get())};
        if (!p.forward || !p.backward) throw BackendError(fmt::format("FFTW: could not plan a real FFT of size {}", n));
        plans_.emplace(n, p);
        return p;
    }
    ~PlanCache() {
        for (auto& [n, p] : plans_) Fftw<T>::destroy(p.forward), Fftw<T>::destroy(p.backward);
    }

private:
    std::mutex mu_;
    std::map<int, PlanPair<T>> plans_;
};
template <class T>
PlanCache<T>& plan_cache() {
    static PlanCache<T> cache;
    return cache;
}
#endif

}  // namespace

template <class T>
void conv_fft(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads) {
    check_batch(b, g);
#if NEUROPERF_HAVE_FFTW
    using C = typename Fftw<T>::complex;
    const i64 N = fft_size(g.n + g.k - 1), bins = N / 2 + 1;
    if (N > std::numeric_limits<int>::max())
        throw ValueError(fmt::format("convolution: FFT size {} exceeds FFTW's int sizes", N));
    PlanPair<T> plans = plan_cache<T>().get(static_cast<int>(N));
    // The kernel's spectrum, scaled by 1/N (FFTW's transforms are unnormalised).
    auto H = fftw_buffer<T, C>(bins);
    {
        auto hr = fftw_buffer<T>(N);
        std::fill(hr.get(), hr.get() + N, T(0));
        std::copy(h, h + g.k, hr.get());
        Fftw<T>::exec_r2c(plans.forward, hr.get(), H.get());
        const T scale = T(1) / static_cast<T>(N);
        for (i64 f = 0; f < bins; ++f) H[f][0] *= scale, H[f][1] *= scale;
    }
    double per = 2 * static_cast<double>(N) * std::log2(static_cast<double>(N));
    int team = team_size(threads, b.channels, per);
    const C* Hp = H.get();
#pragma omp parallel num_threads(team) if (team > 1)
    {
        auto xr = fftw_buffer<T>(N);
        auto X = fftw_buffer<T, C>(bins);
#pragma omp for schedule(static)
        for (i64 c = 0; c < b.channels; ++c) {
            const T* src = b.x + c * b.x_cs;
            for (i64 t = 0; t < g.n; ++t) xr[t] = src[t * b.x_ts];
            std::fill(xr.get() + g.n, xr.get() + N, T(0));
            Fftw<T>::exec_r2c(plans.forward, xr.get(), X.get());
            for (i64 f = 0; f < bins; ++f) {
                T re = X[f][0] * Hp[f][0] - X[f][1] * Hp[f][1];
                T im = X[f][0] * Hp[f][1] + X[f][1] * Hp[f][0];
                X[f][0] = re, X[f][1] = im;
            }
            Fftw<T>::exec_c2r(plans.backward, X.get(), xr.get());
            T* dst = b.out + c * b.o_cs;
            for (i64 j = 0; j < g.out_len; ++j) dst[j * b.o_ts] = xr[g.offset + j];
        }
    }
#else
    (void)b, (void)h, (void)threads;
    throw NotBuiltError("convolution algorithm \"fft\": neuroperf was built without FFTW (NEUROPERF_WITH_FFTW=OFF)");
#endif
}

#define NEUROPERF_INSTANTIATE(T) \
    template void conv_fft<T>(const ConvBatch<T>&, const T*, const ConvGeometry&, int);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
