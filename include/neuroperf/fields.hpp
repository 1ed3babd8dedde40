// One list of the fields of a plain struct, written once beside the struct, from which the
// library makes everything that enumerates them: JSON documents, the Python attribute and dict
// views, the CLI's summaries, JIT descriptor hashes and the generated kernels' argument structs.
//
//   struct Point { double x = 0; double y = 0; };
//   template <> struct neuroperf::Fields<Point> {
//       static constexpr auto list = std::tuple{field("x", &Point::x, "abscissa"), field("y", &Point::y)};
//   };
//   NEUROPERF_CHECK_FIELDS(Point);   // compile error if a member is missing from the list
//   neuroperf::visit_fields(p, [](const char* name, const auto& value) { ... });
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// One field of struct S: its name (as in JSON and Python), the member, a one-line description.
template <class S, class M>
struct Field {
    using struct_type = S;
    using value_type = M;
    const char* name;
    M S::*member;
    const char* doc;
};

template <class S, class M>
constexpr Field<S, M> field(const char* name, M S::*member, const char* doc = "") {
    return {name, member, doc};
}

/// Specialised for each struct with a field list: `static constexpr auto list = std::tuple{...}`.
template <class S>
struct Fields;

/// True for structs with a field list.
template <class S>
concept HasFields = requires { Fields<std::remove_cvref_t<S>>::list; };

/// Names of an enum's values for the outputs made from field lists (JSON, Python): specialised
/// beside the enum as `static const char* of(E)`; enums without one are written as numbers.
template <class E>
struct EnumName;
template <class E>
concept HasEnumName = requires(E e) { EnumName<E>::of(e); };

/// `value` (a struct with a field list) as a JSON object: its fields by name, in order; numbers,
/// booleans and strings as such, NaN and infinities as null, enums by name, vectors as arrays,
/// nested structs as objects, an empty optional as null. `indent` < 0: one line. Defined for
/// the library's result types (SimulationSummary, ParallelReport, BenchmarkEntry, ...).
template <class S>
    requires HasFields<S>
NEUROPERF_API std::string to_json(const S& value, int indent = 2);

/// Calls f(field) for every field of S, in order (f sees Field<S, M> objects).
template <class S, class F>
constexpr void for_each_field(F&& f) {
    std::apply([&](const auto&... fl) { (f(fl), ...); }, Fields<S>::list);
}

/// Calls f(name, member) for every field of s, in order; the members are s's (const when s is).
template <class S, class F>
constexpr void visit_fields(S& s, F&& f) {
    std::apply([&](const auto&... fl) { (f(fl.name, s.*(fl.member)), ...); }, Fields<std::remove_const_t<S>>::list);
}

namespace detail {
// Converts to anything, in unevaluated operands only: counts an aggregate's members by the
// longest brace initialisation that compiles.
struct AnyMember {
    template <class T>
    operator T() const;
};
template <class S, class... A>
constexpr std::size_t aggregate_arity() {
    if constexpr (requires { S{std::declval<A>()..., std::declval<AnyMember>()}; })
        return aggregate_arity<S, A..., AnyMember>();
    else
        return sizeof...(A);
}
}  // namespace detail

/// Fields listed for S / members S has (S an aggregate).
template <class S>
inline constexpr std::size_t field_count = std::tuple_size_v<std::remove_cvref_t<decltype(Fields<S>::list)>>;
template <class S>
inline constexpr std::size_t member_count = detail::aggregate_arity<S>();

}  // namespace neuroperf

/// After a Fields<S> specialisation: fails to compile unless the list names as many fields as
/// the aggregate S has members (a member added to S but not to its list is caught here).
#define NEUROPERF_CHECK_FIELDS(...)                                                                         \
    static_assert(std::is_aggregate_v<__VA_ARGS__> &&                                                   \
                      ::neuroperf::field_count<__VA_ARGS__> == ::neuroperf::member_count<__VA_ARGS__>, \
                  "neuroperf::Fields<" #__VA_ARGS__ ">::list must name as many fields as the struct has members")
