// Which variant of each kernel family runs (neuroperf/isa.hpp): what `neuroperf info` lists.
#pragma once

#include <string>
#include <vector>

#include "neuroperf/export.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf {

struct KernelFamily {
    std::string name;          ///< "reservoir", "elementwise", ...
    std::string description;   ///< what the family computes
    std::vector<Isa> variants; ///< the variants built into this library
    Isa runs = Isa::generic;   ///< the one a context of the asked Isa runs
};

/// Every kernel family with its variants, and the one a context whose ContextOptions::isa
/// resolved to `isa` runs (the widest built variant not wider than `isa`).
NEUROPERF_API std::vector<KernelFamily> kernel_families(Isa isa);

}  // namespace neuroperf
