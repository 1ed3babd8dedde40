// Spike-train convolution kernels (numpy.convolve semantics), written once for float/double:
// direct and event-driven scatter (conv_direct.cpp), FFT through FFTW3 (conv_fft.cpp) and the exact
// recursive filter of the exponential and alpha families (conv_iir.cpp). The choice between them
// is a pure function of the problem (choose_conv_algorithm, conv_plan.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "neuroperf/convolution.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf::kernels {

enum class ConvMode : std::uint8_t { full, same, valid };
enum class ConvAlgorithm : std::uint8_t { direct, event, fft, iir };
inline constexpr int kConvAlgorithms = 4;

const char* conv_algorithm_name(ConvAlgorithm a);
/// "full" | "same" | "valid" -> ConvMode; ValueError naming `mode` otherwise.
ConvMode parse_conv_mode(std::string_view mode);

/// Output j of a channel is full[offset + j], full = the n + k − 1 samples of the linear
/// convolution; offset and length follow numpy.convolve (which swaps so that the shorter
/// operand slides): m = min(n, k), M = max(n, k); full: 0, n+k−1; same: (m−1)/2, M;
/// valid: m−1, M−m+1. Requires n, k ≥ 1.
struct ConvGeometry {
    std::int64_t n = 0, k = 0, offset = 0, out_len = 0;
};
ConvGeometry conv_geometry(ConvMode mode, std::int64_t n, std::int64_t k);

}  // namespace neuroperf::kernels

namespace neuroperf {
template <>
struct Fields<kernels::ConvGeometry> {
    using G = kernels::ConvGeometry;
    static constexpr auto list =
        std::tuple{field("n", &G::n), field("k", &G::k), field("offset", &G::offset), field("out_len", &G::out_len)};
};
}  // namespace neuroperf
NEUROPERF_CHECK_FIELDS(neuroperf::kernels::ConvGeometry);

namespace neuroperf::kernels {

/// Per-operation costs (ns, one thread) behind conv_costs. "scan" is per input sample read and
/// per output sample written (memory traffic dominates); "mac" per multiply-add. A context
/// calibrates them on its machine at first use (api/cost_models.hpp); the defaults are the
/// ones fitted on AMD EPYC Zen 4.
struct ConvCostModel {
    double mac = 0;        ///< one multiply-add of the direct / scatter inner loops (vectorised axpy)
    double scan = 0;       ///< reading one input sample or writing one output sample
    double spike = 0;      ///< per nonzero sample: set-up of its scatter
    double fft = 0;        ///< per N·log2(N) of one real FFT of size N
    double fft_point = 0;  ///< per FFT point: spectrum product, padding and copies
    double iir_exp = 0;    ///< per time step and channel of the first-order recursion (output included)
    double iir_alpha = 0;  ///< ... of the second-order recursion
    double channel = 0;    ///< fixed per channel
};
ConvCostModel default_conv_cost_model(bool is_double);

/// What the cost model sees: a pure description of the problem.
struct ConvProblem {
    std::int64_t n = 0, k = 0, channels = 1;
    ConvMode mode = ConvMode::valid;
    double density = 1;       ///< fraction of nonzero input samples (measured on a sample)
    bool is_double = true;
    bool family = false;      ///< a SpikeKernel family (the recursive filter is exact for it)
    bool alpha = false;       ///< family is alpha (second-order recursion)
    bool fft_available = false;
    const ConvCostModel* model = nullptr;  ///< null: default_conv_cost_model(is_double)
};

/// Estimated nanoseconds per channel of each algorithm, from the per-operation costs of
/// p.model (see docs/guide/convolution.md). Unavailable algorithms cost +infinity.
std::array<double, kConvAlgorithms> conv_costs(const ConvProblem& p);
/// Smallest 2^a·3^b·5^c·7^d ≥ n: an FFT size FFTW handles with its fastest codelets.
std::int64_t fft_size(std::int64_t n);
/// The cheapest available algorithm under conv_costs.
ConvAlgorithm choose_conv_algorithm(const ConvProblem& p);

/// Number of taps of a family for dtype T: kernel.length, or (length 0) the first i past the
/// peak where the kernel is below 1e-7 (float) / 1e-15 (double) of its peak value 1.
/// Throws ValueError for tau ≤ 0, dt ≤ 0, non-finite values or more than 2^31 taps.
template <class T>
std::int64_t family_length(const SpikeKernel& kernel);
/// The L taps of the family, h[i] = exp(−i·dt/τ) or (i·dt/τ)·exp(1 − i·dt/τ), in double.
std::vector<double> family_taps(const SpikeKernel& kernel, std::int64_t length);

/// A batch of channels: channel c, time t is x[c·x_cs + t·x_ts]; output j of channel c goes to
/// out[c·o_cs + j·o_ts]. out must not overlap x.
template <class T>
struct ConvBatch {
    const T* x = nullptr;
    std::int64_t channels = 0, x_cs = 0, x_ts = 1;
    T* out = nullptr;
    std::int64_t o_cs = 0, o_ts = 1;
    bool out_zeroed = false;  ///< out already holds zeros (the event scatter then skips clearing it)
    Isa isa = Isa::generic;   ///< the variant of the direct, event and recursive kernels (FFTW picks its own)
};

/// Fraction of nonzero (or NaN) samples, measured on at most ~64k samples spread over the batch.
template <class T>
double sample_density(const ConvBatch<T>& b, std::int64_t n);

/// Each channel of `b` convolved with the k taps h (contiguous), written to b.out per `g`.
/// threads > 1 splits channels over an OpenMP team.
template <class T>
void conv_direct(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads);
/// Scatter of value·h for each nonzero (NaN counts as nonzero) input sample.
template <class T>
void conv_event(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads);
/// Through FFTW (r2c, pointwise product, c2r) of a size ≥ n + k − 1. NotBuiltError without FFTW.
template <class T>
void conv_fft(const ConvBatch<T>& b, const T* h, const ConvGeometry& g, int threads);
/// Exact recursive filter of the family truncated to g.k taps (pole-zero form: the tail beyond
/// g.k is cancelled by delayed input terms), time-major across blocks of channels.
template <class T>
void conv_iir(const ConvBatch<T>& b, const SpikeKernel& kernel, const ConvGeometry& g, int threads);

/// True when built with FFTW.
bool fft_available();

}  // namespace neuroperf::kernels
