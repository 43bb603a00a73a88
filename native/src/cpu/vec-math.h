// Run-time dispatched float32 vector kernels (vec-math.cpp, vec-math.inc): the elementary
// functions exp / log / tanh / erf and the element-wise and row kernels built on them. Each
// instruction set has its own table; `vec()` returns the best one the CPU supports (or the
// one MEDIT_SIMD / simd_set_level chose). Internal to the engine (kernels and the test binding).
#pragma once

#include <cstdint>

#include "medit/ops.h"

namespace medit::cpu {

/// Instruction sets with a compiled kernel table, in increasing order.
enum class SimdLevel : int32_t { SCALAR = 0, AVX2 = 1, AVX512 = 2 };
const char* simd_level_name(SimdLevel level);
/// Parses "scalar" / "avx2" / "avx512"; throws ARG otherwise.
SimdLevel simd_level_from_name(const char* name);
/// Whether this CPU (and OS) can run `level`.
bool simd_supported(SimdLevel level);
/// The level kernels use now.
SimdLevel simd_level();
/// Chooses the level (tests compare the paths); throws DEVICE when the CPU cannot run it.
void simd_set_level(SimdLevel level);

/// The elementary functions exposed for accuracy tests.
enum class VecFn : int32_t { EXP = 0, LOG = 1, TANH = 2, ERF = 3 };

struct VecKernels {
  /// y = op(x) element-wise; false when `op` has no vector version (the caller loops).
  bool (*unary)(UnaryOp op, const float* x, float* y, int64_t n);
  /// dx = dy · op'(x); false when `op` has no vector version.
  bool (*unary_backward)(UnaryOp op, const float* x, const float* dy, float* dx, int64_t n);
  /// y = fn(x) element-wise.
  void (*math)(VecFn fn, const float* x, float* y, int64_t n);
  /// One row: y = softmax(x) (a row of −inf gives NaN, as torch.softmax does).
  void (*softmax_row)(const float* x, float* y, int64_t n);
  /// One row: y = x − log Σ exp x.
  void (*log_softmax_row)(const float* x, float* y, int64_t n);
  /// One row: dx = y ⊙ (dy − Σ dy⊙y).
  void (*softmax_backward_row)(const float* y, const float* dy, float* dx, int64_t n);
  /// One row: dx = dy − exp(y)·Σ dy.
  void (*log_softmax_backward_row)(const float* y, const float* dy, float* dx, int64_t n);
  /// log Σ exp x over one row (max-shifted; the sum in double).
  double (*log_sum_exp)(const float* x, int64_t n);
  /// One row: dx = g·exp(x − lse).
  void (*scaled_softmax_from_lse)(const float* x, float lse, float g, float* dx, int64_t n);
};

/// The kernel table of the current level.
const VecKernels& vec();
/// The kernel table of a given level (tests); throws DEVICE when the CPU cannot run it.
const VecKernels& vec_at(SimdLevel level);

}  // namespace medit::cpu
