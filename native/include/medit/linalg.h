// medit engine: dense linear algebra used by editors (CPU).
//
// Second-moment accumulation (covariance statistics), in-place GEMM updates for
// rank-k weight edits, Cholesky factorisation and solves for symmetric positive
// definite systems (ROME's C⁻¹k, MEMIT's (λC + KKᵀ)⁻¹).
#pragma once

#include "medit/tensor.h"

namespace medit::cpu {

/// acc[D,D] (float64) += xᵀx for x[N,D] (float32 or float64). The product is formed in
/// x's precision per chunk and reduced into the float64 accumulator.
void second_moment_accumulate_inplace(Tensor& acc, const Tensor& x);

/// c = alpha·op(a)·op(b) + beta·c, in place (2-D operands).
void gemm_inplace(Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta);

/// Lower-triangular L with A = L Lᵀ for symmetric positive definite A[n,n] (float64).
/// Throws (ARG) naming the failing pivot when A is not positive definite.
Tensor cholesky(const Tensor& a);

/// X with (L Lᵀ) X = B, given the Cholesky factor L[n,n] and B[n,k] (float64).
Tensor cholesky_solve(const Tensor& l, const Tensor& b);

/// Eigen-decomposition of a symmetric A[n,n] (float64): eigenvalues ascending [n] and
/// eigenvectors as columns of V[n,n] (cyclic Jacobi rotations).
std::pair<Tensor, Tensor> eigh(const Tensor& a);

}  // namespace medit::cpu
