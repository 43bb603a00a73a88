// Tensor creation, reading, disposal, memory accounting and build information.
#include <cstring>

#include "common.h"
#include "medit/allocator.h"
#include "medit/gemm.h"
#include "medit/ops.h"
#include "medit/parallel.h"
#include "../cpu/vec-math.h"

namespace medit::binding {

namespace {
DType dtype_arg(const Napi::Value& v, const char* op) {
  if (!v.IsNumber()) throw Error(ErrorKind::ARG, std::string(op) + ": expected a dtype code");
  const int code = v.As<Napi::Number>().Int32Value();
  if (code < 0 || code > 5) throw Error(ErrorKind::DTYPE, std::string(op) + ": unknown dtype code " + std::to_string(code));
  return static_cast<DType>(code);
}

// An empty typed array may have no backing store (Data() is null), and memcpy's pointers must
// not be null even for zero bytes (UBSan's nonnull-attribute): empty copies are skipped.
template <typename Array>
Napi::Value filled_array(Napi::Env env, const Tensor& t) {
  auto a = Array::New(env, static_cast<size_t>(t.numel()));
  if (t.nbytes() > 0) std::memcpy(a.Data(), t.raw(), t.nbytes());
  return a;
}

Napi::Value typed_array_copy(Napi::Env env, const Tensor& t) {
  switch (t.dtype) {
    case DType::F32:
      return filled_array<Napi::Float32Array>(env, t);
    case DType::F64:
      return filled_array<Napi::Float64Array>(env, t);
    case DType::I32:
      return filled_array<Napi::Int32Array>(env, t);
    case DType::I64:
      return filled_array<Napi::BigInt64Array>(env, t);
    case DType::F16:
    case DType::BF16:
      return filled_array<Napi::Uint16Array>(env, t);
  }
  return env.Undefined();
}
}  // namespace

void register_tensor(Napi::Env env, Napi::Object exports) {
  Napi::Object codes = Napi::Object::New(env);
  codes.Set("float32", static_cast<int>(DType::F32));
  codes.Set("float64", static_cast<int>(DType::F64));
  codes.Set("int32", static_cast<int>(DType::I32));
  codes.Set("int64", static_cast<int>(DType::I64));
  codes.Set("float16", static_cast<int>(DType::F16));
  codes.Set("bfloat16", static_cast<int>(DType::BF16));
  exports.Set("dtypeCodes", codes);

  // fromTypedArray(data: TypedArray, shape, dtype) — copies.
  export_fn(env, exports, "fromTypedArray", [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsTypedArray()) throw Error(ErrorKind::ARG, "fromTypedArray: expected a typed array for data");
    Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
    Shape shape = shape_arg(info[1], "fromTypedArray", "shape");
    DType dt = dtype_arg(info[2], "fromTypedArray");
    Tensor t = tensor_empty(shape, dt);
    if (arr.ByteLength() != t.nbytes())
      throw Error(ErrorKind::SHAPE, "fromTypedArray: " + std::to_string(arr.ByteLength()) + " bytes of data for shape " +
                                        shape_str(shape) + " " + dtype_name(dt) + " (" + std::to_string(t.nbytes()) + " bytes)");
    if (t.nbytes() > 0)  // (an empty typed array's buffer may be null; see filled_array)
      std::memcpy(t.raw(), static_cast<const char*>(arr.ArrayBuffer().Data()) + arr.ByteOffset(), t.nbytes());
    return wrap(info.Env(), t);
  });
  export_fn(env, exports, "fill", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return wrap(info.Env(), cpu::fill(shape_arg(info[0], "fill", "shape"), dtype_arg(info[1], "fill"),
                                      number_arg(info, 2, "fill", "value")));
  });
  export_fn(env, exports, "read", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return typed_array_copy(info.Env(), tensor_arg(info, 0, "read", "x"));
  });
  export_fn(env, exports, "shape", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const Tensor& t = tensor_arg(info, 0, "shape", "x");
    Napi::Array a = Napi::Array::New(info.Env(), t.shape.size());
    for (size_t i = 0; i < t.shape.size(); ++i) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(t.shape[i])));
    return a;
  });
  export_fn(env, exports, "dtype", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<int>(tensor_arg(info, 0, "dtype", "x").dtype));
  });
  export_fn(env, exports, "reshape", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return wrap(info.Env(), tensor_reshape(tensor_arg(info, 0, "reshape", "x"), shape_arg(info[1], "reshape", "shape")));
  });
  export_fn(env, exports, "clone", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return wrap(info.Env(), tensor_clone(tensor_arg(info, 0, "clone", "x")));
  });
  // sameStorage(a, b): whether two handles view one buffer (reshape views do).
  export_fn(env, exports, "sameStorage", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), tensor_arg(info, 0, "sameStorage", "a").storage ==
                                              tensor_arg(info, 1, "sameStorage", "b").storage);
  });
  export_fn(env, exports, "dispose", [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsObject()) throw Error(ErrorKind::ARG, "dispose: expected a tensor");
    TensorWrap::Unwrap(info[0].As<Napi::Object>())->dispose();
    return info.Env().Undefined();
  });
  export_fn(env, exports, "memory", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const MemoryStats s = memory_stats();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("liveBytes", static_cast<double>(s.live_bytes));
    o.Set("liveBuffers", static_cast<double>(s.live_buffers));
    o.Set("peakBytes", static_cast<double>(s.peak_bytes));
    const PoolMemoryStats p = pool_memory_stats();
    o.Set("cachedBytes", static_cast<double>(p.cached_bytes));
    o.Set("cachedBuffers", static_cast<double>(p.cached_buffers));
    o.Set("systemAllocations", static_cast<double>(p.system_allocs));
    o.Set("reuses", static_cast<double>(p.reuses));
    return o;
  });
  export_fn(env, exports, "releaseCachedMemory", [](const Napi::CallbackInfo& info) -> Napi::Value {
    pool_release_cached();
    return info.Env().Undefined();
  });
  export_fn(env, exports, "resetPeakMemory", [](const Napi::CallbackInfo& info) -> Napi::Value {
    reset_peak_bytes();
    return info.Env().Undefined();
  });
  export_fn(env, exports, "buildInfo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("blas", cpu::gemm_blas_compiled());
    o.Set("blasActive", cpu::gemm_uses_blas());
    o.Set("threads", num_threads());
    o.Set("simd", cpu::simd_level_name(cpu::simd_level()));
    o.Set("cuda", false);
    o.Set("cudaReason", "this build has no CUDA backend (MEDIT_CUDA kernels are not compiled in)");
    return o;
  });
  export_fn(env, exports, "setNumThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    set_num_threads(static_cast<int>(number_arg(info, 0, "setNumThreads", "threads")));
    return info.Env().Undefined();
  });
  export_fn(env, exports, "poolStats", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const PoolStats s = pool_stats();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("jobs", static_cast<double>(s.jobs));
    o.Set("inlineCalls", static_cast<double>(s.inline_calls));
    o.Set("busyFallbacks", static_cast<double>(s.busy_fallbacks));
    o.Set("soloPeriods", static_cast<double>(s.solo_periods));
    return o;
  });
  export_fn(env, exports, "setGemmFallback", [](const Napi::CallbackInfo& info) -> Napi::Value {
    cpu::gemm_set_force_fallback(bool_arg(info, 0, "setGemmFallback", "force"));
    return info.Env().Undefined();
  });
}

}  // namespace medit::binding
