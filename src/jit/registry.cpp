#include "jit/registry.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/subprocess.hpp"
#include "neuroperf/version.hpp"
#include "runtime/context_impl.hpp"

namespace neuroperf::jit {

JitModule::~JitModule() {
    if (handle_) ::dlclose(handle_);
}

void* JitModule::symbol(const char* name) const { return ::dlsym(handle_, name); }

namespace {

using core::hash_hex;
using core::Hasher;

namespace fs = std::filesystem;

constexpr const char* kRecordMagic = "neuroperf-jit-record 1";

// A file we may trust: a regular file owned by this user that nobody else can write.
bool trusted_file(const fs::path& p, struct stat& st, std::string& why) {
    if (::lstat(p.c_str(), &st) != 0) {
        why = fmt::format("{}: {}", p.string(), std::strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        why = fmt::format("{} is not a regular file", p.string());
        return false;
    }
    if (st.st_uid != ::geteuid()) {
        why = fmt::format("{} belongs to another user (uid {}), not loaded", p.string(), st.st_uid);
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        why = fmt::format("{} is writable by group or others, not loaded", p.string());
        return false;
    }
    return true;
}

bool trusted_dir(const fs::path& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
           !(st.st_mode & (S_IWGRP | S_IWOTH)) && ::access(p.c_str(), W_OK | X_OK) == 0;
}

struct Record {
    std::string key, kernel, entry, compiler;
    std::int64_t size = -1;
    std::string checksum;
};

std::optional<Record> parse_record(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != kRecordMagic) return std::nullopt;
    Record r;
    while (std::getline(in, line)) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        auto k = line.substr(0, sp), v = line.substr(sp + 1);
        if (k == "key") r.key = v;
        else if (k == "kernel") r.kernel = v;
        else if (k == "entry") r.entry = v;
        else if (k == "compiler") r.compiler = v;
        else if (k == "checksum") r.checksum = v;
        else if (k == "size") {
            char* end = nullptr;
            r.size = std::strtoll(v.c_str(), &end, 10);
            if (!end || *end) r.size = -1;
        }
    }
    if (r.key.empty() || r.checksum.empty() || r.size < 0) return std::nullopt;
    return r;
}

std::string format_record(const Record& r) {
    return fmt::format("{}\nkey {}\nkernel {}\nentry {}\ncompiler {}\nsize {}\nchecksum {}\n", kRecordMagic, r.key,
                       r.kernel, r.entry, r.compiler, r.size, r.checksum);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string tail_lines(const std::string& s, std::size_t max_chars) {
    if (s.size() <= max_chars) return s;
    return "..." + s.substr(s.size() - max_chars);
}

// A temporary file name in dir; the file exists (empty) on return.
fs::path temp_file(const fs::path& dir, const std::string& stem) {
    std::string t = (dir / fmt::format(".{}.tmp.XXXXXX", stem)).string();
    int fd = ::mkstemp(t.data());
    if (fd < 0) return {};
    ::close(fd);
    return t;
}

// Temporary file + rename, without fsync: a cache entry lost or torn by a crash is only
// rebuilt (its checksum fails), and two fsyncs cost more than the rest of a load.
bool write_cache_file(const fs::path& path, std::string_view content) {
    fs::path tmp = temp_file(path.parent_path(), path.filename().string());
    if (tmp.empty()) return false;
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) {
            ::unlink(tmp.c_str());
            return false;
        }
    }
    ::chmod(tmp.c_str(), 0644);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

// flock on <dir>/<key>.lock for the scope; no lock (still correct, only racy) if it cannot open.
class KeyLock {
public:
    KeyLock(const fs::path& dir, const std::string& key) {
        fd_ = ::open((dir / (key + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ >= 0)
            while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
            }
    }
    ~KeyLock() {
        if (fd_ >= 0) ::close(fd_);  // releases the lock
    }
    KeyLock(const KeyLock&) = delete;
    KeyLock& operator=(const KeyLock&) = delete;

private:
    int fd_ = -1;
};

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

std::vector<std::string> compile_flags(const Toolchain& tc, bool fastmath, bool parallel) {
    // -fno-trapping-math: GCC otherwise refuses to if-convert (hence vectorise) loops with
    // float comparisons (the LIF threshold); it changes no result, only what may be
    // speculated, and is clang's default. -pipe: GCC hands cc1plus's output to `as` through
    // a pipe instead of a temporary file.
    std::vector<std::string> f{"-O3", "-march=native", "-fPIC", "-shared", "-nostdlib", "-fno-exceptions",
                               "-fno-rtti", "-fvisibility=hidden", "-fopenmp-simd", "-fno-trapping-math", "-w"};
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

KernelOutcome load_entry(const fs::path& dir, const std::string& key, const std::string& entry, std::string& reason) {
    KernelOutcome out;
    fs::path rec_path = dir / (key + ".rec"), so_path = dir / (key + ".so");
    struct stat st{};
    if (!trusted_file(rec_path, st, reason)) return out;
    auto text = read_file(rec_path);
    auto rec = text ? parse_record(*text) : std::nullopt;
    if (!rec || rec->key != key || rec->entry != entry) {
        reason = fmt::format("{} is damaged or belongs to another kernel", rec_path.string());
        return out;
    }
    if (!trusted_file(so_path, st, reason)) return out;
    if (st.st_size != rec->size) {
        reason = fmt::format("{} has {} bytes, its record says {} (truncated?)", so_path.string(), st.st_size, rec->size);
        return out;
    }
    // The checksum is checked before dlopen: a truncated or overwritten object must never be
    // mapped (touching pages past its end would kill the process with SIGBUS).
    auto bytes = read_file(so_path);
    if (!bytes || static_cast<std::int64_t>(bytes->size()) != rec->size || hash_hex(*bytes) != rec->checksum) {
        reason = fmt::format("{} does not match its checksum (corrupt)", so_path.string());
        return out;
    }
    void* h = ::dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = ::dlerror();
        reason = fmt::format("dlopen {}: {}", so_path.string(), e ? e : "failed");
        return out;
    }
    auto module = std::make_shared<JitModule>(h);
    auto abi = reinterpret_cast<int (*)()>(module->symbol("neuroperf_jit_abi_version"));
    if (!abi || abi() != kAbiVersion) {
        reason = fmt::format("{}: ABI version {} expected", so_path.string(), kAbiVersion);
        return out;
    }
    auto embedded = reinterpret_cast<const char* (*)()>(module->symbol("neuroperf_jit_key"));
    if (!embedded || key != embedded()) {
        reason = fmt::format("{} does not carry key {}", so_path.string(), key);
        return out;
    }
    void* fn = module->symbol(entry.c_str());
    if (!fn) {
        reason = fmt::format("{}: symbol {} missing", so_path.string(), entry);
        return out;
    }
    out.module = std::move(module);
    out.entry = fn;
    out.key = key;
    return out;
}

std::vector<JitCacheEntry> list_entries(const fs::path& dir) {
    std::vector<JitCacheEntry> v;
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(dir, ec)) {
        const auto& p = de.path();
        if (p.extension() != ".rec") continue;
        JitCacheEntry e;
        e.key = p.stem().string();
        auto text = read_file(p);
        auto rec = text ? parse_record(*text) : std::nullopt;
        if (rec) {
            e.kernel = rec->kernel;
            e.compiler = rec->compiler;
        }
        e.library = dir / (e.key + ".so");
        for (const char* ext : {".so", ".rec", ".cpp"}) {
            std::error_code fe;
            auto sz = fs::file_size(dir / (e.key + ext), fe);
            if (!fe) e.bytes += static_cast<std::int64_t>(sz);
        }
        if (rec) {
            std::string why;
            auto r = load_entry(dir, e.key, rec->entry, why);  // full check, as a load would do
            e.valid = r.entry != nullptr;
        }
        v.push_back(std::move(e));
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return v;
}

Registry::Registry(fs::path cache_root, std::function<void(std::string_view)> log, bool context_verbose)
    : root_(std::move(cache_root)), log_(std::move(log)), context_verbose_(context_verbose) {
    if (root_.empty()) root_ = cache_dir();
}

Registry::~Registry() {
    if (!private_dir_.empty()) {
        std::error_code ec;
        fs::remove_all(private_dir_, ec);
    }
}

void Registry::say(bool verbose, const std::string& message) const {
    if (verbose || context_verbose_) log_("jit: " + message);
}

void Registry::warn(const std::string& message) const { log_("warning: jit: " + message); }

void Registry::check_shared_dir(bool verbose) {
    if (dir_checked_) return;
    dir_checked_ = true;
    fs::path d = root_ / "jit";
    try {
        ensure_directory(d);
        // A umask of 002 creates it group-writable: tighten our own directory.
        struct stat st{};
        if (::stat(d.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)))
            ::chmod(d.c_str(), st.st_mode & 0755);
        if (trusted_dir(d)) shared_dir_ = d;
        else say(verbose, fmt::format("{} is not a directory of ours that we can write", d.string()));
    } catch (const Error& e) {
        say(verbose, e.what());
    }
}

fs::path Registry::directory(bool persistent, bool verbose) {
    std::lock_guard lock(dir_mutex_);
    check_shared_dir(verbose);
    if (persistent && !shared_dir_.empty()) return shared_dir_;
    if (private_dir_.empty()) {
        std::string t = (fs::temp_directory_path() / "neuroperf-jit-XXXXXX").string();
        if (::mkdtemp(t.data())) {
            private_dir_ = t;
            say(verbose, fmt::format("compiling into the private temporary directory {}{}", t,
                                     persistent ? fmt::format(" ({}/jit is not writable)", root_.string()) : ""));
        }
    }
    return private_dir_;
}

const Toolchain& Registry::toolchain() {
    std::lock_guard lock(dir_mutex_);
    if (!toolchain_probed_) {
        toolchain_probed_ = true;
        // The directory first: the compiler's --version output is then kept there from the
        // first process on (probed before it existed, every new process with that cache ran
        // `--version` again, ~30-50 ms of a warm load).
        check_shared_dir(false);
        fs::path d = root_ / "jit";
        toolchain_ = find_toolchain(trusted_dir(d) ? d : fs::path());
    }
    return toolchain_;
}

std::shared_ptr<const KernelOutcome> Registry::get(const KernelRequest& req, bool verbose) {
    const std::string id = Hasher().add(req.kernel).add(req.descriptor).add(req.fastmath).add(req.parallel).add(req.persistent).hex();
    std::shared_ptr<Slot> slot;
    {
        std::shared_lock lock(map_mutex_);
        auto it = slots_.find(id);
        if (it != slots_.end()) slot = it->second;
    }
    if (slot && slot->ready.load(std::memory_order_acquire)) return slot->outcome;
    if (!slot) {
        std::unique_lock lock(map_mutex_);
        auto& s = slots_[id];
        if (!s) s = std::make_shared<Slot>();
        slot = s;
    }
    std::lock_guard lock(slot->mutex);  // one build per descriptor; other kernels proceed
    if (!slot->ready.load(std::memory_order_acquire)) {
        KernelOutcome out;
        try {
            out = build(req, verbose);
        } catch (const std::exception& e) {
            out = {};
            out.reason = e.what();
        }
        if (!out.entry) warn(fmt::format("{} kernel not compiled, using the AOT kernel: {}", req.kernel, out.reason));
        slot->outcome = std::make_shared<const KernelOutcome>(std::move(out));
        slot->ready.store(true, std::memory_order_release);
    }
    return slot->outcome;
}

KernelOutcome Registry::build(const KernelRequest& req, bool verbose) {
    std::string entry = "neuroperf_jit_" + req.kernel + "_" + req.descriptor.substr(0, 16);
    std::string body = req.generate(entry);
    KernelOutcome out;
    const Toolchain& tc = toolchain();
    if (tc.path.empty()) {
        out.source = body;
        out.reason = tc.why_not;
        return out;
    }
    auto flags = compile_flags(tc, req.fastmath, req.parallel);
    flags.insert(flags.end(), req.extra_flags.begin(), req.extra_flags.end());
    std::string key = cache_key(body, tc, flags);
    std::string source = body + fmt::format(
        "extern \"C\" __attribute__((visibility(\"default\"))) int neuroperf_jit_abi_version(void) {{ return {}; }}\n"
        "extern \"C\" __attribute__((visibility(\"default\"))) const char* neuroperf_jit_key(void) {{ return \"{}\"; }}\n",
        kAbiVersion, key);
    out.source = source;
    out.key = key;
    fs::path dir = directory(req.persistent, verbose);
    if (dir.empty()) {
        out.reason = "no writable directory for compiled kernels";
        return out;
    }
    std::string why;
    auto t0 = std::chrono::steady_clock::now();
    auto finish = [&](KernelOutcome loaded, const char* how) {
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        say(verbose, fmt::format("{} {} ({}) in {:.2f} ms", how, req.kernel, key, ms));
        loaded.source = std::move(source);
        return loaded;
    };
    // Lock-free first look: a valid entry is complete (written before its record was). A
    // shared directory we cannot write may still hold it.
    if (auto r = load_entry(dir, key, entry, why); r.entry) return finish(std::move(r), "loaded");
    if (fs::path shared = root_ / "jit"; req.persistent && dir != shared) {
        std::string ignored;
        if (auto r = load_entry(shared, key, entry, ignored); r.entry) return finish(std::move(r), "loaded");
    }
    KeyLock lock(dir, key);
    if (auto r = load_entry(dir, key, entry, why); r.entry) return finish(std::move(r), "loaded");
    if (fs::exists(dir / (key + ".rec")) || fs::exists(dir / (key + ".so")))
        say(verbose, fmt::format("rebuilding cache entry: {}", why));

    fs::path src = dir / (key + ".cpp");
    if (!write_cache_file(src, source)) {
        out.reason = fmt::format("cannot write {}: {}", src.string(), std::strerror(errno));
        return out;
    }
    fs::path tmp_so = temp_file(dir, key + ".so"), tmp_log = temp_file(dir, key + ".log");
    if (tmp_so.empty() || tmp_log.empty()) {
        out.reason = fmt::format("cannot create files in {}: {}", dir.string(), std::strerror(errno));
        return out;
    }
    // Compile and link: with `ld` on PATH, `cxx -c` then `ld -shared` (the compiler driver
    // costs a second start-up, ~25 ms of a ~125 ms clang build, to run ld itself); OpenMP
    // kernels go through the driver, which knows where libgomp lives.
    std::vector<std::vector<std::string>> steps;
    fs::path linker = req.parallel ? fs::path() : find_program("ld");
    std::vector<std::string> compile{tc.path.string()};
    compile.insert(compile.end(), flags.begin(), flags.end());
    fs::path tmp_o;
    if (!linker.empty()) {
        tmp_o = temp_file(dir, key + ".o");
        compile.insert(compile.end(), {"-x", "c++", "-c", "-o", tmp_o.string(), src.string()});
        steps.push_back(compile);
        steps.push_back({linker.string(), "-shared", "-o", tmp_so.string(), tmp_o.string()});
        if (req.needs_libm) steps.back().push_back("-lm");
    } else {
        // The libraries after the source, as linkers want; -nostdlib leaves only these.
        compile.insert(compile.end(), {"-x", "c++", "-o", tmp_so.string(), src.string(), "-lm"});
        if (req.parallel) compile.push_back("-lgomp");
        steps.push_back(compile);
    }
    ProcessResult r;
    for (const auto& argv : steps) {
        r = run_process(argv, {.stdout_file = tmp_log, .append = true, .stderr_to_stdout = true});
        if (!r.started || r.exit_code != 0) {
            r.error = r.started ? r.error : fmt::format("cannot run {}: {}", argv[0], r.error);
            out.reason = r.started ? fmt::format("{} failed (exit status {}): ", argv[0], r.exit_code) : r.error;
            break;
        }
    }
    if (!tmp_o.empty()) ::unlink(tmp_o.c_str());
    std::string log = read_file(tmp_log).value_or("");
    if (!r.started || r.exit_code != 0) {
        ::unlink(tmp_so.c_str());
        std::error_code ec;
        fs::rename(tmp_log, dir / (key + ".log"), ec);
        if (r.started) out.reason += tail_lines(log, 600);
        return out;
    }
    ::unlink(tmp_log.c_str());
    auto bytes = read_file(tmp_so);
    if (!bytes || bytes->empty()) {
        ::unlink(tmp_so.c_str());
        out.reason = fmt::format("{} produced no library", tc.path.string());
        return out;
    }
    ::chmod(tmp_so.c_str(), 0755);
    Record rec{key, req.kernel, entry, tc.version_line, static_cast<std::int64_t>(bytes->size()), hash_hex(*bytes)};
    if (std::rename(tmp_so.c_str(), (dir / (key + ".so")).c_str()) != 0) {
        out.reason = fmt::format("cannot rename into {}: {}", dir.string(), std::strerror(errno));
        ::unlink(tmp_so.c_str());
        return out;
    }
    if (!write_cache_file(dir / (key + ".rec"), format_record(rec))) {
        out.reason = fmt::format("cannot write the record in {}: {}", dir.string(), std::strerror(errno));
        return out;
    }
    auto loaded = load_entry(dir, key, entry, why);
    if (!loaded.entry) {
        out.reason = why;
        return out;
    }
    return finish(std::move(loaded), "compiled");
}

Registry& registry_of(const Context& ctx) {
    const auto& impl = runtime::impl_of(ctx);
    return impl.service<Registry>([&] {
        return std::make_shared<Registry>(impl.options().cache_dir, impl.options().log, impl.verbose());
    });
}

}  // namespace neuroperf::jit
