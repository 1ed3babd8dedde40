#include "neuroperf/array.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

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

namespace detail {
void AlignedFree::operator()(void* p) const noexcept { std::free(p); }

void* aligned_alloc_bytes(std::size_t bytes) {
    // Large arrays are aligned to and advised onto 2 MiB pages: first-touching 4 KiB pages costs
    // more than many kernels that fill them (an 80 MB result: ~60 ms in 4 KiB page faults).
    constexpr std::size_t kHugePage = std::size_t{2} << 20;
    std::size_t align = bytes >= 2 * kHugePage ? kHugePage : kAlignment;
    if (bytes > std::numeric_limits<std::size_t>::max() - align)
        throw ValueError(fmt::format("allocation: {} bytes is too large", bytes));
    std::size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, std::max<std::size_t>(rounded, align));
    if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    return p;
}
}  // namespace detail

template <class T>
Array<T>::Array(std::span<const index_t> shape) : layout_(Layout::contiguous(shape)) {
    auto n = static_cast<std::size_t>(layout_.size());
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
        throw ValueError(fmt::format("Array: shape {} is too large", layout_.shape_string()));
    data_.reset(static_cast<T*>(detail::aligned_alloc_bytes(n * sizeof(T))));
    if (n) std::memset(data_.get(), 0, n * sizeof(T));
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
template class Array<float>;
template class Array<double>;
template ArrayView<const float> DynView::as<float>(const char*) const;
template ArrayView<const double> DynView::as<double>(const char*) const;
template Array<float>& DynArray::get<float>();
template Array<double>& DynArray::get<double>();

}  // namespace neuroperf
