// CPU GEMM: the built-in kernels (default) plus the optional BLAS dispatch.
//
// Computes row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C with BLAS
// semantics: beta == 0 never reads C (NaN/Inf already there do not leak), and
// alpha == 0 or K == 0 never reads A or B (C becomes beta * C). Products of at most
// kSmallGemmRows rows, or at most kNarrowGemmCols columns, go to the skinny paths
// (gemm-small.cpp) whichever backend is chosen.
//
// The fallback follows the Goto/BLIS blocking (K. Goto and R. van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008; F. Van Zee and R. van de
// Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", ACM TOMS 41(3),
// 2015), the same loop nest llm.c's matmul_forward approximates:
//
//   for jc in [0,N) step NC                 B block KC x NC stays in L3
//     for pc in [0,K) step KC               pack op(B)[pc:+KC, jc:+NC] into NR-wide micro-panels
//       for ic in [0,M) step MC             pack op(A)[ic:+MC, pc:+KC] into MR-tall micro-panels (L2)
//         for jr in [0,NC) step NR          one B micro-panel (L1)
//           for ir in [0,MC) step MR        micro-kernel: an MR x NR tile of C held in registers
//
// Packing absorbs both transposes, so there is one micro-kernel. It is written with GCC
// vector extensions at the widest width the build targets (-march=native: 512-bit with
// AVX-512, 256-bit with AVX/AVX2, else 128-bit), for float and double alike; the compiler
// emits broadcast + FMA. One thread runs the loop nest above as it is. Several threads (the
// shared pool, include/medit/parallel.h) run it as one barrier-free job per column block
// (gemm_parallel below): row panels are claimed dynamically, each packs its own rows of A,
// and the B panels are packed once into a shared buffer by whichever thread needs each first
// (a thread that finds a panel still being packed packs a private copy rather than wait), so
// a thread the OS preempts holds up only the rows it is on. Every C element sees the same
// K blocks in the same order as on one thread: results do not depend on the thread count.
// Pack buffers are thread_local and grow on demand, so concurrent callers (pool workers,
// libuv workers) never share one.
//
// Not done: no run-time CPU dispatch (the build's -march decides the width), no complex or
// half types, no strided (non-unit) column access beyond lda/ldb/ldc.
#include "medit/gemm.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "gemm-small.h"
#include "gemm-vec.h"
#include "medit/allocator.h"
#include "medit/parallel.h"
#include "medit/tensor.h"

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
// The built-in kernel is the default: compiled for the host, it beats the distributions'
// OpenBLAS builds measured here (bench/RESULTS.md). MEDIT_GEMM=blas selects the system BLAS.
bool initial_use_blas() {
  const char* env = std::getenv("MEDIT_GEMM");
  return env != nullptr && std::strcmp(env, "blas") == 0;
}
bool g_use_blas = initial_use_blas();

// ---- blocking ----------------------------------------------------------------------------
// An MR x NR tile of C is MR rows times NV vectors of accumulators. With 32 vector registers
// (AVX-512) a 6 x 4-vector tile keeps 24 accumulators, 4 B vectors and a broadcast live
// (6x64 f32, 6x32 f64); with 16 (AVX2/SSE) a 6 x 2-vector tile keeps 12 (the classic 6x16
// f32 AVX2 shape). KC is the depth of one panel pair; MC x KC (one packed A block, ~288 KB)
// sits in L2 and KC x NC (the packed B block, ~4 MB) in L3. Chosen by a sweep on a 2-core
// Zen 5 (48 KB L1d, 1 MB L2 per core): 6x4 with KC=256 beat 8x3, 12x2 and KC 192/384/512.
template <typename T>
struct Blocking {
  static constexpr int VL = kVecBytes / static_cast<int>(sizeof(T));  // lanes per vector
#if defined(__AVX512F__)
  static constexpr int MR = 6, NV = 4;
#else
  static constexpr int MR = 6, NV = 2;
#endif
  static constexpr int NR = NV * VL;
  static constexpr int64_t KC = 256;
  static constexpr int64_t MC = (288 * 1024 / (KC * static_cast<int64_t>(sizeof(T)))) / MR * MR;
  static constexpr int64_t NC = (4 * 1024 * 1024 / (KC * static_cast<int64_t>(sizeof(T)))) / NR * NR;
};

// A 64-byte aligned scratch buffer that only grows (one per calling thread and element
// type). Allocated before the parallel region so a failure throws on the caller's thread.
template <typename T>
class PackBuffer {
 public:
  T* get(size_t n) {
    if (n > cap_) {
      const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
      data_.reset();
      cap_ = 0;
      data_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
      MEDIT_THROW_IF(!data_, OOM, "gemm: could not allocate " + std::to_string(bytes) + " bytes of packing buffer");
      cap_ = n;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t cap_ = 0;
};

// ---- packing -----------------------------------------------------------------------------

// op(A)[ic:+mc, pc:+kc] -> ceil(mc/MR) panels, each kc x MR (k-major), zero-padded rows.
template <typename T, int MR>
void pack_a(bool trans_a, const T* A, int64_t lda, int64_t ic, int64_t pc, int64_t mc, int64_t kc, T* out) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - p);
    T* dst = out + p * kc;
    if (trans_a) {  // op(A)(i,k) = A[k, i]: rows of the panel are contiguous in A
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = A + (pc + k) * lda + ic + p;
        T* d = dst + k * MR;
        for (int64_t i = 0; i < rows; ++i) d[i] = src[i];
        for (int64_t i = rows; i < MR; ++i) d[i] = T(0);
      }
    } else {  // op(A)(i,k) = A[i, k]: MR row streams
      for (int64_t i = 0; i < rows; ++i) {
        const T* src = A + (ic + p + i) * lda + pc;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
      }
      for (int64_t i = rows; i < MR; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = T(0);
    }
  }
}

// op(B)[pc:+kc, jc+j0 : +cols] -> one panel kc x NR (k-major), zero-padded columns.
template <typename T, int NR>
void pack_b_panel(bool trans_b, const T* B, int64_t ldb, int64_t pc, int64_t col0, int64_t cols, int64_t kc, T* dst) {
  if (trans_b) {  // op(B)(k,j) = B[j, k]: NR column streams
    for (int64_t j = 0; j < cols; ++j) {
      const T* src = B + (col0 + j) * ldb + pc;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
    }
    for (int64_t j = cols; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = T(0);
  } else {  // op(B)(k,j) = B[k, j]: contiguous NR-wide slices
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + (pc + k) * ldb + col0;
      T* d = dst + k * NR;
      if (cols == NR) {
        std::memcpy(d, src, sizeof(T) * NR);
      } else {
        for (int64_t j = 0; j < cols; ++j) d[j] = src[j];
        for (int64_t j = cols; j < NR; ++j) d[j] = T(0);
      }
    }
  }
}

// ---- micro-kernel ------------------------------------------------------------------------

// C[0:mr, 0:nr] = alpha * (Ap · Bp) + beta * C over one kc-long panel pair, where
// Ap is kc x MR and Bp is kc x NR (both k-major, 64-byte aligned). beta == 0 writes
// without reading C. mr <= MR, nr <= NR select the valid corner of an edge tile.
template <typename T>
void micro_kernel(int64_t kc, const T* __restrict ap, const T* __restrict bp, T* __restrict c, int64_t ldc, int mr,
                  int nr, T alpha, T beta) {
  using V = typename Vec<T>::type;
  constexpr int MR = Blocking<T>::MR, NV = Blocking<T>::NV, VL = Blocking<T>::VL, NR = Blocking<T>::NR;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};

  const V* __restrict bv = reinterpret_cast<const V*>(__builtin_assume_aligned(bp, kVecBytes));
  for (int64_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = bv[k * NV + v];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V a = V{} + ap[k * MR + i];  // broadcast
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] += a * b[v];
    }
  }

  if (mr == MR && nr == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      T* row = c + i * ldc;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        V r = acc[i][v] * alpha;
        if (beta != T(0)) {
          V old;
          std::memcpy(&old, row + v * VL, sizeof(V));
          r += old * beta;
        }
        std::memcpy(row + v * VL, &r, sizeof(V));
      }
    }
    return;
  }
  alignas(64) T tile[MR][NR];
  std::memcpy(tile, acc, sizeof(tile));
  for (int i = 0; i < mr; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0))
      for (int j = 0; j < nr; ++j) row[j] = alpha * tile[i][j];
    else
      for (int j = 0; j < nr; ++j) row[j] = alpha * tile[i][j] + beta * row[j];
  }
}

// C = beta * C, with beta == 0 writing zeros without reading C.
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// One panel pair of the loop nest: C[ic:+mc, jc:+nc] (+)= Ap · Bp over one kc-deep block,
// with op(A) packed in apack (mc x kc) and op(B) in bpack (kc x nc).
template <typename T>
void block_product(const T* apack, const T* bpack, int64_t mc, int64_t nc, int64_t kc, T* C, int64_t ldc, T alpha,
                   T beta) {
  constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    const T* bp = bpack + (jr / NR) * kc * NR;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
      micro_kernel<T>(kc, apack + ir * kc, bp, C + ir * ldc + jr, ldc, mr, nr, alpha, beta);
    }
  }
}

// C[row0:+rows, col0:+cols] over all of K: the Goto loop nest restricted to one tile, with
// this thread's own pack buffers.
template <typename T>
void gemm_tile(bool trans_a, bool trans_b, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int64_t K, T alpha,
               const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using Bk = Blocking<T>;
  constexpr int MR = Bk::MR, NR = Bk::NR;
  const int64_t nc_max = std::min<int64_t>(Bk::NC, (cols + NR - 1) / NR * NR);
  const int64_t kc_max = std::min<int64_t>(Bk::KC, K);
  const int64_t mc_max = std::min<int64_t>(Bk::MC, (rows + MR - 1) / MR * MR);
  // Sizes are multiples of 64 elements, so both blocks stay 64-byte aligned.
  const int64_t b_size = (kc_max * nc_max + 63) / 64 * 64, a_size = (mc_max * kc_max + 63) / 64 * 64;
  static thread_local PackBuffer<T> buffer;
  T* const bpack = buffer.get(static_cast<size_t>(b_size + a_size));
  T* const apack = bpack + b_size;
  for (int64_t jc = col0; jc < col0 + cols; jc += Bk::NC) {
    const int64_t nc = std::min<int64_t>(Bk::NC, col0 + cols - jc);
    for (int64_t pc = 0; pc < K; pc += Bk::KC) {
      const int64_t kc = std::min<int64_t>(Bk::KC, K - pc);
      // The first K block applies beta; later ones accumulate onto it.
      const T beta_here = pc == 0 ? beta : T(1);
      for (int64_t p = 0; p * NR < nc; ++p)
        pack_b_panel<T, NR>(trans_b, B, ldb, pc, jc + p * NR, std::min<int64_t>(NR, nc - p * NR), kc, bpack + p * kc * NR);
      for (int64_t ic = row0; ic < row0 + rows; ic += Bk::MC) {
        const int64_t mc = std::min<int64_t>(Bk::MC, row0 + rows - ic);
        pack_a<T, MR>(trans_a, A, lda, ic, pc, mc, kc, apack);
        block_product(apack, bpack, mc, nc, kc, C + ic * ldc + jc, ldc, alpha, beta_here);
      }
    }
  }
}

// Below ~8 MFLOP (~50 µs on one core) a job's hand-off costs more than the split saves.
constexpr double kParallelFlops = 4.0e6;  // M·N·K

// The threaded loop nest: one job per block of columns (as many as keep the packed B block
// under 8 MB, at least 8 panels). Work items are MR-row panels of C (also split into a few column ranges when
// M alone gives too few items); the pool hands them out in shrinking ("guided") chunks, and a
// chunk packs its rows of A for each K block and multiplies them with every B panel of its
// column range. B panels are packed once, into one shared buffer, by whichever thread needs
// each first: a panel's state goes 0 → 1 (a thread claimed it by compare-and-swap) → 2
// (packed). A thread that finds a panel still at 1 waits a little, then packs a private copy
// instead — a packer the OS preempted never stalls the others. Threads walk the panels from
// different starting points, so they rarely meet. Every C element still sees the same K
// blocks in the same order as on one thread: the result does not depend on the thread count.
template <typename T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  using Bk = Blocking<T>;
  constexpr int MR = Bk::MR, NR = Bk::NR;
  const int64_t k_blocks = (K + Bk::KC - 1) / Bk::KC;
  // Column blocks: B blocks of up to 8 MB, but at least 8 panels, since every block packs A
  // again (a huge K, e.g. a vocabulary-sized product, gets a larger B block instead).
  const int64_t max_panels = std::max<int64_t>(8, (8 * 1024 * 1024 / static_cast<int64_t>(sizeof(T))) / (K * NR));
  const int64_t total_panels = (N + NR - 1) / NR;
  const int64_t block_panels = std::min(total_panels, max_panels);
  const int64_t row_panels = (M + MR - 1) / MR;
  // Packed B: k-block major, then NR-column panels of (kc x NR), 64-byte aligned.
  ScratchBuffer<T> b_buffer(static_cast<size_t>(K * block_panels * NR) + 64 / sizeof(T));
  T* const bpack = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(b_buffer.data()) + 63) & ~uintptr_t{63});
  ScratchBuffer<uint8_t> state(static_cast<size_t>(k_blocks * block_panels));
  for (int64_t p0 = 0; p0 < total_panels; p0 += block_panels) {
    const int64_t panels = std::min(block_panels, total_panels - p0);
    const int64_t jc = p0 * NR, nc = std::min<int64_t>(N - jc, panels * NR);
    std::memset(state.data(), 0, static_cast<size_t>(k_blocks * panels));
    // Items: (column range, row panel), row panels innermost. Column ranges only when the row
    // panels alone give fewer than ~8 items per thread.
    const int64_t col_ranges = std::min(panels, (8 * threads + row_panels - 1) / row_panels);
    parallel_for(col_ranges * row_panels, 1, [&](int64_t i0, int64_t i1) {
      static thread_local PackBuffer<T> a_buffer, b_private;
      for (int64_t i = i0; i < i1;) {
        const int64_t range = i / row_panels, rp0 = i % row_panels;
        const int64_t rp1 = std::min(row_panels, rp0 + (i1 - i));  // this chunk's panels in this range
        i += rp1 - rp0;
        const int64_t r0 = rp0 * MR, rows = std::min(M, rp1 * MR) - r0;
        const int64_t cp0 = panels * range / col_ranges, cp1 = panels * (range + 1) / col_ranges;
        const int64_t kc_max = std::min<int64_t>(Bk::KC, K);
        T* const apack = a_buffer.get(static_cast<size_t>((rows + MR - 1) / MR * MR * kc_max));
        T* const bown = b_private.get(static_cast<size_t>(kc_max * NR));
        const int64_t offset = (rp0 * 7919) % (cp1 - cp0);  // where this chunk starts its walk
        for (int64_t pc = 0, kb = 0; pc < K; pc += Bk::KC, ++kb) {
          const int64_t kc = std::min<int64_t>(Bk::KC, K - pc);
          const T beta_here = pc == 0 ? beta : T(1);  // later K blocks accumulate onto the first
          pack_a<T, MR>(trans_a, A, lda, r0, pc, rows, kc, apack);
          for (int64_t w = 0; w < cp1 - cp0; ++w) {
            const int64_t p = cp0 + (offset + w) % (cp1 - cp0);
            const int64_t col = jc + p * NR, cols = std::min<int64_t>(NR, jc + nc - col);
            T* const shared = bpack + pc * panels * NR + p * kc * NR;
            uint8_t* const st = state.data() + kb * panels + p;
            const T* bp = shared;
            uint8_t seen = __atomic_load_n(st, __ATOMIC_ACQUIRE);
            if (seen == 0) {
              uint8_t expected = 0;
              if (__atomic_compare_exchange_n(st, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                pack_b_panel<T, NR>(trans_b, B, ldb, pc, col, cols, kc, shared);
                __atomic_store_n(st, 2, __ATOMIC_RELEASE);
                seen = 2;
              } else {
                seen = expected;
              }
            }
            for (int spin = 0; seen == 1 && spin < 256; ++spin) seen = __atomic_load_n(st, __ATOMIC_ACQUIRE);
            if (seen != 2) {  // its packer is slow (preempted?): pack a private copy
              pack_b_panel<T, NR>(trans_b, B, ldb, pc, col, cols, kc, bown);
              bp = bown;
            }
            block_product(apack, bp, rows, cols, kc, C + r0 * ldc + col, ldc, alpha, beta_here);
          }
        }
      }
    });
  }
}

}  // namespace

bool gemm_blas_compiled() {
#ifdef MEDIT_HAVE_BLAS
  return true;
#else
  return false;
#endif
}
bool gemm_uses_blas() { return gemm_blas_compiled() && g_use_blas; }
void gemm_set_force_fallback(bool force) { g_use_blas = !force; }

template <typename T>
void gemm_fallback(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {  // BLAS: A and B are not referenced
    scale_c(M, N, beta, C, ldc);
    return;
  }
  if (M <= kSmallGemmRows) {
    gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (N <= kNarrowGemmCols) {
    gemm_narrow(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }

  const int threads = num_threads();
  if (threads == 1 || in_parallel_job() || static_cast<double>(M) * N * K < kParallelFlops) {
    gemm_tile(trans_a, trans_b, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm_parallel(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
#ifdef MEDIT_HAVE_BLAS
  // cblas takes int dimensions; anything larger goes to the fallback rather than truncating.
  const bool fits_int = std::max({M, N, K, lda, ldb, ldc}) <= INT_MAX;
  if (g_use_blas && M > kSmallGemmRows && N > kNarrowGemmCols && fits_int) {
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
