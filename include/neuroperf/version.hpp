// Library version, as built.
#pragma once

namespace neuroperf {

/// "MAJOR.MINOR.PATCH" of the library actually loaded (not of the headers).
const char* version();

}  // namespace neuroperf
