// AdamW (Loshchilov & Hutter 2019, Algorithm 2; torch.optim.AdamW semantics):
//   p ← p − lr·wd·p;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − lr · m̂ / (√v̂ + eps), with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t).
#include <cmath>

#include "medit/ops.h"
#include "medit/parallel.h"

namespace medit::cpu {

void adamw_step_inplace(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int64_t step) {
  check_float(param, "adamw", "param");
  check_shape(grad, param.shape, "adamw", "grad");
  check_shape(m, param.shape, "adamw", "m");
  check_shape(v, param.shape, "adamw", "v");
  MEDIT_THROW_IF(step < 1, ARG, "adamw: step is 1-based");
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  float_dispatch(param.dtype, "adamw", [&](auto zero) {
    using T = decltype(zero);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const int64_t n = param.numel();
    parallel_for(n, parallel_grain(n, 1 << 14), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      p[i] -= static_cast<T>(lr * weight_decay) * p[i];
      pm[i] = static_cast<T>(beta1) * pm[i] + static_cast<T>(1 - beta1) * g[i];
      pv[i] = static_cast<T>(beta2) * pv[i] + static_cast<T>(1 - beta2) * g[i] * g[i];
      const double mh = pm[i] / bc1, vh = pv[i] / bc2;
      p[i] -= static_cast<T>(lr * mh / (std::sqrt(vh) + eps));
    }
    });
  });
}

}  // namespace medit::cpu
