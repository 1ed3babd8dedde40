// neuroperf simulate: runs the Vogels-Abbott CUBA or COBA network (Network + add_vogels_abbott),
// prints a summary, writes <out>/spikes.npz (times_ms float64, ids int32, rate_hz float64 per
// step), <out>/summary.json and <out>/raster.png (bench/snn_plot.py, the project's python).
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/network.hpp"
#include "neuroperf/progress.hpp"

namespace neuroperf::cli {
namespace {

/// "1s", "250ms", "0.1ms", "2" (seconds for durations when `default_unit` is "s") → ms.
double parse_time_ms(const std::string& text, const char* what, const char* default_unit) {
    std::size_t pos = 0;
    double x = 0;
    try {
        x = std::stod(text, &pos);
    } catch (const std::exception&) {
        throw ValueError(fmt::format("{}: expected a time like 1s, 250ms or 0.1ms, got '{}'", what, text));
    }
    std::string unit = text.substr(pos);
    if (unit.empty()) unit = default_unit;
    if (unit == "s") return x * 1e3;
    if (unit == "ms") return x;
    if (unit == "us") return x * 1e-3;
    throw ValueError(fmt::format("{}: expected a unit s, ms or us, got '{}' in '{}'", what, unit, text));
}

// --- a minimal .npz: an uncompressed ("stored") zip of .npy version 1.0 files -----------------

std::uint32_t crc32(const std::string& data) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

template <class T>
std::string npy(const std::vector<T>& x, const char* descr) {
    std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", descr, x.size());
    std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    auto hl = static_cast<std::uint16_t>(header.size());
    out += static_cast<char>(hl & 0xFF);
    out += static_cast<char>(hl >> 8);
    out += header;
    out.append(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(T));  // little-endian host
    return out;
}

void put16(std::string& s, std::uint32_t v) {
    s += static_cast<char>(v & 0xFF);
    s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, std::uint32_t v) {
    put16(s, v & 0xFFFF);
    put16(s, v >> 16);
}

std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& files) {
    std::string out, central;
    for (const auto& [name, data] : files) {
        if (data.size() >= 0xFFFFFFFFu) throw ValueError(fmt::format("spikes.npz: member {} exceeds 4 GiB (no zip64)", name));
        const auto offset = static_cast<std::uint32_t>(out.size());
        const std::uint32_t crc = crc32(data), size = static_cast<std::uint32_t>(data.size());
        auto common = [&](std::string& s) {
            put16(s, 20);  // version needed
            put16(s, 0);   // flags
            put16(s, 0);   // stored
            put16(s, 0);   // time
            put16(s, 0x21);  // date 1980-01-01
            put32(s, crc);
            put32(s, size);
            put32(s, size);
            put16(s, static_cast<std::uint32_t>(name.size()));
            put16(s, 0);  // extra
        };
        put32(out, 0x04034b50);
        common(out);
        out += name;
        out += data;
        put32(central, 0x02014b50);
        put16(central, 20);  // version made by
        common(central);
        put16(central, 0);  // comment
        put16(central, 0);  // disk
        put16(central, 0);  // internal attributes
        put32(central, 0);  // external attributes
        put32(central, offset);
        central += name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<std::uint32_t>(files.size()));
    put16(out, static_cast<std::uint32_t>(files.size()));
    put32(out, static_cast<std::uint32_t>(central.size()));
    put32(out, cd_offset);
    put16(out, 0);
    return out;
}

}  // namespace

int run_simulate(const SimulateOptions& o) {
    NetworkOptions no;
    no.dt = parse_time_ms(o.dt, "--dt", "ms");
    no.seed = o.seed;
    no.num_threads = o.threads;
    no.use_jit = !o.no_jit;
    const double duration = parse_time_ms(o.duration, "--duration", "s");
    if (o.neurons < 5) throw ValueError(fmt::format("--neurons: expected ≥ 5, got {}", o.neurons));
    const double p = o.probability > 0 ? o.probability : 0.02 * 4000.0 / static_cast<double>(std::max<long>(o.neurons, 4000));
    ProgressReporter progress("simulate", ProgressReporter::Mode::automatic, STDOUT_FILENO);
    no.progress = [&progress](double f) { progress.update(f); };
    Network net(no);
    PopulationId pop = add_vogels_abbott(net, o.model, o.neurons, p, true);
    int rate_mon = net.add_rate_monitor(pop);
    MemoryEstimate mem = net.memory_estimate(duration);
    std::printf("%s network: %ld neurons, p = %g, dt = %g ms, %g ms, memory estimate %.1f MB\n", o.model.c_str(),
                o.neurons, p, no.dt, duration, static_cast<double>(mem.total()) / 1e6);
    SimulationResult r = net.run(duration);
    progress.finish();
    const SimulationSummary& s = r.summary;
    print_fields(s);
    if (r.spikes[0].dropped > 0) std::printf("warning: %ld spikes past the monitor's capacity were not recorded\n", static_cast<long>(r.spikes[0].dropped));

    if (o.out_dir.empty()) return 0;
    std::filesystem::path out = o.out_dir;
    ensure_directory(out);
    write_file_atomic(out / "spikes.npz", zip_stored({{"times_ms.npy", npy(r.spikes[0].times_ms, "<f8")},
                                                      {"ids.npy", npy(r.spikes[0].ids, "<i4")},
                                                      {"rate_hz.npy", npy(r.rates[static_cast<std::size_t>(rate_mon)].rate_hz, "<f8")}}));
    // The summary's fields (its field list), and the run's parameters.
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(to_json(s));
    j.update({{"model", o.model}, {"connection_probability", p}, {"dt_ms", no.dt}, {"seed", o.seed},
              {"spikes_dropped", r.spikes[0].dropped}});
    write_file_atomic(out / "summary.json", j.dump(2) + "\n");
    std::printf("wrote %s and %s\n", (out / "spikes.npz").c_str(), (out / "summary.json").c_str());
    if (o.plot) {
        int rc = run_script({python_executable(), (bench_scripts_dir() / "snn_plot.py").string(), out.string()});
        if (rc != 0) std::fprintf(stderr, "neuroperf: warning: the plot script failed (exit %d); results are written\n", rc);
        else std::printf("wrote %s\n", (out / "raster.png").c_str());
    }
    return 0;
}

}  // namespace neuroperf::cli
