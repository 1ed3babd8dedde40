// Per-size backend choice, measured once on this machine and cached (like FFTW wisdom).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>

#include "blas/registry.hpp"

namespace neuroperf::blas {

/// The winner of each (operation class, size bucket), with the figures that decided it.
struct Calibration {
    std::array<std::array<std::string, kGemmBuckets>, 2> best;  ///< [sgemm|dgemm][bucket]
    std::array<std::array<std::string, kGemmBuckets>, 2> why;
    double seconds = 0;  ///< time the measurement took
};

/// Identifies the machine and libraries a calibration is valid for: CPU model, each available
/// backend's name and version, thread count, the builtin GEMM's variant and neuroperf version.
std::string calibration_key(const Registry& registry, int threads, Isa isa);

/// Times every available backend (the builtin GEMM at variant `isa`) on the representative
/// size of each bucket (≤ ~3 s total).
Calibration measure_calibration(const Registry& registry, int threads, Isa isa);

/// Reads the entry for `key` from `file`; nullopt when absent, corrupt or naming a backend that
/// is no longer available (the caller then measures and stores anew).
std::optional<Calibration> load_calibration(const std::filesystem::path& file, const std::string& key,
                                            const Registry& registry);

/// Adds/replaces the entry for `key` in `file` (atomic write; a corrupt file is replaced).
void store_calibration(const std::filesystem::path& file, const std::string& key, const Calibration& cal);

}  // namespace neuroperf::blas
