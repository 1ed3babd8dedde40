// `neuroperf bench --suite elementwise`: vector_tanh / vector_exp on 10⁶ values
// (MKLConfig::precision_mode "high" and "ep"), against the scalar libm loop every C++ user
// starts from, and with --peers numpy (np.tanh / np.exp on the same values).
// Rows <fn>/<impl>/n=<n>/dtype=<float32|float64>/precision=<high|ep>:
//   neuroperf — MKLOptimizer::vector_tanh / vector_exp (a new result array per call),
//   libm      — for (i) y[i] = std::tanh(x[i]) (std::exp), one thread, into a preallocated y.
// Inputs: x_i = lo + (hi − lo)·frac(i·φ), φ the golden ratio's fraction, [−5, 5] for tanh and
// [−20, 20] for exp (bench/peers/numpy_elementwise.py computes the same values).
#include <cmath>
#include <memory>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "neuroperf/array.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "suites.hpp"

namespace neuroperf::cli {
namespace {

template <class T>
std::shared_ptr<Array<T>> inputs(index_t n, bool tanh) {
    auto x = std::make_shared<Array<T>>(std::initializer_list<index_t>{n});
    const double lo = tanh ? -5.0 : -20.0, hi = -lo, phi = 0.6180339887498949;
    for (index_t i = 0; i < n; ++i) {
        const double f = static_cast<double>(i) * phi;
        x->data()[i] = static_cast<T>(lo + (hi - lo) * (f - std::floor(f)));
    }
    return x;
}

template <class T>
void add_rows(Suite& s, const Context& ctx, index_t n, bool tanh, const char* precision) {
    const char* fn = tanh ? "tanh" : "exp";
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    const auto params = fmt::format("n={}/dtype={}/precision={}", n, dtype, precision);
    MKLConfig cfg;
    cfg.num_threads = 1;
    cfg.precision_mode = precision;
    auto opt = std::make_shared<MKLOptimizer>(cfg, ctx);
    s.cases.push_back({fmt::format("{}/neuroperf/{}", fn, params), 0, fmt::format("vector_{}, kernels {}", fn, isa_name(ctx.isa())),
                       [opt, n, tanh] {
                           auto x = inputs<T>(n, tanh);
                           return std::function<void()>([opt, x, tanh] {
                               auto y = tanh ? opt->vector_tanh<T>(x->view()) : opt->vector_exp<T>(x->view());
                               benchmark::DoNotOptimize(y.data());
                           });
                       }});
    if (std::string(precision) != "high") return;  // one libm row per function and type
    s.cases.push_back({fmt::format("{}/libm/{}", fn, params), 0, "scalar std::tanh / std::exp loop",
                       [n, tanh] {
                           auto x = inputs<T>(n, tanh);
                           auto y = std::make_shared<Array<T>>(std::initializer_list<index_t>{n});
                           return std::function<void()>([x, y, n, tanh] {
                               const T* in = x->data();
                               T* out = y->data();
                               if (tanh)
                                   for (index_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
                               else
                                   for (index_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
                               benchmark::DoNotOptimize(out);
                           });
                       }});
}

}  // namespace

Suite make_elementwise_suite(bool quick, int /*threads*/, const Context& ctx) {
    Suite s;
    s.min_time = quick ? 0.05 : 0.3;
    s.repetitions = quick ? 1 : 5;
    const index_t n = quick ? 100000 : 1000000;
    for (bool tanh : {true, false}) {
        add_rows<double>(s, ctx, n, tanh, "high");
        add_rows<float>(s, ctx, n, tanh, "high");
        if (!quick) add_rows<double>(s, ctx, n, tanh, "ep");
    }
    s.peers.push_back({"numpy_elementwise.py", {"--sizes", std::to_string(n), "--min-time", fmt::format("{}", s.min_time)}});
    return s;
}

}  // namespace neuroperf::cli
