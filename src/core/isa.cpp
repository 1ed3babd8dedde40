#include "neuroperf/isa.hpp"

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "neuroperf/cpu.hpp"
#include "neuroperf/error.hpp"

namespace neuroperf {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::generic: return "generic";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
    }
    return "?";
}

Isa parse_isa(std::string_view text, std::string_view what) {
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
        if (text == isa_name(isa)) return isa;
    throw ValueError(fmt::format("{}: expected \"generic\", \"avx2\" or \"avx512\", got \"{}\"", what, text));
}

bool isa_supported(Isa isa) {
#if defined(__x86_64__)
    const IsaFeatures& f = cpu_info().isa;
    const bool v3 = f.avx && f.avx2 && f.fma && f.bmi1 && f.bmi2 && f.f16c && f.lzcnt && f.movbe;
    switch (isa) {
        case Isa::generic: return true;
        case Isa::avx2: return v3;
        case Isa::avx512: return v3 && f.avx512f && f.avx512cd && f.avx512bw && f.avx512dq && f.avx512vl;
    }
    return false;
#else
    return isa == Isa::generic;
#endif
}

Isa best_isa() {
    static const Isa best = isa_supported(Isa::avx512) ? Isa::avx512 : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::generic;
    return best;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> out;
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
        if (isa_supported(isa)) out.push_back(isa);
    return out;
}

Isa resolve_isa(std::string_view request, std::string_view what) {
    std::string where(what);
    if (request == "auto") {
        const char* env = std::getenv("NEUROPERF_ISA");
        if (!env || !*env || std::string_view(env) == "auto") return best_isa();
        request = env;
        where = "NEUROPERF_ISA";
    }
    if (request != "generic" && request != "avx2" && request != "avx512")
        throw ValueError(fmt::format("{}: expected \"auto\", \"generic\", \"avx2\" or \"avx512\", got \"{}\"", where, request));
    const Isa isa = parse_isa(request, where);
    if (!isa_supported(isa))
        throw ValueError(fmt::format("{}: this CPU cannot run the \"{}\" kernels (the widest it runs is \"{}\")", where,
                                     isa_name(isa), isa_name(best_isa())));
    return isa;
}

}  // namespace neuroperf
