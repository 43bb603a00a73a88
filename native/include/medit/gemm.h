// medit engine: general matrix multiply on the CPU.
//
// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, with op(X) = X or Xᵀ.
// Goes to the built-in kernels (the packed, blocked kernel; for M <= 48 rows or N <= 8
// columns the skinny paths of gemm-small.cpp), threaded on the engine's pool. The system
// BLAS (cblas_?gemm) serves M > 48, N > 8 instead when the build linked one and it was chosen
// (MEDIT_GEMM=blas or gemm_set_force_fallback(false)).
#pragma once

#include <cstdint>

namespace medit::cpu {

/// C[M,N] = alpha * op(A) * op(B) + beta * C (row-major; lda/ldb/ldc are row strides).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

/// The built-in kernels, always available (tests and benchmarks call it directly too).
template <typename T>
void gemm_fallback(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

/// True when the build linked a BLAS library.
bool gemm_blas_compiled();
/// True when gemm() currently dispatches M > 48, N > 8 to BLAS (compiled and chosen by MEDIT_GEMM=blas
/// or gemm_set_force_fallback(false)).
bool gemm_uses_blas();
/// true: the built-in kernels for everything (the default); false: BLAS where compiled.
void gemm_set_force_fallback(bool force);

}  // namespace medit::cpu
