// medit engine: general matrix multiply on the CPU.
//
// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C, with op(X) = X or Xᵀ.
// Goes to the system BLAS (cblas_?gemm) when the build found one and the
// fallback is not forced; otherwise to the built-in blocked, OpenMP-parallel kernel.
#pragma once

#include <cstdint>

namespace medit::cpu {

/// C[M,N] = alpha * op(A) * op(B) + beta * C (row-major; lda/ldb/ldc are row strides).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

/// The built-in kernel, always available (tests and benchmarks call it directly too).
template <typename T>
void gemm_fallback(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

/// True when the build linked a BLAS library.
bool gemm_blas_compiled();
/// True when gemm() currently dispatches to BLAS (compiled and not forced off by
/// MEDIT_GEMM=fallback or gemm_set_force_fallback(true)).
bool gemm_uses_blas();
void gemm_set_force_fallback(bool force);

}  // namespace medit::cpu
