// ReservoirReasoningCore: an echo state network with a linear readout, the concrete reasoning
// core of examples and benchmarks. Weights follow the counter-hash recipe of
// apps/neuroperf/suite_reservoir.cpp (k entries per row, one per column stripe).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "api/optimizer.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "neuroperf/parallel_processor.hpp"

namespace neuroperf {
namespace {

double sym(std::uint64_t seed, std::uint64_t stream, std::uint64_t i) {
    return hash_to_symmetric(splitmix64(seed ^ (stream << 48) ^ i));
}

}  // namespace

ReservoirReasoningCore::ReservoirReasoningCore(std::string name, const ReservoirCoreSpec& spec, Context context)
    : name_(std::move(name)), spec_(spec), context_(std::move(context)) {
    auto positive = [](const char* field, index_t v) {
        if (v < 1) throw ValueError(fmt::format("ReservoirCoreSpec.{}: expected >= 1, got {}", field, v));
    };
    positive("reservoir_size", spec.reservoir_size);
    positive("input_dim", spec.input_dim);
    positive("output_dim", spec.output_dim);
    if (!(spec.density > 0 && spec.density <= 1))
        throw ValueError(fmt::format("ReservoirCoreSpec.density: expected a value in (0, 1], got {}", spec.density));
    if (!(spec.leak_rate > 0 && spec.leak_rate <= 1))
        throw ValueError(fmt::format("ReservoirCoreSpec.leak_rate: expected a value in (0, 1], got {}", spec.leak_rate));
    if (!std::isfinite(spec.spectral_scale) || spec.spectral_scale < 0)
        throw ValueError(fmt::format("ReservoirCoreSpec.spectral_scale: expected a finite value >= 0, got {}", spec.spectral_scale));
    index_t n = spec.reservoir_size, d = spec.input_dim, o = spec.output_dim;
    index_t k = std::clamp<index_t>(std::llround(spec.density * static_cast<double>(n)), 1, n), stripe = n / k;
    std::vector<std::int64_t> row_ptr(static_cast<std::size_t>(n) + 1);
    std::vector<std::int32_t> col(static_cast<std::size_t>(n * k));
    std::vector<float> val(static_cast<std::size_t>(n * k));
    // Entries of a row ~ U(-1, 1)/sqrt(k)·scale: each row's sum of squares ≈ scale²/3, so the
    // spectral radius is about scale/sqrt(3) (circular law), safely below 1 for scale ≤ 1.
    double scale = spec.spectral_scale / std::sqrt(static_cast<double>(k));
    for (index_t i = 0; i < n; ++i) {
        row_ptr[static_cast<std::size_t>(i) + 1] = (i + 1) * k;
        for (index_t j = 0; j < k; ++j) {
            auto e = static_cast<std::uint64_t>(i * k + j);
            std::uint64_t off = splitmix64(spec.seed ^ (std::uint64_t{1} << 48) ^ e) % static_cast<std::uint64_t>(stripe);
            col[e] = static_cast<std::int32_t>(j * stripe + static_cast<index_t>(off));
            val[e] = static_cast<float>(sym(spec.seed, 2, e) * scale);
        }
    }
    w_ = CsrMatrix<float>(n, n, std::move(row_ptr), std::move(col), std::move(val));
    w_in_ = Array<float>({n, d});
    for (index_t i = 0; i < n * d; ++i) w_in_.data()[i] = static_cast<float>(sym(spec.seed, 3, static_cast<std::uint64_t>(i)) * 0.5);
    w_out_ = Array<float>({o, n});
    double rs = 1.0 / std::sqrt(static_cast<double>(n));
    for (index_t i = 0; i < o * n; ++i) w_out_.data()[i] = static_cast<float>(sym(spec.seed, 5, static_cast<std::uint64_t>(i)) * rs);
}

void ReservoirReasoningCore::set_readout(Array<float> w_out) {
    if (w_out.rank() != 2 || w_out.shape(0) != spec_.output_dim || w_out.shape(1) != spec_.reservoir_size)
        throw ShapeError(fmt::format("w_out: expected shape ({}, {}) (O × N), got {}", spec_.output_dim, spec_.reservoir_size,
                                     w_out.layout().shape_string()));
    w_out_ = std::move(w_out);
}

namespace {
ArrayView<const float> as_sequence(ArrayView<const float> input, index_t d, const std::string& name) {
    if (input.rank() == 1) {
        if (input.shape(0) != d)
            throw ShapeError(fmt::format("{}: input: expected shape ({},) or (T, {}), got {}", name, d, d, input.layout().shape_string()));
        index_t shape[2] = {1, d};
        index_t strides[2] = {d * input.stride(0), input.stride(0)};
        return {input.data(), shape, strides};
    }
    if (input.rank() != 2 || input.shape(1) != d)
        throw ShapeError(fmt::format("{}: input: expected shape ({},) or (T, {}), got {}", name, d, d, input.layout().shape_string()));
    return input;
}
}  // namespace

Array<float> ReservoirReasoningCore::process(ArrayView<const float> input) const {
    auto u = as_sequence(input, spec_.input_dim, name_);
    auto opt = api::single_thread_optimizer(context_);
    Array<float> x0({spec_.reservoir_size});
    ReservoirOptions<float> ro;
    ro.leak_rate = spec_.leak_rate;
    Array<float> states = opt.run_reservoir<float>(x0.view(), w_in_.view(), w_, u, ro);
    if (states.shape(0) == 0) return Array<float>({0, spec_.output_dim});
    return opt.optimize_matrix_multiply<float>(states.view(), w_out_.view(), false, true);
}

double ReservoirReasoningCore::estimate_cost(ArrayView<const float> input) const {
    double steps = input.rank() == 2 ? static_cast<double>(input.shape(0)) : 1.0;
    double n = static_cast<double>(spec_.reservoir_size);
    return steps * (static_cast<double>(w_.nnz()) + n * static_cast<double>(spec_.input_dim + spec_.output_dim));
}

}  // namespace neuroperf
