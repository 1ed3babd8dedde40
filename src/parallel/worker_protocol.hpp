// What the parent and a neuroperf-worker process exchange (docs/dev/parallel.md):
//  - one POSIX shared-memory segment per call holds every input (weights written once, shared by
//    all tasks), one descriptor per task, and the outputs, which workers write in place;
//  - fixed-size messages through one Unix socketpair per worker, whose end is the worker's stdin
//    and stdout: parent -> worker TaskMsg, worker -> parent ResultMsg (a ReadyMsg first, once started).
// Both sides are built from this header in one build, so no versioning beyond the magic. The
// descriptors of the task kinds are filled in by src/api/process_tasks.cpp and read by
// src/api/worker_loop.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace neuroperf::parallel {

inline constexpr std::uint32_t kWorkerMagic = 0x4e505731;  // "NPW1"

/// The C signature of a ProcessPlugin symbol (parallel_processor.hpp).
using PluginFn = int (*)(const float* in, std::int64_t n, float* out, std::int64_t out_capacity, std::int64_t* out_n);

enum class TaskKind : std::uint32_t { reservoir_f32 = 1, reservoir_f64 = 2, reasoning = 3, plugin = 4, quit = 5 };

struct TaskMsg {
    std::uint32_t magic = kWorkerMagic;
    TaskKind kind = TaskKind::quit;
    std::uint64_t task = 0;          ///< index in the call
    std::uint64_t segment_size = 0;  ///< bytes of the segment
    std::uint64_t desc_offset = 0;   ///< the task's descriptor in the segment
    char segment[64] = {};           ///< shm name ("/neuroperf-<pid>-<n>")
};

struct ReadyMsg {
    std::uint32_t magic = kWorkerMagic;
    std::int32_t pid = 0;
};

struct ResultMsg {
    std::uint32_t magic = kWorkerMagic;
    std::int32_t status = 0;       ///< 0 ok, else failed with `error`
    std::uint64_t task = 0;
    double compute_seconds = 0;    ///< measured inside the worker
    char error[240] = {};
};

/// Offsets are bytes from the start of the segment; -1 = absent.
struct ReservoirDesc {
    std::int64_t n = 0, d = 0, steps = 0, nnz = 0;
    std::int64_t row_ptr = -1, col_idx = -1, values = -1;  ///< CSR W (int64, int32, T)
    std::int64_t w_in = -1;                                ///< N × D, C order
    std::int64_t x0 = -1;                                  ///< N
    std::int64_t inputs = -1;                              ///< steps × D
    std::int64_t bias = -1;                                ///< N or -1
    std::int64_t out = -1;                                 ///< steps × N, written by the worker
    double leak = 1;
    std::uint32_t activation = 0;
    std::uint32_t calibrate = 0;   ///< the parent context's ContextOptions.calibrate
    char backend[32] = {};         ///< the parent context's backend request
};

struct ReasoningDesc {
    std::int64_t n = 0, d = 0, o = 0, steps = 0;
    double density = 0.1, spectral_scale = 0.9, leak = 1;
    std::uint64_t seed = 0;
    std::int64_t w_out = -1;    ///< O × N readout (the core's current one)
    std::int64_t inputs = -1;   ///< steps × D
    std::int64_t out = -1;      ///< steps × O, written by the worker
    std::uint32_t calibrate = 0;
    char backend[32] = {};
};

struct PluginDesc {
    std::int64_t in = -1, n = 0;
    std::int64_t out = -1, capacity = 0;
    std::int64_t out_n = 0;     ///< written by the worker
    char library[512] = {};
    char symbol[128] = {};
};

/// A mapped shared-memory segment. The creating side owns the name and unlinks it in the
/// destructor (every path, exceptions included); an opening side only unmaps.
class SharedSegment {
public:
    SharedSegment() = default;
    /// Creates `bytes` (≥ 1) under a fresh name; throws WorkerError on failure.
    static SharedSegment create(std::size_t bytes);
    /// Maps an existing segment read-write; throws std::runtime_error on failure.
    static SharedSegment open(const std::string& name, std::size_t bytes);
    SharedSegment(SharedSegment&& o) noexcept { *this = std::move(o); }
    SharedSegment& operator=(SharedSegment&& o) noexcept;
    SharedSegment(const SharedSegment&) = delete;
    SharedSegment& operator=(const SharedSegment&) = delete;
    ~SharedSegment() { reset(); }
    void reset();

    std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& name() const { return name_; }
    template <class T>
    T* at(std::int64_t offset) const { return reinterpret_cast<T*>(data_ + offset); }

private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::string name_;
    bool owner_ = false;
};

/// Offsets of arrays packed into a segment, 64-byte aligned.
class SegmentLayout {
public:
    std::int64_t add(std::size_t bytes) {
        std::int64_t at = static_cast<std::int64_t>(size_);
        size_ += (bytes + 63) / 64 * 64;
        return at;
    }
    std::size_t size() const { return size_ == 0 ? 64 : size_; }

private:
    std::size_t size_ = 0;
};

/// Copies `s` into the fixed-size field `dst` (cap bytes with its terminating NUL); ValueError
/// naming `what` when it does not fit.
void copy_name(char* dst, std::size_t cap, const std::string& s, const char* what);

/// Whole-message I/O on the worker's socket: false on EOF or error (the other side died), retries EINTR.
bool write_all(int fd, const void* data, std::size_t bytes);
bool read_all(int fd, void* data, std::size_t bytes);

}  // namespace neuroperf::parallel
