// Stateless, counter-based pseudo-random values for reproducible inputs: the value of
// (key, index) is the same on every thread, process and machine, and is cheap to recompute in
// any language (the bench peers in bench/peers/ use the same recipe to rebuild identical inputs).
// Not for statistics-grade streams (the simulation engine uses Random123 Philox).
#pragma once

#include <cstdint>

namespace neuroperf {

/// The splitmix64 finaliser: a bijective 64-bit mix (Steele, Lea & Flood 2014).
constexpr std::uint64_t splitmix64(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/// Uniform in [0, 1) from the top 53 bits of a hash.
constexpr double hash_to_unit(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

/// Uniform in [-1, 1) from the top 53 bits of a hash.
constexpr double hash_to_symmetric(std::uint64_t h) { return hash_to_unit(h) * 2.0 - 1.0; }

}  // namespace neuroperf
