// The backend table: each BLAS library found at run time (dlopen) or linked in, as one row of
// function pointers filled once. The builtin row is always present.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "neuroperf/blas.hpp"
#include "neuroperf/isa.hpp"

namespace neuroperf::blas {

/// LAPACK entry points (Fortran ABI, 32-bit integers) later layers use; null when absent.
struct LapackTable {
    void* sgeev = nullptr;
    void* dgeev = nullptr;
    void* ssyevd = nullptr;
    void* dsyevd = nullptr;
};

struct Backend {
    BackendInfo info;
    void* handle = nullptr;                 ///< dlopen handle (null for linked-in backends)
    GemmKernel<float>::Fn sgemm = nullptr;  ///< row-major thunks, see GemmKernel
    GemmKernel<double>::Fn dgemm = nullptr;
    void* cblas_sgemm = nullptr;            ///< raw entry points the thunks call
    void* cblas_dgemm = nullptr;
    void* cblas_sgemv = nullptr;
    void* cblas_dgemv = nullptr;
    LapackTable lapack;
    bool blas_int64 = false;                ///< BLAS integers are 64-bit (ILP64)
    void (*set_threads)(int) = nullptr;
    int (*get_threads)() = nullptr;
    Isa isa = Isa::generic;                 ///< builtin: the variant this entry runs
    mutable std::atomic<int> applied_threads{-1};  ///< last thread count set, to skip repeats

    template <class T>
    typename GemmKernel<T>::Fn gemm() const {
        if constexpr (std::is_same_v<T, float>) return sgemm;
        else return dgemm;
    }
    /// Sets the library's thread count if it differs from the last one set (outside parallel
    /// regions only: inside one, openmp-built BLAS libraries run single-threaded by themselves).
    void apply_threads(int threads) const;
};

/// All backends looked for, in the API's preference order (mkl, openblas, blis), then libxsmm,
/// then builtin (always available). Search rules:
///  - NEUROPERF_<NAME>_LIBRARY=/path/lib.so: only that file for that backend;
///  - NEUROPERF_LIBRARY_PATH=dir1:dir2: only these directories for every dlopen'ed backend
///    (an empty directory simulates a machine without BLAS);
///  - otherwise $VIRTUAL_ENV/lib, the project's .venv/lib, $MKLROOT/lib, then the system loader.
class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    const std::vector<std::unique_ptr<Backend>>& backends() const { return backends_; }
    /// Available backend by name, or null.
    const Backend* find(std::string_view name) const;
    /// The builtin GEMM running variant `isa` (the listed "builtin" entry is the best_isa() one).
    const Backend& builtin(Isa isa) const { return *builtins_[static_cast<std::size_t>(isa)]; }
    /// "mkl, openblas, builtin": names of the available backends, for error messages.
    std::string available_names() const;

private:
    std::vector<std::unique_ptr<Backend>> backends_;
    std::array<const Backend*, 3> builtins_{};          // per Isa; one of them is in backends_
    std::vector<std::unique_ptr<Backend>> other_builtins_;
};

/// The registry of this process, created on first use with the environment of that moment.
std::shared_ptr<const Registry> process_registry();

/// The known backend names, available or not ("mkl", "openblas", "blis", "libxsmm", "builtin").
const std::vector<std::string>& known_backend_names();

}  // namespace neuroperf::blas
