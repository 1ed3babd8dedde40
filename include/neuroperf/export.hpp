// NEUROPERF_API marks what libneuroperf.so exports: the public API. Everything else in the
// library is built with hidden visibility (-fvisibility=hidden), so internals cannot be linked
// against by accident and the dynamic symbol table stays small.
#pragma once

#if defined(_WIN32)
#error "neuroperf supports Linux (ELF) only"
#endif

#define NEUROPERF_API __attribute__((visibility("default")))
