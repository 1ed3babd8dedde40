// Python <-> C++ conversions of the extension module: exceptions, arrays in (zero-copy views of
// NumPy / DLPack / array-likes), arrays out (NumPy arrays that take over the C++ buffer), CSR
// matrices (ours or scipy.sparse).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nanobind/nanobind.h>

#include "neuroperf/array.hpp"
#include "neuroperf/sparse.hpp"

namespace neuroperf::py {

namespace nb = nanobind;

/// Creates the Python exception classes (neuroperf.Error and its subclasses, each also deriving
/// from the matching builtin) in module `m` and registers the C++ -> Python translation.
void register_exceptions(nb::module_& m);
/// A new exception class neuroperf.<name> deriving from `bases`, added to module `m`.
PyObject* new_exception(nb::module_& m, const char* name, const char* doc, std::initializer_list<PyObject*> bases);
/// neuroperf.Error (the base of every neuroperf exception).
PyObject* error_class();
/// Raises neuroperf.TypeError (a TypeError and a neuroperf.Error) with `message`.
[[noreturn]] void raise_type_error(const std::string& message);

/// An input array: a view of the caller's memory when it is float32/float64 (any strides),
/// otherwise of a converted copy. `keep` holds whatever owns the memory for the call.
struct Input {
    const char* arg = "";
    nb::object keep;       ///< the NumPy array whose memory `data` points into
    const void* data = nullptr;
    DType dtype = DType::float64;
    bool votes = true;     ///< float input: takes part in choosing the call's dtype
    bool integral = false; ///< bool or integer array (converted to the call's dtype)
    bool bytes = false;    ///< bool or uint8 array (kernels that take bytes use it in place)
    Layout layout{};

    template <class T>
    ArrayView<const T> view() const {
        return {static_cast<const T*>(data), layout};
    }
    ArrayView<const std::uint8_t> byte_view() const { return {static_cast<const std::uint8_t*>(data), layout}; }
};

/// Imports NumPy's C API (once, at module initialisation).
void init_numpy();

/// `obj` as an array named `arg`: NumPy arrays are viewed without a copy (any strides), objects
/// with __dlpack__ through numpy.from_dlpack (no copy for CPU memory), other array-likes through
/// numpy.asarray. Bool and integer arrays are accepted (converted to the call's float dtype, see
/// resolve_dtype); complex, object and string arrays raise neuroperf.TypeError, rank > 4
/// neuroperf.ShapeError.
Input as_input(nb::handle obj, const char* arg);
/// The dtype of a call: float64 if any float input is float64, float32 if all float inputs are
/// float32, float64 when none is float. Converts the inputs that differ (a copy each).
/// `extra_vote`: the dtype of a non-array operand (a CSR matrix) taking part in the choice.
DType resolve_dtype(std::initializer_list<Input*> inputs, std::optional<DType> extra_vote = {});
/// Converts one input to `dtype` if it differs.
void convert_input(Input& in, DType dtype);

/// A writable float array passed to an in-place call: must already have `dtype`.
template <class T>
ArrayView<T> as_output(nb::handle obj, const char* arg);

/// The data of a C-contiguous, aligned, native int32 NumPy array of exactly `size` elements
/// (writable when `writable`); neuroperf.TypeError/ShapeError otherwise. No conversion: the
/// caller's array is used in place.
std::int32_t* int32_buffer(nb::handle obj, const char* arg, index_t size, bool writable);

/// A NumPy array owning `storage`'s buffer and showing `view` (which lies inside it).
template <class T>
nb::object to_numpy_view(Array<T>&& storage, ArrayView<const T> view);

/// A new C-ordered NumPy array of `shape` allocated by NumPy (its allocator, not ours): what a
/// small result is written into, since handing a C++ buffer over costs a capsule per call.
/// Uninitialised; `data` receives its first element.
template <class T>
nb::object new_numpy(std::span<const index_t> shape, T** data);

/// A NumPy array owning `a`'s buffer (no copy).
template <class T>
nb::object to_numpy(Array<T>&& a);

/// A new NumPy integer array holding a copy of `values`.
nb::object to_numpy_copy(std::span<const std::int64_t> values);
nb::object to_numpy_copy(std::span<const std::int32_t> values);

/// A CSR matrix of either dtype (Python class neuroperf.CsrMatrix).
struct PyCsr {
    std::variant<CsrMatrix<float>, CsrMatrix<double>> m;
    DType dtype() const { return m.index() == 0 ? DType::float32 : DType::float64; }
    template <class T>
    const CsrMatrix<T>& as() const { return std::get<CsrMatrix<T>>(m); }
    template <class T>
    CsrMatrix<T>& as() { return std::get<CsrMatrix<T>>(m); }
};
/// CSR from its three arrays (copied; indices checked as in CsrMatrix::validate).
PyCsr csr_from_arrays(index_t rows, index_t cols, nb::handle indptr, nb::handle indices, nb::handle data,
                      const char* arg);
/// True for scipy.sparse matrices/arrays (duck-typed: tocsr + shape + format).
bool is_scipy_sparse(nb::handle obj);
/// scipy.sparse -> PyCsr (canonical copy when it has unsorted or duplicate indices).
PyCsr csr_from_scipy(nb::handle obj, const char* arg);
/// `c` as CsrMatrix<T>: itself when it has that dtype, else a converted copy kept in `storage`.
template <class T>
const CsrMatrix<T>& csr_as(const PyCsr& c, CsrMatrix<T>& storage);

/// A matrix argument: a dense array, a neuroperf.CsrMatrix or a scipy.sparse one.
struct MatrixArg {
    std::optional<Input> dense;
    const PyCsr* csr = nullptr;
    std::optional<PyCsr> owned;  ///< converted from scipy.sparse

    const PyCsr* sparse() const { return owned ? &*owned : csr; }
    std::optional<DType> sparse_dtype() const {
        return sparse() ? std::optional<DType>(sparse()->dtype()) : std::nullopt;
    }
};
MatrixArg as_matrix(nb::handle obj, const char* arg);

/// Calls f.template operator()<float>() or <double>() by dtype.
template <class F>
decltype(auto) with_dtype(DType d, F&& f) {
    if (d == DType::float32) return f.template operator()<float>();
    return f.template operator()<double>();
}

/// "float32" / "float64" object for numpy's dtype= arguments.
nb::object numpy_dtype(DType d);
/// numpy module (imported once).
nb::module_& numpy();

}  // namespace neuroperf::py
