// JSON from field lists (include/neuroperf/fields.hpp): the one converter behind to_json() and
// every JSON document the library writes from a result struct. Private: nlohmann::ordered_json stays out
// of the public headers.
#pragma once

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "neuroperf/fields.hpp"

namespace neuroperf::core {

template <class T>
nlohmann::ordered_json to_json_value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        return v;
    } else if constexpr (std::is_floating_point_v<T>) {
        return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json();  // JSON has no NaN/Inf
    } else if constexpr (std::is_arithmetic_v<T>) {
        return v;
    } else if constexpr (std::is_enum_v<T>) {
        if constexpr (HasEnumName<T>) return EnumName<T>::of(v);
        else return static_cast<std::underlying_type_t<T>>(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
        return v;
    } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
        return v.string();
    } else if constexpr (HasFields<T>) {
        nlohmann::ordered_json o = nlohmann::ordered_json::object();
        visit_fields(v, [&](const char* name, const auto& member) { o[name] = to_json_value(member); });
        return o;
    } else if constexpr (requires { v.has_value(); *v; }) {
        return v ? to_json_value(*v) : nlohmann::ordered_json();
    } else if constexpr (requires { v.begin(); v.end(); v.size(); }) {
        nlohmann::ordered_json a = nlohmann::ordered_json::array();
        for (const auto& x : v) a.push_back(to_json_value(x));
        return a;
    } else {
        static_assert(!sizeof(T), "to_json_value: a field type without a JSON form");
    }
}

}  // namespace neuroperf::core

template <class S>
    requires neuroperf::HasFields<S>
NEUROPERF_API std::string neuroperf::to_json(const S& value, int indent) {
    return core::to_json_value(value).dump(indent < 0 ? -1 : indent);
}

/// Instantiates (and so exports) neuroperf::to_json for the record S, in the .cpp of the layer
/// that owns S.
#define NEUROPERF_INSTANTIATE_TO_JSON(S) template NEUROPERF_API std::string neuroperf::to_json<S>(const S&, int)
