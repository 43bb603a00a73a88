// medit engine: CPU kernels, as forward/backward pairs over contiguous tensors.
//
// Dimension letters: B batch, T tokens, C channels, NH heads, HS head size, V vocab.
// Float kernels accept float32 and float64 (float64 exists for gradient checks and
// solves). Index tensors are int32. Every kernel validates its arguments and throws
// medit::Error; none writes into its inputs unless its name ends in `_inplace`.
#pragma once

#include <string>
#include <vector>

#include "medit/tensor.h"

namespace medit::cpu {

// ================================================================ creation / conversion
Tensor fill(const Shape& shape, DType dtype, double value);
/// Converts between any two dtypes (f16/bf16 round-to-nearest-even on the way in).
Tensor cast(const Tensor& x, DType dtype);
/// dst += alpha * src (same shape and dtype); used for weight edits and optimiser state.
void add_inplace(Tensor& dst, const Tensor& src, double alpha);
/// dst = src (same shape and dtype).
void copy_inplace(Tensor& dst, const Tensor& src);

// ================================================================ matmul / linear
/// a[..., M, K] @ b[..., K, N] (after optional transposes of the last two axes).
/// Batch axes must match exactly, or one side is 2-D and is broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

/// y[N, out] = x[N, in] · Wᵀ + bias. `in_out` = the weight is stored [in, out] (GPT-2's
/// Conv1D) instead of torch.nn.Linear's [out, in]. Leading axes of x are flattened.
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, bool in_out);
struct LinearGrads { Tensor dx, dw, db; };
LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool in_out, bool need_dx,
                            bool need_dw, bool need_db);

/// The fused MLP input projection act(x · Wᵀ + bias): returns y and the pre-activation
/// `pre` that backward needs. `act` is one of the unary ops (GELU_TANH for GPT-2's gelu_new).
struct LinearActForward { Tensor y, pre; };
LinearActForward linear_act_forward(const Tensor& x, const Tensor& w, const Tensor* bias, bool in_out, int32_t act);
/// Gradients of act(x · Wᵀ + bias) given dy, the saved pre-activation and output.
LinearGrads linear_act_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& pre, const Tensor& y,
                                bool in_out, int32_t act, bool need_dx, bool need_dw, bool need_db);

// ================================================================ element-wise
enum class BinaryOp : int32_t { ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAX = 4, MIN = 5, POW = 6 };
/// NumPy broadcasting between a and b.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
/// Sums `x` down to `shape` (the inverse of broadcasting `shape` up to x.shape).
Tensor sum_to(const Tensor& x, const Shape& shape);

enum class UnaryOp : int32_t {
  NEG = 0, EXP = 1, LOG = 2, SQRT = 3, TANH = 4, SIGMOID = 5, RELU = 6, SILU = 7,
  GELU = 8,       // exact: x·Φ(x)
  GELU_TANH = 9,  // GPT-2's "gelu_new": 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
  SQUARE = 10, ABS = 11,
  SCALE = 12,       // alpha·x
  ADD_SCALAR = 13,  // x + alpha
  POW_SCALAR = 14,  // x^alpha
  RSQRT = 15,
};
Tensor unary(UnaryOp op, const Tensor& x, double alpha);
/// dx given x, y = f(x) and dy.
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, double alpha);

// ================================================================ reductions
/// Sum over one axis (keepdim keeps it as size 1).
Tensor sum_axis(const Tensor& x, int64_t axis, bool keepdim);
/// Max over the last axis, and the arg max (int32).
std::pair<Tensor, Tensor> max_last(const Tensor& x);
/// The k largest entries of each row (last axis), largest first (ties: lower index first), and
/// their indices (int32). T-Patcher's S(·; k) over the memory of unrelated queries.
std::pair<Tensor, Tensor> topk_last(const Tensor& x, int64_t k);

// ================================================================ normalisation
struct NormForward { Tensor y, mean, rstd; };
/// LayerNorm over the last axis: y = (x-μ)/√(σ²+eps)·w + b (torch.nn.LayerNorm).
NormForward layernorm_forward(const Tensor& x, const Tensor& w, const Tensor* b, double eps);
struct NormGrads { Tensor dx, dw, db; };
NormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                             const Tensor& rstd);
/// RMSNorm over the last axis: y = x/√(mean(x²)+eps)·w (Llama). `mean` is unused (empty).
NormForward rmsnorm_forward(const Tensor& x, const Tensor& w, double eps);
NormGrads rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd);

// ================================================================ softmax family (last axis)
Tensor softmax_forward(const Tensor& x);
Tensor softmax_backward(const Tensor& y, const Tensor& dy);
Tensor log_softmax_forward(const Tensor& x);
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy);

// ================================================================ attention
/// Scaled dot-product attention. q[B,NH,Tq,HS], k/v[B,NKV,Tk,HS] with NH % NKV == 0
/// (grouped-query attention when NKV < NH). Causal: query i (absolute position
/// Tk-Tq+i) sees keys j <= its position. key_mask[B,Tk] (int32, 1 = real token) hides
/// padding keys. Returns out[B,NH,Tq,HS] and the probabilities [B,NH,Tq,Tk] for backward.
struct AttentionForward { Tensor out, probs; };
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                                   bool causal, double scale);
struct AttentionGrads { Tensor dq, dk, dv; };
AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& probs, double scale);

// ================================================================ embedding
/// out[N, C] = table[ids[n]]; ids int32 [N] (any shape; output = ids.shape + [C]).
Tensor embedding_forward(const Tensor& ids, const Tensor& table);
/// dtable[V, C] = scatter-add of dy rows at ids.
Tensor embedding_backward(const Tensor& ids, const Tensor& dy, int64_t vocab);

// ================================================================ losses
/// Per-row cross-entropy of logits[N, V] against int32 targets[N]; rows whose target
/// equals ignore_index give 0. Returns losses[N].
Tensor cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
/// dlogits given dloss[N].
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& dloss, int64_t ignore_index);
/// Per-row KL(P‖Q) = Σ_v p·(log p − log q), from log-probabilities logp, logq [N, V].
Tensor kl_div_forward(const Tensor& logp, const Tensor& logq);
struct KlGrads { Tensor dlogp, dlogq; };
KlGrads kl_div_backward(const Tensor& logp, const Tensor& logq, const Tensor& dkl);

// ================================================================ layout
/// Copy with axes permuted: out.shape[i] = x.shape[perm[i]].
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
/// x[..., start:start+length, ...] along `axis`.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t length);
/// The inverse of slice: a zero tensor of `shape` with `src` written at [start, start+len).
Tensor slice_backward(const Tensor& src, const Shape& shape, int64_t axis, int64_t start);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
/// x gathered at int32 indices along `axis`.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
/// base (copied) with src added at int32 indices along `axis` (the backward of index_select).
Tensor index_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src);

// ================================================================ optimiser
/// One decoupled-weight-decay Adam step (Loshchilov & Hutter 2019), in place on
/// param, m and v. `step` is 1-based (for bias correction).
void adamw_step_inplace(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int64_t step);

}  // namespace medit::cpu
