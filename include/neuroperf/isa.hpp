// The instruction-set variants of neuroperf's kernels. Every kernel family (builtin GEMM,
// reservoir step, elementwise math, convolution, batch products, LIF step, spectral mat-vec)
// is compiled in three variants, and a context runs one of them:
//
//   generic  x86-64 baseline (SSE2): runs everywhere
//   avx2     x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE (Intel Haswell+, AMD Zen+)
//   avx512   x86-64-v4: AVX-512 F/CD/BW/DQ/VL (Intel Skylake-SP+, AMD Zen 4+)
//
// The default is the widest the CPU runs (best_isa()); NEUROPERF_ISA or ContextOptions::isa
// choose a narrower one, e.g. to measure what an AVX2-only machine gets. Off x86-64 only
// generic exists.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "neuroperf/export.hpp"

namespace neuroperf {

enum class Isa : std::uint8_t { generic = 0, avx2 = 1, avx512 = 2 };

/// "generic", "avx2", "avx512".
NEUROPERF_API const char* isa_name(Isa isa);

/// The Isa named `text` ("generic", "avx2", "avx512"); ValueError naming `what` otherwise.
NEUROPERF_API Isa parse_isa(std::string_view text, std::string_view what);

/// Whether this CPU and its OS run variant `isa` (the features above, and the register state
/// saved by the OS).
NEUROPERF_API bool isa_supported(Isa isa);

/// The widest variant this CPU runs.
NEUROPERF_API Isa best_isa();

/// Every variant this CPU runs, generic first.
NEUROPERF_API std::vector<Isa> supported_isas();

/// The variant a request names: "auto" is best_isa() unless the environment variable
/// NEUROPERF_ISA names one; a name is that variant. ValueError naming `what` for an unknown
/// name (in the request or in NEUROPERF_ISA) or a variant this CPU cannot run.
NEUROPERF_API Isa resolve_isa(std::string_view request, std::string_view what);

}  // namespace neuroperf
