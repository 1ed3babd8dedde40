// Source of a spike processing kernel: C++ without #includes (it compiles in about a third of
// the time a <cmath> include would cost), the AOT kernel's expressions in the same order with
// the spec's constants as exact hexadecimal literals.
#pragma once

#include <string>

#include "neuroperf/jit_compiler.hpp"

namespace neuroperf::jit {

/// A compact, exact description of everything the source depends on (the registry's key).
template <class T>
std::string spike_descriptor(const LifSpec& spec, bool parallel);

/// The kernel's source; exports `entry` as `extern "C" void entry(void* args, int phases)`.
/// `fastmath`: the source will be compiled with -ffast-math (avoids idioms it would break).
template <class T>
std::string spike_source(const LifSpec& spec, const std::string& entry, bool parallel, bool fastmath);

}  // namespace neuroperf::jit
