// Linear-algebra bindings (see include/medit/linalg.h).
#include "common.h"
#include "medit/linalg.h"

namespace medit::binding {

void register_linalg(Napi::Env env, Napi::Object e) {
  using Info = const Napi::CallbackInfo&;
  export_fn(env, e, "secondMomentAccumulateInplace", [](Info i) -> Napi::Value {
    cpu::second_moment_accumulate_inplace(tensor_arg(i, 0, "secondMomentAccumulate", "acc"),
                                          tensor_arg(i, 1, "secondMomentAccumulate", "x"));
    return i.Env().Undefined();
  });
  export_fn(env, e, "gemmInplace", [](Info i) -> Napi::Value {
    cpu::gemm_inplace(tensor_arg(i, 0, "gemmInplace", "c"), tensor_arg(i, 1, "gemmInplace", "a"), tensor_arg(i, 2, "gemmInplace", "b"),
                      bool_arg(i, 3, "gemmInplace", "transA"), bool_arg(i, 4, "gemmInplace", "transB"),
                      number_arg(i, 5, "gemmInplace", "alpha"), number_arg(i, 6, "gemmInplace", "beta"));
    return i.Env().Undefined();
  });
  export_fn(env, e, "cholesky", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::cholesky(tensor_arg(i, 0, "cholesky", "a")));
  });
  export_fn(env, e, "choleskySolve", [](Info i) -> Napi::Value {
    return wrap(i.Env(), cpu::cholesky_solve(tensor_arg(i, 0, "choleskySolve", "l"), tensor_arg(i, 1, "choleskySolve", "b")));
  });
  export_fn(env, e, "eigh", [](Info i) -> Napi::Value {
    auto r = cpu::eigh(tensor_arg(i, 0, "eigh", "a"));
    Napi::Array out = Napi::Array::New(i.Env(), 2);
    out.Set(0u, wrap(i.Env(), r.first));
    out.Set(1u, wrap(i.Env(), r.second));
    return out;
  });
}

}  // namespace medit::binding
