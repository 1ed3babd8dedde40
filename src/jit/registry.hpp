// The JIT's compile-and-cache machinery (private). One Registry per Context: descriptor ->
// loaded kernel in memory; on a miss, the on-disk cache (<cache_dir>/jit) under a per-key file
// lock, else a compile with the system compiler. See docs/dev/jit.md.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "neuroperf/context.hpp"
#include "core/hash.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf::jit {

/// A loaded shared object; dlclose when the last kernel using it goes.
class JitModule {
public:
    explicit JitModule(void* handle) : handle_(handle) {}
    ~JitModule();
    JitModule(const JitModule&) = delete;
    JitModule& operator=(const JitModule&) = delete;
    void* symbol(const char* name) const;

private:
    void* handle_;
};

/// Version of what a compiled kernel exports besides its entry: neuroperf_jit_abi_version() and
/// neuroperf_jit_key() (appended to every generated source by the registry). The argument
/// structs are checked member by member inside the generated source (jit/abi_source.hpp).
inline constexpr int kAbiVersion = 2;

/// The compiler in use and what identifies it in keys.
struct Toolchain {
    std::filesystem::path path;  ///< empty: none usable
    std::string version_line;    ///< first line of --version
    std::string identity;        ///< canonical path, size, mtime and full --version output
    bool clang = false;
    std::string why_not;         ///< when path is empty
};

/// The environment's compiler: $NEUROPERF_CXX (a name on PATH or a path), else clang++, else
/// g++, else c++. `version_cache_dir` (may be empty) keeps --version outputs so that a warm
/// process does not run the compiler.
Toolchain find_toolchain(const std::filesystem::path& version_cache_dir);

/// Compiler flags for a kernel (part of the key).
std::vector<std::string> compile_flags(const Toolchain& tc, bool fastmath, bool parallel, Isa isa);

/// Everything about a CPU that -march=native depends on.
std::string cpu_identity();

/// Key of a kernel: hash of the source body, compiler identity, flags, CPU and our version.
std::string cache_key(const std::string& body, const Toolchain& tc, const std::vector<std::string>& flags,
                      const std::string& cpu = cpu_identity());

struct KernelRequest {
    std::string kernel;       ///< "spike_processing"
    /// Hash of the kernel's typed descriptor (core::Hasher over its fields): the in-process key.
    std::string descriptor;
    /// Source body given the entry symbol name (generated only on a miss).
    std::function<std::string(const std::string& entry)> generate;
    bool fastmath = false, parallel = false, persistent = true;
    /// The context's kernel variant: the instruction set the code is compiled for
    /// (compile_flags); set by compile_kernel.
    Isa isa = Isa::generic;
    /// The source calls libm (declared `extern "C"`): link -lm. Without, `ld` skips reading
    /// libm's script and tables (~4 of a cold compile's ms).
    bool needs_libm = false;
    /// Kernel-specific compiler flags after the common ones (part of the key).
    std::vector<std::string> extra_flags;
};

/// What a request resolved to. entry null: use the AOT kernel (reason says why).
struct KernelOutcome {
    std::shared_ptr<JitModule> module;
    void* entry = nullptr;
    std::string source, key, reason;
};

class Registry {
public:
    Registry(std::filesystem::path cache_root, std::function<void(std::string_view)> log, bool context_verbose);
    ~Registry();

    /// The outcome for `req`, compiled at most once per registry. Never throws for compiler
    /// or cache trouble (those become a fallback with one warning).
    std::shared_ptr<const KernelOutcome> get(const KernelRequest& req, bool verbose);

    /// <cache_root>/jit if usable (created, ours, writable), else a private temporary directory.
    std::filesystem::path directory(bool persistent, bool verbose);
    const Toolchain& toolchain();

private:
    /// Creates and checks <cache_root>/jit once (dir_mutex_ held).
    void check_shared_dir(bool verbose);
    struct Slot {
        std::mutex mutex;
        std::atomic<bool> ready{false};
        std::shared_ptr<const KernelOutcome> outcome;
    };
    KernelOutcome build(const KernelRequest& req, bool verbose);
    void say(bool verbose, const std::string& message) const;
    void warn(const std::string& message) const;

    std::filesystem::path root_;
    std::function<void(std::string_view)> log_;
    bool context_verbose_;
    std::shared_mutex map_mutex_;
    std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
    std::mutex dir_mutex_;
    bool dir_checked_ = false;
    std::filesystem::path shared_dir_;  // empty: not usable
    std::filesystem::path private_dir_;
    bool toolchain_probed_ = false;
    Toolchain toolchain_;
};

/// The registry of `ctx` (a per-context service, created on first use).
Registry& registry_of(const Context& ctx);

/// The registry's key of a typed kernel descriptor (a struct with a field list).
template <class Descriptor>
std::string descriptor_key(const Descriptor& d) {
    return core::Hasher().add(d).hex();
}

/// Tries to load a cache entry `key` in `dir` (ownership, record, size and checksum checked
/// before dlopen, ABI version and embedded key after). Empty outcome + reason on failure.
/// (jit/cache_files.cpp, with the rest of the cache's file handling.)
KernelOutcome load_entry(const std::filesystem::path& dir, const std::string& key, const std::string& entry,
                         std::string& reason);

/// Cache entries in dir (for `neuroperf jit list`).
std::vector<JitCacheEntry> list_entries(const std::filesystem::path& dir);

}  // namespace neuroperf::jit
