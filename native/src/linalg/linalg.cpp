// Dense linear algebra for editors: second-moment accumulation, in-place GEMM,
// Cholesky factor/solve (Golub & Van Loan, Matrix Computations, Alg. 4.2.1) and a
// cyclic Jacobi symmetric eigensolver (ibid., Alg. 8.5.3). float64 throughout except
// the accumulated product, which is formed in the input's precision.
#include <cmath>
#include <cstring>
#include <algorithm>
#include <numeric>

#include "medit/gemm.h"
#include "medit/linalg.h"

namespace medit::cpu {

void second_moment_accumulate_inplace(Tensor& acc, const Tensor& x) {
  check_dtype(acc, DType::F64, "second_moment_accumulate", "acc");
  check_float(x, "second_moment_accumulate", "x");
  MEDIT_THROW_IF(x.dim() != 2, SHAPE, "second_moment_accumulate: expected x [N,D] but received " + shape_str(x.shape));
  const int64_t N = x.shape[0], D = x.shape[1];
  check_shape(acc, {D, D}, "second_moment_accumulate", "acc");
  double* pa = acc.data<double>();
  if (x.dtype == DType::F64) {
    gemm<double>(true, false, D, D, N, 1.0, x.data<double>(), D, x.data<double>(), D, 1.0, pa, D);
    return;
  }
  // f32 product per chunk of rows (bounded rounding growth), reduced into f64.
  constexpr int64_t kChunk = 4096;
  std::vector<float> part(static_cast<size_t>(D * D));
  for (int64_t r0 = 0; r0 < N; r0 += kChunk) {
    const int64_t rows = std::min(kChunk, N - r0);
    gemm<float>(true, false, D, D, rows, 1.0f, x.data<float>() + r0 * D, D, x.data<float>() + r0 * D, D, 0.0f, part.data(), D);
    for (int64_t i = 0; i < D * D; ++i) pa[i] += part[i];
  }
}

void gemm_inplace(Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta) {
  check_float(c, "gemm_inplace", "c");
  check_same_dtype(c, a, "gemm_inplace");
  check_same_dtype(c, b, "gemm_inplace");
  MEDIT_THROW_IF(a.dim() != 2 || b.dim() != 2 || c.dim() != 2, SHAPE, "gemm_inplace: expected 2-D operands");
  const int64_t M = trans_a ? a.shape[1] : a.shape[0], K = trans_a ? a.shape[0] : a.shape[1];
  const int64_t Kb = trans_b ? b.shape[1] : b.shape[0], N = trans_b ? b.shape[0] : b.shape[1];
  MEDIT_THROW_IF(K != Kb || c.shape[0] != M || c.shape[1] != N, SHAPE,
                 "gemm_inplace: " + shape_str(c.shape) + " += " + shape_str(a.shape) + (trans_a ? "ᵀ" : "") + " @ " +
                     shape_str(b.shape) + (trans_b ? "ᵀ" : "") + " does not fit");
  float_dispatch(c.dtype, "gemm_inplace", [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), a.data<T>(), a.shape[1], b.data<T>(), b.shape[1],
            static_cast<T>(beta), c.data<T>(), N);
  });
}

Tensor cholesky(const Tensor& a) {
  check_dtype(a, DType::F64, "cholesky", "a");
  MEDIT_THROW_IF(a.dim() != 2 || a.shape[0] != a.shape[1], SHAPE, "cholesky: expected a square matrix but received " + shape_str(a.shape));
  const int64_t n = a.shape[0];
  Tensor l = tensor_empty({n, n}, DType::F64, true);
  const double* A = a.data<double>();
  double* L = l.data<double>();
  for (int64_t j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    MEDIT_THROW_IF(!(d > 0) || !std::isfinite(d), ARG,
                   "cholesky: matrix is not positive definite (pivot " + std::to_string(j) + " is " + std::to_string(d) + ")");
    const double ljj = std::sqrt(d);
    L[j * n + j] = ljj;
#pragma omp parallel for if (n - j > 256)
    for (int64_t i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      const double* li = L + i * n;
      const double* lj = L + j * n;
      for (int64_t k = 0; k < j; ++k) s -= li[k] * lj[k];
      L[i * n + j] = s / ljj;
    }
  }
  return l;
}

Tensor cholesky_solve(const Tensor& l, const Tensor& b) {
  check_dtype(l, DType::F64, "cholesky_solve", "l");
  check_dtype(b, DType::F64, "cholesky_solve", "b");
  const int64_t n = l.shape[0];
  MEDIT_THROW_IF(l.dim() != 2 || l.shape[1] != n, SHAPE, "cholesky_solve: expected a square factor");
  MEDIT_THROW_IF(b.dim() < 1 || b.shape[0] != n, SHAPE,
                 "cholesky_solve: right-hand side " + shape_str(b.shape) + " does not match factor " + shape_str(l.shape));
  const int64_t k = b.dim() == 1 ? 1 : b.shape[1];
  Tensor x = tensor_clone(b);
  const double* L = l.data<double>();
  double* X = x.data<double>();
#pragma omp parallel for if (k > 4)
  for (int64_t c = 0; c < k; ++c) {
    // forward: L y = b
    for (int64_t i = 0; i < n; ++i) {
      double s = X[i * k + c];
      for (int64_t j = 0; j < i; ++j) s -= L[i * n + j] * X[j * k + c];
      X[i * k + c] = s / L[i * n + i];
    }
    // backward: Lᵀ x = y
    for (int64_t i = n - 1; i >= 0; --i) {
      double s = X[i * k + c];
      for (int64_t j = i + 1; j < n; ++j) s -= L[j * n + i] * X[j * k + c];
      X[i * k + c] = s / L[i * n + i];
    }
  }
  return x;
}

std::pair<Tensor, Tensor> eigh(const Tensor& a) {
  check_dtype(a, DType::F64, "eigh", "a");
  MEDIT_THROW_IF(a.dim() != 2 || a.shape[0] != a.shape[1], SHAPE, "eigh: expected a square matrix but received " + shape_str(a.shape));
  const int64_t n = a.shape[0];
  std::vector<double> A(a.data<double>(), a.data<double>() + n * n);
  std::vector<double> V(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
  double norm = 0;
  for (double v : A) norm += v * v;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += A[p * n + q] * A[p * n + q];
    if (off <= 1e-30 * std::max(norm, 1e-300)) break;
    for (int64_t p = 0; p < n - 1; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = A[p * n + q];
        if (std::abs(apq) < 1e-300) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A ← Jᵀ A J (columns then rows)
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return A[i * n + i] < A[j * n + j]; });
  Tensor w = tensor_empty({n}, DType::F64), vec = tensor_empty({n, n}, DType::F64);
  for (int64_t j = 0; j < n; ++j) {
    w.data<double>()[j] = A[order[j] * n + order[j]];
    for (int64_t i = 0; i < n; ++i) vec.data<double>()[i * n + j] = V[i * n + order[j]];
  }
  return {w, vec};
}

}  // namespace medit::cpu
