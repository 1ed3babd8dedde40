#include "parallel/worker_protocol.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include "neuroperf/error.hpp"
#include "neuroperf/parallel_report.hpp"

namespace neuroperf::parallel {

void copy_name(char* dst, std::size_t cap, const std::string& s, const char* what) {
    if (s.size() >= cap) throw ValueError(fmt::format("{}: expected at most {} characters, got {}", what, cap - 1, s.size()));
    std::memcpy(dst, s.data(), s.size());
    dst[s.size()] = '\0';
}

SharedSegment& SharedSegment::operator=(SharedSegment&& o) noexcept {
    if (this != &o) {
        reset();
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
        name_ = std::move(o.name_);
        owner_ = std::exchange(o.owner_, false);
    }
    return *this;
}

void SharedSegment::reset() {
    if (data_) ::munmap(data_, size_);
    if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
    data_ = nullptr;
    size_ = 0;
    name_.clear();
    owner_ = false;
}

SharedSegment SharedSegment::create(std::size_t bytes) {
    static std::atomic<unsigned long> counter{0};
    SharedSegment s;
    s.name_ = fmt::format("/neuroperf-{}-{}", ::getpid(), counter.fetch_add(1));
    int fd = ::shm_open(s.name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw WorkerError(fmt::format("shared memory: shm_open('{}') failed: {}", s.name_, std::strerror(errno)));
    s.owner_ = true;  // from here the destructor unlinks
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        int e = errno;
        ::close(fd);
        throw WorkerError(fmt::format("shared memory: cannot size '{}' to {} bytes: {}", s.name_, bytes, std::strerror(e)));
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw WorkerError(fmt::format("shared memory: mmap of '{}' failed: {}", s.name_, std::strerror(e)));
    s.data_ = static_cast<std::byte*>(p);
    s.size_ = bytes;
    return s;
}

SharedSegment SharedSegment::open(const std::string& name, std::size_t bytes) {
    SharedSegment s;
    int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error(fmt::format("shm_open('{}') failed: {}", name, std::strerror(errno)));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw std::runtime_error(fmt::format("mmap of '{}' failed: {}", name, std::strerror(e)));
    s.data_ = static_cast<std::byte*>(p);
    s.size_ = bytes;
    s.name_ = name;
    return s;
}

bool write_all(int fd, const void* data, std::size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        ssize_t k = ::write(fd, p, bytes);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        bytes -= static_cast<std::size_t>(k);
    }
    return true;
}

bool read_all(int fd, void* data, std::size_t bytes) {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
        ssize_t k = ::read(fd, p, bytes);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        bytes -= static_cast<std::size_t>(k);
    }
    return true;
}

}  // namespace neuroperf::parallel
