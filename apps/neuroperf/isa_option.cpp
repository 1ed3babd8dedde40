// `--isa`: the kernels' instruction-set variant for a run (neuroperf/isa.hpp).
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "cli.hpp"
#include "neuroperf/error.hpp"

namespace neuroperf::cli {

std::vector<Isa> parse_isa_list(const std::string& list) {
    std::vector<Isa> out;
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');) {
        const Isa isa = resolve_isa(item, "--isa");  // "auto" would be NEUROPERF_ISA's or the best
        for (Isa seen : out)
            if (seen == isa) throw ValueError(fmt::format("--isa: \"{}\" is listed twice in \"{}\"", isa_name(isa), list));
        out.push_back(isa);
    }
    if (out.empty()) throw ValueError("--isa: expected generic, avx2 or avx512 (comma-separated), got an empty list");
    return out;
}

void apply_isa_option(const std::string& isa_text) {
    const Isa isa = resolve_isa(isa_text, "--isa");
    ::setenv("NEUROPERF_ISA", isa_name(isa), 1);
    if (isa == best_isa()) return;
    // The libraries' own switches, for the narrower instruction set (the user's settings win).
    const bool avx2 = isa == Isa::avx2;
    ::setenv("OPENBLAS_CORETYPE", avx2 ? "Haswell" : "Nehalem", 0);
    ::setenv("MKL_ENABLE_INSTRUCTIONS", avx2 ? "AVX2" : "SSE4_2", 0);
    ::setenv("LIBXSMM_TARGET", avx2 ? "hsw" : "wsm", 0);
}

}  // namespace neuroperf::cli
