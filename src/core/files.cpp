#include "neuroperf/files.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "neuroperf/error.hpp"

namespace neuroperf {
namespace {
const char* env_nonempty(const char* name) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : nullptr;
}
}  // namespace

std::filesystem::path cache_dir() {
    if (const char* d = env_nonempty("NEUROPERF_CACHE_DIR")) return d;
    if (const char* x = env_nonempty("XDG_CACHE_HOME")) return std::filesystem::path(x) / "neuroperf";
    if (const char* h = env_nonempty("HOME")) return std::filesystem::path(h) / ".cache" / "neuroperf";
    return std::filesystem::temp_directory_path() / "neuroperf-cache";
}

void ensure_directory(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
        throw IOError(fmt::format("cannot create directory '{}': {}", dir.string(),
                                  ec ? ec.message() : "exists and is not a directory"));
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
    auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    ensure_directory(dir);
    std::string tmpl = (dir / fmt::format(".{}.tmp.XXXXXX", path.filename().string())).string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0)
        throw IOError(fmt::format("cannot write '{}': creating a temporary file failed: {}", path.string(), std::strerror(errno)));
    const char* p = content.data();
    std::size_t left = content.size();
    while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmpl.c_str());
            throw IOError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
        }
        p += w;
        left -= static_cast<std::size_t>(w);
    }
    ::fchmod(fd, 0644);
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmpl.c_str());
        throw IOError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
    }
    if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmpl.c_str());
        throw IOError(fmt::format("cannot write '{}': rename failed: {}", path.string(), std::strerror(err)));
    }
    // Make the rename itself durable (best effort: some file systems refuse fsync on a directory).
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(ss).str();
}

}  // namespace neuroperf
