#include "jit/cache_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/hash.hpp"
#include "neuroperf/files.hpp"

namespace neuroperf::jit {

namespace fs = std::filesystem;
using core::hash_hex;

namespace {
constexpr const char* kRecordMagic = "neuroperf-jit-record 1";
}  // namespace

bool trusted_file(const fs::path& p, struct stat& st, std::string& why) {
    if (::lstat(p.c_str(), &st) != 0) {
        why = fmt::format("{}: {}", p.string(), std::strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        why = fmt::format("{} is not a regular file", p.string());
        return false;
    }
    if (st.st_uid != ::geteuid()) {
        why = fmt::format("{} belongs to another user (uid {}), not loaded", p.string(), st.st_uid);
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        why = fmt::format("{} is writable by group or others, not loaded", p.string());
        return false;
    }
    return true;
}

bool trusted_dir(const fs::path& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
           !(st.st_mode & (S_IWGRP | S_IWOTH)) && ::access(p.c_str(), W_OK | X_OK) == 0;
}

std::optional<Record> parse_record(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != kRecordMagic) return std::nullopt;
    Record r;
    while (std::getline(in, line)) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        auto k = line.substr(0, sp), v = line.substr(sp + 1);
        if (k == "key") r.key = v;
        else if (k == "kernel") r.kernel = v;
        else if (k == "entry") r.entry = v;
        else if (k == "compiler") r.compiler = v;
        else if (k == "checksum") r.checksum = v;
        else if (k == "size") {
            char* end = nullptr;
            r.size = std::strtoll(v.c_str(), &end, 10);
            if (!end || *end) r.size = -1;
        }
    }
    if (r.key.empty() || r.checksum.empty() || r.size < 0) return std::nullopt;
    return r;
}

std::string format_record(const Record& r) {
    return fmt::format("{}\nkey {}\nkernel {}\nentry {}\ncompiler {}\nsize {}\nchecksum {}\n", kRecordMagic, r.key,
                       r.kernel, r.entry, r.compiler, r.size, r.checksum);
}

fs::path temp_file(const fs::path& dir, const std::string& stem) {
    std::string t = (dir / fmt::format(".{}.tmp.XXXXXX", stem)).string();
    int fd = ::mkstemp(t.data());
    if (fd < 0) return {};
    ::close(fd);
    return t;
}

bool write_cache_file(const fs::path& path, std::string_view content) {
    fs::path tmp = temp_file(path.parent_path(), path.filename().string());
    if (tmp.empty()) return false;
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) {
            ::unlink(tmp.c_str());
            return false;
        }
    }
    ::chmod(tmp.c_str(), 0644);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

KeyLock::KeyLock(const fs::path& dir, const std::string& key) {
    fd_ = ::open((dir / (key + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0)
        while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
}

KeyLock::~KeyLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

KernelOutcome load_entry(const fs::path& dir, const std::string& key, const std::string& entry, std::string& reason) {
    KernelOutcome out;
    fs::path rec_path = dir / (key + ".rec"), so_path = dir / (key + ".so");
    struct stat st{};
    if (!trusted_file(rec_path, st, reason)) return out;
    auto text = read_file(rec_path);
    auto rec = text ? parse_record(*text) : std::nullopt;
    if (!rec || rec->key != key || rec->entry != entry) {
        reason = fmt::format("{} is damaged or belongs to another kernel", rec_path.string());
        return out;
    }
    if (!trusted_file(so_path, st, reason)) return out;
    if (st.st_size != rec->size) {
        reason = fmt::format("{} has {} bytes, its record says {} (truncated?)", so_path.string(), st.st_size, rec->size);
        return out;
    }
    // The checksum is checked before dlopen: a truncated or overwritten object must never be
    // mapped (touching pages past its end would kill the process with SIGBUS).
    auto bytes = read_file(so_path);
    if (!bytes || static_cast<std::int64_t>(bytes->size()) != rec->size || hash_hex(*bytes) != rec->checksum) {
        reason = fmt::format("{} does not match its checksum (corrupt)", so_path.string());
        return out;
    }
    void* h = ::dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = ::dlerror();
        reason = fmt::format("dlopen {}: {}", so_path.string(), e ? e : "failed");
        return out;
    }
    auto module = std::make_shared<JitModule>(h);
    auto abi = reinterpret_cast<int (*)()>(module->symbol("neuroperf_jit_abi_version"));
    if (!abi || abi() != kAbiVersion) {
        reason = fmt::format("{}: ABI version {} expected", so_path.string(), kAbiVersion);
        return out;
    }
    auto embedded = reinterpret_cast<const char* (*)()>(module->symbol("neuroperf_jit_key"));
    if (!embedded || key != embedded()) {
        reason = fmt::format("{} does not carry key {}", so_path.string(), key);
        return out;
    }
    void* fn = module->symbol(entry.c_str());
    if (!fn) {
        reason = fmt::format("{}: symbol {} missing", so_path.string(), entry);
        return out;
    }
    out.module = std::move(module);
    out.entry = fn;
    out.key = key;
    return out;
}

std::vector<JitCacheEntry> list_entries(const fs::path& dir) {
    std::vector<JitCacheEntry> v;
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(dir, ec)) {
        const auto& p = de.path();
        if (p.extension() != ".rec") continue;
        JitCacheEntry e;
        e.key = p.stem().string();
        auto text = read_file(p);
        auto rec = text ? parse_record(*text) : std::nullopt;
        if (rec) {
            e.kernel = rec->kernel;
            e.compiler = rec->compiler;
        }
        e.library = dir / (e.key + ".so");
        for (const char* ext : {".so", ".rec", ".cpp"}) {
            std::error_code fe;
            auto sz = fs::file_size(dir / (e.key + ext), fe);
            if (!fe) e.bytes += static_cast<std::int64_t>(sz);
        }
        if (rec) {
            std::string why;
            auto r = load_entry(dir, e.key, rec->entry, why);  // full check, as a load would do
            e.valid = r.entry != nullptr;
        }
        v.push_back(std::move(e));
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return v;
}

}  // namespace neuroperf::jit
