// Scaled dot-product attention with causal and key-padding masks, grouped-query aware.
// Reference: HF eager attention (GPT2Attention._attn, LlamaAttention with repeat_kv).
// Shapes: q[B,NH,Tq,HS], k,v[B,NKV,Tk,HS], key_mask[B,Tk] int32, probs[B,NH,Tq,Tk].
// A query whose keys are all masked gets zero probabilities (HF gives a uniform row over
// masked keys there; such rows are padding and never read).
// One (batch, head) per work item on the shared pool, forward and backward (backward: one
// (batch, kv head) so that a group's query heads accumulate dk/dv on one thread); the
// per-head products go to the built-in GEMM (its small path for short sequences), float32
// score rows to the vector softmax of vec-math.inc.
// Not done here: dropout (editing runs in eval mode), ALiBi, flash-style tiling (the
// probabilities are materialised: backward reads them, and editing sequences are short).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "medit/allocator.h"
#include "medit/gemm.h"
#include "medit/ops.h"
#include "medit/parallel.h"
#include "vec-math.h"

namespace medit::cpu {

namespace {
struct AttnDims { int64_t B, NH, NKV, Tq, Tk, HS, group; };

AttnDims attn_dims(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) {
  MEDIT_THROW_IF(q.dim() != 4 || k.dim() != 4 || v.dim() != 4, SHAPE,
                 std::string(op) + ": expected 4-D q, k, v [B,heads,T,HS] but received " + shape_str(q.shape) + ", " +
                     shape_str(k.shape) + ", " + shape_str(v.shape));
  AttnDims d{q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2], q.shape[3], 1};
  check_shape(k, {d.B, d.NKV, d.Tk, d.HS}, op, "k");
  check_shape(v, {d.B, d.NKV, d.Tk, d.HS}, op, "v");
  MEDIT_THROW_IF(d.NKV == 0 || d.NH % d.NKV != 0, SHAPE,
                 std::string(op) + ": query heads (" + std::to_string(d.NH) + ") must be a multiple of key/value heads (" +
                     std::to_string(d.NKV) + ")");
  MEDIT_THROW_IF(d.Tq > d.Tk, SHAPE, std::string(op) + ": more queries than keys");
  d.group = d.NH / d.NKV;
  check_same_dtype(q, k, op);
  check_same_dtype(q, v, op);
  return d;
}

// Heads per pool chunk: at least ~2^16 multiply-adds of work per chunk.
int64_t head_grain(int64_t items, const AttnDims& d) {
  const int64_t per_item = std::max<int64_t>(1, 2 * d.Tq * d.Tk * d.HS);
  return parallel_grain(items, (1 << 16) / per_item + 1, 4);
}

// Softmax of one score row over its visible keys [0, last] (key_mask 0 hides a key); the
// rest of the row becomes 0. False when no key is visible (the row is then all zeros).
template <typename T>
bool masked_softmax_row(T* row, int64_t Tk, int64_t last, const int32_t* mask) {
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t len = std::min(last + 1, Tk);
  bool any = false;
  for (int64_t j = 0; j < len; ++j) {
    if (mask && mask[j] == 0) row[j] = ninf;
    else any = true;
  }
  for (int64_t j = std::max<int64_t>(len, 0); j < Tk; ++j) row[j] = T(0);
  if (!any) {
    for (int64_t j = 0; j < len; ++j) row[j] = T(0);
    return false;
  }
  if constexpr (std::is_same_v<T, float>) {
    vec().softmax_row(row, row, len);
  } else {
    T mx = ninf;
    for (int64_t j = 0; j < len; ++j) mx = row[j] > mx ? row[j] : mx;
    double sum = 0;
    for (int64_t j = 0; j < len; ++j) {
      const double e = row[j] == ninf ? 0.0 : std::exp(static_cast<double>(row[j] - mx));
      row[j] = static_cast<T>(e);
      sum += e;
    }
    const T inv = static_cast<T>(1.0 / sum);
    for (int64_t j = 0; j < len; ++j) row[j] *= inv;
  }
  return true;
}
}  // namespace

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                                   bool causal, double scale) {
  check_float(q, "attention", "q");
  const AttnDims d = attn_dims(q, k, v, "attention");
  if (key_mask) {
    check_dtype(*key_mask, DType::I32, "attention", "key_mask");
    check_shape(*key_mask, {d.B, d.Tk}, "attention", "key_mask");
  }
  AttentionForward f{tensor_empty(q.shape, q.dtype), tensor_empty({d.B, d.NH, d.Tq, d.Tk}, q.dtype)};
  const int64_t offset = d.Tk - d.Tq;  // absolute position of query 0
  float_dispatch(q.dtype, "attention", [&](auto zero) {
    using T = decltype(zero);
    parallel_for(d.B * d.NH, head_grain(d.B * d.NH, d), [&](int64_t i0, int64_t i1) {
      for (int64_t item = i0; item < i1; ++item) {
        const int64_t b = item / d.NH, h = item % d.NH;
        const int64_t kvh = h / d.group;
        const T* qp = q.data<T>() + ((b * d.NH + h) * d.Tq) * d.HS;
        const T* kp = k.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        const T* vp = v.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        T* pp = f.probs.data<T>() + ((b * d.NH + h) * d.Tq) * d.Tk;
        T* op = f.out.data<T>() + ((b * d.NH + h) * d.Tq) * d.HS;
        // scores = scale · q kᵀ
        gemm_fallback<T>(false, true, d.Tq, d.Tk, d.HS, static_cast<T>(scale), qp, d.HS, kp, d.HS, T(0), pp, d.Tk);
        const int32_t* mask = key_mask ? key_mask->data<int32_t>() + b * d.Tk : nullptr;
        for (int64_t i = 0; i < d.Tq; ++i)
          masked_softmax_row(pp + i * d.Tk, d.Tk, causal ? offset + i : d.Tk - 1, mask);
        // out = P v
        gemm_fallback<T>(false, false, d.Tq, d.HS, d.Tk, T(1), pp, d.Tk, vp, d.HS, T(0), op, d.HS);
      }
    });
  });
  return f;
}

AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& probs, double scale) {
  const AttnDims d = attn_dims(q, k, v, "attention_backward");
  check_shape(dout, q.shape, "attention_backward", "dout");
  check_shape(probs, {d.B, d.NH, d.Tq, d.Tk}, "attention_backward", "probs");
  AttentionGrads g{tensor_empty(q.shape, q.dtype), tensor_empty(k.shape, k.dtype, true),
                   tensor_empty(v.shape, v.dtype, true)};
  float_dispatch(q.dtype, "attention_backward", [&](auto zero) {
    using T = decltype(zero);
    // Parallel over (batch, kv head) so that the query heads sharing a kv head
    // accumulate into dk/dv from one thread.
    parallel_for(d.B * d.NKV, head_grain(d.B * d.NKV, d), [&](int64_t i0, int64_t i1) {
      ScratchBuffer<T> dp(static_cast<size_t>(d.Tq * d.Tk));
      for (int64_t item = i0; item < i1; ++item) {
        const int64_t b = item / d.NKV, kvh = item % d.NKV;
        const T* kp = k.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        const T* vp = v.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        T* dkp = g.dk.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        T* dvp = g.dv.data<T>() + ((b * d.NKV + kvh) * d.Tk) * d.HS;
        for (int64_t h = kvh * d.group; h < (kvh + 1) * d.group; ++h) {
          const int64_t qo = ((b * d.NH + h) * d.Tq) * d.HS;
          const T* qp = q.data<T>() + qo;
          const T* dop = dout.data<T>() + qo;
          T* dqp = g.dq.data<T>() + qo;
          const T* pp = probs.data<T>() + ((b * d.NH + h) * d.Tq) * d.Tk;
          // dv += Pᵀ dout  (+= : heads of a group share v)
          gemm_fallback<T>(true, false, d.Tk, d.HS, d.Tq, T(1), pp, d.Tk, dop, d.HS, T(1), dvp, d.HS);
          // dP = dout vᵀ
          gemm_fallback<T>(false, true, d.Tq, d.Tk, d.HS, T(1), dop, d.HS, vp, d.HS, T(0), dp.data(), d.Tk);
          // dS = P ⊙ (dP − Σ_j dP⊙P), scaled once here for both dq and dk.
          for (int64_t i = 0; i < d.Tq; ++i) {
            const T* pr = pp + i * d.Tk;
            T* dr = dp.data() + i * d.Tk;
            if constexpr (std::is_same_v<T, float>) {
              vec().softmax_backward_row(pr, dr, dr, d.Tk);
              for (int64_t j = 0; j < d.Tk; ++j) dr[j] *= static_cast<T>(scale);
              continue;
            }
            double s = 0;
            for (int64_t j = 0; j < d.Tk; ++j) s += static_cast<double>(dr[j]) * pr[j];
            for (int64_t j = 0; j < d.Tk; ++j) dr[j] = static_cast<T>(scale) * pr[j] * (dr[j] - static_cast<T>(s));
          }
          // dq = dS k ; dk += dSᵀ q  (+= : heads of a group share k)
          gemm_fallback<T>(false, false, d.Tq, d.HS, d.Tk, T(1), dp.data(), d.Tk, kp, d.HS, T(0), dqp, d.HS);
          gemm_fallback<T>(true, false, d.Tk, d.HS, d.Tq, T(1), dp.data(), d.Tk, qp, d.HS, T(1), dkp, d.HS);
        }
      }
    });
  });
  return g;
}

}  // namespace medit::cpu
