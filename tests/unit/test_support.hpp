// Helpers shared by the unit tests: scoped environment variables and temporary directories.
#pragma once

#include <cstdlib>
#include <exception>
#include <string_view>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <stdlib.h>

#include <gtest/gtest.h>

#include <vector>

#include "neuroperf/subprocess.hpp"
#include "neuroperf/context.hpp"

namespace neuroperf::test_support {

/// Sets/unsets an environment variable for the scope of a test and restores it afterwards.
class EnvGuard {
public:
    explicit EnvGuard(const char* name) : name_(name) {
        if (const char* v = std::getenv(name)) old_ = v;
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;
    void set(const std::string& v) { ::setenv(name_.c_str(), v.c_str(), 1); }
    void unset() { ::unsetenv(name_.c_str()); }
    ~EnvGuard() {
        if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
        else ::unsetenv(name_.c_str());
    }

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// Calls f(cxx) once per JIT compiler on PATH ("g++", "clang++"), with NEUROPERF_CXX set to it
/// for the call (restored afterwards) and the compiler's name as gtest trace; returns how many
/// ran (a test skips when none did).
template <class F>
int for_each_jit_compiler(F&& f) {
    int ran = 0;
    for (const char* cxx : {"g++", "clang++"}) {
        if (find_program(cxx).empty()) continue;
        ++ran;
        SCOPED_TRACE(cxx);
        EnvGuard env("NEUROPERF_CXX");
        env.set(cxx);
        f(std::string(cxx));
    }
    return ran;
}

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir() {
        std::string t = (std::filesystem::temp_directory_path() / "neuroperf-test-XXXXXX").string();
        if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
        path_ = t;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// Context options for tests: no calibration (fixed backend order), no log output.
inline ContextOptions quiet_opts() {
    ContextOptions o;
    o.calibrate = false;
    o.log = [](std::string_view) {};
    return o;
}

// A quiet context whose caches (JIT kernels, calibration) live in `cache`.
inline Context quiet_context(const std::filesystem::path& cache) {
    ContextOptions o = quiet_opts();
    o.cache_dir = cache;
    return make_context(o);
}

/// Runs f, expects it to throw E, returns the message (a test failure otherwise).
template <class E, class F>
std::string expect_throw_msg(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type: " << e.what();
        return {};
    }
    ADD_FAILURE() << "no exception thrown";
    return {};
}

// The kernel variants this CPU runs (generic first): every kernel test runs each of them.
inline std::vector<Isa> isas_here() { return supported_isas(); }

// A quiet context running the kernels' variant `isa`.
inline Context isa_context(Isa isa, int threads = 1) {
    ContextOptions o = quiet_opts();
    o.num_threads = threads;
    o.isa = isa_name(isa);
    return make_context(o);
}

}  // namespace neuroperf::test_support
