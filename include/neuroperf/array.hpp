// Strided array views and owning, 64-byte aligned arrays of float32/float64.
//
//   neuroperf::Array<float> a({3, 4});          // zero-initialised, C order
//   neuroperf::ArrayView<const float> v = a.view();
//   float x = v(1, 2);  auto t = v.transposed(); // no copy
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "neuroperf/error.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

using index_t = std::int64_t;
inline constexpr int kMaxRank = 4;
inline constexpr std::size_t kAlignment = 64;

enum class DType : std::uint8_t { float32, float64 };

/// "float32" / "float64".
NEUROPERF_API const char* dtype_name(DType dtype);

template <class T>
constexpr DType dtype_of() {
    using U = std::remove_const_t<T>;
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, double>,
                  "neuroperf arrays hold float or double");
    return std::is_same_v<U, float> ? DType::float32 : DType::float64;
}

/// Shape and element strides of up to kMaxRank dimensions.
struct NEUROPERF_API Layout {
    int rank = 0;
    std::array<index_t, kMaxRank> shape{};
    std::array<index_t, kMaxRank> strides{};  ///< in elements, may be 0 or negative

    /// C-order (row-major) contiguous layout of `shape`. Throws ShapeError for rank > kMaxRank
    /// or a negative extent.
    static Layout contiguous(std::span<const index_t> shape);
    index_t size() const;  ///< product of the extents (1 for rank 0)
    bool is_c_contiguous() const;
    std::string shape_string() const;  ///< "(3, 4)"
};

/// Non-owning view of T (or const T) with arbitrary element strides. Cheap to copy. T is float or
/// double; views of std::uint8_t (spike trains as bytes) exist too, without dtype().
template <class T>
class NEUROPERF_API ArrayView {
public:
    using value_type = std::remove_const_t<T>;

    ArrayView() = default;
    ArrayView(T* data, const Layout& layout) : data_(data), layout_(layout) {}
    /// Contiguous C-order view of `shape`.
    ArrayView(T* data, std::initializer_list<index_t> shape)
        : data_(data), layout_(Layout::contiguous({shape.begin(), shape.size()})) {}
    ArrayView(T* data, std::span<const index_t> shape, std::span<const index_t> strides);

    /// A view of T converts to a view of const T.
    operator ArrayView<const value_type>() const { return {data_, layout_}; }

    T* data() const { return data_; }
    const Layout& layout() const { return layout_; }
    int rank() const { return layout_.rank; }
    index_t shape(int d) const { return layout_.shape[static_cast<std::size_t>(d)]; }
    index_t stride(int d) const { return layout_.strides[static_cast<std::size_t>(d)]; }
    index_t size() const { return layout_.size(); }
    bool empty() const { return size() == 0; }
    bool is_contiguous() const { return layout_.is_c_contiguous(); }
    DType dtype() const { return dtype_of<T>(); }

    T& operator()(index_t i) const { return data_[i * stride(0)]; }
    T& operator()(index_t i, index_t j) const { return data_[i * stride(0) + j * stride(1)]; }

    /// Rank-2 view with the axes swapped (no copy). Throws ShapeError unless rank == 2.
    ArrayView transposed() const;
    /// Elements [start, stop) with `step` > 0 along `axis` (no copy).
    ArrayView slice(int axis, index_t start, index_t stop, index_t step = 1) const;

    /// Address range [lo, hi) spanned by the elements, for overlap checks; empty views span nothing.
    std::pair<const std::byte*, const std::byte*> byte_span() const;

private:
    T* data_ = nullptr;
    Layout layout_{};
};

/// True when the memory spanned by the two views overlaps.
template <class T, class U>
bool may_alias(const ArrayView<T>& a, const ArrayView<U>& b) {
    auto [alo, ahi] = a.byte_span();
    auto [blo, bhi] = b.byte_span();
    return alo < bhi && blo < ahi;
}

namespace detail {
struct NEUROPERF_API AlignedFree {
    void operator()(void* p) const noexcept;
};
NEUROPERF_API void* aligned_alloc_bytes(std::size_t bytes);  // throws ValueError on overflow, std::bad_alloc
}  // namespace detail

/// Large arrays (≥ 4 MiB) are 2 MiB-aligned and, when freed, kept in a bounded process-wide cache
/// for reuse by the next allocation of a similar size: first-touching fresh pages costs more than
/// many kernels that fill them (an 80 MB result: ~8 ms of page zeroing in the kernel, every call).
/// The bound is NEUROPERF_BUFFER_CACHE_MB (default 256; 0 disables; read once). Under
/// AddressSanitizer the cache is off so that use-after-free stays detectable.
/// free_cached_buffers() returns the cached blocks to the system and says how many bytes it freed.
NEUROPERF_API std::size_t free_cached_buffers();
/// Bytes currently held by the cache (not in use by any array).
NEUROPERF_API std::size_t cached_buffer_bytes();

/// Owning, C-order, 64-byte aligned array. Movable, not implicitly copyable (use clone()).
template <class T>
class NEUROPERF_API Array {
    static_assert(!std::is_const_v<T>);

public:
    Array() = default;
    /// Zero-initialised array of `shape`.
    explicit Array(std::initializer_list<index_t> shape) : Array(std::span<const index_t>(shape.begin(), shape.size())) {}
    explicit Array(std::span<const index_t> shape);
    Array(Array&&) noexcept = default;
    Array& operator=(Array&&) noexcept = default;

    /// Array of `shape` whose elements are left uninitialised, for kernels that write every element.
    static Array uninitialized(std::initializer_list<index_t> shape) {
        return uninitialized(std::span<const index_t>(shape.begin(), shape.size()));
    }
    static Array uninitialized(std::span<const index_t> shape) { return Array(shape, false); }
    /// Deep copy of any view into a new C-order array.
    static Array copy_of(ArrayView<const T> v);
    Array clone() const { return copy_of(view()); }

    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    const Layout& layout() const { return layout_; }
    int rank() const { return layout_.rank; }
    index_t shape(int d) const { return layout_.shape[static_cast<std::size_t>(d)]; }
    index_t size() const { return layout_.size(); }
    ArrayView<T> view() { return {data_.get(), layout_}; }
    ArrayView<const T> view() const { return {data_.get(), layout_}; }
    operator ArrayView<T>() { return view(); }
    operator ArrayView<const T>() const { return view(); }

    T& operator()(index_t i) { return data_.get()[i]; }
    T& operator()(index_t i, index_t j) { return data_.get()[i * layout_.strides[0] + j]; }
    const T& operator()(index_t i, index_t j) const { return data_.get()[i * layout_.strides[0] + j]; }
    void fill(T value) { std::fill_n(data_.get(), size(), value); }

    /// Hands the buffer to another owner (e.g. a NumPy array's capsule), which must free it with
    /// detail::AlignedFree; the array is left empty (rank 0, no data).
    std::unique_ptr<T[], detail::AlignedFree> release() noexcept {
        layout_ = {};
        return std::move(data_);
    }

private:
    Array(std::span<const index_t> shape, bool zero);
    std::unique_ptr<T[], detail::AlignedFree> data_;
    Layout layout_{};
};

/// Type-erased view, as arrives from Python or files: the dtype is checked when typed.
struct NEUROPERF_API DynView {
    DType dtype = DType::float32;
    void* data = nullptr;
    Layout layout{};
    bool writable = false;

    template <class T>
    static DynView of(ArrayView<T> v) {
        return {dtype_of<T>(), const_cast<std::remove_const_t<T>*>(v.data()), v.layout(),
                !std::is_const_v<T>};
    }
    /// Typed view; throws ShapeError naming `arg` when the dtype differs.
    template <class T>
    ArrayView<const T> as(const char* arg) const;
};

/// Type-erased owning array (float32 or float64).
class NEUROPERF_API DynArray {
public:
    DynArray() = default;
    DynArray(Array<float> a) : dtype_(DType::float32), f32_(std::move(a)) {}
    DynArray(Array<double> a) : dtype_(DType::float64), f64_(std::move(a)) {}
    DType dtype() const { return dtype_; }
    const Layout& layout() const { return dtype_ == DType::float32 ? f32_.layout() : f64_.layout(); }
    /// Typed access; throws ShapeError when the dtype differs.
    template <class T>
    Array<T>& get();
    DynView view();

private:
    DType dtype_ = DType::float32;
    Array<float> f32_;
    Array<double> f64_;
};

}  // namespace neuroperf
