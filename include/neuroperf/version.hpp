// Library version, as built.
#pragma once

#include "neuroperf/export.hpp"

namespace neuroperf {

/// "MAJOR.MINOR.PATCH" of the library actually loaded (not of the headers).
NEUROPERF_API const char* version();

}  // namespace neuroperf
