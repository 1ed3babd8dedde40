// `neuroperf bench --suite conv`: spike-train convolution (optimize_spike_convolution, "same"
// mode, algorithm chosen by the cost model) against numpy.convolve, scipy.signal.fftconvolve and
// scipy.signal.lfilter on bit-identical inputs (bench/peers/scipy_conv.py).
//
// Rows: conv/<impl>/channels=<c>/steps=<s>/kernel=<exp|fir100>/p=<p>/dtype=<d>/threads=<t>; impl auto
// (float trains of dtype d, the cost model's choice), direct / event / fft / iir (each algorithm
// forced, not with --quick), or auto_uint8 (the same trains as bytes, as a NumPy bool array,
// result d).
// Inputs, computed identically on both sides:
//   h(i) = splitmix64(seed ^ (1 << 48) ^ i), spike at (c, t) iff (h(c·steps + t) >> 11)·2⁻⁵³ < p;
//   exp: ExponentialKernel(τ = 20, dt = 1) truncated as neuroperf does (691 taps float64, 323
//        float32; lfilter runs the untruncated recursion y[t] = x[t] + e^{−1/20}·y[t−1]);
//   fir100: taps exp(−i/20), i < 100.
// One timed call includes allocating the (channels × steps) result, as numpy's calls do.
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

constexpr std::uint64_t kSeed = 42;
constexpr double kTau = 20;


// The trains as bytes (what a NumPy bool array is), generated once per configuration.
std::shared_ptr<std::vector<std::uint8_t>> byte_trains(index_t channels, index_t steps, double p) {
    static std::mutex mu;
    static std::tuple<index_t, index_t, double, std::shared_ptr<std::vector<std::uint8_t>>> last{-1, -1, 0.0, nullptr};
    std::lock_guard lock(mu);
    if (std::get<0>(last) == channels && std::get<1>(last) == steps && std::get<2>(last) == p) return std::get<3>(last);
    last = {-1, -1, 0.0, nullptr};  // free the previous inputs first
    auto x = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(channels * steps));
    const std::uint64_t key = kSeed ^ (std::uint64_t{1} << 48);
    for (index_t i = 0; i < channels * steps; ++i)
        (*x)[static_cast<std::size_t>(i)] = hash_to_unit(splitmix64(key ^ static_cast<std::uint64_t>(i))) < p ? 1 : 0;
    last = {channels, steps, p, x};
    return x;
}

// The same trains as T (0/1), widened from the bytes.
template <class T>
std::shared_ptr<Array<T>> spike_trains(index_t channels, index_t steps, double p) {
    auto bytes = byte_trains(channels, steps, p);
    auto x = std::make_shared<Array<T>>(Array<T>::uninitialized({channels, steps}));
    for (index_t i = 0; i < channels * steps; ++i) x->data()[i] = static_cast<T>((*bytes)[static_cast<std::size_t>(i)]);
    return x;
}

template <class T>
void add_rows(Suite& suite, const Context& ctx, index_t channels, index_t steps, double p, int threads, bool quick) {
    MKLConfig cfg;
    cfg.num_threads = threads;
    auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
    const char* dtype = dtype_name(dtype_of<T>());
    for (const char* kernel : {"exp", "fir100"}) {
        const bool fir = std::string(kernel) == "fir100";
        // auto (the cost model's choice), then each algorithm forced: auto's row should be within
        // noise of the best of them.
        std::vector<std::string> impls{"auto"};
        if (!quick) {
            impls.insert(impls.end(), {"direct", "event", "fft"});  // fft: an error row without FFTW
            if (!fir) impls.push_back("iir");
        }
        for (const std::string& impl : impls) {
            auto name = fmt::format("conv/{}/channels={}/steps={}/kernel={}/p={}/dtype={}/threads={}", impl, channels, steps,
                                    kernel, p, dtype, threads);
            ConvolutionOptions o;
            o.algorithm = impl;
            suite.cases.push_back({name, 0, fir ? "100 taps" : "ExponentialKernel(20, 1)", [=] {
                                       auto x = spike_trains<T>(channels, steps, p);
                                       auto taps = std::make_shared<Array<T>>(Array<T>({100}));
                                       for (index_t i = 0; i < 100; ++i)
                                           (*taps)(i) = static_cast<T>(std::exp(-static_cast<double>(i) / kTau));
                                       auto call = [opt, x, taps, fir, o] {
                                           auto y = fir ? opt->optimize_spike_convolution<T>(x->view(), taps->view(), "same", o)
                                                        : opt->optimize_spike_convolution<T>(x->view(), ExponentialKernel(kTau, 1),
                                                                                             "same", o);
                                           (void)y;
                                       };
                                       call();  // untimed: the context's cost model is calibrated at first use
                                       return std::function<void()>(call);
                                   }});
        }
        auto bname = fmt::format("conv/auto_uint8/channels={}/steps={}/kernel={}/p={}/dtype={}/threads={}", channels,
                                 steps, kernel, p, dtype, threads);
        suite.cases.push_back({bname, 0, fir ? "100 taps, uint8 trains" : "ExponentialKernel(20, 1), uint8 trains", [=] {
                                   auto x = byte_trains(channels, steps, p);
                                   auto taps = std::make_shared<Array<T>>(Array<T>({100}));
                                   for (index_t i = 0; i < 100; ++i)
                                       (*taps)(i) = static_cast<T>(std::exp(-static_cast<double>(i) / kTau));
                                   return std::function<void()>([opt, x, taps, fir, channels, steps] {
                                       ArrayView<const std::uint8_t> xv(x->data(), {channels, steps});
                                       auto y = fir ? opt->optimize_spike_convolution<T>(xv, taps->view(), "same")
                                                    : opt->optimize_spike_convolution<T>(xv, ExponentialKernel(kTau, 1), "same");
                                       (void)y;
                                   });
                               }});
    }
}

}  // namespace

Suite make_conv_suite(bool quick, int threads, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.3;
    s.repetitions = quick ? 1 : 5;
    index_t channels = quick ? 100 : 1000, steps = 10000;
    double p = 0.02;
    std::vector<int> tl = threads > 1 && !quick ? std::vector<int>{1, threads} : std::vector<int>{std::max(threads, 1)};
    for (int t : tl) {
        add_rows<float>(s, ctx, channels, steps, p, t, quick);
        add_rows<double>(s, ctx, channels, steps, p, t, quick);
        // The serial peers (np.convolve, lfilter) report threads=1 whatever they are given: on
        // the second thread count only the threaded one (fftconvolve with scipy.fft workers) runs.
        std::vector<std::string> args{"--sizes", std::to_string(steps), "--channels", std::to_string(channels), "--p",
                                      fmt::format("{}", p), "--dtypes", "float32,float64", "--threads", std::to_string(t),
                                      "--min-time", fmt::format("{}", s.min_time), "--seed", std::to_string(kSeed)};
        if (t != tl.front()) args.insert(args.end(), {"--impls", "scipy_fftconvolve"});
        s.peers.push_back({"scipy_conv.py", std::move(args)});
    }
    return s;
}

}  // namespace neuroperf::cli
