// The JIT's on-disk cache (<cache_dir>/jit, docs/dev/jit.md): one .so, .cpp and .rec record per
// key, trusted only when owned by this user and not writable by others, written through a
// temporary file and a rename under a per-key file lock, checked (size and checksum) before
// dlopen. Private to the jit layer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "jit/registry.hpp"

namespace neuroperf::jit {

/// A regular file owned by this user that nobody else can write (why says otherwise).
bool trusted_file(const std::filesystem::path& p, struct stat& st, std::string& why);
/// A directory of this user's that nobody else can write and this process can.
bool trusted_dir(const std::filesystem::path& p);

/// The .rec file of a cache entry.
struct Record {
    std::string key, kernel, entry, compiler;
    std::int64_t size = -1;
    std::string checksum;
};
std::optional<Record> parse_record(const std::string& text);
std::string format_record(const Record& r);

/// A temporary file name in dir; the file exists (empty) on return, empty path on failure.
std::filesystem::path temp_file(const std::filesystem::path& dir, const std::string& stem);
/// Temporary file + rename, without fsync: a cache entry lost or torn by a crash is only
/// rebuilt (its checksum fails), and two fsyncs cost more than the rest of a load.
bool write_cache_file(const std::filesystem::path& path, std::string_view content);

/// flock on <dir>/<key>.lock for the scope; no lock (still correct, only racy) if it cannot open.
class KeyLock {
public:
    KeyLock(const std::filesystem::path& dir, const std::string& key);
    ~KeyLock();
    KeyLock(const KeyLock&) = delete;
    KeyLock& operator=(const KeyLock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace neuroperf::jit
