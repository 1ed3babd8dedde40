#include "jit/process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace neuroperf::jit {

SpawnResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& output) {
    SpawnResult r;
    if (argv.empty()) {
        r.error = "empty command";
        return r;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string out = output.empty() ? std::string("/dev/null") : output.string();
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        r.error = std::strerror(rc);
        return r;
    }
    r.started = true;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            r.error = std::strerror(errno);
            return r;
        }
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    // 127 is posix_spawn's (glibc) report of a failed exec in the child.
    if (r.exit_code == 127) {
        r.started = false;
        r.error = "could not execute " + argv[0];
    }
    return r;
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

}  // namespace neuroperf::jit
