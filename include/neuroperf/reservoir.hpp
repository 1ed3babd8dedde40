// Reservoir (echo state network) state updates: x' = (1 − a)·x + a·f(W_in·u + W·x + b).
#pragma once

#include <cstdint>
#include <string_view>

#include "neuroperf/array.hpp"
#include "neuroperf/export.hpp"

namespace neuroperf {

enum class Activation : std::uint8_t { tanh, identity, relu, sigmoid };

/// "tanh", "identity", "relu", "sigmoid" -> Activation; ValueError listing them otherwise.
NEUROPERF_API Activation parse_activation(std::string_view name);
NEUROPERF_API const char* activation_name(Activation activation);

/// Parameters of a reservoir update besides the arrays.
template <class T>
struct ReservoirOptions {
    T leak_rate = T(1);                     ///< a in (0, 1]
    Activation activation = Activation::tanh;
    ArrayView<const T> bias{};              ///< b (N), empty = 0
    bool check_finite = false;              ///< reject NaN/Inf in the weights (costs one pass)
};

}  // namespace neuroperf
