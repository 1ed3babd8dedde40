// The calibrated cost models (api/cost_models.hpp): defaults without calibration, measured rates
// positive and bounded, cached per key in <cache_dir>/cost-models.json and read back unchanged by
// another context, a corrupt cache replaced; the pure choices follow the model they are given.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "api/cost_models.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/mkl_optimizer.hpp"
#include "test_support.hpp"

using namespace neuroperf;
using neuroperf::test_support::TempDir;

namespace {

Context context_in(const std::filesystem::path& dir, bool calibrate) {
    ContextOptions o;
    o.calibrate = calibrate;
    o.cache_dir = dir;
    o.log = [](std::string_view) {};
    return make_context(std::move(o));
}

MKLOptimizer optimizer_on(const Context& ctx) {
    MKLConfig cfg;
    cfg.num_threads = 1;
    return MKLOptimizer(cfg, ctx);
}

bool same(const kernels::ConvCostModel& a, const kernels::ConvCostModel& b) {
    return a.mac == b.mac && a.scan == b.scan && a.spike == b.spike && a.fft == b.fft && a.fft_point == b.fft_point &&
           a.iir_exp == b.iir_exp && a.iir_alpha == b.iir_alpha && a.channel == b.channel;
}
bool same(const kernels::BatchCostModel& a, const kernels::BatchCostModel& b) {
    return a.gemm_flops == b.gemm_flops && a.gemm_bytes == b.gemm_bytes && a.event_bytes == b.event_bytes &&
           a.event_adds == b.event_adds && a.gemm_call_seconds == b.gemm_call_seconds &&
           a.event_call_seconds == b.event_call_seconds;
}

void expect_within_bounds(double v, double def) {
    EXPECT_TRUE(std::isfinite(v) && v > 0) << v;
    EXPECT_GE(v, def / 20 * (1 - 1e-12));
    EXPECT_LE(v, def * 20 * (1 + 1e-12));
}

}  // namespace

TEST(CostModels, WithoutCalibrationTheDefaults) {
    TempDir dir;
    const auto opt = optimizer_on(context_in(dir.path(), false));
    EXPECT_TRUE(same(api::conv_cost_model(opt, false), kernels::default_conv_cost_model(false)));
    EXPECT_TRUE(same(api::conv_cost_model(opt, true), kernels::default_conv_cost_model(true)));
    EXPECT_TRUE(same(api::batch_cost_model(opt, DType::float32, 1), kernels::default_batch_cost_model(DType::float32, 1)));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "cost-models.json"));  // no file access
}

TEST(CostModels, ConvCalibratedCachedAndReadBack) {
    TempDir dir;
    kernels::ConvCostModel first;
    {
        const auto opt = optimizer_on(context_in(dir.path(), true));
        first = api::conv_cost_model(opt, false);
        EXPECT_TRUE(same(api::conv_cost_model(opt, false), first));  // the context's copy
    }
    const auto def = kernels::default_conv_cost_model(false);
    for (auto [v, d] : {std::pair{first.mac, def.mac}, {first.scan, def.scan}, {first.spike, def.spike},
                        {first.fft, def.fft}, {first.fft_point, def.fft_point}, {first.iir_exp, def.iir_exp},
                        {first.iir_alpha, def.iir_alpha}, {first.channel, def.channel}})
        expect_within_bounds(v, d);
    const auto file = dir.path() / "cost-models.json";
    ASSERT_TRUE(std::filesystem::exists(file));
    auto j = nlohmann::json::parse(*read_file(file));
    ASSERT_EQ(j["entries"].size(), 1u);
    const std::string key = j["entries"].begin().key();
    EXPECT_NE(key.find("conv|float32"), std::string::npos) << key;
    EXPECT_NE(key.find("isa="), std::string::npos) << key;
    // Another context reads the file instead of measuring: the same rates, bit for bit; a
    // doctored entry proves it was read.
    j["entries"][key]["mac"] = 0.123;
    write_file_atomic(file, j.dump());
    const auto opt2 = optimizer_on(context_in(dir.path(), true));
    auto again = first;
    again.mac = 0.123;
    EXPECT_TRUE(same(api::conv_cost_model(opt2, false), again));
}

TEST(CostModels, CorruptCacheIsMeasuredAgainAndReplaced) {
    TempDir dir;
    const auto file = dir.path() / "cost-models.json";
    std::ofstream(file) << "{ not json";
    const auto opt = optimizer_on(context_in(dir.path(), true));
    const auto m = api::conv_cost_model(opt, true);
    expect_within_bounds(m.mac, kernels::default_conv_cost_model(true).mac);
    auto j = nlohmann::json::parse(*read_file(file));
    EXPECT_EQ(j["entries"].size(), 1u);
}

TEST(CostModels, BatchCalibratedWithinBounds) {
    TempDir dir;
    const auto opt = optimizer_on(context_in(dir.path(), true));
    const auto m = api::batch_cost_model(opt, DType::float32, 1);
    const auto def = kernels::default_batch_cost_model(DType::float32, 1);
    expect_within_bounds(m.gemm_flops, def.gemm_flops);
    expect_within_bounds(m.gemm_bytes, def.gemm_bytes);
    expect_within_bounds(m.event_bytes, def.event_bytes);
    expect_within_bounds(m.event_adds, def.event_adds);
    auto j = nlohmann::json::parse(*read_file(dir.path() / "cost-models.json"));
    const std::string key = j["entries"].begin().key();
    EXPECT_NE(key.find("batch|float32"), std::string::npos) << key;
    EXPECT_NE(key.find("threads=1"), std::string::npos) << key;
}

TEST(CostModels, ChoicesFollowTheModel) {
    // The same problem goes to whichever path the given rates favour.
    auto m = kernels::default_batch_cost_model(DType::float32, 1);
    const index_t B = 64, N = 4000, M = 4000, nnz = B * N / 5;
    auto fast_events = m, slow_events = m;
    fast_events.event_adds *= 1000, fast_events.event_bytes *= 1000;
    slow_events.event_adds /= 1000, slow_events.event_bytes /= 1000;
    EXPECT_EQ(kernels::choose_batch_path(B, N, M, nnz, DType::float32, fast_events), kernels::BatchPath::event);
    EXPECT_EQ(kernels::choose_batch_path(B, N, M, nnz, DType::float32, slow_events), kernels::BatchPath::gemm);

    kernels::ConvProblem p;
    p.n = 100000, p.k = 64, p.channels = 4, p.density = 1.0, p.is_double = false, p.fft_available = kernels::fft_available();
    auto c = kernels::default_conv_cost_model(false);
    auto cheap_macs = c;
    cheap_macs.mac /= 1000;
    p.model = &cheap_macs;
    EXPECT_EQ(kernels::choose_conv_algorithm(p), kernels::ConvAlgorithm::direct);
    if (p.fft_available) {
        auto cheap_fft = c;
        cheap_fft.mac *= 20, cheap_fft.fft /= 20, cheap_fft.fft_point /= 20;
        p.model = &cheap_fft;
        EXPECT_EQ(kernels::choose_conv_algorithm(p), kernels::ConvAlgorithm::fft);
    }
}
