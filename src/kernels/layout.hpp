// Arrays in the layout an access pattern wants (the implementation of
// JITCompiler::optimize_memory_layout, include/neuroperf/jit_compiler.hpp).
#pragma once

#include <string_view>

#include "neuroperf/array.hpp"

namespace neuroperf::kernels {

/// `a` (rank 1 or 2) in `pattern` ("row_major", "column_major" or "blocked": 64×64 zero-padded
/// C-order tiles in row-major order, shape (tiles, 4096)), 64-byte aligned: `view` shows it,
/// over `a` itself when it already was in that layout and aligned (returns false), else over
/// `storage` (returns true). ValueError for another pattern, ShapeError for rank 0 or > 2.
template <class T>
bool lay_out(ArrayView<const T> a, std::string_view pattern, Array<T>& storage, ArrayView<const T>& view);

}  // namespace neuroperf::kernels
