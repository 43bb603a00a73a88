// Layout kernels: permute (copy), slice and its backward, concat, index_select and
// index_add. All dtypes; they move bytes and never do arithmetic except index_add.
#include <cstring>

#include "medit/ops.h"

namespace medit::cpu {

namespace {
int64_t norm_axis(int64_t axis, int64_t rank, const char* op) {
  if (axis < 0) axis += rank;
  MEDIT_THROW_IF(axis < 0 || axis >= rank, SHAPE, std::string(op) + ": axis out of range");
  return axis;
}
// (outer, len, inner) view of a tensor around `axis`.
void split_at(const Shape& s, int64_t axis, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[i];
  for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
}
}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  const size_t rank = x.shape.size();
  MEDIT_THROW_IF(perm.size() != rank, SHAPE, "permute: permutation length differs from rank of " + shape_str(x.shape));
  std::vector<bool> seen(rank, false);
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    MEDIT_THROW_IF(perm[i] < 0 || perm[i] >= (int64_t)rank || seen[perm[i]], ARG, "permute: not a permutation");
    seen[perm[i]] = true;
    out_shape[i] = x.shape[perm[i]];
  }
  Tensor out = tensor_empty(out_shape, x.dtype);
  // Trailing axes that stay in place are copied as contiguous chunks.
  size_t keep = 0;
  while (keep < rank && perm[rank - 1 - keep] == static_cast<int64_t>(rank - 1 - keep)) ++keep;
  int64_t chunk_elems = 1;
  for (size_t i = rank - keep; i < rank; ++i) chunk_elems *= x.shape[i];
  const size_t outer_rank = rank - keep;
  std::vector<int64_t> in_strides(rank, 1);
  for (int64_t i = (int64_t)rank - 2; i >= 0; --i) in_strides[i] = in_strides[i + 1] * x.shape[i + 1];
  std::vector<int64_t> st(outer_rank);
  for (size_t i = 0; i < outer_rank; ++i) st[i] = in_strides[perm[i]];
  const size_t chunk = chunk_elems * dtype_size(x.dtype);
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const int64_t n = chunk_elems ? out.numel() / chunk_elems : 0;
  std::vector<int64_t> idx(outer_rank, 0);
  int64_t off = 0;  // in elements
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * chunk, src + off * dtype_size(x.dtype), chunk);
    for (int64_t ax = (int64_t)outer_rank - 1; ax >= 0; --ax) {
      if (++idx[ax] < out_shape[ax]) {
        off += st[ax];
        break;
      }
      off -= st[ax] * (out_shape[ax] - 1);
      idx[ax] = 0;
    }
  }
  return out;
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  axis = norm_axis(axis, x.dim(), "slice");
  MEDIT_THROW_IF(start < 0 || length < 0 || start + length > x.shape[axis], SHAPE,
                 "slice: range [" + std::to_string(start) + ", " + std::to_string(start + length) + ") is outside axis " +
                     std::to_string(axis) + " of " + shape_str(x.shape));
  int64_t outer, inner;
  split_at(x.shape, axis, outer, inner);
  Shape out_shape = x.shape;
  out_shape[axis] = length;
  Tensor out = tensor_empty(out_shape, x.dtype);
  const size_t es = dtype_size(x.dtype), chunk = length * inner * es;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(out.raw()) + o * chunk,
                static_cast<const char*>(x.raw()) + ((o * x.shape[axis] + start) * inner) * es, chunk);
  return out;
}

Tensor slice_backward(const Tensor& src, const Shape& shape, int64_t axis, int64_t start) {
  axis = norm_axis(axis, (int64_t)shape.size(), "slice_backward");
  Tensor out = tensor_empty(shape, src.dtype, true);
  int64_t outer, inner;
  split_at(shape, axis, outer, inner);
  const int64_t length = src.shape[axis];
  const size_t es = dtype_size(src.dtype), chunk = length * inner * es;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(out.raw()) + ((o * shape[axis] + start) * inner) * es,
                static_cast<const char*>(src.raw()) + o * chunk, chunk);
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  MEDIT_THROW_IF(xs.empty(), ARG, "concat: no tensors");
  const Tensor& first = xs[0];
  axis = norm_axis(axis, first.dim(), "concat");
  Shape out_shape = first.shape;
  int64_t total = 0;
  for (const Tensor& t : xs) {
    check_same_dtype(first, t, "concat");
    MEDIT_THROW_IF(t.dim() != first.dim(), SHAPE, "concat: ranks differ");
    for (int64_t i = 0; i < first.dim(); ++i)
      MEDIT_THROW_IF(i != axis && t.shape[i] != first.shape[i], SHAPE,
                     "concat: shapes " + shape_str(first.shape) + " and " + shape_str(t.shape) + " differ off the concat axis");
    total += t.shape[axis];
  }
  out_shape[axis] = total;
  Tensor out = tensor_empty(out_shape, first.dtype);
  int64_t outer, inner;
  split_at(out_shape, axis, outer, inner);
  const size_t es = dtype_size(first.dtype);
  int64_t at = 0;
  for (const Tensor& t : xs) {
    const size_t chunk = t.shape[axis] * inner * es;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(out.raw()) + ((o * total + at) * inner) * es,
                  static_cast<const char*>(t.raw()) + o * chunk, chunk);
    at += t.shape[axis];
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  axis = norm_axis(axis, x.dim(), "index_select");
  check_dtype(index, DType::I32, "index_select", "index");
  int64_t outer, inner;
  split_at(x.shape, axis, outer, inner);
  const int64_t n = index.numel(), len = x.shape[axis];
  Shape out_shape = x.shape;
  out_shape[axis] = n;
  Tensor out = tensor_empty(out_shape, x.dtype);
  const size_t es = dtype_size(x.dtype), row = inner * es;
  const int32_t* pi = index.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    MEDIT_THROW_IF(pi[i] < 0 || pi[i] >= len, ARG,
                   "index_select: index " + std::to_string(pi[i]) + " is outside axis of length " + std::to_string(len));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char*>(out.raw()) + (o * n + i) * row,
                  static_cast<const char*>(x.raw()) + (o * len + pi[i]) * row, row);
  return out;
}

Tensor index_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src) {
  axis = norm_axis(axis, base.dim(), "index_add");
  check_dtype(index, DType::I32, "index_add", "index");
  check_same_dtype(base, src, "index_add");
  int64_t outer, inner;
  split_at(base.shape, axis, outer, inner);
  const int64_t n = index.numel(), len = base.shape[axis];
  Shape want = base.shape;
  want[axis] = n;
  check_shape(src, want, "index_add", "src");
  Tensor out = tensor_clone(base);
  float_dispatch(base.dtype, "index_add", [&](auto zero) {
    using T = decltype(zero);
    const int32_t* pi = index.data<int32_t>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < n; ++i) {
        MEDIT_THROW_IF(pi[i] < 0 || pi[i] >= len, ARG, "index_add: index out of range");
        T* d = out.data<T>() + (o * len + pi[i]) * inner;
        const T* s = src.data<T>() + (o * n + i) * inner;
        for (int64_t j = 0; j < inner; ++j) d[j] += s[j];  // += : repeated indices accumulate
      }
  });
  return out;
}

}  // namespace medit::cpu
