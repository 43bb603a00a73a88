// Skinny GEMM: C[M,N] = alpha·op(A)[M,K]·op(B)[K,N] + beta·C for few rows (M <= 48), the
// shapes of editing: a prompt's 10-40 tokens times a weight matrix, one key times a matrix,
// per-head attention products. The packed kernel (gemm.cpp) copies all of op(B) into panels
// before it multiplies; with few rows of A that copy costs as much as the product itself
// (1/M of it), so this path reads B where it lies:
//
//   op(B) = B [K,N] (row-major, "NN"): a tile of MR rows x NV vectors of C accumulates
//     A(i,k)·B[k, j:j+NV·VL] over k — broadcast A, load B rows, FMA (the packed kernel's
//     micro-kernel, fed from B's own rows; A(i,k) is read with any stride, so op(A) = Aᵀ
//     needs no copy either). Column tails run on a zero-padded copy of the last columns.
//   op(B) = Bᵀ, B [N,K] ("NT", torch.nn.Linear's weight, the LM head): each C(i,j) is a dot
//     product of two contiguous rows; a tile of TR x TC dot products (TR·TC = the lanes of a
//     vector) keeps one vector accumulator per product along k, and a tree of two-source
//     permutes folds the TR·TC accumulators into one vector holding the whole tile (VL − 1
//     combines instead of VL horizontal sums); one or two rows (matrix-vector products) take
//     1 x VL or 2 x VL/2 tiles. With up to 8 rows every B row is read once, from memory, and
//     the tiles prefetch the B rows ahead. op(A) = Aᵀ is first copied to rows.
// K runs in blocks of kKBlock so a tile's B panel and A rows stay in L2 for long K.
//
// Work is split over column ranges on the shared pool (include/medit/parallel.h) when it is
// large enough; each range is independent, no barriers.
//
// Few columns instead (gemm_narrow, N <= kNarrowGemmCols, any M): the transposed product
// Cᵀ = op(B)ᵀ·op(A)ᵀ has N <= 8 rows, so it runs here with the operands swapped, into a
// scratch Cᵀ that is then transposed into C. For C = A·B (A [M,K] row-major) that is the NT
// path: each tile dots a few rows of A against op(B)'s columns (copied to rows, in L1), so A
// streams from memory once, split over rows of A on the pool; for C = Aᵀ·B (A [K,M], the
// weight gradient op(A)ᵀ·dC) the NN path reads A's rows. The packed kernel would pad the N
// columns to its 16..64-wide tile and pack all of A first: 8-12x the work at N = 5.
//
// Not done: M above kSmallGemmRows with N above kNarrowGemmCols (the packed kernel wins
// there), half types.
#include "gemm-small.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "gemm-vec.h"
#include "medit/allocator.h"
#include "medit/parallel.h"

namespace medit::cpu {

namespace {

template <typename T>
struct SmallBlocking {
  using V = typename Vec<T>::type;
  static constexpr int VL = kVecBytes / static_cast<int>(sizeof(T));
  // NN: MR x NV accumulators + NV B vectors + 1 broadcast within the register file.
  static constexpr int MR = 6, NV = kVecRegisters >= 32 ? 4 : 2;
  // NT: TR x TC accumulators (one vector's lanes: 4x4 f32 / 2x4 f64 with AVX-512, 2x4 / 2x2
  // with AVX2) + TR + TC loaded vectors.
  static constexpr int TC = VL >= 4 ? 4 : VL, TR = VL / TC;
};

// K blocks. NN: a 6-row A block and a 4-vector B panel of this depth take ~100 KB. NT: the
// A rows of a block stay in L2 across the column tiles, and each B row is read in runs long
// enough for the hardware prefetcher (short runs of 4 interleaved rows stall on memory).
constexpr int64_t kKBlock = 384;
constexpr int64_t kKBlockNT = 2048;

template <typename T>
inline typename Vec<T>::type load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// C tile (mr x cols) = alpha·acc + beta·C, acc given as `tile` rows of width W.
template <typename T, int W>
inline void store_tile(const T (*tile)[W], int mr, int cols, T* c, int64_t ldc, T alpha, T beta) {
  for (int i = 0; i < mr; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0))
      for (int j = 0; j < cols; ++j) row[j] = alpha * tile[i][j];
    else
      for (int j = 0; j < cols; ++j) row[j] = alpha * tile[i][j] + beta * row[j];
  }
}

// ---- NN: rows of B -------------------------------------------------------------------------

// C[0:MRt, 0:cols] for cols <= NV·VL; b points at B[0, j0] with row stride ldb, and holds NV
// full vectors per row (the caller pads the column tail). a(i,k) = a[i·ars + k·acs].
template <typename T, int MRt>
void nn_tile(int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c, int64_t ldc, int cols,
             T alpha, T beta) {
  using S = SmallBlocking<T>;
  using V = typename S::V;
  constexpr int NV = S::NV, VL = S::VL;
  V acc[MRt][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MRt; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = load(b + k * ldb + v * VL);
#pragma GCC unroll 8
    for (int i = 0; i < MRt; ++i) {
      const V av = V{} + a[i * ars + k * acs];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
  }
  if (cols == NV * VL) {
#pragma GCC unroll 8
    for (int i = 0; i < MRt; ++i) {
      T* row = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        V r = acc[i][v] * alpha;
        if (beta != T(0)) r += load(row + v * VL) * beta;
        std::memcpy(row + v * VL, &r, sizeof(V));
      }
    }
    return;
  }
  alignas(64) T tile[MRt][NV * VL];
  std::memcpy(tile, acc, sizeof(tile));
  store_tile<T, NV * VL>(tile, MRt, cols, c, ldc, alpha, beta);
}

template <typename T>
void nn_rows(int mr, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c, int64_t ldc,
             int cols, T alpha, T beta) {
  switch (mr) {
    case 6: nn_tile<T, 6>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
    case 5: nn_tile<T, 5>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
    case 4: nn_tile<T, 4>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
    case 3: nn_tile<T, 3>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
    case 2: nn_tile<T, 2>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
    default: nn_tile<T, 1>(K, a, ars, acs, b, ldb, c, ldc, cols, alpha, beta); break;
  }
}

// Columns [j0, j1) of C, all M rows.
template <typename T>
void nn_range(int64_t M, int64_t j0, int64_t j1, int64_t K, T alpha, const T* A, int64_t ars, int64_t acs, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  using S = SmallBlocking<T>;
  constexpr int MR = S::MR, W = S::NV * S::VL;
  const int64_t full_end = j0 + (j1 - j0) / W * W;
  const int tail = static_cast<int>(j1 - full_end);
  ScratchBuffer<T> pad(tail ? static_cast<size_t>(std::min(K, kKBlock) * W) : 0);
  for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
    const int64_t kc = std::min(kKBlock, K - k0);
    const T beta_here = k0 == 0 ? beta : T(1);  // later K blocks accumulate onto the first
    const T* a = A + k0 * acs;
    for (int64_t j = j0; j < full_end; j += W)
      for (int64_t i = 0; i < M; i += MR)
        nn_rows<T>(static_cast<int>(std::min<int64_t>(MR, M - i)), kc, a + i * ars, ars, acs, B + k0 * ldb + j, ldb,
                   C + i * ldc + j, ldc, W, alpha, beta_here);
    if (tail) {  // the column tail, from a zero-padded copy of B[k0:+kc, full_end:j1]
      for (int64_t k = 0; k < kc; ++k) {
        std::memcpy(pad.data() + k * W, B + (k0 + k) * ldb + full_end, sizeof(T) * tail);
        std::fill(pad.data() + k * W + tail, pad.data() + (k + 1) * W, T(0));
      }
      for (int64_t i = 0; i < M; i += MR)
        nn_rows<T>(static_cast<int>(std::min<int64_t>(MR, M - i)), kc, a + i * ars, ars, acs, pad.data(), W,
                   C + i * ldc + full_end, ldc, tail, alpha, beta_here);
    }
  }
}

// ---- NT: dot products of rows --------------------------------------------------------------

// Lane permutation masks of one fold level: inputs hold VL/G accumulators of G lanes each;
// the output holds twice as many accumulators of G/2 lanes, first a's, then b's.
template <int VL, int G, int Off>
constexpr std::array<int, VL> fold_index() {
  std::array<int, VL> idx{};
  const int half = G / 2, per = VL / G;
  for (int o = 0; o < VL; ++o) {
    const int t = o / half, u = o % half;
    idx[o] = (t < per ? t * G : VL + (t - per) * G) + u + Off;
  }
  return idx;
}

template <typename T, int G>
inline typename Vec<T>::type fold(typename Vec<T>::type a, typename Vec<T>::type b) {
  using S = SmallBlocking<T>;
  using Int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef Int Mask __attribute__((vector_size(kVecBytes)));
  static constexpr std::array<int, S::VL> lo = fold_index<S::VL, G, 0>(), hi = fold_index<S::VL, G, G / 2>();
  Mask mlo, mhi;
  for (int l = 0; l < S::VL; ++l) {
    mlo[l] = lo[l];
    mhi[l] = hi[l];
  }
  return __builtin_shuffle(a, b, mlo) + __builtin_shuffle(a, b, mhi);
}

// Folds N vectors of G-lane partial sums (N·G = VL·(number of accumulators)) into one vector
// whose lane t is the full sum of accumulator t.
template <typename T, int N, int G>
inline typename Vec<T>::type fold_all(typename Vec<T>::type* v) {
  if constexpr (N == 1) {
    return v[0];
  } else {
#pragma GCC unroll 16
    for (int p = 0; p < N / 2; ++p) v[p] = fold<T, G>(v[2 * p], v[2 * p + 1]);
    return fold_all<T, N / 2, G / 2>(v);
  }
}

// C[0:mr, 0:nr] += dot products of rows a[i·lda, 0:K] and b[j·ldb, 0:K] (mr <= TR, nr <= TC;
// rows past mr / nr repeat the last valid one and are not stored). TR·TC = VL. Stream: b's rows
// are read once (few rows of a), so the rows two tiles ahead are prefetched — TC interleaved
// row reads defeat the hardware prefetcher (1.8x on a 150000 x 256 by 256 x 5 product).
template <typename T, int TR, int TC, bool Stream>
void nt_tile(int mr, int nr, int64_t K, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, T alpha,
             T beta) {
  using S = SmallBlocking<T>;
  using V = typename S::V;
  constexpr int VL = S::VL;
  static_assert(TR * TC == VL, "a tile folds into one vector");
  const T* ar[TR];
  const T* br[TC];
  for (int i = 0; i < TR; ++i) ar[i] = a + std::min(i, mr - 1) * lda;
  for (int j = 0; j < TC; ++j) br[j] = b + std::min(j, nr - 1) * ldb;
  V acc[TR * TC];
#pragma GCC unroll 16
  for (int t = 0; t < TR * TC; ++t) acc[t] = V{};
  int64_t k = 0;
  for (; k + VL <= K; k += VL) {
    if constexpr (Stream)
#pragma GCC unroll 8
      for (int j = 0; j < TC; ++j) __builtin_prefetch(br[j] + 2 * TC * ldb + k);
    V av[TR], bv[TC];
#pragma GCC unroll 8
    for (int i = 0; i < TR; ++i) av[i] = load(ar[i] + k);
#pragma GCC unroll 8
    for (int j = 0; j < TC; ++j) bv[j] = load(br[j] + k);
#pragma GCC unroll 8
    for (int i = 0; i < TR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < TC; ++j) acc[i * TC + j] += av[i] * bv[j];
  }
  if (k < K) {  // the k tail: zero-padded partial vectors
    const size_t bytes = sizeof(T) * static_cast<size_t>(K - k);
    V av[TR], bv[TC];
    for (int i = 0; i < TR; ++i) {
      av[i] = V{};
      std::memcpy(&av[i], ar[i] + k, bytes);
    }
    for (int j = 0; j < TC; ++j) {
      bv[j] = V{};
      std::memcpy(&bv[j], br[j] + k, bytes);
    }
    for (int i = 0; i < TR; ++i)
      for (int j = 0; j < TC; ++j) acc[i * TC + j] += av[i] * bv[j];
  }
  const V sums = fold_all<T, TR * TC, VL>(acc);  // lane i·TC + j = C(i, j)
  alignas(64) T tile[TR][TC];
  std::memcpy(tile, &sums, sizeof(tile));
  store_tile<T, TC>(tile, mr, nr, c, ldc, alpha, beta);
}

// Tiles of TR x TC over C[0:M, j0:j1].
template <typename T, int TR, int TC, bool Stream>
void nt_tiles(int64_t M, int64_t j0, int64_t j1, int64_t kc, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
              int64_t ldc, T alpha, T beta) {
  for (int64_t j = j0; j < j1; j += TC) {
    const int nr = static_cast<int>(std::min<int64_t>(TC, j1 - j));
    for (int64_t i = 0; i < M; i += TR)
      nt_tile<T, TR, TC, Stream>(static_cast<int>(std::min<int64_t>(TR, M - i)), nr, kc, A + i * lda, lda, B + j * ldb, ldb,
                         C + i * ldc + j, ldc, alpha, beta);
  }
}

template <typename T>
void nt_range(int64_t M, int64_t j0, int64_t j1, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
              T beta, T* C, int64_t ldc) {
  using S = SmallBlocking<T>;
  for (int64_t k0 = 0; k0 < K; k0 += kKBlockNT) {
    const int64_t kc = std::min(kKBlockNT, K - k0);
    const T beta_here = k0 == 0 ? beta : T(1);  // later K blocks accumulate onto the first
    // One or two rows: tiles of that many rows against VL or VL/2 columns (matrix-vector
    // products), instead of tiles that would mostly repeat the last row. Up to kNarrowGemmCols
    // rows, B streams from memory (Stream).
    if (M == 1)
      nt_tiles<T, 1, S::VL, true>(M, j0, j1, kc, A + k0, lda, B + k0, ldb, C, ldc, alpha, beta_here);
    else if (M == 2)
      nt_tiles<T, 2, S::VL / 2, true>(M, j0, j1, kc, A + k0, lda, B + k0, ldb, C, ldc, alpha, beta_here);
    else if (M <= kNarrowGemmCols)
      nt_tiles<T, S::TR, S::TC, true>(M, j0, j1, kc, A + k0, lda, B + k0, ldb, C, ldc, alpha, beta_here);
    else
      nt_tiles<T, S::TR, S::TC, false>(M, j0, j1, kc, A + k0, lda, B + k0, ldb, C, ldc, alpha, beta_here);
  }
}

// Below this many multiply-adds a job's hand-off costs more than the split saves.
constexpr double kParallelFlops = 2.0e6;

}  // namespace

template <typename T>
void gemm_small(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using S = SmallBlocking<T>;
  const bool parallel = num_threads() > 1 && !in_parallel_job() && static_cast<double>(M) * N * K >= kParallelFlops;
  if (!trans_b) {
    // op(A)(i,k) = A[i·lda + k], or A[k·lda + i] when transposed: strides, no copy.
    const int64_t ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1;
    constexpr int64_t W = S::NV * S::VL;
    const int64_t blocks = (N + W - 1) / W;
    if (!parallel) {
      nn_range(M, 0, N, K, alpha, A, ars, acs, B, ldb, beta, C, ldc);
      return;
    }
    parallel_for(blocks, parallel_grain(blocks, 1), [&](int64_t b0, int64_t b1) {
      nn_range(M, b0 * W, std::min(N, b1 * W), K, alpha, A, ars, acs, B, ldb, beta, C, ldc);
    });
    return;
  }
  // NT: rows of op(A) must be contiguous; a transposed A (K x M) is copied to M x K first.
  ScratchBuffer<T> rows(trans_a ? static_cast<size_t>(M * K) : 0);
  if (trans_a) {
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < M; ++i) rows[static_cast<size_t>(i * K + k)] = A[k * lda + i];
    A = rows.data();
    lda = K;
  }
  if (!parallel) {
    nt_range(M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const int64_t blocks = (N + S::VL - 1) / S::VL;  // VL columns: a whole number of tiles either way
  parallel_for(blocks, parallel_grain(blocks, 1), [&](int64_t b0, int64_t b1) {
    nt_range(M, b0 * S::VL, std::min(N, b1 * S::VL), K, alpha, A, lda, B, ldb, beta, C, ldc);
  });
}

template <typename T>
void gemm_narrow(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  // op(B)ᵀ [N,K] is copied to 64-byte aligned rows (it is tiny, and vector loads that split
  // cache lines made the whole product ~1.5x slower); op(A)ᵀ is A as stored when trans_a, else Aᵀ.
  const int64_t ldt = (K + 63) / 64 * 64;
  ScratchBuffer<T> bt_buffer(static_cast<size_t>(N * ldt + 64)), ct(static_cast<size_t>(N * M));
  T* const bt = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(bt_buffer.data()) + 63) & ~uintptr_t{63});
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) bt[j * ldt + k] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
  gemm_small(false, !trans_a, N, M, K, alpha, bt, ldt, A, lda, T(0), ct.data(), M);
  for (int64_t i = 0; i < M; ++i) {
    T* row = C + i * ldc;
    if (beta == T(0))
      for (int64_t j = 0; j < N; ++j) row[j] = ct[static_cast<size_t>(j * M + i)];
    else
      for (int64_t j = 0; j < N; ++j) row[j] = ct[static_cast<size_t>(j * M + i)] + beta * row[j];
  }
}

template void gemm_small<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                int64_t, float, float*, int64_t);
template void gemm_small<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                 int64_t, double, double*, int64_t);

template void gemm_narrow<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                 int64_t, float, float*, int64_t);
template void gemm_narrow<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const double*, int64_t, double, double*, int64_t);

}  // namespace medit::cpu
