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

}  // namespace medit::cpu
