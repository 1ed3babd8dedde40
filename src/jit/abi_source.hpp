// The argument structs of generated kernels, declared from the C++ struct's field list
// (neuroperf/fields.hpp) instead of being retyped by hand: every member with the generated
// code's spelling of its type, then a static_assert per member on its offset and one on the
// size, with the values this library was compiled with. A generated kernel whose struct would
// differ from the caller's does not compile (and falls back to the AOT kernel with the reason).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include "neuroperf/fields.hpp"

namespace neuroperf::jit {

/// The declaration of a member `name` of type M as the generated code spells it, with T the
/// kernel's floating-point type (typedef'd T in the source) and i64 / i32 the integer types:
/// "const T* x", "i64 n", "void (*activation)(int, int, i64, T*)".
template <class M, class T>
std::string c_declaration(const std::string& name) {
    if constexpr (std::is_same_v<M, T>) {
        return "T " + name;
    } else if constexpr (std::is_same_v<M, std::int64_t>) {
        return "i64 " + name;
    } else if constexpr (std::is_same_v<M, std::int32_t>) {
        return "i32 " + name;
    } else if constexpr (std::is_same_v<M, int>) {
        return "int " + name;
    } else if constexpr (std::is_same_v<M, void (*)(int, int, std::int64_t, T*)>) {
        return "void (*" + name + ")(int, int, i64, T*)";
    } else if constexpr (std::is_pointer_v<M> && std::is_const_v<std::remove_pointer_t<M>>) {
        return "const " + c_declaration<std::remove_const_t<std::remove_pointer_t<M>>, T>("*" + name);
    } else if constexpr (std::is_pointer_v<M>) {
        return c_declaration<std::remove_pointer_t<M>, T>("*" + name);
    } else {
        static_assert(!sizeof(M), "c_declaration: a member type the generated code has no spelling for");
    }
}

/// `struct <name> { ... };` for the aggregate S (which has a field list), followed by the
/// static_asserts on its layout. T is the kernel's floating-point type.
template <class S, class T>
std::string struct_source(const std::string& name) {
    static_assert(std::is_aggregate_v<S> && std::is_standard_layout_v<S>, "struct_source: S must be a plain struct");
    std::string members, checks;
    const S probe{};
    const auto* base = reinterpret_cast<const unsigned char*>(&probe);
    for_each_field<S>([&](const auto& f) {
        using M = typename std::remove_cvref_t<decltype(f)>::value_type;
        members += fmt::format("    {};\n", c_declaration<M, T>(f.name));
        const auto offset = reinterpret_cast<const unsigned char*>(&(probe.*(f.member))) - base;
        checks += fmt::format("static_assert(__builtin_offsetof({}, {}) == {}, \"{}.{}: offset differs from the caller's\");\n",
                              name, f.name, offset, name, f.name);
    });
    return fmt::format("struct {0} {{\n{1}}};\n{2}static_assert(sizeof({0}) == {3}, \"{0}: size differs from the caller's\");\n",
                       name, members, checks, sizeof(S));
}

}  // namespace neuroperf::jit
