// `neuroperf jit list | clear | info`: inspect and clear the JIT compiler's cache.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli.hpp"
#include "neuroperf/cpu.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/jit_compiler.hpp"

namespace neuroperf::cli {

int run_jit(const JitOptions& options) {
    auto dir = cache_dir() / "jit";
    if (options.action == "clear") {
        int n = clear_jit_cache(dir);
        fmt::print("removed {} compiled kernel(s) from {}\n", n, dir.string());
        return 0;
    }
    auto entries = jit_cache_entries(dir);
    if (options.action == "list") {
        if (entries.empty()) {
            fmt::print("no compiled kernels in {}\n", dir.string());
            return 0;
        }
        fmt::print("{:<34} {:<18} {:>9}  {:<7} {}\n", "key", "kernel", "bytes", "state", "compiler");
        for (const auto& e : entries)
            fmt::print("{:<34} {:<18} {:>9}  {:<7} {}\n", e.key, e.kernel, e.bytes, e.valid ? "ok" : "invalid", e.compiler);
        return 0;
    }
    // info
    ContextOptions o;
    o.calibrate = false;
    JITCompiler jit(JITConfig{}, make_context(o));
    std::int64_t bytes = 0;
    int invalid = 0;
    for (const auto& e : entries) {
        bytes += e.bytes;
        invalid += !e.valid;
    }
    std::string compiler = jit.compiler_description();
    fmt::print("cache directory : {}\n", dir.string());
    fmt::print("kernels cached  : {} ({} invalid, rebuilt on next use), {:.1f} KiB\n", entries.size(), invalid, bytes / 1024.0);
    fmt::print("compiler        : {}\n", compiler.empty() ? "none found: kernels run the AOT code (set NEUROPERF_CXX)" : compiler);
    fmt::print("target          : -march=native on {} ({})\n", cpu_info().model_name, fmt::join(cpu_info().isa.names(), " "));
    fmt::print("kernels         : spike_processing, reservoir_update, convolution (compiled C++); matrix_multiply (libxsmm JIT for small shapes, else the calibrated GEMM)\n");
    return 0;
}

}  // namespace neuroperf::cli
