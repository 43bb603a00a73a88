// Kernel bindings: thin wrappers from JS handles + plain numbers to medit::cpu kernels.
// Argument order follows include/medit/ops.h; the TS side (lib/binding.ts) types it.
#include "common.h"
#include "medit/finite.h"
#include "medit/ops.h"

namespace medit::binding {

namespace {
using Info = const Napi::CallbackInfo&;

Napi::Value tensors_out(Napi::Env env, std::initializer_list<const Tensor*> ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  uint32_t i = 0;
  for (const Tensor* t : ts) a.Set(i++, t->storage ? Napi::Value(wrap(env, *t)) : env.Null());
  return a;
}

std::vector<int64_t> int_list(const Napi::Value& v, const char* op) { return shape_arg(v, op, "list"); }
}  // namespace

void register_ops(Napi::Env env, Napi::Object e) {
  export_fn(env, e, "cast", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::cast(tensor_arg(i, 0, "cast", "x"), static_cast<DType>(number_arg(i, 1, "cast", "dtype"))));
  });
  export_fn(env, e, "addInplace", [](Info i) -> Napi::Value {
    cpu::add_inplace(tensor_arg(i, 0, "addInplace", "dst"), tensor_arg(i, 1, "addInplace", "src"),
                     number_arg(i, 2, "addInplace", "alpha"));
    return i.Env().Undefined();
  });
  export_fn(env, e, "copyInplace", [](Info i) -> Napi::Value {
    cpu::copy_inplace(tensor_arg(i, 0, "copyInplace", "dst"), tensor_arg(i, 1, "copyInplace", "src"));
    return i.Env().Undefined();
  });
  export_fn(env, e, "matmul", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::matmul(tensor_arg(i, 0, "matmul", "a"), tensor_arg(i, 1, "matmul", "b"),
                                     bool_arg(i, 2, "matmul", "transA"), bool_arg(i, 3, "matmul", "transB")));
  });
  // matmulAsync: the same GEMM on the libuv pool (for large products).
  export_fn(env, e, "matmulAsync", [](Info i) -> Napi::Value {
    Tensor a = tensor_arg(i, 0, "matmulAsync", "a"), b = tensor_arg(i, 1, "matmulAsync", "b");
    const bool ta = bool_arg(i, 2, "matmulAsync", "transA"), tb = bool_arg(i, 3, "matmulAsync", "transB");
    auto out = std::make_shared<Tensor>();
    return run_async(
        i.Env(), [=] { *out = cpu::matmul(a, b, ta, tb); }, [out](Napi::Env env) -> Napi::Value { return wrap(env, *out); });
  });
  export_fn(env, e, "linearForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::linear_forward(tensor_arg(i, 0, "linear", "x"), tensor_arg(i, 1, "linear", "weight"),
                                             optional_tensor_arg(i, 2, "linear", "bias"), bool_arg(i, 3, "linear", "inOut")));
  });
  export_fn(env, e, "linearBackward", [](Info i) -> Napi::Value {
    auto g = cpu::linear_backward(tensor_arg(i, 0, "linearBackward", "dy"), tensor_arg(i, 1, "linearBackward", "x"),
                                  tensor_arg(i, 2, "linearBackward", "weight"), bool_arg(i, 3, "linearBackward", "inOut"),
                                  bool_arg(i, 4, "linearBackward", "needDx"), bool_arg(i, 5, "linearBackward", "needDw"),
                                  bool_arg(i, 6, "linearBackward", "needDb"));
    return tensors_out(i.Env(), {&g.dx, &g.dw, &g.db});
  });
  export_fn(env, e, "linearActForward", [](Info i) -> Napi::Value {
    auto f = cpu::linear_act_forward(tensor_arg(i, 0, "linearAct", "x"), tensor_arg(i, 1, "linearAct", "weight"),
                                     optional_tensor_arg(i, 2, "linearAct", "bias"), bool_arg(i, 3, "linearAct", "inOut"),
                                     static_cast<int32_t>(number_arg(i, 4, "linearAct", "act")));
    return tensors_out(i.Env(), {&f.y, &f.pre});
  });
  export_fn(env, e, "linearActBackward", [](Info i) -> Napi::Value {
    auto g = cpu::linear_act_backward(
        tensor_arg(i, 0, "linearActBackward", "dy"), tensor_arg(i, 1, "linearActBackward", "x"),
        tensor_arg(i, 2, "linearActBackward", "weight"), tensor_arg(i, 3, "linearActBackward", "pre"),
        tensor_arg(i, 4, "linearActBackward", "y"), bool_arg(i, 5, "linearActBackward", "inOut"),
        static_cast<int32_t>(number_arg(i, 6, "linearActBackward", "act")), bool_arg(i, 7, "linearActBackward", "needDx"),
        bool_arg(i, 8, "linearActBackward", "needDw"), bool_arg(i, 9, "linearActBackward", "needDb"));
    return tensors_out(i.Env(), {&g.dx, &g.dw, &g.db});
  });
  export_fn(env, e, "binary", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::binary(static_cast<cpu::BinaryOp>(number_arg(i, 0, "binary", "op")),
                                     tensor_arg(i, 1, "binary", "a"), tensor_arg(i, 2, "binary", "b")));
  });
  export_fn(env, e, "sumTo", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::sum_to(tensor_arg(i, 0, "sumTo", "x"), shape_arg(i[1], "sumTo", "shape")));
  });
  export_fn(env, e, "unary", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::unary(static_cast<cpu::UnaryOp>(number_arg(i, 0, "unary", "op")), tensor_arg(i, 1, "unary", "x"),
                                    number_arg(i, 2, "unary", "alpha")));
  });
  export_fn(env, e, "unaryBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::unary_backward(static_cast<cpu::UnaryOp>(number_arg(i, 0, "unaryBackward", "op")),
                                             tensor_arg(i, 1, "unaryBackward", "x"), tensor_arg(i, 2, "unaryBackward", "y"),
                                             tensor_arg(i, 3, "unaryBackward", "dy"), number_arg(i, 4, "unaryBackward", "alpha")));
  });
  export_fn(env, e, "sumAxis", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::sum_axis(tensor_arg(i, 0, "sumAxis", "x"), static_cast<int64_t>(number_arg(i, 1, "sumAxis", "axis")),
                                       bool_arg(i, 2, "sumAxis", "keepdim")));
  });
  export_fn(env, e, "maxLast", [](Info i) -> Napi::Value {
    auto r = cpu::max_last(tensor_arg(i, 0, "maxLast", "x"));
    return tensors_out(i.Env(), {&r.first, &r.second});
  });
  export_fn(env, e, "topkLast", [](Info i) -> Napi::Value {
    auto r = cpu::topk_last(tensor_arg(i, 0, "topkLast", "x"), static_cast<int64_t>(number_arg(i, 1, "topkLast", "k")));
    return tensors_out(i.Env(), {&r.first, &r.second});
  });
  export_fn(env, e, "layerNormForward", [](Info i) -> Napi::Value {
    auto f = cpu::layernorm_forward(tensor_arg(i, 0, "layerNorm", "x"), tensor_arg(i, 1, "layerNorm", "weight"),
                                    optional_tensor_arg(i, 2, "layerNorm", "bias"), number_arg(i, 3, "layerNorm", "eps"));
    return tensors_out(i.Env(), {&f.y, &f.mean, &f.rstd});
  });
  export_fn(env, e, "layerNormBackward", [](Info i) -> Napi::Value {
    auto g = cpu::layernorm_backward(tensor_arg(i, 0, "layerNormBackward", "dy"), tensor_arg(i, 1, "layerNormBackward", "x"),
                                     tensor_arg(i, 2, "layerNormBackward", "weight"), tensor_arg(i, 3, "layerNormBackward", "mean"),
                                     tensor_arg(i, 4, "layerNormBackward", "rstd"));
    return tensors_out(i.Env(), {&g.dx, &g.dw, &g.db});
  });
  export_fn(env, e, "rmsNormForward", [](Info i) -> Napi::Value {
    auto f = cpu::rmsnorm_forward(tensor_arg(i, 0, "rmsNorm", "x"), tensor_arg(i, 1, "rmsNorm", "weight"),
                                  number_arg(i, 2, "rmsNorm", "eps"));
    return tensors_out(i.Env(), {&f.y, &f.rstd});
  });
  export_fn(env, e, "rmsNormBackward", [](Info i) -> Napi::Value {
    auto g = cpu::rmsnorm_backward(tensor_arg(i, 0, "rmsNormBackward", "dy"), tensor_arg(i, 1, "rmsNormBackward", "x"),
                                   tensor_arg(i, 2, "rmsNormBackward", "weight"), tensor_arg(i, 3, "rmsNormBackward", "rstd"));
    return tensors_out(i.Env(), {&g.dx, &g.dw});
  });
  export_fn(env, e, "softmaxForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::softmax_forward(tensor_arg(i, 0, "softmax", "x")));
  });
  export_fn(env, e, "softmaxBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::softmax_backward(tensor_arg(i, 0, "softmaxBackward", "y"), tensor_arg(i, 1, "softmaxBackward", "dy")));
  });
  export_fn(env, e, "logSoftmaxForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::log_softmax_forward(tensor_arg(i, 0, "logSoftmax", "x")));
  });
  export_fn(env, e, "logSoftmaxBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::log_softmax_backward(tensor_arg(i, 0, "logSoftmaxBackward", "y"),
                                                   tensor_arg(i, 1, "logSoftmaxBackward", "dy")));
  });
  export_fn(env, e, "attentionForward", [](Info i) -> Napi::Value {
    auto f = cpu::attention_forward(tensor_arg(i, 0, "attention", "q"), tensor_arg(i, 1, "attention", "k"),
                                    tensor_arg(i, 2, "attention", "v"), optional_tensor_arg(i, 3, "attention", "keyMask"),
                                    bool_arg(i, 4, "attention", "causal"), number_arg(i, 5, "attention", "scale"));
    return tensors_out(i.Env(), {&f.out, &f.probs});
  });
  export_fn(env, e, "attentionBackward", [](Info i) -> Napi::Value {
    auto g = cpu::attention_backward(tensor_arg(i, 0, "attentionBackward", "dout"), tensor_arg(i, 1, "attentionBackward", "q"),
                                     tensor_arg(i, 2, "attentionBackward", "k"), tensor_arg(i, 3, "attentionBackward", "v"),
                                     tensor_arg(i, 4, "attentionBackward", "probs"), number_arg(i, 5, "attentionBackward", "scale"));
    return tensors_out(i.Env(), {&g.dq, &g.dk, &g.dv});
  });
  export_fn(env, e, "embeddingForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::embedding_forward(tensor_arg(i, 0, "embedding", "ids"), tensor_arg(i, 1, "embedding", "table")));
  });
  export_fn(env, e, "embeddingBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::embedding_backward(tensor_arg(i, 0, "embeddingBackward", "ids"),
                                                 tensor_arg(i, 1, "embeddingBackward", "dy"),
                                                 static_cast<int64_t>(number_arg(i, 2, "embeddingBackward", "vocab"))));
  });
  export_fn(env, e, "crossEntropyForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::cross_entropy_forward(tensor_arg(i, 0, "crossEntropy", "logits"),
                                                    tensor_arg(i, 1, "crossEntropy", "targets"),
                                                    static_cast<int64_t>(number_arg(i, 2, "crossEntropy", "ignoreIndex"))));
  });
  export_fn(env, e, "crossEntropyBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::cross_entropy_backward(
                             tensor_arg(i, 0, "crossEntropyBackward", "logits"), tensor_arg(i, 1, "crossEntropyBackward", "targets"),
                             tensor_arg(i, 2, "crossEntropyBackward", "dloss"),
                             static_cast<int64_t>(number_arg(i, 3, "crossEntropyBackward", "ignoreIndex"))));
  });
  export_fn(env, e, "klDivForward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::kl_div_forward(tensor_arg(i, 0, "klDiv", "logp"), tensor_arg(i, 1, "klDiv", "logq")));
  });
  export_fn(env, e, "klDivBackward", [](Info i) -> Napi::Value {
    auto g = cpu::kl_div_backward(tensor_arg(i, 0, "klDivBackward", "logp"), tensor_arg(i, 1, "klDivBackward", "logq"),
                                  tensor_arg(i, 2, "klDivBackward", "dkl"));
    return tensors_out(i.Env(), {&g.dlogp, &g.dlogq});
  });
  export_fn(env, e, "permute", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::permute(tensor_arg(i, 0, "permute", "x"), int_list(i[1], "permute")));
  });
  export_fn(env, e, "slice", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::slice(tensor_arg(i, 0, "slice", "x"), static_cast<int64_t>(number_arg(i, 1, "slice", "axis")),
                                    static_cast<int64_t>(number_arg(i, 2, "slice", "start")),
                                    static_cast<int64_t>(number_arg(i, 3, "slice", "length"))));
  });
  export_fn(env, e, "sliceBackward", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::slice_backward(tensor_arg(i, 0, "sliceBackward", "src"), shape_arg(i[1], "sliceBackward", "shape"),
                                             static_cast<int64_t>(number_arg(i, 2, "sliceBackward", "axis")),
                                             static_cast<int64_t>(number_arg(i, 3, "sliceBackward", "start"))));
  });
  export_fn(env, e, "concat", [](Info i) -> Napi::Value {
    if (!i[0].IsArray()) throw Error(ErrorKind::ARG, "concat: expected an array of tensors");
    Napi::Array a = i[0].As<Napi::Array>();
    std::vector<Tensor> xs;
    for (uint32_t k = 0; k < a.Length(); ++k) {
      Napi::Value v = a.Get(k);
      if (!v.IsObject()) throw Error(ErrorKind::ARG, "concat: expected tensors");
      xs.push_back(TensorWrap::Unwrap(v.As<Napi::Object>())->tensor("concat"));
    }
    return wrap(i.Env(), cpu::concat(xs, static_cast<int64_t>(number_arg(i, 1, "concat", "axis"))));
  });
  export_fn(env, e, "indexSelect", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::index_select(tensor_arg(i, 0, "indexSelect", "x"),
                                           static_cast<int64_t>(number_arg(i, 1, "indexSelect", "axis")),
                                           tensor_arg(i, 2, "indexSelect", "index")));
  });
  export_fn(env, e, "indexAdd", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::index_add(tensor_arg(i, 0, "indexAdd", "base"), static_cast<int64_t>(number_arg(i, 1, "indexAdd", "axis")),
                                        tensor_arg(i, 2, "indexAdd", "index"), tensor_arg(i, 3, "indexAdd", "src")));
  });
  // nonFinite: [count, first index] of NaN/±Inf elements (src/cpu/finite.cpp).
  export_fn(env, e, "nonFinite", [](Info i) -> Napi::Value {
    const cpu::NonFinite r = cpu::non_finite(tensor_arg(i, 0, "nonFinite", "x"));
    Napi::Array a = Napi::Array::New(i.Env(), 2);
    a.Set(0u, Napi::Number::New(i.Env(), static_cast<double>(r.count)));
    a.Set(1u, Napi::Number::New(i.Env(), static_cast<double>(r.first)));
    return a;
  });
  export_fn(env, e, "adamwStepInplace", [](Info i) -> Napi::Value {
    cpu::adamw_step_inplace(tensor_arg(i, 0, "adamw", "param"), tensor_arg(i, 1, "adamw", "grad"), tensor_arg(i, 2, "adamw", "m"),
                            tensor_arg(i, 3, "adamw", "v"), number_arg(i, 4, "adamw", "lr"), number_arg(i, 5, "adamw", "beta1"),
                            number_arg(i, 6, "adamw", "beta2"), number_arg(i, 7, "adamw", "eps"),
                            number_arg(i, 8, "adamw", "weightDecay"), static_cast<int64_t>(number_arg(i, 9, "adamw", "step")));
    return i.Env().Undefined();
  });
}

}  // namespace medit::binding
