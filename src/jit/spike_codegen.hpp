// Source of a spike processing kernel: C++ without #includes (it compiles in about a third of
// the time a <cmath> include would cost), the AOT kernel's expressions (kernels/lif.cpp) in the
// same order with the spec's constants as exact hexadecimal literals.
#pragma once

#include <string>
#include <tuple>

#include "neuroperf/kernel_specs.hpp"

namespace neuroperf::jit {

/// Everything a generated spike kernel depends on besides the toolchain and the CPU; hashed
/// field by field into the registry's key (core::Hasher).
struct SpikeKernelDescriptor {
    DType dtype = DType::float32;
    LifSpec spec{};
    bool parallel = false;  ///< OpenMP work-sharing in the update loop
    bool fastmath = false;  ///< compiled with -ffast-math (avoids idioms it would break)
};

/// The kernel's source; exports `entry` as `extern "C" void entry(void* args, int phases)`.
std::string spike_source(const SpikeKernelDescriptor& desc, const std::string& entry);

}  // namespace neuroperf::jit

namespace neuroperf {
template <>
struct Fields<jit::SpikeKernelDescriptor> {
    using D = jit::SpikeKernelDescriptor;
    static constexpr auto list = std::tuple{field("dtype", &D::dtype), field("spec", &D::spec),
                                            field("parallel", &D::parallel), field("fastmath", &D::fastmath)};
};
}  // namespace neuroperf
NEUROPERF_CHECK_FIELDS(neuroperf::jit::SpikeKernelDescriptor);
