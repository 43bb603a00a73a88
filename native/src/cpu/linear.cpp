// Batched matmul, the fused linear layer (GEMM + bias) and the linear layer fused with its
// activation (GEMM + bias + act, the MLP input projection), forward and backward.
// Reference: torch.matmul (batch axes equal, or one side 2-D and broadcast),
// torch.nn.Linear (weight [out,in]) and HF's GPT-2 Conv1D (weight [in,out]); the activations
// are the unary ops (elementwise.cpp). The fused pair is one call each way: forward keeps the
// pre-activation for backward, backward forms dpre = dy ⊙ act'(pre) in a pooled temporary.
// Not done: applying the activation inside the GEMM's tile epilogue (the extra pass over the
// output is ~1% of the product it follows).
#include "medit/gemm.h"
#include "medit/ops.h"

namespace medit::cpu {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_float(a, "matmul", "a");
  check_same_dtype(a, b, "matmul");
  MEDIT_THROW_IF(a.dim() < 2 || b.dim() < 2, SHAPE,
                 "matmul: expected at least 2-D operands but received " + shape_str(a.shape) + " and " + shape_str(b.shape));
  const int64_t M = trans_a ? a.size(-1) : a.size(-2);
  const int64_t K = trans_a ? a.size(-2) : a.size(-1);
  const int64_t Kb = trans_b ? b.size(-1) : b.size(-2);
  const int64_t N = trans_b ? b.size(-2) : b.size(-1);
  MEDIT_THROW_IF(K != Kb, SHAPE,
                 "matmul: inner dimensions differ (" + shape_str(a.shape) + (trans_a ? "ᵀ" : "") + " @ " +
                     shape_str(b.shape) + (trans_b ? "ᵀ" : "") + ")");
  const Shape batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2);
  MEDIT_THROW_IF(!batch_a.empty() && !batch_b.empty() && batch_a != batch_b, SHAPE,
                 "matmul: batch axes differ (" + shape_str(a.shape) + " @ " + shape_str(b.shape) + ")");
  const Shape& batch = batch_a.empty() ? batch_b : batch_a;
  const int64_t nb = shape_numel(batch);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = tensor_empty(out_shape, a.dtype);
  float_dispatch(a.dtype, "matmul", [&](auto zero) {
    using T = decltype(zero);
    const int64_t sa = batch_a.empty() ? 0 : M * K, sb = batch_b.empty() ? 0 : K * N;
    // A 2-D right operand under a batched left one is one big GEMM over the stacked rows.
    if (!trans_a && batch_b.empty() && nb > 1) {
      gemm<T>(false, trans_b, nb * M, N, K, T(1), a.data<T>(), K, b.data<T>(), trans_b ? K : N, T(0), out.data<T>(), N);
      return;
    }
    for (int64_t i = 0; i < nb; ++i)
      gemm<T>(trans_a, trans_b, M, N, K, T(1), a.data<T>() + i * sa, trans_a ? M : K, b.data<T>() + i * sb,
              trans_b ? K : N, T(0), out.data<T>() + i * M * N, N);
  });
  return out;
}

namespace {
void linear_dims(const Tensor& x, const Tensor& w, bool in_out, int64_t& in, int64_t& out, const char* op) {
  MEDIT_THROW_IF(w.dim() != 2, SHAPE, std::string(op) + ": expected a 2-D weight but received " + shape_str(w.shape));
  in = in_out ? w.shape[0] : w.shape[1];
  out = in_out ? w.shape[1] : w.shape[0];
  MEDIT_THROW_IF(x.dim() < 1 || x.shape.back() != in, SHAPE,
                 std::string(op) + ": input " + shape_str(x.shape) + " does not match weight " + shape_str(w.shape) +
                     (in_out ? " [in,out]" : " [out,in]"));
}
}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, bool in_out) {
  check_float(x, "linear", "x");
  check_same_dtype(x, w, "linear");
  int64_t in, outf;
  linear_dims(x, w, in_out, in, outf, "linear");
  if (bias) {
    check_same_dtype(x, *bias, "linear");
    check_shape(*bias, {outf}, "linear", "bias");
  }
  const int64_t N = x.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = x.shape;
  out_shape.back() = outf;
  Tensor y = tensor_empty(out_shape, x.dtype);
  float_dispatch(x.dtype, "linear", [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    T beta = T(0);
    if (bias) {  // seed every row with the bias, then accumulate the product (beta = 1)
      const T* pb = bias->data<T>();
      for (int64_t r = 0; r < N; ++r) std::copy(pb, pb + outf, py + r * outf);
      beta = T(1);
    }
    // y = x Wᵀ for [out,in]; y = x W for [in,out].
    gemm<T>(false, !in_out, N, outf, in, T(1), x.data<T>(), in, w.data<T>(), in_out ? outf : in, beta, py, outf);
  });
  return y;
}

LinearGrads linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool in_out, bool need_dx,
                            bool need_dw, bool need_db) {
  int64_t in, outf;
  linear_dims(x, w, in_out, in, outf, "linear_backward");
  const int64_t N = x.numel() / std::max<int64_t>(in, 1);
  MEDIT_THROW_IF(dy.numel() != N * outf, SHAPE, "linear_backward: dy " + shape_str(dy.shape) + " does not match output");
  LinearGrads g;
  float_dispatch(x.dtype, "linear_backward", [&](auto zero) {
    using T = decltype(zero);
    if (need_dx) {  // dx[N,in] = dy[N,out] · W[out,in]  (or dy · W[in,out]ᵀ)
      g.dx = tensor_empty(x.shape, x.dtype);
      gemm<T>(false, in_out, N, in, outf, T(1), dy.data<T>(), outf, w.data<T>(), in_out ? outf : in, T(0),
              g.dx.data<T>(), in);
    }
    if (need_dw) {  // dW[out,in] = dyᵀ x ; dW[in,out] = xᵀ dy
      g.dw = tensor_empty(w.shape, w.dtype);
      if (in_out)
        gemm<T>(true, false, in, outf, N, T(1), x.data<T>(), in, dy.data<T>(), outf, T(0), g.dw.data<T>(), outf);
      else
        gemm<T>(true, false, outf, in, N, T(1), dy.data<T>(), outf, x.data<T>(), in, T(0), g.dw.data<T>(), in);
    }
    if (need_db) {  // db = Σ_rows dy
      g.db = tensor_empty({outf}, x.dtype, true);
      T* pb = g.db.data<T>();
      const T* pd = dy.data<T>();
      for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < outf; ++j) pb[j] += pd[r * outf + j];
    }
  });
  return g;
}

namespace {
// Activations are the unary ops that take no scalar argument.
void check_act(int32_t act, const char* op) {
  const auto a = static_cast<UnaryOp>(act);
  MEDIT_THROW_IF(act < 0 || act > static_cast<int32_t>(UnaryOp::RSQRT) || a == UnaryOp::SCALE || a == UnaryOp::ADD_SCALAR ||
                     a == UnaryOp::POW_SCALAR,
                 ARG, std::string(op) + ": " + std::to_string(act) + " is not an activation code");
}
}  // namespace

LinearActForward linear_act_forward(const Tensor& x, const Tensor& w, const Tensor* bias, bool in_out, int32_t act) {
  check_act(act, "linear_act");
  LinearActForward f;
  f.pre = linear_forward(x, w, bias, in_out);
  f.y = unary(static_cast<UnaryOp>(act), f.pre, 0.0);
  return f;
}

LinearGrads linear_act_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& pre, const Tensor& y,
                                bool in_out, int32_t act, bool need_dx, bool need_dw, bool need_db) {
  check_act(act, "linear_act_backward");
  check_shape(pre, dy.shape, "linear_act_backward", "pre");
  const Tensor dpre = unary_backward(static_cast<UnaryOp>(act), pre, y, dy, 0.0);
  return linear_backward(dpre, x, w, in_out, need_dx, need_dw, need_db);
}

}  // namespace medit::cpu
