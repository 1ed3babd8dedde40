// The builtin GEMM's "avx512" variant: gemm_kernel.inc compiled with this variant's target flags
// and namespace (set on this file in CMakeLists.txt).
#include "blas/builtin/gemm_kernel.inc"
