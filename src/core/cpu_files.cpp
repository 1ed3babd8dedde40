// The CPU probe's readers of the kernel's text files (cpu_detail.hpp): cgroup v1/v2 quotas,
// affinity masks and OpenMP places, sysfs caches. Pure parsers and readers taking their paths.
#include "core/cpu_detail.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>

#if defined(__linux__)
#include <omp.h>
#include <sched.h>
#endif
#include <unistd.h>

namespace neuroperf::core {
namespace {

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
    s = trim(s);
    T value{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t pos = s.find(sep, start);
        parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return parts;
}

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> lines;
    for (std::string_view line : split(s, '\n'))
        if (!trim(line).empty()) lines.push_back(line);
    return lines;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view s) {
    const auto octal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
            out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// Effective limit of two quotas, 0 meaning unlimited.
double tighter(double a, double b) {
    if (a <= 0.0) return b;
    if (b <= 0.0) return a;
    return std::min(a, b);
}

// Smallest quota on the way from `dir` up to `top` (inclusive); `read_level` returns the quota of
// one directory (0 = none). Directories that do not exist are skipped, which also covers a
// hierarchy path that does not match the mount (container without a cgroup namespace).
template <class ReadLevel>
double walk_up(std::filesystem::path dir, const std::filesystem::path& top, ReadLevel read_level) {
    double limit = 0.0;
    for (int guard = 0; guard < 256; ++guard) {
        limit = tighter(limit, read_level(dir));
        if (dir == top || !dir.has_relative_path() || dir == dir.parent_path()) break;
        dir = dir.parent_path();
        if (dir.native().size() < top.native().size()) break;
    }
    return limit;
}

}  // namespace

std::string squeeze_spaces(std::string_view text) {
    text = trim(text);
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (is_space(c)) {
            if (!out.empty() && out.back() != ' ') out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(ss).str();
}

std::optional<double> parse_cpu_max(std::string_view text) {
    const std::vector<std::string_view> fields = [&] {
        std::vector<std::string_view> f;
        for (std::string_view p : split(trim(text), ' '))
            if (!p.empty()) f.push_back(p);
        return f;
    }();
    if (fields.empty() || fields.size() > 2) return std::nullopt;
    double period = 100000.0;  // the kernel's default when only the quota is written
    if (fields.size() == 2) {
        const auto p = parse_number<std::int64_t>(fields[1]);
        if (!p || *p <= 0) return std::nullopt;
        period = static_cast<double>(*p);
    }
    if (fields[0] == "max") return 0.0;
    const auto quota = parse_number<std::int64_t>(fields[0]);
    if (!quota || *quota <= 0) return std::nullopt;
    return static_cast<double>(*quota) / period;
}

std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period) {
    const auto q = parse_number<std::int64_t>(quota);
    const auto p = parse_number<std::int64_t>(period);
    if (!q || !p || *p <= 0) return std::nullopt;
    if (*q < 0) return 0.0;  // -1: no quota
    if (*q == 0) return std::nullopt;
    return static_cast<double>(*q) / static_cast<double>(*p);
}

int cpus_allowed(int affinity_cpus, double cgroup_limit) {
    int n = std::max(affinity_cpus, 1);
    if (cgroup_limit > 0.0 && std::isfinite(cgroup_limit)) {
        // Tolerate rounding: 2.0000000001 CPUs of quota is 2 CPUs.
        const double c = std::ceil(cgroup_limit - 1e-9);
        if (c < static_cast<double>(n)) n = static_cast<int>(c);
    }
    return std::max(n, 1);
}

int count_cpu_list(std::string_view list) {
    list = trim(list);
    if (list.empty()) return 0;
    long count = 0;
    for (std::string_view part : split(list, ',')) {
        part = trim(part);
        if (part.empty()) return 0;
        const std::size_t dash = part.find('-');
        if (dash == std::string_view::npos) {
            if (!parse_number<int>(part)) return 0;
            ++count;
        } else {
            const auto lo = parse_number<int>(part.substr(0, dash));
            const auto hi = parse_number<int>(part.substr(dash + 1));
            if (!lo || !hi || *hi < *lo) return 0;
            count += *hi - *lo + 1;
        }
    }
    return static_cast<int>(std::min<long>(count, 1 << 30));
}

std::int64_t parse_size_suffix(std::string_view text) {
    text = trim(text);
    if (text.empty()) return 0;
    std::int64_t scale = 1;
    switch (text.back()) {
        case 'K': case 'k': scale = std::int64_t{1} << 10; break;
        case 'M': case 'm': scale = std::int64_t{1} << 20; break;
        case 'G': case 'g': scale = std::int64_t{1} << 30; break;
        default: break;
    }
    if (scale != 1) text.remove_suffix(1);
    const auto v = parse_number<std::int64_t>(text);
    if (!v || *v < 0) return 0;
    return *v * scale;
}

CgroupMembership parse_proc_self_cgroup(std::string_view text) {
    CgroupMembership m;
    for (std::string_view line : split_lines(text)) {
        // hierarchy-ID:controller-list:path (the path may itself contain ':')
        const std::size_t c1 = line.find(':');
        if (c1 == std::string_view::npos) continue;
        const std::size_t c2 = line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) continue;
        const std::string_view id = line.substr(0, c1);
        const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
        const std::string path(trim(line.substr(c2 + 1)));
        if (id == "0" && controllers.empty()) {
            m.v2_path = path;
        } else {
            for (std::string_view c : split(controllers, ','))
                if (c == "cpu") m.v1_cpu_path = path;
        }
    }
    return m;
}

CgroupMounts parse_mountinfo(std::string_view text) {
    CgroupMounts mounts;
    for (std::string_view line : split_lines(text)) {
        std::vector<std::string_view> f;
        for (std::string_view p : split(trim(line), ' '))
            if (!p.empty()) f.push_back(p);
        // ID parent major:minor root mount-point options [optional...] - fstype source super-options
        const auto sep = std::find(f.begin(), f.end(), std::string_view("-"));
        if (f.size() < 5 || sep == f.end() || f.end() - sep < 2) continue;
        const std::string_view fstype = *(sep + 1);
        CgroupMount mount{unescape_octal(f[3]), unescape_octal(f[4])};
        if (fstype == "cgroup2") {
            if (!mounts.v2) mounts.v2 = std::move(mount);
        } else if (fstype == "cgroup" && f.end() - sep >= 4) {
            for (std::string_view opt : split(*(sep + 3), ','))
                if (opt == "cpu" && !mounts.v1_cpu) mounts.v1_cpu = mount;
        }
    }
    return mounts;
}

std::string cgroup_dir(const CgroupMount& mount, const std::string& path) {
    std::string rel;
    if (mount.root == "/") {
        rel = path;
    } else if (path.compare(0, mount.root.size(), mount.root) == 0 &&
               (path.size() == mount.root.size() || path[mount.root.size()] == '/')) {
        rel = path.substr(mount.root.size());
    }  // otherwise the mount is already this process's subtree: start at the mount point
    std::string dir = mount.mount_point;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (!rel.empty() && rel != "/") {
        if (rel.front() != '/') dir.push_back('/');
        dir += rel;
    }
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir;
}

double read_cgroup_cpu_limit(const std::string& proc_self_cgroup, const std::string& mountinfo) {
    const auto cg_text = read_text_file(proc_self_cgroup);
    if (!cg_text) return 0.0;
    const CgroupMembership member = parse_proc_self_cgroup(*cg_text);
    CgroupMounts mounts = parse_mountinfo(read_text_file(mountinfo).value_or(""));
    if (!mounts.v2) mounts.v2 = CgroupMount{"/", "/sys/fs/cgroup"};
    if (!mounts.v1_cpu) {
        for (const char* p : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
            std::error_code ec;
            if (std::filesystem::is_directory(p, ec)) {
                mounts.v1_cpu = CgroupMount{"/", p};
                break;
            }
        }
    }

    double limit = 0.0;
    if (member.v2_path && mounts.v2) {
        const std::filesystem::path top = cgroup_dir(*mounts.v2, "/");
        limit = tighter(limit, walk_up(cgroup_dir(*mounts.v2, *member.v2_path), top,
                                       [](const std::filesystem::path& dir) {
                                           const auto t = read_text_file((dir / "cpu.max").string());
                                           return t ? parse_cpu_max(*t).value_or(0.0) : 0.0;
                                       }));
    }
    if (member.v1_cpu_path && mounts.v1_cpu) {
        const std::filesystem::path top = cgroup_dir(*mounts.v1_cpu, "/");
        limit = tighter(limit, walk_up(cgroup_dir(*mounts.v1_cpu, *member.v1_cpu_path), top,
                                       [](const std::filesystem::path& dir) {
                                           const auto q = read_text_file((dir / "cpu.cfs_quota_us").string());
                                           const auto p = read_text_file((dir / "cpu.cfs_period_us").string());
                                           return q && p ? parse_cfs_quota(*q, *p).value_or(0.0) : 0.0;
                                       }));
    }
    return limit;
}

int read_affinity_cpus() {
#if defined(__linux__)
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    int ncpus = static_cast<int>(std::max<long>(conf, 1024));
    // The kernel's mask may be larger than the configured count: grow until it fits.
    for (int attempt = 0; attempt < 8; ++attempt, ncpus *= 2) {
        cpu_set_t* set = CPU_ALLOC(ncpus);
        if (set == nullptr) return 0;
        const std::size_t bytes = CPU_ALLOC_SIZE(ncpus);
        CPU_ZERO_S(bytes, set);
        if (sched_getaffinity(0, bytes, set) == 0) {
            const int n = CPU_COUNT_S(bytes, set);
            CPU_FREE(set);
            return n;
        }
        const int err = errno;
        CPU_FREE(set);
        if (err != EINVAL) return 0;
    }
    return 0;
#else
    return 0;
#endif
}

int process_affinity_cpus() {
    int places_cpus = 0;
    for (int p = 0, n = omp_get_num_places(); p < n; ++p) places_cpus += omp_get_place_num_procs(p);
    return places_cpus > 0 ? places_cpus : read_affinity_cpus();
}

std::vector<CacheLevel> read_sysfs_caches(const std::string& cache_dir) {
    std::vector<CacheLevel> caches;
    for (int index = 0; index < 64; ++index) {
        const std::string dir = cache_dir + "/index" + std::to_string(index);
        const auto level_text = read_text_file(dir + "/level");
        if (!level_text) {
            std::error_code ec;
            if (std::filesystem::exists(dir, ec)) continue;
            break;
        }
        CacheLevel c;
        c.level = parse_number<int>(*level_text).value_or(0);
        c.type = std::string(trim(read_text_file(dir + "/type").value_or("")));
        if (c.level <= 0 || (c.type != "Data" && c.type != "Unified")) continue;
        c.size_bytes = parse_size_suffix(read_text_file(dir + "/size").value_or(""));
        c.line_bytes = parse_number<int>(read_text_file(dir + "/coherency_line_size").value_or("")).value_or(0);
        c.shared_by_cpus = count_cpu_list(read_text_file(dir + "/shared_cpu_list").value_or(""));
        caches.push_back(std::move(c));
    }
    std::stable_sort(caches.begin(), caches.end(), [](const CacheLevel& a, const CacheLevel& b) {
        return std::tuple(a.level, a.type != "Data") < std::tuple(b.level, b.type != "Data");
    });
    return caches;
}

}  // namespace neuroperf::core
