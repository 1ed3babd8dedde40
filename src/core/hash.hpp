// A 128-bit content hash: JIT descriptor keys (typed fields, one at a time), cache keys and file
// checksums. Not cryptographic: the JIT cache's protection against other users' files is
// ownership and permission checks, not the hash.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "neuroperf/fields.hpp"
#include "neuroperf/hash_random.hpp"

namespace neuroperf::core {

class Hasher {
public:
    /// Bytes of a string, with its length (so that "ab"+"c" and "a"+"bc" differ).
    Hasher& add(std::string_view s) {
        mix(static_cast<std::uint64_t>(s.size()) ^ 0x5bd1e9955bd1e995ULL);
        std::size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            mix(w);
        }
        std::uint64_t tail = 0;
        std::memcpy(&tail, s.data() + i, s.size() - i);
        mix(tail ^ (std::uint64_t{s.size() - i} << 56));
        return *this;
    }
    Hasher& add(const char* s) { return add(std::string_view(s)); }
    Hasher& add(const std::string& s) { return add(std::string_view(s)); }
    /// A number, bool or enum by its value's bytes, tagged with its size (int32 1 ≠ int64 1);
    /// -0.0 and 0.0, or two NaNs with different payloads, hash differently, as they should for
    /// constants baked into generated code.
    template <class V>
        requires std::is_arithmetic_v<V> || std::is_enum_v<V>
    Hasher& add(V v) {
        std::uint64_t w = 0;
        std::memcpy(&w, &v, sizeof v);
        mix(w ^ (std::uint64_t{sizeof v} << 58));
        return *this;
    }
    /// The elements of a contiguous range, each by add().
    template <class V>
    Hasher& add(std::span<const V> values) {
        add(static_cast<std::uint64_t>(values.size()));
        for (const V& v : values) add(v);
        return *this;
    }
    template <class V>
    Hasher& add(const std::vector<V>& values) {
        return add(std::span<const V>(values));
    }
    /// A struct with a field list (neuroperf/fields.hpp): every field's name and value, in order.
    template <class S>
        requires HasFields<S>
    Hasher& add(const S& s) {
        visit_fields(s, [&](const char* name, const auto& value) { add(name).add(value); });
        return *this;
    }
    /// 32 lowercase hex digits.
    std::string hex() const {
        return fmt::format("{:016x}{:016x}", splitmix64(a_ ^ (b_ >> 1)), splitmix64(b_ + 0x2545F4914F6CDD1DULL));
    }

private:
    void mix(std::uint64_t w) {
        a_ = splitmix64(a_ ^ w) + 0x9E3779B97F4A7C15ULL;
        b_ = splitmix64(b_ + w * 0xff51afd7ed558ccdULL) ^ (a_ >> 17);
    }
    std::uint64_t a_ = 0x6a09e667f3bcc908ULL, b_ = 0xbb67ae8584caa73bULL;
};

inline std::string hash_hex(std::string_view s) { return Hasher().add(s).hex(); }

}  // namespace neuroperf::core
