// Dense linear algebra for editors: second-moment accumulation, in-place GEMM,
// Cholesky factor/solve (Golub & Van Loan, Matrix Computations, Alg. 4.2.1) and a
// symmetric eigensolver (Householder tridiagonalisation + implicit QR, ibid. §8.3).
// float64 throughout except the accumulated product, formed in the input's precision.
#include <cmath>
#include <cstring>
#include <limits>
#include <algorithm>
#include <numeric>

#include "medit/gemm.h"
#include "medit/linalg.h"
#include "medit/parallel.h"

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
    // rows below the pivot: ~j multiply-adds each, ≥ 2^15 per pool chunk
    const int64_t rows = n - j - 1;
    parallel_for(rows, parallel_grain(rows, (1 << 15) / (j + 1) + 1), [&](int64_t r0, int64_t r1) {
      for (int64_t i = j + 1 + r0; i < j + 1 + r1; ++i) {
        double s = A[i * n + j];
        const double* li = L + i * n;
        const double* lj = L + j * n;
        for (int64_t k = 0; k < j; ++k) s -= li[k] * lj[k];
        L[i * n + j] = s / ljj;
      }
    });
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
  // one right-hand side per item: n² multiply-adds each
  parallel_for(k, parallel_grain(k, (1 << 15) / (n * n + 1) + 1), [&](int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
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
  });
  return x;
}

namespace {

// Householder tridiagonalisation Qᵀ A Q = T (Golub & Van Loan, Alg. 8.3.1). A is a row-major
// symmetric n×n copy, overwritten. On return d holds T's diagonal, e its subdiagonal
// (e[k] = T[k+1][k]) and z = Qᵀ (row-major), so that later rotations of T act on rows of z.
void tridiagonalise(std::vector<double>& A, int64_t n, std::vector<double>& d, std::vector<double>& e,
                    std::vector<double>& z) {
  std::fill(z.begin(), z.end(), 0.0);
  for (int64_t i = 0; i < n; ++i) z[i * n + i] = 1.0;
  std::vector<double> v(n), p(n), u(n);
  for (int64_t k = 0; k + 2 < n; ++k) {
    const int64_t m = n - k - 1;  // size of the trailing block A[k+1:, k+1:]
    const double* x = A.data() + k * n + k + 1;  // A[k][k+1:] = A[k+1:][k] by symmetry
    double alpha = 0;
    for (int64_t i = 0; i < m; ++i) alpha += x[i] * x[i];
    alpha = std::sqrt(alpha);
    d[k] = A[k * n + k];
    double tail = alpha * alpha - x[0] * x[0];
    if (alpha == 0 || tail <= 1e-300 * alpha * alpha) {  // already tridiagonal in this column
      e[k] = x[0];
      continue;
    }
    // v = x + sign(x0)‖x‖e1, P = I − β v vᵀ maps x to −sign(x0)‖x‖e1 (Alg. 5.1.1).
    const double sgn = x[0] >= 0 ? 1.0 : -1.0;
    for (int64_t i = 0; i < m; ++i) v[i] = x[i];
    v[0] += sgn * alpha;
    double vv = 0;
    for (int64_t i = 0; i < m; ++i) vv += v[i] * v[i];
    const double beta = 2.0 / vv;
    e[k] = -sgn * alpha;
    // S ← P S P = S − v wᵀ − w vᵀ with p = β S v, w = p − (β pᵀv / 2) v (§8.3.1).
    double* S = A.data() + (k + 1) * n + (k + 1);
    double pv = 0;
    for (int64_t i = 0; i < m; ++i) {
      const double* si = S + i * n;
      double s = 0;
      for (int64_t j = 0; j < m; ++j) s += si[j] * v[j];
      p[i] = beta * s;
      pv += p[i] * v[i];
    }
    const double K = 0.5 * beta * pv;
    for (int64_t i = 0; i < m; ++i) p[i] -= K * v[i];  // p is now w
    for (int64_t i = 0; i < m; ++i) {
      double* si = S + i * n;
      const double vi = v[i], wi = p[i];
      for (int64_t j = 0; j < m; ++j) si[j] -= vi * p[j] + wi * v[j];
    }
    // Qᵀ = P_{n-3}···P_0: z ← P_k z on rows k+1.. (u = vᵀ z[k+1:], z[k+1:] −= β v uᵀ).
    std::fill(u.begin(), u.end(), 0.0);
    for (int64_t i = 0; i < m; ++i) {
      const double* zi = z.data() + (k + 1 + i) * n;
      const double vi = v[i];
      for (int64_t j = 0; j < n; ++j) u[j] += vi * zi[j];
    }
    for (int64_t i = 0; i < m; ++i) {
      double* zi = z.data() + (k + 1 + i) * n;
      const double f = beta * v[i];
      for (int64_t j = 0; j < n; ++j) zi[j] -= f * u[j];
    }
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2];
    e[n - 2] = A[(n - 1) * n + n - 2];
  }
  d[n - 1] = A[(n - 1) * n + n - 1];
}

// Implicit symmetric QR with Wilkinson shifts on the tridiagonal (d, e) (Golub & Van Loan,
// Alg. 8.3.2 and 8.3.3). Each Givens rotation G in plane (k, k+1), T ← Gᵀ T G, is also applied
// to rows k, k+1 of z (z ← Gᵀ z), so z's rows end as the eigenvectors of the original matrix.
void tridiagonal_qr(int64_t n, std::vector<double>& d, std::vector<double>& e, std::vector<double>& z) {
  const double eps = std::numeric_limits<double>::epsilon();
  int64_t hi = n - 1;
  int64_t iterations = 0;
  while (hi > 0) {
    // Deflate converged off-diagonal entries at the bottom.
    if (std::abs(e[hi - 1]) <= eps * (std::abs(d[hi - 1]) + std::abs(d[hi]))) {
      e[hi - 1] = 0;
      --hi;
      continue;
    }
    // The unreduced block [lo, hi].
    int64_t lo = hi - 1;
    while (lo > 0 && std::abs(e[lo - 1]) > eps * (std::abs(d[lo - 1]) + std::abs(d[lo]))) --lo;
    MEDIT_THROW_IF(++iterations > 50 * n, ARG, "eigh: the symmetric QR iteration did not converge (non-finite input?)");
    // Wilkinson shift: the eigenvalue of the trailing 2×2 block closer to d[hi].
    const double delta = 0.5 * (d[hi - 1] - d[hi]);
    const double b = e[hi - 1];
    const double mu = d[hi] - b * b / (delta + (delta >= 0 ? 1.0 : -1.0) * std::hypot(delta, b));
    double x = d[lo] - mu, y = e[lo];
    for (int64_t k = lo; k < hi; ++k) {
      // G = [[c, s], [−s, c]] with Gᵀ [x; y] = [r; 0].
      const double r = std::hypot(x, y);
      const double c = r == 0 ? 1.0 : x / r, s = r == 0 ? 0.0 : -y / r;
      if (k > lo) e[k - 1] = r;  // the bulge at (k+1, k−1) is chased away
      const double a = d[k], bb = e[k], cc = d[k + 1];
      d[k] = c * c * a - 2 * c * s * bb + s * s * cc;
      d[k + 1] = s * s * a + 2 * c * s * bb + c * c * cc;
      e[k] = c * s * (a - cc) + (c * c - s * s) * bb;
      if (k + 1 < hi) {
        x = e[k];
        y = -s * e[k + 1];  // new bulge at (k+2, k)
        e[k + 1] *= c;
      }
      double* zk = z.data() + k * n;
      double* zk1 = zk + n;
      for (int64_t j = 0; j < n; ++j) {
        const double p = zk[j], q = zk1[j];
        zk[j] = c * p - s * q;
        zk1[j] = s * p + c * q;
      }
    }
  }
}

}  // namespace

// Symmetric eigendecomposition A = V diag(w) Vᵀ: Householder tridiagonalisation, then the
// implicit symmetric QR iteration (O(n³), about 9n³ flops with the eigenvectors).
std::pair<Tensor, Tensor> eigh(const Tensor& a) {
  check_dtype(a, DType::F64, "eigh", "a");
  MEDIT_THROW_IF(a.dim() != 2 || a.shape[0] != a.shape[1], SHAPE, "eigh: expected a square matrix but received " + shape_str(a.shape));
  const int64_t n = a.shape[0];
  Tensor w = tensor_empty({n}, DType::F64), vec = tensor_empty({n, n}, DType::F64);
  if (n == 0) return {w, vec};
  std::vector<double> A(a.data<double>(), a.data<double>() + n * n);
  for (double x : A) MEDIT_THROW_IF(!std::isfinite(x), ARG, "eigh: the matrix has a non-finite entry");
  std::vector<double> d(n), e(std::max<int64_t>(n - 1, 1)), z(static_cast<size_t>(n * n));
  tridiagonalise(A, n, d, e, z);
  tridiagonal_qr(n, d, e, z);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return d[i] < d[j]; });
  for (int64_t j = 0; j < n; ++j) {
    w.data<double>()[j] = d[order[j]];
    const double* zj = z.data() + order[j] * n;
    for (int64_t i = 0; i < n; ++i) vec.data<double>()[i * n + j] = zj[i];
  }
  return {w, vec};
}

}  // namespace medit::cpu
