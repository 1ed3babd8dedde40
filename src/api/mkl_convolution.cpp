// MKLOptimizer::optimize_spike_convolution: argument checks, numpy's mode rules, the cost model's
// choice and dispatch to the kernels in kernels/convolution.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "api/cost_models.hpp"
#include "api/optimizer.hpp"
#include "kernels/convolution.hpp"

namespace neuroperf {
namespace {

using kernels::ConvAlgorithm;
using kernels::ConvMode;

// Empty = auto.
std::optional<ConvAlgorithm> parse_algorithm(const std::string& name, bool family) {
    if (name == "auto") return std::nullopt;
    if (name == "direct") return ConvAlgorithm::direct;
    if (name == "event") return ConvAlgorithm::event;
    if (name == "fft") {
        if (!kernels::fft_available())
            throw NotBuiltError("ConvolutionOptions.algorithm \"fft\": neuroperf was built without FFTW "
                                "(configure with -DNEUROPERF_WITH_FFTW=ON)");
        return ConvAlgorithm::fft;
    }
    if (name == "iir") {
        if (!family)
            throw ValueError("ConvolutionOptions.algorithm \"iir\": needs a kernel family (ExponentialKernel or "
                             "AlphaKernel), got kernel taps");
        return ConvAlgorithm::iir;
    }
    throw ValueError(fmt::format("ConvolutionOptions.algorithm: expected one of \"auto\", \"direct\", \"event\", "
                                 "\"fft\", \"iir\", got \"{}\"", name));
}

// The input as a batch of channels plus the output array laid out like it.
// With byte input (spike counts), `bytes` holds it and batch.x is null until run() widens blocks
// of channels into T.
template <class T>
struct Prepared {
    kernels::ConvBatch<T> batch;
    kernels::ConvBatch<std::uint8_t> bytes;
    kernels::ConvGeometry geometry;
    Array<T> out;
};

template <class T, class U>
Prepared<T> prepare(ArrayView<const U> x, index_t k, ConvMode mode, const ConvolutionOptions& options) {
    if (x.rank() != 1 && x.rank() != 2)
        throw ShapeError(fmt::format("spike_trains: expected a rank-1 (time) or rank-2 (channels × time) array, got "
                                     "shape {}", x.layout().shape_string()));
    int axis = options.time_axis;
    if (x.rank() == 1 ? (axis != -1 && axis != 0) : (axis < -1 || axis > 1))
        throw ValueError(fmt::format("ConvolutionOptions.time_axis: expected {} for a rank-{} input, got {}",
                                     x.rank() == 1 ? "-1 or 0" : "-1, 0 or 1", x.rank(), axis));
    int t_axis = x.rank() == 1 ? 0 : (axis == -1 ? 1 : axis);
    index_t n = x.shape(t_axis);
    if (n == 0) throw ValueError(fmt::format("spike_trains: expected at least one time step, got shape {}",
                                             x.layout().shape_string()));
    if (k == 0) throw ValueError("kernel: expected at least one tap, got an empty kernel");
    Prepared<T> p;
    p.geometry = kernels::conv_geometry(mode, n, k);
    index_t len = p.geometry.out_len;
    auto& b = p.batch;
    b.x_ts = x.stride(t_axis);
    if (x.rank() == 1) {
        p.out = Array<T>::uninitialized({len});
        b.channels = 1;
        b.o_ts = 1;
    } else {
        int c_axis = 1 - t_axis;
        index_t channels = x.shape(c_axis);
        b.channels = channels;
        b.x_cs = x.stride(c_axis);
        if (t_axis == 1) {
            p.out = Array<T>::uninitialized({channels, len});
            b.o_cs = len, b.o_ts = 1;
        } else {
            p.out = Array<T>::uninitialized({len, channels});
            b.o_cs = 1, b.o_ts = channels;
        }
    }
    b.out = p.out.data();
    b.out_zeroed = false;  // every algorithm writes (or first clears) every output element
    if constexpr (std::is_same_v<U, std::uint8_t>) {
        p.bytes.x = x.data();
        p.bytes.channels = b.channels, p.bytes.x_cs = b.x_cs, p.bytes.x_ts = b.x_ts;
    } else {
        b.x = x.data();
    }
    return p;
}

template <class T>
void dispatch(ConvAlgorithm algo, const kernels::ConvBatch<T>& b, const std::vector<T>& taps, const SpikeKernel* family,
              const kernels::ConvGeometry& g, int threads) {
    switch (algo) {
        case ConvAlgorithm::direct: kernels::conv_direct(b, taps.data(), g, threads); break;
        case ConvAlgorithm::event: kernels::conv_event(b, taps.data(), g, threads); break;
        case ConvAlgorithm::fft: kernels::conv_fft(b, taps.data(), g, threads); break;
        case ConvAlgorithm::iir: kernels::conv_iir(b, *family, g, threads); break;
    }
}

// Byte input: each thread widens a block of channels (≤ ~512 KiB of T, so it stays in L2) into
// a channels × time scratch and runs the algorithm on it single-threaded, writing the block's
// rows of the result.
template <class T>
void dispatch_bytes(ConvAlgorithm algo, const Prepared<T>& p, const std::vector<T>& taps, const SpikeKernel* family,
                    int threads) {
    const auto& g = p.geometry;
    const auto& src = p.bytes;
    const index_t n = g.n, channels = src.channels;
    const index_t per_block = std::clamp<index_t>((index_t{512} << 10) / (n * static_cast<index_t>(sizeof(T))), 1, 64);
    const index_t blocks = (channels + per_block - 1) / per_block;
    const int team = static_cast<int>(std::min<index_t>(threads, blocks));
    std::exception_ptr error;
#pragma omp parallel num_threads(team) if (team > 1)
    {
        thread_local std::vector<T> scratch;  // kept across calls: no page faults per call
#pragma omp for schedule(static)
        for (index_t blk = 0; blk < blocks; ++blk) {
            if (error) continue;
            try {
                const index_t c0 = blk * per_block, c1 = std::min(channels, c0 + per_block);
                scratch.resize(static_cast<std::size_t>((c1 - c0) * n));
                for (index_t c = c0; c < c1; ++c) {
                    const std::uint8_t* row = src.x + c * src.x_cs;
                    T* dst = scratch.data() + (c - c0) * n;
                    if (src.x_ts == 1)
                        for (index_t t = 0; t < n; ++t) dst[t] = static_cast<T>(row[t]);
                    else
                        for (index_t t = 0; t < n; ++t) dst[t] = static_cast<T>(row[t * src.x_ts]);
                }
                kernels::ConvBatch<T> sub = p.batch;
                sub.x = scratch.data();
                sub.channels = c1 - c0, sub.x_cs = n, sub.x_ts = 1;
                sub.out = p.batch.out + c0 * p.batch.o_cs;
                dispatch(algo, sub, taps, family, g, 1);
            } catch (...) {
#pragma omp critical(neuroperf_conv_bytes_error)
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
}

// `taps` holds the kernel's taps, or is filled from `family` when the chosen algorithm needs them
// (the recursive filter does not: a long family never materialises its taps then).
template <class T>
void run(const MKLOptimizer& opt, Prepared<T>& p, std::vector<T>& taps, const SpikeKernel* family,
         const std::string& mode, const ConvolutionOptions& options) {
    if (p.batch.channels == 0) return;
    p.batch.isa = opt.context().isa();
    auto forced = parse_algorithm(options.algorithm, family != nullptr);
    const auto& g = p.geometry;
    kernels::ConvProblem prob;
    prob.n = g.n, prob.k = g.k, prob.channels = p.batch.channels;
    prob.mode = kernels::parse_conv_mode(mode);
    prob.is_double = std::is_same_v<T, double>;
    prob.family = family != nullptr;
    prob.alpha = family && family->family == SpikeKernel::Family::alpha;
    prob.fft_available = kernels::fft_available();
    prob.density = forced ? 1.0 : p.bytes.x ? kernels::sample_density(p.bytes, g.n) : kernels::sample_density(p.batch, g.n);
    kernels::ConvCostModel model;  // the context's, calibrated on this machine (api/cost_models.hpp)
    if (!forced || api::logs(opt)) {
        model = api::conv_cost_model(opt, prob.is_double);
        prob.model = &model;
    }
    ConvAlgorithm algo = forced ? *forced : kernels::choose_conv_algorithm(prob);
    int threads = opt.num_threads();
    if (api::logs(opt)) {
        auto cost = kernels::conv_costs(prob);
        api::emit(opt, fmt::format(
            "spike_convolution {} ({} channel(s) × {} steps, {} taps{}, mode {}, density {:.3g}): algorithm {} ({}), "
            "estimated µs/channel direct {:.3g}, event {:.3g}, fft {:.3g}, iir {:.3g}, up to {} thread(s)",
            dtype_name(dtype_of<T>()), p.batch.channels, g.n, g.k,
            family ? (family->family == SpikeKernel::Family::alpha ? " alpha" : " exponential") : "", mode,
            prob.density, kernels::conv_algorithm_name(algo), forced ? "forced" : "cost model", cost[0] * 1e-3,
            cost[1] * 1e-3, cost[2] * 1e-3, cost[3] * 1e-3, threads));
    }
    if (family && algo != ConvAlgorithm::iir) {
        auto h = kernels::family_taps(*family, g.k);
        taps.assign(h.begin(), h.end());
    }
    auto scope = api::call_scope(opt, threads, static_cast<double>(p.batch.channels) * static_cast<double>(g.n));
    if (p.bytes.x)
        dispatch_bytes(algo, p, taps, family, threads);
    else
        dispatch(algo, p.batch, taps, family, g, threads);
}

template <class T, class U>
Array<T> convolve_taps(const MKLOptimizer& opt, ArrayView<const U> spike_trains, ArrayView<const T> kernel,
                       const std::string& mode, const ConvolutionOptions& options) {
    ConvMode m = kernels::parse_conv_mode(mode);
    if (kernel.rank() != 1)
        throw ShapeError(fmt::format("kernel: expected a rank-1 array of taps, got shape {}", kernel.layout().shape_string()));
    Prepared<T> p = prepare<T>(spike_trains, kernel.shape(0), m, options);
    std::vector<T> taps(static_cast<std::size_t>(kernel.shape(0)));
    for (index_t i = 0; i < kernel.shape(0); ++i) taps[static_cast<std::size_t>(i)] = kernel(i);
    run<T>(opt, p, taps, nullptr, mode, options);
    return std::move(p.out);
}

template <class T, class U>
Array<T> convolve_family(const MKLOptimizer& opt, ArrayView<const U> spike_trains, const SpikeKernel& kernel,
                         const std::string& mode, const ConvolutionOptions& options) {
    ConvMode m = kernels::parse_conv_mode(mode);
    SpikeKernel k = kernel;
    k.length = kernels::family_length<T>(kernel);
    Prepared<T> p = prepare<T>(spike_trains, k.length, m, options);
    std::vector<T> taps;
    run<T>(opt, p, taps, &k, mode, options);
    return std::move(p.out);
}

}  // namespace

template <class T>
Array<T> MKLOptimizer::optimize_spike_convolution(ArrayView<const T> spike_trains, ArrayView<const T> kernel,
                                                  const std::string& mode, const ConvolutionOptions& options) const {
    return convolve_taps<T>(*this, spike_trains, kernel, mode, options);
}

template <class T>
Array<T> MKLOptimizer::optimize_spike_convolution(ArrayView<const T> spike_trains, const SpikeKernel& kernel,
                                                  const std::string& mode, const ConvolutionOptions& options) const {
    return convolve_family<T>(*this, spike_trains, kernel, mode, options);
}

template <class T>
Array<T> MKLOptimizer::optimize_spike_convolution(ArrayView<const std::uint8_t> spike_trains, ArrayView<const T> kernel,
                                                  const std::string& mode, const ConvolutionOptions& options) const {
    return convolve_taps<T>(*this, spike_trains, kernel, mode, options);
}

template <class T>
Array<T> MKLOptimizer::optimize_spike_convolution(ArrayView<const std::uint8_t> spike_trains, const SpikeKernel& kernel,
                                                  const std::string& mode, const ConvolutionOptions& options) const {
    return convolve_family<T>(*this, spike_trains, kernel, mode, options);
}

#define NEUROPERF_INSTANTIATE(T)                                                                                  \
    template Array<T> MKLOptimizer::optimize_spike_convolution<T>(ArrayView<const T>, ArrayView<const T>,         \
                                                                  const std::string&, const ConvolutionOptions&)  \
        const;                                                                                                    \
    template Array<T> MKLOptimizer::optimize_spike_convolution<T>(ArrayView<const T>, const SpikeKernel&,         \
                                                                  const std::string&, const ConvolutionOptions&)  \
        const;                                                                                                    \
    template Array<T> MKLOptimizer::optimize_spike_convolution<T>(ArrayView<const std::uint8_t>, ArrayView<const T>, \
                                                                  const std::string&, const ConvolutionOptions&)  \
        const;                                                                                                    \
    template Array<T> MKLOptimizer::optimize_spike_convolution<T>(ArrayView<const std::uint8_t>, const SpikeKernel&, \
                                                                  const std::string&, const ConvolutionOptions&)  \
        const;
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf
