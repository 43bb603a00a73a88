// LayerNorm (torch.nn.LayerNorm) and RMSNorm (HF LlamaRMSNorm) over the last axis,
// forward and backward. Statistics are accumulated in double for float32 inputs.
// Saves mean and rstd = 1/√(var+eps) per row for the backward pass.
#include <cmath>

#include "medit/ops.h"
#include "medit/parallel.h"

namespace medit::cpu {

namespace {
// Rows per pool chunk: at least 2^14 elements.
int64_t row_grain(int64_t N, int64_t C) { return parallel_grain(N, (1 << 14) / std::max<int64_t>(C, 1)); }
}  // namespace

NormForward layernorm_forward(const Tensor& x, const Tensor& w, const Tensor* b, double eps) {
  check_float(x, "layernorm", "x");
  const int64_t C = x.shape.back(), N = x.numel() / std::max<int64_t>(C, 1);
  check_shape(w, {C}, "layernorm", "weight");
  if (b) check_shape(*b, {C}, "layernorm", "bias");
  check_same_dtype(x, w, "layernorm");
  Shape stat_shape(x.shape.begin(), x.shape.end() - 1);
  NormForward f{tensor_empty(x.shape, x.dtype), tensor_empty(stat_shape, x.dtype), tensor_empty(stat_shape, x.dtype)};
  float_dispatch(x.dtype, "layernorm", [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.data<T>();
    const T* pb = b ? b->data<T>() : nullptr;
    parallel_for(N, row_grain(N, C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x.data<T>() + r * C;
      T* yr = f.y.data<T>() + r * C;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < C; ++i) mean += xr[i];
      mean /= C;
      for (int64_t i = 0; i < C; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= C;
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < C; ++i) yr[i] = static_cast<T>((xr[i] - mean) * rstd) * pw[i] + (pb ? pb[i] : T(0));
      f.mean.data<T>()[r] = static_cast<T>(mean);
      f.rstd.data<T>()[r] = static_cast<T>(rstd);
    }
    });
  });
  return f;
}

NormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                             const Tensor& rstd) {
  const int64_t C = x.shape.back(), N = x.numel() / std::max<int64_t>(C, 1);
  check_shape(dy, x.shape, "layernorm_backward", "dy");
  NormGrads g{tensor_empty(x.shape, x.dtype), tensor_empty({C}, x.dtype, true), tensor_empty({C}, x.dtype, true)};
  float_dispatch(x.dtype, "layernorm_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.data<T>();
    T* dw = g.dw.data<T>();
    T* db = g.db.data<T>();
    for (int64_t r = 0; r < N; ++r) {
      const T* xr = x.data<T>() + r * C;
      const T* dyr = dy.data<T>() + r * C;
      T* dxr = g.dx.data<T>() + r * C;
      const double m = mean.data<T>()[r], rs = rstd.data<T>()[r];
      // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), with g = dy·w and x̂ the normalised input.
      double sum_g = 0, sum_gx = 0;
      for (int64_t i = 0; i < C; ++i) {
        const double xh = (xr[i] - m) * rs;
        const double gi = static_cast<double>(dyr[i]) * pw[i];
        sum_g += gi;
        sum_gx += gi * xh;
        dw[i] += static_cast<T>(dyr[i] * xh);  // += : accumulates over rows
        db[i] += dyr[i];
      }
      sum_g /= C;
      sum_gx /= C;
      for (int64_t i = 0; i < C; ++i) {
        const double xh = (xr[i] - m) * rs;
        dxr[i] = static_cast<T>(rs * (static_cast<double>(dyr[i]) * pw[i] - sum_g - xh * sum_gx));
      }
    }
  });
  return g;
}

NormForward rmsnorm_forward(const Tensor& x, const Tensor& w, double eps) {
  check_float(x, "rmsnorm", "x");
  const int64_t C = x.shape.back(), N = x.numel() / std::max<int64_t>(C, 1);
  check_shape(w, {C}, "rmsnorm", "weight");
  check_same_dtype(x, w, "rmsnorm");
  Shape stat_shape(x.shape.begin(), x.shape.end() - 1);
  NormForward f{tensor_empty(x.shape, x.dtype), Tensor{}, tensor_empty(stat_shape, x.dtype)};
  float_dispatch(x.dtype, "rmsnorm", [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.data<T>();
    parallel_for(N, row_grain(N, C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x.data<T>() + r * C;
      T* yr = f.y.data<T>() + r * C;
      double ss = 0;
      for (int64_t i = 0; i < C; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const double rstd = 1.0 / std::sqrt(ss / C + eps);
      // HF casts the normalised value to the weight's dtype before scaling: same order here.
      for (int64_t i = 0; i < C; ++i) yr[i] = pw[i] * static_cast<T>(xr[i] * rstd);
      f.rstd.data<T>()[r] = static_cast<T>(rstd);
    }
    });
  });
  return f;
}

NormGrads rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd) {
  const int64_t C = x.shape.back(), N = x.numel() / std::max<int64_t>(C, 1);
  check_shape(dy, x.shape, "rmsnorm_backward", "dy");
  NormGrads g{tensor_empty(x.shape, x.dtype), tensor_empty({C}, x.dtype, true), Tensor{}};
  float_dispatch(x.dtype, "rmsnorm_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.data<T>();
    T* dw = g.dw.data<T>();
    for (int64_t r = 0; r < N; ++r) {
      const T* xr = x.data<T>() + r * C;
      const T* dyr = dy.data<T>() + r * C;
      T* dxr = g.dx.data<T>() + r * C;
      const double rs = rstd.data<T>()[r];
      // dx = rstd·(g − x̂·mean(g·x̂)), g = dy·w, x̂ = x·rstd.
      double sum_gx = 0;
      for (int64_t i = 0; i < C; ++i) {
        const double xh = xr[i] * rs;
        sum_gx += static_cast<double>(dyr[i]) * pw[i] * xh;
        dw[i] += static_cast<T>(dyr[i] * xh);  // += : accumulates over rows
      }
      sum_gx /= C;
      for (int64_t i = 0; i < C; ++i) dxr[i] = static_cast<T>(rs * (static_cast<double>(dyr[i]) * pw[i] - xr[i] * rs * sum_gx));
    }
  });
  return g;
}

}  // namespace medit::cpu
