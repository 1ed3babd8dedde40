// The core layer's helpers: the spawn helper, the progress reporter, the statistics, field
// lists (to_json, the member count check) and the typed hasher.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/hash.hpp"
#include "neuroperf/hash_random.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/fields.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/kernel_specs.hpp"
#include "neuroperf/network.hpp"
#include "neuroperf/parallel_report.hpp"
#include "neuroperf/progress.hpp"
#include "neuroperf/stats.hpp"
#include "neuroperf/subprocess.hpp"
#include "test_support.hpp"

namespace neuroperf {
namespace {

using test_support::TempDir;

// --- subprocess ----------------------------------------------------------------------------------

TEST(Subprocess, ExitStatusOutputAndEnvironment) {
    TempDir dir;
    const auto sh = find_program("sh");
    ASSERT_FALSE(sh.empty());
    auto r = run_process({sh.string(), "-c", "exit 3"});
    EXPECT_TRUE(r.started);
    EXPECT_EQ(r.exit_code, 3);

    const auto out = dir.path() / "out.txt";
    r = run_process({sh.string(), "-c", "echo one; echo two >&2"}, {.stdout_file = out, .stderr_to_stdout = true});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(read_file(out).value_or(""), "one\ntwo\n");
    r = run_process({sh.string(), "-c", "echo three"}, {.stdout_file = out, .append = true});
    EXPECT_EQ(read_file(out).value_or(""), "one\ntwo\nthree\n");

    r = run_process({sh.string(), "-c", "echo \"$NEUROPERF_PROBE\""},
                    {.stdout_file = out, .environment = {"NEUROPERF_PROBE=from the options"}});
    EXPECT_EQ(read_file(out).value_or(""), "from the options\n");

    r = run_process({"sh", "-c", "exit 0"}, {.search_path = true});
    EXPECT_TRUE(r.started);
    EXPECT_EQ(r.exit_code, 0);
}

TEST(Subprocess, FailuresAreReportedNotThrown) {
    auto r = run_process({"/nonexistent/neuroperf-probe"});
    EXPECT_FALSE(r.started);
    EXPECT_FALSE(r.error.empty());
    r = run_process({});
    EXPECT_FALSE(r.started);
    EXPECT_NE(r.error.find("argv"), std::string::npos);
    EXPECT_THROW(start_process({"/nonexistent/neuroperf-probe"}), Error);
    auto sh = find_program("sh");
    r = run_process({sh.string(), "-c", "kill -9 $$"});
    EXPECT_TRUE(r.started);
    EXPECT_EQ(r.exit_code, 128 + 9);
    EXPECT_TRUE(find_program("neuroperf-no-such-program").empty());
    EXPECT_EQ(describe_wait_status(3 << 8), "exited with status 3");
}

// --- progress ------------------------------------------------------------------------------------

std::string report_to_file(ProgressReporter::Mode mode, const std::vector<std::pair<double, std::string>>& updates) {
    TempDir dir;
    const auto path = dir.path() / "progress.txt";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    {
        ProgressReporter p("run", mode, fd);
        for (const auto& [f, detail] : updates) p.update(f, detail);
    }
    ::close(fd);
    return read_file(path).value_or("");
}

TEST(Progress, LinesEveryTenPercentOrEveryDetail) {
    std::vector<std::pair<double, std::string>> steps;
    for (int i = 1; i <= 100; ++i) steps.push_back({i / 100.0, ""});
    const std::string lines = report_to_file(ProgressReporter::Mode::lines, steps);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 10);
    EXPECT_NE(lines.find("run  progress: 10%\n"), std::string::npos);
    EXPECT_NE(lines.find("run  progress: 100%\n"), std::string::npos);
    EXPECT_EQ(report_to_file(ProgressReporter::Mode::lines, {{0.5, "a"}, {0.5, "a"}, {1.0, "b"}}), "run  a\nrun  b\n");
}

TEST(Progress, QuietAndTerminalOnlyWriteNothingToAFile) {
    EXPECT_EQ(report_to_file(ProgressReporter::Mode::quiet, {{0.5, "x"}, {1.0, ""}}), "");
    EXPECT_EQ(report_to_file(ProgressReporter::Mode::terminal_only, {{0.5, "x"}, {1.0, ""}}), "");
}

TEST(Progress, BarRedrawsInPlaceAndEndsTheLine) {
    const std::string bar = report_to_file(ProgressReporter::Mode::bar, {{0.0, ""}, {1.0, "done"}});
    EXPECT_EQ(bar.front(), '\r');
    EXPECT_NE(bar.find("100%  done"), std::string::npos);
    EXPECT_EQ(bar.back(), '\n');
    EXPECT_EQ(report_to_file(ProgressReporter::Mode::bar, {{std::nan(""), ""}}).find("nan"), std::string::npos);
}

// --- statistics ------------------------------------------------------------------------------------

TEST(Stats, MedianAndQuantiles) {
    EXPECT_EQ(median(std::vector<double>{}), 0.0);
    EXPECT_EQ(median(std::vector<double>{5}), 5.0);
    EXPECT_EQ(median(std::vector<double>{3, 1}), 2.0);
    EXPECT_EQ(median(std::vector<double>{3, 1, 2}), 2.0);
    EXPECT_EQ(median(std::vector<double>{4, 1, 3, 2}), 2.5);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(median(std::vector<double>{nan, 1, 2}), 2.0);  // NaN sorts last
    EXPECT_EQ(quantile(std::vector<double>{1, 2, 3, 4, 5}, 0.25), 2.0);
    EXPECT_EQ(quantile(std::vector<double>{1, 2}, 1.0), 2.0);
    EXPECT_THROW(quantile(std::vector<double>{1}, 1.5), ValueError);
    EXPECT_THROW(quantile(std::vector<double>{1}, nan), ValueError);
}

// --- field lists -------------------------------------------------------------------------------------

static_assert(field_count<SimulationSummary> == member_count<SimulationSummary>);
static_assert(member_count<TaskRecord> == 5);
static_assert(HasFields<ParallelStats> && !HasFields<int>);

TEST(Fields, ToJsonFollowsTheList) {
    SimulationSummary s;
    s.neurons = 7;
    s.cv_isi = std::numeric_limits<double>::quiet_NaN();
    s.memory.state = 11;
    auto j = nlohmann::json::parse(to_json(s));
    std::vector<std::string> names;
    for_each_field<SimulationSummary>([&](const auto& f) { names.push_back(f.name); });
    ASSERT_EQ(j.size(), names.size());
    for (const auto& n : names) EXPECT_TRUE(j.contains(n)) << n;
    EXPECT_EQ(j["neurons"], 7);
    EXPECT_TRUE(j["cv_isi"].is_null());  // JSON has no NaN
    EXPECT_EQ(j["memory"]["state"], 11);
    EXPECT_EQ(to_json(s, -1).find('\n'), std::string::npos);

    ParallelStats st;
    EXPECT_TRUE(nlohmann::json::parse(to_json(st))["last"].is_null());
    st.last = ParallelReport{};
    st.last->tasks.push_back({3, 1, 0.5, 2.0, true});
    auto js = nlohmann::json::parse(to_json(st));
    EXPECT_EQ(js["last"]["tasks"][0]["index"], 3);
    EXPECT_EQ(js["last"]["tasks"][0]["stolen"], true);

    StateMonitorData d;
    d.variables = {StateVariable::g_e};
    EXPECT_EQ(nlohmann::json::parse(to_json(d))["variables"][0], "g_e");  // enums by name
}

// --- typed hashing -------------------------------------------------------------------------------------

TEST(Hasher, TypedFieldsGiveDistinctKeys) {
    using core::Hasher;
    LifSpec a;
    LifSpec b = a;
    EXPECT_EQ(Hasher().add(a).hex(), Hasher().add(b).hex());
    b.tau_m = 20.000000000000004;  // one ulp
    EXPECT_NE(Hasher().add(a).hex(), Hasher().add(b).hex());
    b = a;
    b.synapse = SynapseModel::conductance;
    EXPECT_NE(Hasher().add(a).hex(), Hasher().add(b).hex());
    // Values of different types, and strings split differently, do not collide.
    EXPECT_NE(Hasher().add(std::int32_t{1}).hex(), Hasher().add(std::int64_t{1}).hex());
    EXPECT_NE(Hasher().add(0.0).hex(), Hasher().add(-0.0).hex());
    EXPECT_NE(Hasher().add("ab").add("c").hex(), Hasher().add("a").add("bc").hex());
    EXPECT_NE(Hasher().add(std::vector<float>{1, 2}).hex(), Hasher().add(std::vector<float>{1, 2, 0}).hex());
    EXPECT_EQ(Hasher().add("x").hex().size(), 32u);
}

}  // namespace
}  // namespace neuroperf

// The benchmark suites and the Python peer scripts draw their inputs from this generator; both
// sides are pinned to the published splitmix64 sequence (seed 0: first outputs below), so equal
// formulas give equal inputs (tests/python/test_bench_scripts.py checks the Python side).
TEST(HashRandom, SplitmixPublishedVector) {
    EXPECT_EQ(neuroperf::splitmix64(0), 0xE220A8397B1DCDAFULL);
    EXPECT_EQ(neuroperf::splitmix64(0x9E3779B97F4A7C15ULL), 0x6E789E6AA1B965F4ULL);
    EXPECT_EQ(neuroperf::hash_to_unit(~std::uint64_t{0}), 1.0 - 0x1.0p-53);
}
