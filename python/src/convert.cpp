#include "convert.hpp"

#define PY_ARRAY_UNIQUE_SYMBOL neuroperf_numpy_api
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include "neuroperf/error.hpp"

namespace neuroperf::py {
namespace {

PyObject* exc_error = nullptr;
PyObject* exc_value = nullptr;
PyObject* exc_shape = nullptr;
PyObject* exc_type = nullptr;
PyObject* exc_backend = nullptr;
PyObject* exc_io = nullptr;
PyObject* exc_not_built = nullptr;

}  // namespace

PyObject* new_exception(nb::module_& m, const char* name, const char* doc, std::initializer_list<PyObject*> bases) {
    nb::tuple b = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(bases.size())));
    Py_ssize_t i = 0;
    for (PyObject* base : bases) {
        Py_INCREF(base);
        PyTuple_SET_ITEM(b.ptr(), i++, base);
    }
    std::string qual = std::string("neuroperf.") + name;
    PyObject* e = PyErr_NewExceptionWithDoc(qual.c_str(), doc, b.ptr(), nullptr);
    if (!e) throw nb::python_error();
    m.attr(name) = nb::handle(e);
    return e;
}

PyObject* error_class() { return exc_error; }

namespace {

std::string str_of(nb::handle h) {
    return nb::str(h).c_str();
}

std::string py_type_name(nb::handle obj) {
    return Py_TYPE(obj.ptr())->tp_name;
}

std::string dtype_string(nb::handle obj) {
    return nb::hasattr(obj, "dtype") ? str_of(obj.attr("dtype")) : std::string("?");
}

// Fills `in` from a NumPy array that is aligned, in native byte order and has element-multiple
// strides; returns false otherwise (the caller converts).
bool from_numpy(PyArrayObject* a, Input& in) {
    if (!PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a)) return false;
    int type = PyArray_TYPE(a);
    if (type == NPY_FLOAT) {
        in.dtype = DType::float32;
    } else if (type == NPY_DOUBLE) {
        in.dtype = DType::float64;
    } else if (PyTypeNum_ISINTEGER(type) || PyTypeNum_ISBOOL(type)) {
        in.votes = false;
        in.integral = true;
        in.bytes = type == NPY_BOOL || type == NPY_UINT8;
    } else {
        raise_type_error(fmt::format("{}: expected a float32 or float64 array (bool and integer arrays are "
                                     "converted), got dtype {}",
                                     in.arg, dtype_string(nb::handle(reinterpret_cast<PyObject*>(a)))));
    }
    int rank = PyArray_NDIM(a);
    if (rank > kMaxRank)
        throw ShapeError(fmt::format("{}: expected an array of rank at most {}, got rank {}", in.arg, kMaxRank, rank));
    // The accepted dtypes have power-of-two item sizes: a mask and a shift, not a division per
    // dimension (this runs on every call; a 32×32 product takes only ~0.6 µs).
    // (item & (item − 1)), not std::has_single_bit: without -mpopcnt that is a libgcc call.
    auto item = static_cast<std::uint64_t>(PyArray_ITEMSIZE(a));
    if (item == 0 || (item & (item - 1)) != 0) return false;
    int shift = std::countr_zero(item);
    in.layout = {};
    in.layout.rank = rank;
    for (int d = 0; d < rank; ++d) {
        npy_intp st = PyArray_STRIDE(a, d);
        if ((static_cast<std::uint64_t>(st) & (item - 1)) != 0) return false;
        in.layout.shape[static_cast<std::size_t>(d)] = PyArray_DIM(a, d);
        in.layout.strides[static_cast<std::size_t>(d)] = st >> shift;
    }
    in.data = PyArray_DATA(a);
    in.keep = nb::borrow(reinterpret_cast<PyObject*>(a));
    return true;
}

}  // namespace

void register_exceptions(nb::module_& m) {
    exc_error = new_exception(m, "Error", "Base class of every error neuroperf reports.", {PyExc_Exception});
    exc_value = new_exception(m, "ValueError", "A bad argument value.", {exc_error, PyExc_ValueError});
    exc_shape = new_exception(m, "ShapeError", "Array shapes or ranks that do not fit the call.",
                              {exc_value});
    exc_type = new_exception(m, "TypeError", "An argument of the wrong type or dtype.", {exc_error, PyExc_TypeError});
    exc_backend = new_exception(m, "BackendError", "A BLAS backend is missing or failed.", {exc_error, PyExc_RuntimeError});
    exc_io = new_exception(m, "IOError", "A file could not be read or written.", {exc_error, PyExc_OSError});
    exc_not_built = new_exception(m, "NotBuiltError", "A feature this build of neuroperf does not contain.",
                                  {exc_error, PyExc_NotImplementedError});
    nb::register_exception_translator([](const std::exception_ptr& p, void*) {
        try {
            std::rethrow_exception(p);
        } catch (const ShapeError& e) {
            PyErr_SetString(exc_shape, e.what());
        } catch (const ValueError& e) {
            PyErr_SetString(exc_value, e.what());
        } catch (const BackendError& e) {
            PyErr_SetString(exc_backend, e.what());
        } catch (const IOError& e) {
            PyErr_SetString(exc_io, e.what());
        } catch (const NotBuiltError& e) {
            PyErr_SetString(exc_not_built, e.what());
        } catch (const Error& e) {
            PyErr_SetString(exc_error, e.what());
        }
    });
}

void raise_type_error(const std::string& message) {
    PyErr_SetString(exc_type, message.c_str());
    throw nb::python_error();
}

nb::module_& numpy() {
    static nb::module_* np = new nb::module_(nb::module_::import_("numpy"));  // lives as long as the process
    return *np;
}

nb::object numpy_dtype(DType d) {
    return numpy().attr(d == DType::float32 ? "float32" : "float64");
}

void init_numpy() {
    if (_import_array() < 0) throw nb::python_error();
}

Input as_input(nb::handle obj, const char* arg) {
    Input in;
    in.arg = arg;
    if (PyArray_Check(obj.ptr()) && from_numpy(reinterpret_cast<PyArrayObject*>(obj.ptr()), in)) return in;
    if (obj.is_none()) raise_type_error(fmt::format("{}: expected an array, got None", arg));
    nb::object converted;
    try {
        if (PyArray_Check(obj.ptr()))  // unaligned, byte-swapped or odd strides: a native copy
            converted = numpy().attr("array")(obj, nb::arg("dtype") = obj.attr("dtype").attr("newbyteorder")("="));
        else if (nb::hasattr(obj, "__dlpack__"))
            converted = numpy().attr("from_dlpack")(obj);
        else
            converted = numpy().attr("asarray")(obj);
    } catch (nb::python_error& e) {
        raise_type_error(fmt::format("{}: expected an array (NumPy, DLPack or array-like) in CPU memory, got {} ({})",
                                     arg, py_type_name(obj), e.what()));
    }
    if (!PyArray_Check(converted.ptr()) || !from_numpy(reinterpret_cast<PyArrayObject*>(converted.ptr()), in))
        raise_type_error(fmt::format("{}: could not view {} as a NumPy array", arg, py_type_name(obj)));
    return in;
}

void convert_input(Input& in, DType dtype) {
    if (in.votes && in.dtype == dtype) return;
    nb::object converted = numpy().attr("asarray")(in.keep, nb::arg("dtype") = numpy_dtype(dtype));
    Input c;
    c.arg = in.arg;
    if (!from_numpy(reinterpret_cast<PyArrayObject*>(converted.ptr()), c))
        raise_type_error(fmt::format("{}: conversion to {} failed", in.arg, dtype_name(dtype)));
    in = std::move(c);
}

DType resolve_dtype(std::initializer_list<Input*> inputs, std::optional<DType> extra_vote) {
    bool any = extra_vote.has_value(), any64 = extra_vote == DType::float64;
    for (Input* in : inputs) {
        if (!in || !in->votes) continue;
        any = true;
        any64 |= in->dtype == DType::float64;
    }
    DType d = (!any || any64) ? DType::float64 : DType::float32;
    for (Input* in : inputs)
        if (in) convert_input(*in, d);
    return d;
}

template <class T>
ArrayView<T> as_output(nb::handle obj, const char* arg) {
    if (!PyArray_Check(obj.ptr()))
        raise_type_error(fmt::format("{}: expected a writable {} NumPy array (updated in place), got {}", arg,
                                     dtype_name(dtype_of<T>()), py_type_name(obj)));
    auto* a = reinterpret_cast<PyArrayObject*>(obj.ptr());
    if (!PyArray_ISWRITEABLE(a))
        throw ValueError(fmt::format("{}: expected a writable array (it is updated in place), got a read-only one", arg));
    Input in;
    in.arg = arg;
    if (!from_numpy(a, in) || !in.votes || in.dtype != dtype_of<T>())
        raise_type_error(fmt::format("{}: expected an aligned native-order {} array (updated in place, so it is not "
                                     "converted), got dtype {}",
                                     arg, dtype_name(dtype_of<T>()), dtype_string(obj)));
    return {static_cast<T*>(const_cast<void*>(in.data)), in.layout};
}

template <class T>
nb::object to_numpy_view(Array<T>&& storage, ArrayView<const T> view) {
    Layout l = view.layout();
    npy_intp dims[kMaxRank], strides[kMaxRank];
    for (int d = 0; d < l.rank; ++d) {
        dims[d] = static_cast<npy_intp>(l.shape[static_cast<std::size_t>(d)]);
        strides[d] = static_cast<npy_intp>(l.strides[static_cast<std::size_t>(d)] * static_cast<index_t>(sizeof(T)));
    }
    constexpr int type = std::is_same_v<T, float> ? NPY_FLOAT : NPY_DOUBLE;
    auto buffer = storage.release();
    if (!buffer || view.size() == 0) {  // empty result: NumPy allocates its own (nothing to hand over)
        PyObject* e = PyArray_ZEROS(l.rank, dims, type, 0);
        if (!e) throw nb::python_error();
        return nb::steal(e);
    }
    PyObject* arr = PyArray_New(&PyArray_Type, l.rank, dims, type, strides, const_cast<T*>(view.data()), 0,
                                NPY_ARRAY_WRITEABLE | NPY_ARRAY_ALIGNED, nullptr);
    if (!arr) throw nb::python_error();
    nb::object result = nb::steal(arr);
    T* p = buffer.release();
    PyObject* owner = PyCapsule_New(p, "neuroperf.buffer", [](PyObject* cap) {
        detail::AlignedFree{}(PyCapsule_GetPointer(cap, "neuroperf.buffer"));
    });
    if (!owner) {
        detail::AlignedFree{}(p);
        throw nb::python_error();
    }
    if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(arr), owner) < 0) throw nb::python_error();  // steals owner
    PyArray_UpdateFlags(reinterpret_cast<PyArrayObject*>(arr), NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
    return result;
}

template <class T>
nb::object to_numpy(Array<T>&& a) {
    Array<T> owner = std::move(a);
    ArrayView<const T> v = std::as_const(owner).view();
    return to_numpy_view(std::move(owner), v);
}

template <class T>
nb::object new_numpy(std::span<const index_t> shape, T** data) {
    npy_intp dims[kMaxRank];
    int rank = static_cast<int>(shape.size());
    for (int d = 0; d < rank; ++d) dims[d] = static_cast<npy_intp>(shape[static_cast<std::size_t>(d)]);
    constexpr int type = std::is_same_v<T, float> ? NPY_FLOAT : NPY_DOUBLE;
    PyObject* arr = PyArray_SimpleNew(rank, dims, type);
    if (!arr) throw nb::python_error();
    *data = static_cast<T*>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(arr)));
    return nb::steal(arr);
}

std::int32_t* int32_buffer(nb::handle obj, const char* arg, index_t size, bool writable) {
    if (!PyArray_Check(obj.ptr()))
        raise_type_error(fmt::format("{}: expected an int32 NumPy array of {} elements, got {}", arg, size,
                                     py_type_name(obj)));
    auto* a = reinterpret_cast<PyArrayObject*>(obj.ptr());
    if (PyArray_TYPE(a) != NPY_INT32 || !PyArray_ISCARRAY_RO(a))
        raise_type_error(fmt::format("{}: expected a C-contiguous int32 array (used in place, not converted), got "
                                     "dtype {}{}",
                                     arg, dtype_string(obj), PyArray_ISCARRAY_RO(a) ? "" : " (not C-contiguous)"));
    if (writable && !PyArray_ISWRITEABLE(a))
        throw ValueError(fmt::format("{}: expected a writable array, got a read-only one", arg));
    if (PyArray_SIZE(a) != size)
        throw ShapeError(fmt::format("{}: expected {} elements, got {}", arg, size, PyArray_SIZE(a)));
    return static_cast<std::int32_t*>(PyArray_DATA(a));
}

namespace {
template <class I>
nb::object int_copy(std::span<const I> values, int type) {
    npy_intp n = static_cast<npy_intp>(values.size());
    PyObject* arr = PyArray_SimpleNew(1, &n, type);
    if (!arr) throw nb::python_error();
    std::copy(values.begin(), values.end(), static_cast<I*>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(arr))));
    return nb::steal(arr);
}
}  // namespace

nb::object to_numpy_copy(std::span<const std::int64_t> values) { return int_copy(values, NPY_INT64); }
nb::object to_numpy_copy(std::span<const std::int32_t> values) { return int_copy(values, NPY_INT32); }

PyCsr csr_from_arrays(index_t rows, index_t cols, nb::handle indptr, nb::handle indices, nb::handle data,
                      const char* arg) {
    std::string a_ptr = fmt::format("{}.indptr", arg), a_idx = fmt::format("{}.indices", arg),
                a_data = fmt::format("{}.data", arg);
    Input p = as_input(indptr, a_ptr.c_str()), ix = as_input(indices, a_idx.c_str()), v = as_input(data, a_data.c_str());
    for (Input* in : {&p, &ix})
        if (!in->integral || in->layout.rank != 1)
            raise_type_error(fmt::format("{}: expected a 1-D integer array, got dtype {} of rank {}", in->arg,
                                         dtype_string(in->keep), in->layout.rank));
    if (v.layout.rank != 1)
        throw ShapeError(fmt::format("{}: expected a 1-D array, got shape {}", v.arg, v.layout.shape_string()));
    if (cols > std::numeric_limits<std::int32_t>::max())
        throw ValueError(fmt::format("{}: expected at most {} columns (32-bit column indices), got {}", arg,
                                     std::numeric_limits<std::int32_t>::max(), cols));
    auto as_i64 = [](const Input& in) {
        nb::object c = numpy().attr("ascontiguousarray")(in.keep, nb::arg("dtype") = numpy().attr("int64"));
        auto* arr = reinterpret_cast<PyArrayObject*>(c.ptr());
        auto* first = static_cast<const std::int64_t*>(PyArray_DATA(arr));
        return std::vector<std::int64_t>(first, first + PyArray_SIZE(arr));
    };
    std::vector<std::int64_t> ptr = as_i64(p);
    std::vector<std::int64_t> idx64 = as_i64(ix);
    std::vector<std::int32_t> idx(idx64.size());
    for (std::size_t i = 0; i < idx64.size(); ++i) {
        if (idx64[i] < 0 || idx64[i] >= cols)
            throw ValueError(fmt::format("{}: column index {} at position {} is outside [0, {})", a_idx, idx64[i], i, cols));
        idx[i] = static_cast<std::int32_t>(idx64[i]);
    }
    DType d = v.votes ? v.dtype : DType::float64;
    convert_input(v, d);
    return with_dtype(d, [&]<class T>() {
        auto view = v.view<T>();
        std::vector<T> vals(static_cast<std::size_t>(view.size()));
        for (index_t i = 0; i < view.size(); ++i) vals[static_cast<std::size_t>(i)] = view(i);
        return PyCsr{CsrMatrix<T>(rows, cols, std::move(ptr), std::move(idx), std::move(vals))};
    });
}

MatrixArg as_matrix(nb::handle obj, const char* arg) {
    MatrixArg m;
    if (nb::isinstance<PyCsr>(obj))
        m.csr = nb::inst_ptr<PyCsr>(obj);
    else if (is_scipy_sparse(obj))
        m.owned = csr_from_scipy(obj, arg);
    else
        m.dense = as_input(obj, arg);
    return m;
}

bool is_scipy_sparse(nb::handle obj) {
    return nb::hasattr(obj, "tocsr") && nb::hasattr(obj, "format") && nb::hasattr(obj, "shape");
}

PyCsr csr_from_scipy(nb::handle obj, const char* arg) {
    nb::object m = obj.attr("tocsr")();
    if (!nb::cast<bool>(m.attr("has_canonical_format"))) {
        m = m.attr("copy")();
        m.attr("sum_duplicates")();  // also sorts the indices
    }
    nb::tuple shape = nb::cast<nb::tuple>(m.attr("shape"));
    if (shape.size() != 2)
        throw ShapeError(fmt::format("{}: expected a 2-D sparse matrix, got {} dimensions", arg, shape.size()));
    return csr_from_arrays(nb::cast<index_t>(shape[0]), nb::cast<index_t>(shape[1]), m.attr("indptr"),
                           m.attr("indices"), m.attr("data"), arg);
}

template <class T>
const CsrMatrix<T>& csr_as(const PyCsr& c, CsrMatrix<T>& storage) {
    if (c.dtype() == dtype_of<T>()) return c.as<T>();
    storage = std::visit(
        [](const auto& src) {
            std::vector<T> vals(src.values().begin(), src.values().end());
            return CsrMatrix<T>(src.rows(), src.cols(), {src.row_ptr().begin(), src.row_ptr().end()},
                                {src.col_idx().begin(), src.col_idx().end()}, std::move(vals));
        },
        c.m);
    return storage;
}

template ArrayView<float> as_output<float>(nb::handle, const char*);
template ArrayView<double> as_output<double>(nb::handle, const char*);
template nb::object to_numpy<float>(Array<float>&&);
template nb::object to_numpy_view<float>(Array<float>&&, ArrayView<const float>);
template nb::object to_numpy_view<double>(Array<double>&&, ArrayView<const double>);
template nb::object to_numpy<double>(Array<double>&&);
template nb::object new_numpy<float>(std::span<const index_t>, float**);
template nb::object new_numpy<double>(std::span<const index_t>, double**);
template const CsrMatrix<float>& csr_as<float>(const PyCsr&, CsrMatrix<float>&);
template const CsrMatrix<double>& csr_as<double>(const PyCsr&, CsrMatrix<double>&);

}  // namespace neuroperf::py
