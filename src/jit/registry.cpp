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

#include "jit/cache_files.hpp"
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

namespace fs = std::filesystem;
using core::hash_hex;
using core::Hasher;

std::string tail_lines(const std::string& s, std::size_t max_chars) {
    if (s.size() <= max_chars) return s;
    return "..." + s.substr(s.size() - max_chars);
}

}  // namespace

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
    const std::string id = Hasher().add(req.kernel).add(req.descriptor).add(req.fastmath).add(req.parallel).add(req.persistent).add(req.isa).hex();
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
    auto flags = compile_flags(tc, req.fastmath, req.parallel, req.isa);
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
