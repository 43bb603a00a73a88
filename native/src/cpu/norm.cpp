// LayerNorm (torch.nn.LayerNorm) and RMSNorm (HF LlamaRMSNorm) over the last axis,
// forward and backward, each one fused kernel. Statistics are accumulated in double for
// float32 inputs (8-lane double vectors for LayerNorm's row sums). Saves mean and
// rstd = 1/√(var+eps) per row for the backward pass. Rows run on the thread pool; LayerNorm's
// backward sums dw / db per fixed block of rows and then the blocks in order, so its result
// does not depend on the thread count.
// Not done: a vector path for RMSNorm (Llama editing is GEMM-bound), Welford statistics.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "medit/allocator.h"
#include "medit/ops.h"
#include "medit/parallel.h"

namespace medit::cpu {

namespace {
// Rows per pool chunk: at least 2^14 elements.
int64_t row_grain(int64_t N, int64_t C) { return parallel_grain(N, (1 << 14) / std::max<int64_t>(C, 1)); }

typedef double vd8 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
inline vd8 load8(const float* p) {
  vf8 v;
  std::memcpy(&v, p, sizeof(v));
  return __builtin_convertvector(v, vd8);
}
inline vd8 load8(const double* p) {
  vd8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline double hsum(vd8 v) {
  double s = 0;
  for (int l = 0; l < 8; ++l) s += v[l];
  return s;
}

// Σ x and Σ (x − m)² over one row, in double.
template <typename T>
double row_sum(const T* x, int64_t C) {
  vd8 acc{};
  int64_t i = 0;
  for (; i + 8 <= C; i += 8) acc += load8(x + i);
  double s = hsum(acc);
  for (; i < C; ++i) s += x[i];
  return s;
}
template <typename T>
double row_sq_dev(const T* x, int64_t C, double m) {
  vd8 acc{};
  int64_t i = 0;
  for (; i + 8 <= C; i += 8) {
    const vd8 d = load8(x + i) - m;
    acc += d * d;
  }
  double s = hsum(acc);
  for (; i < C; ++i) s += (x[i] - m) * (x[i] - m);
  return s;
}

// One row of LayerNorm backward: dx, and dw / db accumulated (+=) into this block's partials.
template <typename T>
void layernorm_backward_row(const T* xr, const T* dyr, const T* pw, double m, double rs, int64_t C, T* dxr, T* dw,
                            T* db) {
  // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), with g = dy·w and x̂ the normalised input.
  vd8 acc_g{}, acc_gx{};
  int64_t i = 0;
  for (; i + 8 <= C; i += 8) {
    const vd8 dy = load8(dyr + i), xh = (load8(xr + i) - m) * rs, gi = dy * load8(pw + i);
    acc_g += gi;
    acc_gx += gi * xh;
    const vd8 dwi = dy * xh;
    for (int l = 0; l < 8; ++l) {
      dw[i + l] += static_cast<T>(dwi[l]);  // += : accumulates over the block's rows
      db[i + l] += dyr[i + l];
    }
  }
  double sum_g = hsum(acc_g), sum_gx = hsum(acc_gx);
  for (; i < C; ++i) {
    const double xh = (xr[i] - m) * rs;
    const double gi = static_cast<double>(dyr[i]) * pw[i];
    sum_g += gi;
    sum_gx += gi * xh;
    dw[i] += static_cast<T>(dyr[i] * xh);
    db[i] += dyr[i];
  }
  sum_g /= C;
  sum_gx /= C;
  for (int64_t j = 0; j < C; ++j) {
    const double xh = (xr[j] - m) * rs;
    dxr[j] = static_cast<T>(rs * (static_cast<double>(dyr[j]) * pw[j] - sum_g - xh * sum_gx));
  }
}
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
      const double mean = row_sum(xr, C) / C;
      const double var = row_sq_dev(xr, C, mean) / C;
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
  // Blocks of rows with their own dw / db partials (a fixed size: the sums do not depend on
  // how many threads run), summed in block order at the end.
  const int64_t block = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
  const int64_t blocks = (N + block - 1) / block;
  float_dispatch(x.dtype, "layernorm_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.data<T>();
    ScratchBuffer<T> partial(static_cast<size_t>(blocks * 2 * C));
    std::fill(partial.data(), partial.data() + blocks * 2 * C, T(0));
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bl = b0; bl < b1; ++bl) {
        T* dw = partial.data() + bl * 2 * C;
        T* db = dw + C;
        for (int64_t r = bl * block; r < std::min(N, (bl + 1) * block); ++r)
          layernorm_backward_row(x.data<T>() + r * C, dy.data<T>() + r * C, pw, static_cast<double>(mean.data<T>()[r]),
                                 static_cast<double>(rstd.data<T>()[r]), C, g.dx.data<T>() + r * C, dw, db);
      }
    });
    T* dw = g.dw.data<T>();
    T* db = g.db.data<T>();
    for (int64_t bl = 0; bl < blocks; ++bl)
      for (int64_t i = 0; i < C; ++i) {
        dw[i] += partial[static_cast<size_t>(bl * 2 * C + i)];
        db[i] += partial[static_cast<size_t>(bl * 2 * C + C + i)];
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
