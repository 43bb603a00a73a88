// Softmax and log-softmax over the last axis (max-subtracted), forward and backward.
// Backward uses the saved output y: softmax dx = y⊙(dy − Σ dy⊙y); log-softmax
// dx = dy − softmax·Σ dy. float32 rows run the vector kernels of vec-math.inc (sums carried
// in double), float64 rows the scalar loops below.
#include <cmath>
#include <limits>
#include <type_traits>

#include "medit/ops.h"
#include "medit/parallel.h"
#include "vec-math.h"

namespace medit::cpu {

namespace {
// Rows go to the thread pool in chunks of at least this many elements.
constexpr int64_t kMinElements = 1 << 14;

template <typename T>
void softmax_row(const T* x, T* y, int64_t V, bool log_form) {
  T mx = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < V; ++j) mx = x[j] > mx ? x[j] : mx;
  if (mx == -std::numeric_limits<T>::infinity()) mx = 0;  // fully masked row: keep it finite-free of NaN
  double sum = 0;
  for (int64_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(x[j] - mx));
  if (log_form) {
    const T lse = static_cast<T>(std::log(sum)) + mx;
    for (int64_t j = 0; j < V; ++j) y[j] = x[j] - lse;
  } else {
    const double inv = 1.0 / sum;
    for (int64_t j = 0; j < V; ++j) y[j] = static_cast<T>(std::exp(static_cast<double>(x[j] - mx)) * inv);
  }
}

Tensor softmax_impl(const Tensor& x, bool log_form, const char* op) {
  check_float(x, op, "x");
  MEDIT_THROW_IF(x.dim() < 1, SHAPE, std::string(op) + ": needs at least one axis");
  const int64_t V = x.shape.back(), N = V ? x.numel() / V : 0;
  Tensor y = tensor_empty(x.shape, x.dtype);
  float_dispatch(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    parallel_for(N, parallel_grain(N, kMinElements / std::max<int64_t>(V, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x.data<T>() + r * V;
        T* yr = y.data<T>() + r * V;
        if constexpr (std::is_same_v<T, float>)
          (log_form ? vec().log_softmax_row : vec().softmax_row)(xr, yr, V);
        else
          softmax_row(xr, yr, V, log_form);
      }
    });
  });
  return y;
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, bool log_form, const char* op) {
  check_shape(dy, y.shape, op, "dy");
  const int64_t V = y.shape.back(), N = V ? y.numel() / V : 0;
  Tensor dx = tensor_empty(y.shape, y.dtype);
  float_dispatch(y.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    parallel_for(N, parallel_grain(N, kMinElements / std::max<int64_t>(V, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* yr = y.data<T>() + r * V;
      const T* dr = dy.data<T>() + r * V;
      T* xr = dx.data<T>() + r * V;
      if constexpr (std::is_same_v<T, float>) {
        (log_form ? vec().log_softmax_backward_row : vec().softmax_backward_row)(yr, dr, xr, V);
        continue;
      }
      double s = 0;
      if (log_form) {
        for (int64_t j = 0; j < V; ++j) s += dr[j];
        for (int64_t j = 0; j < V; ++j) xr[j] = dr[j] - static_cast<T>(std::exp(static_cast<double>(yr[j])) * s);
      } else {
        for (int64_t j = 0; j < V; ++j) s += static_cast<double>(dr[j]) * yr[j];
        for (int64_t j = 0; j < V; ++j) xr[j] = yr[j] * (dr[j] - static_cast<T>(s));
      }
    }
    });
  });
  return dx;
}
}  // namespace

Tensor softmax_forward(const Tensor& x) { return softmax_impl(x, false, "softmax"); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy) { return softmax_backward_impl(y, dy, false, "softmax_backward"); }
Tensor log_softmax_forward(const Tensor& x) { return softmax_impl(x, true, "log_softmax"); }
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy) {
  return softmax_backward_impl(y, dy, true, "log_softmax_backward");
}

}  // namespace medit::cpu
