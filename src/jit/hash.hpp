// A 128-bit content hash for JIT cache keys and file checksums. Not cryptographic: the cache's
// protection against other users' files is ownership and permission checks, not the hash.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "neuroperf/hash_random.hpp"

namespace neuroperf::jit {

class Hasher {
public:
    Hasher& add(std::string_view s) {
        std::uint64_t n = s.size();
        mix(n ^ 0x5bd1e9955bd1e995ULL);
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

}  // namespace neuroperf::jit
