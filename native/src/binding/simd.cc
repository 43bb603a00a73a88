// The vector-math dispatch: which instruction set the kernels use, switching it (tests run
// each path), and a test entry that evaluates one elementary function on a chosen path next
// to the std:: reference in double.
#include <cmath>

#include "../cpu/vec-math.h"
#include "common.h"

namespace medit::binding {

namespace {
cpu::VecFn vec_fn_arg(const std::string& name) {
  if (name == "exp") return cpu::VecFn::EXP;
  if (name == "log") return cpu::VecFn::LOG;
  if (name == "tanh") return cpu::VecFn::TANH;
  if (name == "erf") return cpu::VecFn::ERF;
  throw Error(ErrorKind::ARG, "vecMathCheck: unknown function \"" + name + "\" (known: exp, log, tanh, erf)");
}

double reference(cpu::VecFn fn, double x) {
  switch (fn) {
    case cpu::VecFn::EXP: return std::exp(x);
    case cpu::VecFn::LOG: return std::log(x);
    case cpu::VecFn::TANH: return std::tanh(x);
    case cpu::VecFn::ERF: return std::erf(x);
  }
  return 0;
}
}  // namespace

void register_simd(Napi::Env env, Napi::Object exports) {
  // simdInfo(): { level, best, supported[] }
  export_fn(env, exports, "simdInfo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("level", cpu::simd_level_name(cpu::simd_level()));
    Napi::Array supported = Napi::Array::New(info.Env());
    uint32_t k = 0;
    for (auto level : {cpu::SimdLevel::SCALAR, cpu::SimdLevel::AVX2, cpu::SimdLevel::AVX512})
      if (cpu::simd_supported(level)) {
        supported.Set(k++, cpu::simd_level_name(level));
        o.Set("best", cpu::simd_level_name(level));
      }
    o.Set("supported", supported);
    return o;
  });
  export_fn(env, exports, "setSimdLevel", [](const Napi::CallbackInfo& info) -> Napi::Value {
    cpu::simd_set_level(cpu::simd_level_from_name(string_arg(info, 0, "setSimdLevel", "level").c_str()));
    return info.Env().Undefined();
  });
  // vecMathCheck(fn, level, x: Float32Array) -> [y: Float32Array, reference: Float64Array]
  export_fn(env, exports, "vecMathCheck", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const cpu::VecFn fn = vec_fn_arg(string_arg(info, 0, "vecMathCheck", "fn"));
    const cpu::VecKernels& k = cpu::vec_at(cpu::simd_level_from_name(string_arg(info, 1, "vecMathCheck", "level").c_str()));
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Error(ErrorKind::ARG, "vecMathCheck: expected a Float32Array for x");
    Napi::Float32Array x = info[2].As<Napi::Float32Array>();
    const size_t n = x.ElementLength();
    Napi::Float32Array y = Napi::Float32Array::New(info.Env(), n);
    Napi::Float64Array ref = Napi::Float64Array::New(info.Env(), n);
    k.math(fn, x.Data(), y.Data(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) ref[i] = reference(fn, static_cast<double>(x[i]));
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, y);
    out.Set(1u, ref);
    return out;
  });
}

}  // namespace medit::binding
