// One function per component adds its classes and functions to the module.
#pragma once

#include <nanobind/nanobind.h>

namespace neuroperf::py {

void bind_mkl(nanobind::module_& m);
void bind_parallel(nanobind::module_& m);
void bind_jit(nanobind::module_& m);
void bind_snn(nanobind::module_& m);

}  // namespace neuroperf::py
