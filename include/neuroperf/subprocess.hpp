// Starting other programs (the JIT's compiler, the process strategy's workers, the CLI's plot
// and peer scripts) with posix_spawn only: never fork(), so a process whose OpenMP or BLAS
// threads are running can start one safely.
//
//   auto r = neuroperf::run_process({"/usr/bin/c++", "--version"}, {.stdout_file = "v.txt"});
//   if (!r.started || r.exit_code != 0) ...
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// How a child is started. Defaults: argv[0] is a path (not searched), stdin from /dev/null,
/// stdout and stderr inherited, the parent's environment.
struct ProcessOptions {
    /// Look argv[0] up on $PATH (as posix_spawnp) when it has no '/'.
    bool search_path = false;
    /// A descriptor to become the child's stdin (≥ 0), else /dev/null.
    int stdin_fd = -1;
    /// A descriptor to become the child's stdout (≥ 0); wins over stdout_file.
    int stdout_fd = -1;
    /// Non-empty: stdout goes to this file (created 0644 if needed, truncated unless `append`).
    std::filesystem::path stdout_file{};
    bool append = false;
    /// stderr goes where stdout goes (else it is inherited).
    bool stderr_to_stdout = false;
    /// Non-empty: the child's whole environment ("NAME=value" entries); empty: the parent's.
    std::vector<std::string> environment{};
};

/// What became of a child.
struct ProcessResult {
    bool started = false;  ///< false: it could not be started or executed (`error` says why)
    int exit_code = -1;    ///< exit status, or 128 + signal when a signal ended it
    std::string error;
};

/// Starts argv with `options` and returns its process id; throws IOError naming the program and
/// the reason when posix_spawn fails. The caller waits for it (wait_process) or kills it.
NEUROPERF_API int start_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

/// Waits for child `pid` (retrying on EINTR) and describes how it ended. An exit status of 127
/// (glibc's report of a failed exec in the child) counts as not started.
NEUROPERF_API ProcessResult wait_process(int pid, const std::string& program = {});

/// start_process then wait_process; never throws for a program that cannot start (started is
/// false and error says why).
NEUROPERF_API ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

/// The first executable regular file named `name` on $PATH (or `name` itself when it contains
/// '/'); empty when there is none.
NEUROPERF_API std::filesystem::path find_program(const std::string& name);

/// "exited with status 3", "was killed by signal 9 (Killed)": a wait status in words.
NEUROPERF_API std::string describe_wait_status(int status);

}  // namespace neuroperf
