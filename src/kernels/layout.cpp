// Arrays laid out for an access pattern (JITCompiler::optimize_memory_layout): row-major,
// column-major or 64×64 blocked tiles, copied only when the array is not already so.
#include "kernels/layout.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace neuroperf::kernels {

template <class T>
bool lay_out(ArrayView<const T> a, std::string_view pattern, Array<T>& storage, ArrayView<const T>& view) {
    if (pattern != "row_major" && pattern != "column_major" && pattern != "blocked")
        throw ValueError(fmt::format("access_pattern: expected \"row_major\", \"column_major\" or \"blocked\", got \"{}\"", pattern));
    if (a.rank() < 1 || a.rank() > 2)
        throw ShapeError(fmt::format("array: expected rank 1 or 2, got rank {} {}", a.rank(), a.layout().shape_string()));
    const index_t rows = a.shape(0), cols = a.rank() == 2 ? a.shape(1) : 1;
    const index_t rs = a.stride(0), cs = a.rank() == 2 ? a.stride(1) : 0;
    const bool aligned = reinterpret_cast<std::uintptr_t>(a.data()) % kAlignment == 0;
    auto at = [&](index_t i, index_t j) { return a.data()[i * rs + j * cs]; };
    if (pattern == "row_major") {
        if (aligned && a.is_contiguous()) {
            view = a;
            return false;
        }
        storage = Array<T>::copy_of(a);
        view = storage.view();
    } else if (pattern == "column_major") {
        bool fortran = a.rank() == 1 ? (rs == 1 || rows <= 1) : ((rs == 1 || rows <= 1) && (cs == rows || cols <= 1));
        if (aligned && fortran) {
            view = a;
            return false;
        }
        if (a.rank() == 1) {
            storage = Array<T>::copy_of(a);
            view = storage.view();
        } else {
            storage = Array<T>({cols, rows});
            for (index_t j = 0; j < cols; ++j)
                for (index_t i = 0; i < rows; ++i) storage.data()[j * rows + i] = at(i, j);
            view = ArrayView<const T>(storage.view()).transposed();
        }
    } else {
        constexpr index_t B = 64;
        const index_t tr = (rows + B - 1) / B, tc = (cols + B - 1) / B;
        storage = Array<T>({tr * tc, B * B});
        for (index_t bi = 0; bi < tr; ++bi)
            for (index_t bj = 0; bj < tc; ++bj) {
                T* tile = storage.data() + (bi * tc + bj) * B * B;
                for (index_t i = bi * B; i < std::min(rows, bi * B + B); ++i)
                    for (index_t j = bj * B; j < std::min(cols, bj * B + B); ++j) tile[(i - bi * B) * B + (j - bj * B)] = at(i, j);
            }
        view = storage.view();
    }
    return true;
}

template bool lay_out<float>(ArrayView<const float>, std::string_view, Array<float>&, ArrayView<const float>&);
template bool lay_out<double>(ArrayView<const double>, std::string_view, Array<double>&, ArrayView<const double>&);

}  // namespace neuroperf::kernels
