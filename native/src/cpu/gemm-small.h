// The skinny-GEMM path of the built-in GEMM (gemm-small.cpp). Internal header.
#pragma once

#include <cstdint>

namespace medit::cpu {

/// Rows of op(A) up to which gemm_small is used instead of the packed kernel.
constexpr int64_t kSmallGemmRows = 48;

/// C[M,N] = alpha·op(A)·op(B) + beta·C for M <= kSmallGemmRows, without packing op(B): the
/// shapes of editing (a few tokens times a weight matrix, matrix-vector products). Same
/// contract as gemm(): beta == 0 never reads C; callers handle alpha == 0 and K == 0.
template <typename T>
void gemm_small(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

/// Columns of op(B) up to which gemm_narrow is used instead of the packed kernel, whose
/// 16..64-column register tiles would be mostly padding.
constexpr int64_t kNarrowGemmCols = 8;

/// C[M,N] = alpha·op(A)·op(B) + beta·C for N <= kNarrowGemmCols and any M (tall-skinny
/// products: a memory of queries times a few keys, and their gradients). Same contract as
/// gemm_small.
template <typename T>
void gemm_narrow(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace medit::cpu
