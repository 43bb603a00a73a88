// Losses over rows of a [N, V] tensor: softmax cross-entropy with an ignore index
// (torch.nn.functional.cross_entropy, reduction='none') and KL divergence from
// log-probabilities, KL(P‖Q) = Σ p (log p − log q) (ROME's essence-drift term).
// float32 rows run the vector kernels of vec-math.inc; float64 rows the scalar loops here.
#include <cmath>
#include <limits>
#include <type_traits>

#include "medit/ops.h"
#include "medit/parallel.h"
#include "vec-math.h"

namespace medit::cpu {

namespace {
void check_rows(const Tensor& logits, const Tensor& targets, const char* op) {
  check_float(logits, op, "logits");
  check_dtype(targets, DType::I32, op, "targets");
  MEDIT_THROW_IF(logits.dim() != 2, SHAPE, std::string(op) + ": expected logits [N,V] but received " + shape_str(logits.shape));
  check_shape(targets, {logits.shape[0]}, op, "targets");
}

// log Σ exp(row): exponentials in the row's own precision (vectorisable), the sum in double.
template <typename T>
double log_sum_exp(const T* row, int64_t V) {
  if constexpr (std::is_same_v<T, float>) return vec().log_sum_exp(row, V);
  T mx = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < V; ++j) mx = row[j] > mx ? row[j] : mx;
  double s = 0;
  for (int64_t j = 0; j < V; ++j) s += std::exp(row[j] - mx);
  return std::log(s) + mx;
}

// Rows per pool chunk: at least 2^14 elements.
int64_t row_grain(int64_t N, int64_t V) { return parallel_grain(N, (1 << 14) / std::max<int64_t>(V, 1)); }

// Validates targets up front so the parallel loops never throw.
void check_targets(const Tensor& targets, int64_t V, int64_t ignore_index, const char* op) {
  const int32_t* t = targets.data<int32_t>();
  for (int64_t r = 0; r < targets.numel(); ++r)
    MEDIT_THROW_IF(t[r] != ignore_index && (t[r] < 0 || t[r] >= V), ARG,
                   std::string(op) + ": target " + std::to_string(t[r]) + " at row " + std::to_string(r) + " is outside [0, " +
                       std::to_string(V) + ")");
}
}  // namespace

Tensor cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_rows(logits, targets, "cross_entropy");
  const int64_t N = logits.shape[0], V = logits.shape[1];
  Tensor loss = tensor_empty({N}, logits.dtype);
  check_targets(targets, V, ignore_index, "cross_entropy");
  float_dispatch(logits.dtype, "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(N, row_grain(N, V), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int32_t t = targets.data<int32_t>()[r];
        const T* row = logits.data<T>() + r * V;
        loss.data<T>()[r] = t == ignore_index ? T(0) : static_cast<T>(log_sum_exp(row, V) - row[t]);
      }
    });
  });
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& dloss, int64_t ignore_index) {
  check_rows(logits, targets, "cross_entropy_backward");
  const int64_t N = logits.shape[0], V = logits.shape[1];
  check_shape(dloss, {N}, "cross_entropy_backward", "dloss");
  check_targets(targets, V, ignore_index, "cross_entropy_backward");
  Tensor dx = tensor_empty(logits.shape, logits.dtype, true);
  float_dispatch(logits.dtype, "cross_entropy_backward", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(N, row_grain(N, V), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t t = targets.data<int32_t>()[r];
      if (t == ignore_index) continue;
      const T* row = logits.data<T>() + r * V;
      T* dr = dx.data<T>() + r * V;
      const T lse = static_cast<T>(log_sum_exp(row, V));
      const T g = dloss.data<T>()[r];
      // d/dlogits = softmax − onehot(target)
      if constexpr (std::is_same_v<T, float>)
        vec().scaled_softmax_from_lse(row, lse, g, dr, V);
      else
        for (int64_t j = 0; j < V; ++j) dr[j] = g * std::exp(row[j] - lse);
      dr[t] -= g;
    }
    });
  });
  return dx;
}

Tensor kl_div_forward(const Tensor& logp, const Tensor& logq) {
  check_float(logp, "kl_div", "logp");
  check_same_dtype(logp, logq, "kl_div");
  check_shape(logq, logp.shape, "kl_div", "logq");
  const int64_t V = logp.shape.back(), N = V ? logp.numel() / V : 0;
  Shape out_shape(logp.shape.begin(), logp.shape.end() - 1);
  Tensor kl = tensor_empty(out_shape, logp.dtype);
  float_dispatch(logp.dtype, "kl_div", [&](auto zero) {
    using T = decltype(zero);
    for (int64_t r = 0; r < N; ++r) {
      const T* a = logp.data<T>() + r * V;
      const T* b = logq.data<T>() + r * V;
      double s = 0;
      for (int64_t j = 0; j < V; ++j) {
        const double p = std::exp(static_cast<double>(a[j]));
        if (p > 0) s += p * (static_cast<double>(a[j]) - b[j]);
      }
      kl.data<T>()[r] = static_cast<T>(s);
    }
  });
  return kl;
}

KlGrads kl_div_backward(const Tensor& logp, const Tensor& logq, const Tensor& dkl) {
  const int64_t V = logp.shape.back(), N = V ? logp.numel() / V : 0;
  MEDIT_THROW_IF(dkl.numel() != N, SHAPE, "kl_div_backward: dkl " + shape_str(dkl.shape) + " does not match rows");
  KlGrads g{tensor_empty(logp.shape, logp.dtype), tensor_empty(logp.shape, logp.dtype)};
  float_dispatch(logp.dtype, "kl_div_backward", [&](auto zero) {
    using T = decltype(zero);
    for (int64_t r = 0; r < N; ++r) {
      const T* a = logp.data<T>() + r * V;
      const T* b = logq.data<T>() + r * V;
      const double gr = dkl.data<T>()[r];
      for (int64_t j = 0; j < V; ++j) {
        const double p = std::exp(static_cast<double>(a[j]));
        // ∂/∂log p_j = p_j (log p_j − log q_j + 1);  ∂/∂log q_j = −p_j
        g.dlogp.data<T>()[r * V + j] = static_cast<T>(gr * p * (static_cast<double>(a[j]) - b[j] + 1.0));
        g.dlogq.data<T>()[r * V + j] = static_cast<T>(-gr * p);
      }
    }
  });
  return g;
}

}  // namespace medit::cpu
