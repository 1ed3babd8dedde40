// Running the compiler: posix_spawn (never fork: the caller may have started threads).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace neuroperf::jit {

struct SpawnResult {
    bool started = false;  ///< false: the program could not be executed (reason in `error`)
    int exit_code = -1;    ///< exit status, or 128 + signal
    std::string error;
};

/// Runs argv[0] (a path, not searched) with argv, stdout and stderr appended to `output` (or
/// /dev/null when empty), and waits for it.
SpawnResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& output = {});

/// The first executable file named `name` on $PATH (or `name` itself when it contains '/').
/// Empty when none.
std::filesystem::path find_program(const std::string& name);

}  // namespace neuroperf::jit
