#include "neuroperf/array.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/mman.h>

#include <fmt/format.h>

namespace neuroperf {

const char* dtype_name(DType dtype) { return dtype == DType::float32 ? "float32" : "float64"; }

Layout Layout::contiguous(std::span<const index_t> shape) {
    if (shape.size() > static_cast<std::size_t>(kMaxRank))
        throw ShapeError(fmt::format("shape: expected rank <= {}, got rank {}", kMaxRank, shape.size()));
    Layout l;
    l.rank = static_cast<int>(shape.size());
    index_t stride = 1;
    for (int d = l.rank - 1; d >= 0; --d) {
        index_t extent = shape[static_cast<std::size_t>(d)];
        if (extent < 0)
            throw ShapeError(fmt::format("shape: expected non-negative extents, got {} on axis {}", extent, d));
        l.shape[static_cast<std::size_t>(d)] = extent;
        l.strides[static_cast<std::size_t>(d)] = stride;
        stride *= std::max<index_t>(extent, 1);
    }
    return l;
}

index_t Layout::size() const {
    index_t n = 1;
    for (int d = 0; d < rank; ++d) n *= shape[static_cast<std::size_t>(d)];
    return n;
}

bool Layout::is_c_contiguous() const {
    index_t expected = 1;
    for (int d = rank - 1; d >= 0; --d) {
        auto ud = static_cast<std::size_t>(d);
        if (shape[ud] != 1 && strides[ud] != expected) return size() == 0;
        expected *= shape[ud];
    }
    return true;
}

std::string Layout::shape_string() const {
    std::string s = "(";
    for (int d = 0; d < rank; ++d) {
        if (d) s += ", ";
        s += std::to_string(shape[static_cast<std::size_t>(d)]);
    }
    if (rank == 1) s += ",";
    return s + ")";
}

template <class T>
ArrayView<T>::ArrayView(T* data, std::span<const index_t> shape, std::span<const index_t> strides)
    : data_(data) {
    if (shape.size() != strides.size())
        throw ShapeError(fmt::format("strides: expected {} entries (one per axis), got {}", shape.size(), strides.size()));
    layout_ = Layout::contiguous(shape);
    for (std::size_t d = 0; d < strides.size(); ++d) layout_.strides[d] = strides[d];
}

template <class T>
ArrayView<T> ArrayView<T>::transposed() const {
    if (rank() != 2)
        throw ShapeError(fmt::format("transposed: expected a rank-2 view, got rank {}", rank()));
    Layout l = layout_;
    std::swap(l.shape[0], l.shape[1]);
    std::swap(l.strides[0], l.strides[1]);
    return {data_, l};
}

template <class T>
ArrayView<T> ArrayView<T>::slice(int axis, index_t start, index_t stop, index_t step) const {
    if (axis < 0 || axis >= rank())
        throw ShapeError(fmt::format("slice: axis {} out of range for rank {}", axis, rank()));
    auto ua = static_cast<std::size_t>(axis);
    if (step <= 0) throw ValueError(fmt::format("slice: expected step > 0, got {}", step));
    if (start < 0 || stop < start || stop > layout_.shape[ua])
        throw ShapeError(fmt::format("slice: expected 0 <= start <= stop <= {}, got [{}, {})",
                                     layout_.shape[ua], start, stop));
    Layout l = layout_;
    l.shape[ua] = (stop - start + step - 1) / step;
    l.strides[ua] = layout_.strides[ua] * step;
    return {data_ + start * layout_.strides[ua], l};
}

template <class T>
std::pair<const std::byte*, const std::byte*> ArrayView<T>::byte_span() const {
    if (size() == 0 || data_ == nullptr) return {nullptr, nullptr};
    index_t lo = 0, hi = 0;
    for (int d = 0; d < rank(); ++d) {
        index_t reach = (shape(d) - 1) * stride(d);
        (reach < 0 ? lo : hi) += reach;
    }
    auto* base = reinterpret_cast<const std::byte*>(data_);
    return {base + lo * static_cast<index_t>(sizeof(T)), base + (hi + 1) * static_cast<index_t>(sizeof(T))};
}

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheAllowed = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCacheAllowed = false;
#else
constexpr bool kCacheAllowed = true;
#endif
#else
constexpr bool kCacheAllowed = true;
#endif

// The cache of freed large blocks. Live large blocks are recorded with their size so that
// AlignedFree (which gets only a pointer) can return them. Never destroyed: arrays handed to
// Python may be freed after this library's static destructors have run.
class BlockCache {
public:
    BlockCache() {
        limit_ = std::size_t{256} << 20;
        if (const char* env = std::getenv("NEUROPERF_BUFFER_CACHE_MB")) {
            char* end = nullptr;
            unsigned long long mb = std::strtoull(env, &end, 10);
            if (end != env && *end == '\0' && mb < (std::size_t{1} << 44)) limit_ = static_cast<std::size_t>(mb) << 20;
        }
    }

    // A cached block of at least `bytes` and at most 25% larger, or nullptr.
    void* take(std::size_t bytes) {
        std::lock_guard lock(mutex_);
        std::size_t best = free_.size();
        for (std::size_t i = 0; i < free_.size(); ++i) {
            std::size_t s = free_[i].second;
            if (s >= bytes && s - bytes <= bytes / 4 && (best == free_.size() || s < free_[best].second)) best = i;
        }
        if (best == free_.size()) return nullptr;
        auto [p, s] = free_[best];
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
        cached_ -= s;
        live_.emplace(p, s);
        return p;
    }

    void record(void* p, std::size_t bytes) {
        std::lock_guard lock(mutex_);
        live_.emplace(p, bytes);
    }

    // Keeps a recorded block (evicting the oldest beyond the limit); false when `p` is not ours.
    bool give_back(void* p) {
        std::vector<void*> evicted;
        {
            std::lock_guard lock(mutex_);
            auto it = live_.find(p);
            if (it == live_.end()) return false;
            std::size_t s = it->second;
            live_.erase(it);
            if (s > limit_) {
                evicted.push_back(p);
            } else {
                free_.emplace_back(p, s);
                cached_ += s;
                while (cached_ > limit_) {
                    evicted.push_back(free_.front().first);
                    cached_ -= free_.front().second;
                    free_.erase(free_.begin());
                }
            }
        }
        for (void* q : evicted) std::free(q);
        return true;
    }

    std::size_t release_all() {
        std::vector<std::pair<void*, std::size_t>> blocks;
        {
            std::lock_guard lock(mutex_);
            blocks.swap(free_);
            cached_ = 0;
        }
        std::size_t total = 0;
        for (auto [p, s] : blocks) std::free(p), total += s;
        return total;
    }

    std::size_t cached() {
        std::lock_guard lock(mutex_);
        return cached_;
    }

    bool enabled() const { return limit_ > 0; }

private:
    std::mutex mutex_;
    std::unordered_map<void*, std::size_t> live_;
    std::vector<std::pair<void*, std::size_t>> free_;  // oldest first
    std::size_t cached_ = 0, limit_ = 0;
};

BlockCache* block_cache() {
    if constexpr (!kCacheAllowed) return nullptr;
    static BlockCache* cache = new BlockCache();  // intentionally never destroyed (see above)
    return cache->enabled() ? cache : nullptr;
}

}  // namespace

std::size_t free_cached_buffers() {
    BlockCache* cache = block_cache();
    return cache ? cache->release_all() : 0;
}

std::size_t cached_buffer_bytes() {
    BlockCache* cache = block_cache();
    return cache ? cache->cached() : 0;
}

namespace detail {
void AlignedFree::operator()(void* p) const noexcept {
    if (!p) return;
    BlockCache* cache = block_cache();
    try {
        if (cache && cache->give_back(p)) return;
    } catch (...) {
        // Bookkeeping could not allocate: the block is freed below instead of being kept. It is
        // still in `live_` then, which only costs a map entry.
    }
    std::free(p);
}

void* aligned_alloc_bytes(std::size_t bytes) {
    // Large arrays are aligned to and advised onto 2 MiB pages and come from the block cache
    // when it holds one of a similar size (see free_cached_buffers in array.hpp).
    std::size_t align = bytes >= 2 * kHugePage ? kHugePage : kAlignment;
    if (bytes > std::numeric_limits<std::size_t>::max() - align)
        throw ValueError(fmt::format("allocation: {} bytes is too large", bytes));
    std::size_t rounded = (bytes + align - 1) / align * align;
    BlockCache* cache = align == kHugePage ? block_cache() : nullptr;
    if (cache)
        if (void* p = cache->take(rounded)) return p;
    void* p = std::aligned_alloc(align, std::max<std::size_t>(rounded, align));
    if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    if (cache) {
        try {
            cache->record(p, rounded);
        } catch (...) {
            std::free(p);
            throw;
        }
    }
    return p;
}
}  // namespace detail

template <class T>
Array<T>::Array(std::span<const index_t> shape) : Array(shape, true) {}

template <class T>
Array<T>::Array(std::span<const index_t> shape, bool zero) : layout_(Layout::contiguous(shape)) {
    auto n = static_cast<std::size_t>(layout_.size());
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
        throw ValueError(fmt::format("Array: shape {} is too large", layout_.shape_string()));
    data_.reset(static_cast<T*>(detail::aligned_alloc_bytes(n * sizeof(T))));
    if (n && zero) std::memset(data_.get(), 0, n * sizeof(T));
}

template <class T>
Array<T> Array<T>::copy_of(ArrayView<const T> v) {
    const Layout& l = v.layout();
    Array out(std::span<const index_t>(l.shape.data(), static_cast<std::size_t>(l.rank)));
    if (out.size() == 0) return out;
    if (v.is_contiguous()) {
        std::memcpy(out.data(), v.data(), static_cast<std::size_t>(out.size()) * sizeof(T));
        return out;
    }
    // Walk the view in C order with an index odometer.
    std::array<index_t, kMaxRank> idx{};
    T* dst = out.data();
    for (index_t flat = 0; flat < out.size(); ++flat) {
        index_t off = 0;
        for (int d = 0; d < l.rank; ++d) off += idx[static_cast<std::size_t>(d)] * l.strides[static_cast<std::size_t>(d)];
        dst[flat] = v.data()[off];
        for (int d = l.rank - 1; d >= 0; --d) {
            auto ud = static_cast<std::size_t>(d);
            if (++idx[ud] < l.shape[ud]) break;
            idx[ud] = 0;
        }
    }
    return out;
}

template <class T>
ArrayView<const T> DynView::as(const char* arg) const {
    if (dtype != dtype_of<T>())
        throw ShapeError(fmt::format("{}: expected dtype {}, got {}", arg, dtype_name(dtype_of<T>()), dtype_name(dtype)));
    return {static_cast<const T*>(data), layout};
}

template <class T>
Array<T>& DynArray::get() {
    if (dtype_ != dtype_of<T>())
        throw ShapeError(fmt::format("DynArray: holds {}, asked for {}", dtype_name(dtype_), dtype_name(dtype_of<T>())));
    if constexpr (std::is_same_v<T, float>) return f32_;
    else return f64_;
}

DynView DynArray::view() {
    return dtype_ == DType::float32 ? DynView::of(f32_.view()) : DynView::of(f64_.view());
}

template class ArrayView<float>;
template class ArrayView<const float>;
template class ArrayView<double>;
template class ArrayView<const double>;
// Byte views (spike trains as bool/uint8): the members that do not involve a DType.
#define NEUROPERF_BYTE_VIEW(T)                                                                    \
    template ArrayView<T>::ArrayView(T*, std::span<const index_t>, std::span<const index_t>);     \
    template ArrayView<T> ArrayView<T>::transposed() const;                                       \
    template ArrayView<T> ArrayView<T>::slice(int, index_t, index_t, index_t) const;              \
    template std::pair<const std::byte*, const std::byte*> ArrayView<T>::byte_span() const;
NEUROPERF_BYTE_VIEW(std::uint8_t)
NEUROPERF_BYTE_VIEW(const std::uint8_t)
#undef NEUROPERF_BYTE_VIEW
template class Array<float>;
template class Array<double>;
template ArrayView<const float> DynView::as<float>(const char*) const;
template ArrayView<const double> DynView::as<double>(const char*) const;
template Array<float>& DynArray::get<float>();
template Array<double>& DynArray::get<double>();

}  // namespace neuroperf
