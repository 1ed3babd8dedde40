// Error hierarchy. Every failure the library reports is a neuroperf::Error (or subclass) whose
// message names the argument, what was expected and what was given.
#pragma once

#include <stdexcept>
#include <string>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// Base of every exception thrown by neuroperf.
class NEUROPERF_API Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An array argument has the wrong rank, shape, layout or dtype.
class NEUROPERF_API ShapeError : public Error {
public:
    using Error::Error;
};

/// An argument has a value outside its domain (negative thread count, unknown mode, NaN...).
class NEUROPERF_API ValueError : public Error {
public:
    using Error::Error;
};

/// A compute backend (BLAS library, compiler) is missing, unusable or failed.
class NEUROPERF_API BackendError : public Error {
public:
    using Error::Error;
};

/// Reading or writing a file failed.
class NEUROPERF_API IOError : public Error {
public:
    using Error::Error;
};

/// A feature exists in the API but was not built into this library (CMake option off).
class NEUROPERF_API NotBuiltError : public Error {
public:
    using Error::Error;
};

}  // namespace neuroperf
