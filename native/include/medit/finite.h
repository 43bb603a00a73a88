// medit engine: finiteness scan (CPU).
//
// Loaders and editors refuse NaN/Inf weights, deltas and statistics; this is the one pass
// over a tensor's data they use, so checking a 6 GB checkpoint stays a memory-bound scan.
#pragma once

#include "medit/tensor.h"

namespace medit::cpu {

/// What a finiteness scan found.
struct NonFinite {
  int64_t count;  // elements that are NaN or ±Inf
  int64_t first;  // flat index of the first such element, −1 when none
};

/// Counts NaN/±Inf elements of x (float32, float64, float16, bfloat16; integer tensors have none).
NonFinite non_finite(const Tensor& x);

}  // namespace medit::cpu
