// The one spawn helper (include/neuroperf/subprocess.hpp): posix_spawn, never fork.
#include "neuroperf/subprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

extern char** environ;

namespace neuroperf {
namespace {

// posix_spawn_file_actions_t released on every path.
class FileActions {
public:
    FileActions() { posix_spawn_file_actions_init(&fa_); }
    ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    posix_spawn_file_actions_t* get() { return &fa_; }

private:
    posix_spawn_file_actions_t fa_;
};

}  // namespace

int start_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
    if (argv.empty() || argv[0].empty()) throw ValueError("start_process: argv: expected a program and its arguments, got none");
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> env;
    for (const auto& e : o.environment) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);

    FileActions fa;
    // dup2 onto 0/1 clears close-on-exec, so descriptors made with SOCK_CLOEXEC reach the child.
    if (o.stdin_fd >= 0) posix_spawn_file_actions_adddup2(fa.get(), o.stdin_fd, 0);
    else posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
    const std::string out = o.stdout_file.string();
    if (o.stdout_fd >= 0)
        posix_spawn_file_actions_adddup2(fa.get(), o.stdout_fd, 1);
    else if (!out.empty())
        posix_spawn_file_actions_addopen(fa.get(), 1, out.c_str(), O_WRONLY | O_CREAT | (o.append ? O_APPEND : O_TRUNC), 0644);
    if (o.stderr_to_stdout) posix_spawn_file_actions_adddup2(fa.get(), 1, 2);

    pid_t pid = -1;
    char** envp = o.environment.empty() ? environ : env.data();
    const int rc = o.search_path ? ::posix_spawnp(&pid, args[0], fa.get(), nullptr, args.data(), envp)
                                 : ::posix_spawn(&pid, args[0], fa.get(), nullptr, args.data(), envp);
    if (rc != 0) throw IOError(fmt::format("cannot start '{}': {}", argv[0], std::strerror(rc)));
    return static_cast<int>(pid);
}

std::string describe_wait_status(int status) {
    if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    return "stopped";
}

ProcessResult wait_process(int pid, const std::string& program) {
    ProcessResult r;
    int status = 0;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0) {
        if (errno != EINTR) {
            r.error = std::strerror(errno);
            return r;
        }
    }
    r.started = true;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    if (r.exit_code == 127) {
        r.started = false;
        r.error = program.empty() ? "could not execute the program" : "could not execute " + program;
    }
    return r;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
    int pid = -1;
    try {
        pid = start_process(argv, options);
    } catch (const Error& e) {
        ProcessResult r;
        r.error = e.what();
        return r;
    }
    return wait_process(pid, argv[0]);
}

std::filesystem::path find_program(const std::string& name) {
    auto executable = [](const std::filesystem::path& p) {
        struct stat st{};
        return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
    };
    if (name.find('/') != std::string::npos) return executable(name) ? std::filesystem::path(name) : std::filesystem::path();
    const char* path = std::getenv("PATH");
    if (!path || !*path) return {};
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (dir.empty()) continue;
        auto p = std::filesystem::path(dir) / name;
        if (executable(p)) return p;
    }
    return {};
}

}  // namespace neuroperf
