// CPU GEMM: BLAS dispatch plus the built-in fallback kernel.
//
// The fallback packs op(A) and op(B) into contiguous panels and runs an
// (MC x KC) * (KC x NC) blocked loop nest parallelised over row blocks with
// OpenMP; the innermost loop is a unit-stride axpy the compiler vectorises.
// It does not try to beat OpenBLAS; it has to be correct everywhere and within
// a small factor of it.
#include "medit/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef MEDIT_HAVE_BLAS
// Declared here rather than via <cblas.h>: distributions put that header in
// different places, the ABI is fixed.
extern "C" {
enum MEDIT_CBLAS_ORDER { MeditCblasRowMajor = 101 };
enum MEDIT_CBLAS_TRANSPOSE { MeditCblasNoTrans = 111, MeditCblasTrans = 112 };
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc);
void cblas_dgemm(int order, int ta, int tb, int M, int N, int K, double alpha, const double* A, int lda,
                 const double* B, int ldb, double beta, double* C, int ldc);
}
#endif

namespace medit::cpu {

namespace {
bool initial_force_fallback() {
  const char* env = std::getenv("MEDIT_GEMM");
  return env != nullptr && std::strcmp(env, "fallback") == 0;
}
bool g_force_fallback = initial_force_fallback();

constexpr int64_t MC = 64, KC = 256, NC = 1024;
}  // namespace

bool gemm_blas_compiled() {
#ifdef MEDIT_HAVE_BLAS
  return true;
#else
  return false;
#endif
}
bool gemm_uses_blas() { return gemm_blas_compiled() && !g_force_fallback; }
void gemm_set_force_fallback(bool force) { g_force_fallback = force; }

template <typename T>
void gemm_fallback(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  // C = beta*C first, so every block below only accumulates.
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
  if (K == 0 || M == 0 || N == 0) return;
  for (int64_t n0 = 0; n0 < N; n0 += NC) {
    const int64_t nb = std::min(NC, N - n0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      const int64_t kb = std::min(KC, K - k0);
      // Pack op(B)[k0:k0+kb, n0:n0+nb] row-major, scaled by alpha.
      std::vector<T> bp(static_cast<size_t>(kb * nb));
      for (int64_t k = 0; k < kb; ++k)
        for (int64_t j = 0; j < nb; ++j)
          bp[k * nb + j] = alpha * (trans_b ? B[(n0 + j) * ldb + (k0 + k)] : B[(k0 + k) * ldb + (n0 + j)]);
#pragma omp parallel for schedule(dynamic)
      for (int64_t m0 = 0; m0 < M; m0 += MC) {
        const int64_t mb = std::min(MC, M - m0);
        for (int64_t i = 0; i < mb; ++i) {
          T* __restrict c = C + (m0 + i) * ldc + n0;
          for (int64_t k = 0; k < kb; ++k) {
            const T a = trans_a ? A[(k0 + k) * lda + (m0 + i)] : A[(m0 + i) * lda + (k0 + k)];
            if (a == T(0)) continue;
            const T* __restrict b = bp.data() + k * nb;
            for (int64_t j = 0; j < nb; ++j) c[j] += a * b[j];
          }
        }
      }
    }
  }
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
#ifdef MEDIT_HAVE_BLAS
  if (!g_force_fallback && M > 0 && N > 0) {
    const int ta = trans_a ? MeditCblasTrans : MeditCblasNoTrans;
    const int tb = trans_b ? MeditCblasTrans : MeditCblasNoTrans;
    if constexpr (sizeof(T) == 4)
      cblas_sgemm(MeditCblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, (int)std::max<int64_t>(lda, 1), B,
                  (int)std::max<int64_t>(ldb, 1), beta, C, (int)std::max<int64_t>(ldc, 1));
    else
      cblas_dgemm(MeditCblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, (int)std::max<int64_t>(lda, 1), B,
                  (int)std::max<int64_t>(ldb, 1), beta, C, (int)std::max<int64_t>(ldc, 1));
    return;
  }
#endif
  gemm_fallback(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_fallback<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                   int64_t, float, float*, int64_t);
template void gemm_fallback<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                    const double*, int64_t, double, double*, int64_t);

}  // namespace medit::cpu
