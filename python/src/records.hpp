// Python views of the library's result structs (SimulationSummary, ParallelReport, ...), made
// from their field lists (neuroperf/fields.hpp), so a field added in C++ appears in Python with
// no other change. A record has its fields as read-only attributes (with the field list's
// descriptions as docstrings) and a read-only mapping interface over the same names
// (r["name"], keys(), items(), len(r), "name" in r), to_dict() (nested records as dicts) and a
// repr. Vectors of numbers are NumPy arrays viewing the record's own memory (no copy; the
// array keeps the record alive); nested records are views of the parent's members.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include "convert.hpp"
#include "neuroperf/fields.hpp"

namespace neuroperf::py {

/// Field `v` of the record object `owner` (v lives inside it) as a Python object.
template <class M>
nb::object field_value(M& v, nb::handle owner) {
    if constexpr (std::is_same_v<M, bool> || std::is_arithmetic_v<M> || std::is_same_v<M, std::string>) {
        return nb::cast(v);
    } else if constexpr (std::is_same_v<M, std::filesystem::path>) {
        return nb::str(v.string().c_str());
    } else if constexpr (std::is_enum_v<M>) {
        if constexpr (HasEnumName<M>) return nb::str(EnumName<M>::of(v));
        else return nb::cast(static_cast<std::underlying_type_t<M>>(v));
    } else if constexpr (HasFields<M>) {
        return nb::cast(&v, nb::rv_policy::reference_internal, owner);
    } else if constexpr (requires { v.has_value(); *v; }) {
        return v ? field_value(*v, owner) : nb::none();
    } else if constexpr (requires { typename M::value_type; v.data(); v.size(); }) {
        using E = typename M::value_type;
        if constexpr (std::is_arithmetic_v<E> && !std::is_same_v<E, bool>) {
            std::size_t shape[1] = {v.size()};
            return nb::cast(nb::ndarray<nb::numpy, E, nb::ndim<1>>(v.data(), 1, shape, owner), nb::rv_policy::reference);
        } else {
            nb::list out;
            for (auto& x : v) out.append(field_value(x, owner));
            return out;
        }
    } else {
        static_assert(!sizeof(M), "field_value: a field type without a Python form");
    }
}

/// to_dict(): the record's fields with nested records (and lists of them) as dicts.
inline nb::object plain(nb::handle value) {
    if (nb::hasattr(value, "_fields") && nb::hasattr(value, "to_dict")) return value.attr("to_dict")();
    if (nb::isinstance<nb::list>(value)) {
        nb::list out;
        for (nb::handle x : value) out.append(plain(x));
        return out;
    }
    return nb::borrow(value);
}

/// Binds record S as `name` in `m`; `extra` names computed properties the caller adds to the
/// returned class (they join the mapping interface and the repr).
template <class S>
nb::class_<S> bind_record(nb::module_& m, const char* name, const char* doc, std::vector<std::string> extra = {}) {
    nb::class_<S> cls(m, name, doc);
    nb::list names;
    for_each_field<S>([&](const auto& f) {
        auto member = f.member;
        cls.def_prop_ro(
            f.name, [member](nb::handle self) { return field_value(nb::cast<S&>(self).*member, self); }, f.doc);
        names.append(nb::str(f.name));
    });
    for (const auto& e : extra) names.append(nb::str(e.c_str()));
    nb::tuple fields = nb::steal<nb::tuple>(PySequence_Tuple(names.ptr()));
    cls.attr("_fields") = fields;
    cls.def("keys", [fields](nb::handle) { return nb::list(fields); }, "The field names, in order.");
    cls.def("__len__", [fields](nb::handle) { return nb::len(fields); });
    cls.def("__iter__", [fields](nb::handle) { return nb::iter(fields); });
    cls.def("__contains__", [fields](nb::handle, nb::handle key) { return PySequence_Contains(fields.ptr(), key.ptr()) == 1; });
    cls.def(
        "__getitem__",
        [fields](nb::handle self, nb::handle key) {
            if (!nb::isinstance<nb::str>(key) || PySequence_Contains(fields.ptr(), key.ptr()) != 1) {
                PyErr_SetObject(PyExc_KeyError, key.ptr());
                throw nb::python_error();
            }
            return nb::getattr(self, key);
        },
        "The field `key` (as the attribute of that name).");
    cls.def(
        "items", [fields](nb::handle self) {
            nb::list out;
            for (nb::handle k : fields) out.append(nb::make_tuple(k, nb::getattr(self, k)));
            return out;
        },
        "(name, value) pairs, in field order.");
    cls.def(
        "to_dict",
        [fields](nb::handle self) {
            nb::dict d;
            for (nb::handle k : fields) d[k] = plain(nb::getattr(self, k));
            return d;
        },
        "The fields as a dict (nested records as dicts, arrays as NumPy arrays).");
    std::string type_name = name;
    cls.def("__repr__", [fields, type_name](nb::handle self) {
        std::string s = type_name + "(";
        bool first = true;
        for (nb::handle k : fields) {
            nb::object v = nb::getattr(self, k);
            std::string shown = nb::hasattr(v, "shape") && nb::hasattr(v, "dtype")
                                    ? fmt::format("<array shape={}>", nb::str(v.attr("shape")).c_str())
                                    : std::string(nb::repr(v).c_str());
            s += fmt::format("{}{}={}", first ? "" : ", ", nb::str(k).c_str(), shown);
            first = false;
        }
        return s + ")";
    });
    return cls;
}

}  // namespace neuroperf::py
