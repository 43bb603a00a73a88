// Handle wrapping, argument parsing, error translation and the async job runner.
#include "common.h"

namespace medit::binding {

namespace {
// Tags tensor handles so foreign objects are rejected (Node-API v8 type tags).
const napi_type_tag kTensorTag = {0x6d65646974746e73ULL, 0x7465736e6f722121ULL};
Napi::FunctionReference* g_tensor_ctor = nullptr;
}  // namespace

void TensorWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeTensor", {});
  g_tensor_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData(g_tensor_ctor);
  exports.Set("NativeTensor", ctor);
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  info.This().As<Napi::Object>().TypeTag(&kTensorTag);
}

Napi::Object TensorWrap::NewInstance(Napi::Env env, Tensor t) {
  Napi::Object obj = g_tensor_ctor->New({});
  TensorWrap::Unwrap(obj)->tensor_ = std::move(t);
  return obj;
}

Tensor& TensorWrap::tensor(const char* op) {
  if (disposed_) throw Error(ErrorKind::ARG, std::string(op) + ": tensor was disposed");
  return tensor_;
}

Napi::Object wrap(Napi::Env env, Tensor t) { return TensorWrap::NewInstance(env, std::move(t)); }

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

static TensorWrap* unwrap_handle(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kTensorTag))
    throw Error(ErrorKind::ARG, std::string(op) + ": expected a tensor for " + name);
  return TensorWrap::Unwrap(v.As<Napi::Object>());
}

Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return unwrap_handle(info[i], op, name)->tensor(op);
}

Tensor& tensor_value(const Napi::Value& v, const char* op, const std::string& name) {
  return unwrap_handle(v, op, name.c_str())->tensor(op);
}

Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return &tensor_arg(info, i, op, name);
}

Shape shape_arg(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsArray()) throw Error(ErrorKind::ARG, std::string(op) + ": expected an array of integers for " + name);
  Napi::Array a = v.As<Napi::Array>();
  Shape s(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw Error(ErrorKind::ARG, std::string(op) + ": expected integers in " + name);
    s[i] = e.As<Napi::Number>().Int64Value();
  }
  return s;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Error(ErrorKind::ARG, std::string(op) + ": expected a number for " + name);
  return info[i].As<Napi::Number>().DoubleValue();
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsBoolean()) throw Error(ErrorKind::ARG, std::string(op) + ": expected a boolean for " + name);
  return info[i].As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsString()) throw Error(ErrorKind::ARG, std::string(op) + ": expected a string for " + name);
  return info[i].As<Napi::String>().Utf8Value();
}

namespace {
// Cancel tokens are external objects holding the shared flag.
using FlagPtr = std::shared_ptr<std::atomic<bool>>;
}  // namespace

CancelToken cancel_token_arg(const Napi::CallbackInfo& info, size_t i) {
  CancelToken t;
  if (info.Length() > i && info[i].IsExternal()) t.flag = *info[i].As<Napi::External<FlagPtr>>().Data();
  return t;
}

void export_fn(Napi::Env env, Napi::Object exports, const char* name,
               std::function<Napi::Value(const Napi::CallbackInfo&)> fn) {
  auto* holder = new std::function<Napi::Value(const Napi::CallbackInfo&)>(std::move(fn));
  exports.Set(name, Napi::Function::New(
                        env,
                        [](const Napi::CallbackInfo& info) -> Napi::Value {
                          auto* f = static_cast<std::function<Napi::Value(const Napi::CallbackInfo&)>*>(info.Data());
                          return guarded(info, [&] { return (*f)(info); });
                        },
                        name, holder));
}

namespace {
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const Error& e) {
      code_ = error_code(e.kind());
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "MEDIT_E_OOM";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "MEDIT_E_INTERNAL";
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const Error& e) {
      deferred_.Reject(make_error(env, error_code(e.kind()), e.what()).Value());
    } catch (const std::exception& e) {
      deferred_.Reject(make_error(env, "MEDIT_E_INTERNAL", e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(make_error(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  const char* code_ = "MEDIT_E_INTERNAL";
};
}  // namespace

Napi::Value run_async(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(done));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

void register_cancel(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "newCancelToken", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::External<FlagPtr>::New(info.Env(), new FlagPtr(std::make_shared<std::atomic<bool>>(false)),
                                        [](Napi::Env, FlagPtr* p) { delete p; });
  });
  export_fn(env, exports, "cancel", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CancelToken t = cancel_token_arg(info, 0);
    t.flag->store(true);
    return info.Env().Undefined();
  });
}

}  // namespace medit::binding
