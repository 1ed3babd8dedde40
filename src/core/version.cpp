#include "neuroperf/version.hpp"

namespace neuroperf {
const char* version() { return NEUROPERF_VERSION_STRING; }
}  // namespace neuroperf
