// Element-wise kernels: fill, cast, in-place add/copy, broadcasting binary ops and
// their reduction back to an operand's shape, unary math (with backward), and the
// axis reductions built on the same index arithmetic.
// Reference semantics: NumPy broadcasting; torch.nn.functional.gelu (exact and tanh).
// float32 exp / log / tanh / sigmoid / silu / gelu (and the gelu and silu gradients) run the
// vector kernels of vec-math.inc; float64 and the other ops use the std:: functions here.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "medit/half.h"
#include "medit/ops.h"
#include "medit/parallel.h"
#include "vec-math.h"

namespace medit::cpu {

namespace {

// Strides of `shape` aligned right against an output of rank `rank`; broadcast axes get stride 0.
std::vector<int64_t> broadcast_strides(const Shape& shape, size_t rank, const Shape& out) {
  std::vector<int64_t> st(rank, 0);
  int64_t s = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t ax = shape.size() - 1 - i, oax = rank - 1 - i;
    st[oax] = (shape[ax] == 1 && out[oax] != 1) ? 0 : s;
    s *= shape[ax];
  }
  return st;
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    MEDIT_THROW_IF(da != db && da != 1 && db != 1, SHAPE,
                   std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

template <typename T>
T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::ADD: return a + b;
    case BinaryOp::SUB: return a - b;
    case BinaryOp::MUL: return a * b;
    case BinaryOp::DIV: return a / b;
    case BinaryOp::MAX: return a > b ? a : b;
    case BinaryOp::MIN: return a < b ? a : b;
    case BinaryOp::POW: return std::pow(a, b);
  }
  return a;
}

// Element-wise work goes to the thread pool in chunks of at least this many elements.
constexpr int64_t kMinChunk = 1 << 14;

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <typename T>
T apply_unary(UnaryOp op, T x, T alpha) {
  switch (op) {
    case UnaryOp::NEG: return -x;
    case UnaryOp::EXP: return std::exp(x);
    case UnaryOp::LOG: return std::log(x);
    case UnaryOp::SQRT: return std::sqrt(x);
    case UnaryOp::RSQRT: return T(1) / std::sqrt(x);
    case UnaryOp::TANH: return std::tanh(x);
    case UnaryOp::SIGMOID: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::RELU: return x > T(0) ? x : T(0);
    case UnaryOp::SILU: return x / (T(1) + std::exp(-x));
    case UnaryOp::GELU: return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2)));
    case UnaryOp::GELU_TANH: return T(0.5) * x * (T(1) + std::tanh(T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x)));
    case UnaryOp::SQUARE: return x * x;
    case UnaryOp::ABS: return std::abs(x);
    case UnaryOp::SCALE: return alpha * x;
    case UnaryOp::ADD_SCALAR: return x + alpha;
    case UnaryOp::POW_SCALAR: return std::pow(x, alpha);
  }
  return x;
}

// d f(x) / dx, given x and y = f(x).
template <typename T>
T unary_derivative(UnaryOp op, T x, T y, T alpha) {
  switch (op) {
    case UnaryOp::NEG: return T(-1);
    case UnaryOp::EXP: return y;
    case UnaryOp::LOG: return T(1) / x;
    case UnaryOp::SQRT: return T(0.5) / y;
    case UnaryOp::RSQRT: return T(-0.5) * y * y * y;
    case UnaryOp::TANH: return T(1) - y * y;
    case UnaryOp::SIGMOID: return y * (T(1) - y);
    case UnaryOp::RELU: return x > T(0) ? T(1) : T(0);
    case UnaryOp::SILU: {
      const T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) + x * (T(1) - s));
    }
    case UnaryOp::GELU:
      return T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2))) + x * T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
    case UnaryOp::GELU_TANH: {
      const T inner = T(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
      const T t = std::tanh(inner);
      const T dinner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
    }
    case UnaryOp::SQUARE: return T(2) * x;
    case UnaryOp::ABS: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::SCALE: return alpha;
    case UnaryOp::ADD_SCALAR: return T(1);
    case UnaryOp::POW_SCALAR: return alpha * std::pow(x, alpha - T(1));
  }
  return T(0);
}

template <typename T>
void store_as(void* dst, int64_t i, DType dt, T v) {
  switch (dt) {
    case DType::F32: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
    case DType::F64: static_cast<double*>(dst)[i] = static_cast<double>(v); break;
    case DType::I32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
    case DType::I64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v); break;
    case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(static_cast<float>(v)); break;
  }
}

double load_as_double(const void* src, int64_t i, DType dt) {
  switch (dt) {
    case DType::F32: return static_cast<const float*>(src)[i];
    case DType::F64: return static_cast<const double*>(src)[i];
    case DType::I32: return static_cast<const int32_t*>(src)[i];
    case DType::I64: return static_cast<double>(static_cast<const int64_t*>(src)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
  }
  return 0;
}

}  // namespace

Tensor fill(const Shape& shape, DType dtype, double value) {
  Tensor t = tensor_empty(shape, dtype);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) store_as(t.raw(), i, dtype, value);
  return t;
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype == dtype) return tensor_clone(x);
  Tensor t = tensor_empty(x.shape, dtype);
  const int64_t n = x.numel();
  if (x.dtype == DType::I64 && dtype == DType::I32) {  // exact path for token ids
    const int64_t* s = x.data<int64_t>();
    int32_t* d = t.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      MEDIT_THROW_IF(s[i] > INT32_MAX || s[i] < INT32_MIN, ARG, "cast: int64 value out of int32 range");
      d[i] = static_cast<int32_t>(s[i]);
    }
    return t;
  }
  for (int64_t i = 0; i < n; ++i) store_as(t.raw(), i, dtype, load_as_double(x.raw(), i, x.dtype));
  return t;
}

void add_inplace(Tensor& dst, const Tensor& src, double alpha) {
  check_same_dtype(dst, src, "add_inplace");
  check_shape(src, dst.shape, "add_inplace", "src");
  float_dispatch(dst.dtype, "add_inplace", [&](auto zero) {
    using T = decltype(zero);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const T a = static_cast<T>(alpha);
    const int64_t n = dst.numel();
    for (int64_t i = 0; i < n; ++i) d[i] += a * s[i];
  });
}

void copy_inplace(Tensor& dst, const Tensor& src) {
  check_same_dtype(dst, src, "copy_inplace");
  check_shape(src, dst.shape, "copy_inplace", "src");
  if (dst.raw() != src.raw()) std::memcpy(dst.raw(), src.raw(), dst.nbytes());
}

namespace {
// One output row of a broadcast binary op: the last axis of each operand is contiguous
// (stride 1) or broadcast (stride 0); the four cases get their own loops so they vectorise.
template <typename T, typename F>
inline void binary_row(F f, const T* a, int64_t ia, const T* b, int64_t ib, T* o, int64_t len) {
  if (ia && ib) for (int64_t j = 0; j < len; ++j) o[j] = f(a[j], b[j]);
  else if (ia) for (int64_t j = 0; j < len; ++j) o[j] = f(a[j], b[0]);
  else if (ib) for (int64_t j = 0; j < len; ++j) o[j] = f(a[0], b[j]);
  else for (int64_t j = 0; j < len; ++j) o[j] = f(a[0], b[0]);
}

template <typename T, typename F>
void binary_apply(F f, const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const Shape& shape = out.shape;
  const size_t rank = shape.size();
  const int64_t n = out.numel();
  if (a.shape == b.shape || b.numel() == 1) {
    const int64_t ib = a.shape == b.shape ? 1 : 0;
    parallel_for(n, parallel_grain(n, kMinChunk), [&](int64_t i0, int64_t i1) {
      binary_row<T>(f, pa + i0, 1, pb + i0 * ib, ib, po + i0, i1 - i0);
    });
    return;
  }
  const auto sa = broadcast_strides(a.shape, rank, shape);
  const auto sb = broadcast_strides(b.shape, rank, shape);
  const int64_t inner = rank ? shape[rank - 1] : 1;
  const int64_t ia = rank ? sa[rank - 1] : 0, ib = rank ? sb[rank - 1] : 0;
  const int64_t rows = inner ? n / inner : 0;
  parallel_for(rows, parallel_grain(rows, kMinChunk / std::max<int64_t>(inner, 1) + 1), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      // offsets of this row in a and b, from its index over the leading axes
      int64_t oa = 0, ob = 0, rest = row;
      for (int64_t ax = static_cast<int64_t>(rank) - 2; ax >= 0; --ax) {
        const int64_t i = rest % shape[ax];
        rest /= shape[ax];
        oa += i * sa[ax];
        ob += i * sb[ax];
      }
      binary_row<T>(f, pa + oa, ia, pb + ob, ib, po + row * inner, inner);
    }
  });
}
}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "binary");
  const Shape out_shape = broadcast_shape(a.shape, b.shape, "binary");
  Tensor out = tensor_empty(out_shape, a.dtype);
  float_dispatch(a.dtype, "binary", [&](auto zero) {
    using T = decltype(zero);
    switch (op) {
      case BinaryOp::ADD: binary_apply<T>([](T x, T y) { return x + y; }, a, b, out); break;
      case BinaryOp::SUB: binary_apply<T>([](T x, T y) { return x - y; }, a, b, out); break;
      case BinaryOp::MUL: binary_apply<T>([](T x, T y) { return x * y; }, a, b, out); break;
      case BinaryOp::DIV: binary_apply<T>([](T x, T y) { return x / y; }, a, b, out); break;
      default: binary_apply<T>([op](T x, T y) { return apply_binary(op, x, y); }, a, b, out); break;
    }
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape == shape) return tensor_clone(x);
  const Shape bshape = broadcast_shape(x.shape, shape, "sum_to");
  MEDIT_THROW_IF(bshape != x.shape, SHAPE, "sum_to: " + shape_str(shape) + " does not broadcast to " + shape_str(x.shape));
  check_float(x, "sum_to", "x");
  Tensor out = tensor_empty(shape, x.dtype, true);
  const size_t rank = x.shape.size();
  const auto so = broadcast_strides(shape, rank, x.shape);
  float_dispatch(x.dtype, "sum_to", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    std::vector<int64_t> idx(rank, 0);
    int64_t off = 0;
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      po[off] += px[i];
      for (int64_t ax = static_cast<int64_t>(rank) - 1; ax >= 0; --ax) {
        if (++idx[ax] < x.shape[ax]) {
          off += so[ax];
          break;
        }
        off -= so[ax] * (x.shape[ax] - 1);
        idx[ax] = 0;
      }
    }
  });
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x, double alpha) {
  check_float(x, "unary", "x");
  Tensor out = tensor_empty(x.shape, x.dtype);
  float_dispatch(x.dtype, "unary", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const int64_t n = x.numel();
    const T a = static_cast<T>(alpha);
    parallel_for(n, parallel_grain(n, kMinChunk), [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>)
        if (vec().unary(op, px + b, po + b, e - b)) return;
      for (int64_t i = b; i < e; ++i) po[i] = apply_unary(op, px[i], a);
    });
  });
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, double alpha) {
  check_float(x, "unary_backward", "x");
  check_shape(dy, x.shape, "unary_backward", "dy");
  check_shape(y, x.shape, "unary_backward", "y");
  Tensor dx = tensor_empty(x.shape, x.dtype);
  float_dispatch(x.dtype, "unary_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    const T* pd = dy.data<T>();
    T* po = dx.data<T>();
    const int64_t n = x.numel();
    const T a = static_cast<T>(alpha);
    parallel_for(n, parallel_grain(n, kMinChunk), [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>)
        if (vec().unary_backward(op, px + b, pd + b, po + b, e - b)) return;
      for (int64_t i = b; i < e; ++i) po[i] = pd[i] * unary_derivative(op, px[i], py[i], a);
    });
  });
  return dx;
}

Tensor sum_axis(const Tensor& x, int64_t axis, bool keepdim) {
  check_float(x, "sum_axis", "x");
  const int64_t rank = x.dim();
  if (axis < 0) axis += rank;
  MEDIT_THROW_IF(axis < 0 || axis >= rank, SHAPE, "sum_axis: axis out of range for shape " + shape_str(x.shape));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= x.shape[i];
  const int64_t len = x.shape[axis];
  Shape out_shape = x.shape;
  if (keepdim) out_shape[axis] = 1;
  else out_shape.erase(out_shape.begin() + axis);
  Tensor out = tensor_empty(out_shape, x.dtype, true);
  float_dispatch(x.dtype, "sum_axis", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t l = 0; l < len; ++l) {
        const T* src = px + (o * len + l) * inner;
        T* dst = po + o * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
      }
  });
  return out;
}

std::pair<Tensor, Tensor> max_last(const Tensor& x) {
  check_float(x, "max_last", "x");
  MEDIT_THROW_IF(x.dim() < 1 || x.shape.back() == 0, SHAPE, "max_last: needs a non-empty last axis");
  const int64_t V = x.shape.back(), N = x.numel() / V;
  Shape out_shape(x.shape.begin(), x.shape.end() - 1);
  Tensor values = tensor_empty(out_shape, x.dtype);
  Tensor index = tensor_empty(out_shape, DType::I32);
  float_dispatch(x.dtype, "max_last", [&](auto zero) {
    using T = decltype(zero);
    for (int64_t r = 0; r < N; ++r) {
      const T* row = x.data<T>() + r * V;
      int64_t best = 0;
      for (int64_t j = 1; j < V; ++j)
        if (row[j] > row[best] || (std::isnan(row[j]) && !std::isnan(row[best]))) best = j;
      values.data<T>()[r] = row[best];
      index.data<int32_t>()[r] = static_cast<int32_t>(best);
    }
  });
  return {values, index};
}

std::pair<Tensor, Tensor> topk_last(const Tensor& x, int64_t k) {
  check_float(x, "topk_last", "x");
  MEDIT_THROW_IF(x.dim() < 1, SHAPE, "topk_last: needs at least one axis");
  const int64_t V = x.shape.back(), N = V == 0 ? 0 : x.numel() / V;
  MEDIT_THROW_IF(k < 1 || k > V, ARG, "topk_last: k = " + std::to_string(k) + " is outside 1.." + std::to_string(V) + " (the last axis)");
  Shape out_shape(x.shape.begin(), x.shape.end() - 1);
  out_shape.push_back(k);
  Tensor values = tensor_empty(out_shape, x.dtype);
  Tensor index = tensor_empty(out_shape, DType::I32);
  float_dispatch(x.dtype, "topk_last", [&](auto zero) {
    using T = decltype(zero);
    std::vector<int32_t> order(static_cast<size_t>(V));
    for (int64_t r = 0; r < N; ++r) {
      const T* row = x.data<T>() + r * V;
      std::iota(order.begin(), order.end(), 0);
      // a strict total order (value desc, then index asc) makes the selection deterministic
      auto before = [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
      std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
      std::sort(order.begin(), order.begin() + k, before);
      for (int64_t j = 0; j < k; ++j) {
        values.data<T>()[r * k + j] = row[order[j]];
        index.data<int32_t>()[r * k + j] = order[j];
      }
    }
  });
  return {values, index};
}

}  // namespace medit::cpu
