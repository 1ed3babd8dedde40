// JITCompiler: its context, cache directory and compiler, and the on-disk cache's
// maintenance. The kernels it compiles are in spike_kernel.cpp, conv_kernel.cpp,
// reservoir_kernel.cpp and matmul_kernel.cpp; its benchmark in benchmark.cpp.
#include "neuroperf/jit_compiler.hpp"

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/json_fields.hpp"

#include "jit/registry.hpp"
#include "kernels/layout.hpp"
#include "neuroperf/files.hpp"

namespace neuroperf {

JITCompiler::JITCompiler(JITConfig config) : JITCompiler(config, [&] {
    ContextOptions o;
    o.verbose = config.verbose;
    o.calibrate = false;  // the JIT does not use the BLAS choice
    return make_context(o);
}()) {}

JITCompiler::JITCompiler(JITConfig config, Context context) : config_(config), context_(std::move(context)) {}

std::filesystem::path JITCompiler::cache_directory() const {
    return jit::registry_of(context_).directory(config_.cache_compiled_functions, config_.verbose);
}

std::string JITCompiler::compiler_description() const {
    const auto& tc = jit::registry_of(context_).toolchain();
    if (tc.path.empty()) return {};
    return fmt::format("{} ({})", tc.path.string(), tc.version_line);
}

template <class T>
LaidOutArray<T> JITCompiler::optimize_memory_layout(ArrayView<const T> array, const std::string& access_pattern) const {
    LaidOutArray<T> r;
    r.copied = kernels::lay_out<T>(array, access_pattern, r.storage, r.view);
    return r;
}

std::vector<JitCacheEntry> jit_cache_entries(const std::filesystem::path& dir) {
    return jit::list_entries(dir.empty() ? cache_dir() / "jit" : dir);
}

int clear_jit_cache(const std::filesystem::path& dir_in) {
    auto dir = dir_in.empty() ? cache_dir() / "jit" : dir_in;
    int n = 0;
    std::error_code ec;
    std::vector<std::filesystem::path> doomed;
    for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
        auto ext = de.path().extension().string();
        auto name = de.path().filename().string();
        bool ours = ext == ".so" || ext == ".rec" || ext == ".cpp" || ext == ".log" || ext == ".lock" ||
                    name.rfind("compiler-", 0) == 0 || name.find(".tmp.") != std::string::npos;
        if (ours) doomed.push_back(de.path());
        if (ext == ".rec") ++n;
    }
    for (const auto& p : doomed) {
        std::error_code rec;
        std::filesystem::remove(p, rec);
        if (rec) throw IOError(fmt::format("clear_jit_cache: cannot remove '{}': {}", p.string(), rec.message()));
    }
    return n;
}

JITCompiler enable_jit_compilation(JITConfig config) { return JITCompiler(config, default_context()); }

template LaidOutArray<float> JITCompiler::optimize_memory_layout<float>(ArrayView<const float>, const std::string&) const;
template LaidOutArray<double> JITCompiler::optimize_memory_layout<double>(ArrayView<const double>, const std::string&) const;

NEUROPERF_INSTANTIATE_TO_JSON(JitBenchmarkEntry);
NEUROPERF_INSTANTIATE_TO_JSON(JitCacheEntry);

}  // namespace neuroperf
