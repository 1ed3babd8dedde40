// The compiler the JIT runs: found once per registry ($NEUROPERF_CXX, clang++, g++), identified
// for the cache keys by its path, size, mtime and --version output (kept in the cache so a warm
// process does not run it), and the flags every kernel is compiled with.
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/hash.hpp"
#include "jit/cache_files.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/subprocess.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::jit {

namespace fs = std::filesystem;
using core::hash_hex;
using core::Hasher;

namespace {
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
}  // namespace

Toolchain find_toolchain(const fs::path& version_cache_dir) {
    Toolchain tc;
    fs::path exe;
    const char* env = std::getenv("NEUROPERF_CXX");
    if (env && *env) {
        exe = find_program(env);
        if (exe.empty()) {
            tc.why_not = fmt::format("NEUROPERF_CXX={} is not an executable file (nor found on PATH)", env);
            return tc;
        }
    } else {
        for (const char* name : {"clang++", "g++", "c++"}) {
            exe = find_program(name);
            if (!exe.empty()) break;
        }
        if (exe.empty()) {
            tc.why_not = "no C++ compiler (clang++, g++, c++) on PATH; set NEUROPERF_CXX";
            return tc;
        }
    }
    std::error_code ec;
    fs::path real = fs::canonical(exe, ec);
    if (ec) real = exe;
    struct stat st{};
    if (::stat(real.c_str(), &st) != 0) {
        tc.why_not = fmt::format("{}: {}", real.string(), std::strerror(errno));
        return tc;
    }
    // --version costs a process start (~10-30 ms); its output is kept per compiler binary.
    std::string stamp = fmt::format("{}|{}|{}|{}", exe.string(), real.string(), st.st_size,
                                    static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
    fs::path cached = version_cache_dir.empty() ? fs::path() : version_cache_dir / ("compiler-" + hash_hex(stamp) + ".txt");
    std::string version;
    if (!cached.empty()) {
        struct stat cst{};
        std::string why;
        if (trusted_file(cached, cst, why))
            if (auto text = read_file(cached)) version = *text;
    }
    if (version.empty()) {
        fs::path dir = version_cache_dir.empty() || !trusted_dir(version_cache_dir) ? fs::temp_directory_path() : version_cache_dir;
        fs::path out = temp_file(dir, "compiler-version");
        auto r = run_process({exe.string(), "--version"}, {.stdout_file = out, .append = true, .stderr_to_stdout = true});
        version = read_file(out).value_or("");
        ::unlink(out.c_str());
        if (!r.started || r.exit_code != 0 || version.empty()) {
            tc.why_not = fmt::format("{} --version failed ({})", exe.string(),
                                     r.started ? fmt::format("exit status {}", r.exit_code) : r.error);
            return tc;
        }
        if (!cached.empty() && dir == version_cache_dir) {
            try {
                write_file_atomic(cached, version);
            } catch (const Error&) {
                // A cache we cannot write only costs the next process a --version run.
            }
        }
    }
    tc.path = exe;
    tc.version_line = first_line(version);
    tc.identity = stamp + "|" + version;
    tc.clang = version.find("clang") != std::string::npos;
    return tc;
}

std::vector<std::string> compile_flags(const Toolchain& tc, bool fastmath, bool parallel, Isa isa) {
    // -fno-trapping-math: GCC otherwise refuses to if-convert (hence vectorise) loops with
    // float comparisons (the LIF threshold); it changes no result, only what may be
    // speculated, and is clang's default. -pipe: GCC hands cc1plus's output to `as` through
    // a pipe instead of a temporary file. The instruction set: the machine's own at the widest
    // variant, else the variant's psABI level (the context chose a narrower one), tuned for
    // this machine either way.
    std::vector<std::string> f{"-O3", "-fPIC", "-shared", "-nostdlib", "-fno-exceptions", "-fno-rtti",
                               "-fvisibility=hidden", "-fopenmp-simd", "-fno-trapping-math", "-w"};
    if (isa == best_isa()) {
        f.insert(f.begin() + 1, "-march=native");
    } else {
        f.insert(f.begin() + 1, isa == Isa::avx512 ? "-march=x86-64-v4" : isa == Isa::avx2 ? "-march=x86-64-v3" : "-march=x86-64");
        f.insert(f.begin() + 2, "-mtune=native");
    }
    if (!tc.clang) f.push_back("-pipe");
    if (fastmath) f.push_back("-ffast-math");
    else f.push_back("-ffp-contract=off");  // as the AOT kernels: no FMA contraction, same rounding
    if (parallel) f.push_back(tc.clang ? "-fopenmp=libgomp" : "-fopenmp");  // the process's one runtime
    return f;
}

std::string cpu_identity() {
    const auto& ci = cpu_info();
    std::string s = fmt::format("{}|{}|{}|{}|{}", ci.vendor, ci.model_name, ci.family, ci.model, ci.stepping);
    for (const auto& n : ci.isa.names()) s += "|" + n;
    return s;
}

std::string cache_key(const std::string& body, const Toolchain& tc, const std::vector<std::string>& flags,
                      const std::string& cpu) {
    Hasher h;
    h.add(body).add(tc.identity).add(cpu).add(version()).add(std::to_string(kAbiVersion));
    for (const auto& f : flags) h.add(f);
    return h.hex();
}

}  // namespace neuroperf::jit
