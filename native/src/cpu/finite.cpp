// Finiteness scan: the number of NaN/±Inf elements of a tensor and the first one's index.
//
// Computes what torch.isfinite(x).logical_not().sum() and .nonzero()[0] would, in one pass.
// Half-precision values are classified from their bits (exponent all ones ⇔ not finite), so
// nothing is converted. Does not: look at integer tensors (always finite) or report which
// non-finite kind (NaN vs Inf) was found — callers name the tensor and print the value.
#include "medit/finite.h"

#include <cmath>
#include <cstdint>

namespace medit::cpu {

namespace {

// x[N] → (count, first) with `bad(x[i])` deciding each element.
template <typename T, typename Bad>
NonFinite scan(const T* x, int64_t N, Bad bad) {
  int64_t count = 0;
  int64_t first = -1;
#pragma omp parallel for reduction(+ : count) schedule(static) if (N > (1 << 20))
  for (int64_t i = 0; i < N; ++i) count += bad(x[i]) ? 1 : 0;
  if (count > 0)
    for (int64_t i = 0; i < N; ++i)
      if (bad(x[i])) {
        first = i;
        break;
      }
  return {count, first};
}

}  // namespace

NonFinite non_finite(const Tensor& x) {
  const int64_t N = x.numel();
  if (N == 0) return {0, -1};
  MEDIT_THROW_IF(!x.storage, ARG, "nonFinite: the tensor has no storage");
  switch (x.dtype) {
    case DType::F32: return scan(x.data<float>(), N, [](float v) { return !std::isfinite(v); });
    case DType::F64: return scan(x.data<double>(), N, [](double v) { return !std::isfinite(v); });
    // IEEE half: 5 exponent bits (0x7c00); bfloat16: 8 exponent bits (0x7f80).
    case DType::F16: return scan(x.data<uint16_t>(), N, [](uint16_t h) { return (h & 0x7c00) == 0x7c00; });
    case DType::BF16: return scan(x.data<uint16_t>(), N, [](uint16_t h) { return (h & 0x7f80) == 0x7f80; });
    case DType::I32:
    case DType::I64: return {0, -1};
  }
  MEDIT_THROW(DTYPE, "nonFinite: unknown dtype code " + std::to_string(static_cast<int>(x.dtype)));
}

}  // namespace medit::cpu
