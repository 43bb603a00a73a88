// Embedding lookup (torch.nn.Embedding) and its backward, a scatter-add into a zero table.
#include <cstring>

#include "medit/ops.h"

namespace medit::cpu {

Tensor embedding_forward(const Tensor& ids, const Tensor& table) {
  check_dtype(ids, DType::I32, "embedding", "ids");
  check_float(table, "embedding", "table");
  MEDIT_THROW_IF(table.dim() != 2, SHAPE, "embedding: expected a 2-D table but received " + shape_str(table.shape));
  const int64_t V = table.shape[0], C = table.shape[1], N = ids.numel();
  Shape out_shape = ids.shape;
  out_shape.push_back(C);
  Tensor out = tensor_empty(out_shape, table.dtype);
  const size_t row_bytes = static_cast<size_t>(C) * dtype_size(table.dtype);
  const int32_t* pid = ids.data<int32_t>();
  for (int64_t n = 0; n < N; ++n) {
    MEDIT_THROW_IF(pid[n] < 0 || pid[n] >= V, ARG,
                   "embedding: token id " + std::to_string(pid[n]) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    std::memcpy(static_cast<char*>(out.raw()) + n * row_bytes, static_cast<const char*>(table.raw()) + pid[n] * row_bytes,
                row_bytes);
  }
  return out;
}

Tensor embedding_backward(const Tensor& ids, const Tensor& dy, int64_t vocab) {
  check_dtype(ids, DType::I32, "embedding_backward", "ids");
  const int64_t C = dy.shape.back(), N = ids.numel();
  MEDIT_THROW_IF(dy.numel() != N * C, SHAPE, "embedding_backward: dy " + shape_str(dy.shape) + " does not match ids " + shape_str(ids.shape));
  Tensor dt = tensor_empty({vocab, C}, dy.dtype, true);
  float_dispatch(dy.dtype, "embedding_backward", [&](auto zero) {
    using T = decltype(zero);
    const int32_t* pid = ids.data<int32_t>();
    for (int64_t n = 0; n < N; ++n) {
      MEDIT_THROW_IF(pid[n] < 0 || pid[n] >= vocab, ARG, "embedding_backward: token id out of range");
      T* row = dt.data<T>() + pid[n] * C;
      const T* src = dy.data<T>() + n * C;
      for (int64_t c = 0; c < C; ++c) row[c] += src[c];  // += : repeated ids accumulate
    }
  });
  return dt;
}

}  // namespace medit::cpu
