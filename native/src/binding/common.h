// The N-API side of medit: tensor handles, error translation, argument helpers.
// This directory is the only code that includes napi.h.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "medit/tensor.h"

namespace medit::binding {

/// A JS handle owning one engine tensor. dispose() drops the storage reference early;
/// the finalizer is only a backstop and never calls into JS.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object NewInstance(Napi::Env env, Tensor t);
  explicit TensorWrap(const Napi::CallbackInfo& info);
  Tensor& tensor(const char* op);
  void dispose() { tensor_ = Tensor{}; disposed_ = true; }
  bool disposed() const { return disposed_; }

 private:
  Tensor tensor_;
  bool disposed_ = false;
};

/// A cancellation flag shared between JS (AbortSignal) and a running job.
struct CancelToken {
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
  bool cancelled() const { return flag->load(); }
};

/// Unwraps a tensor handle argument; throws a TypeError naming the op and argument.
Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
/// Unwraps a tensor handle held in any JS value (e.g. inside an object argument).
Tensor& tensor_value(const Napi::Value& v, const char* op, const std::string& name);
/// Optional tensor argument: null/undefined → nullptr.
Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
Shape shape_arg(const Napi::Value& v, const char* op, const char* name);
double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
/// The cancel token from a JS token object, or a never-cancelled one for undefined.
CancelToken cancel_token_arg(const Napi::CallbackInfo& info, size_t i);

Napi::Object wrap(Napi::Env env, Tensor t);
Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);

/// Runs `f`, translating medit::Error / std::exception into JS errors with a `code`.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw make_error(info.Env(), error_code(e.kind()), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(info.Env(), "MEDIT_E_OOM", "out of memory");
  } catch (const std::exception& e) {
    throw make_error(info.Env(), "MEDIT_E_INTERNAL", e.what());
  }
}

/// Registers `fn` as exports[name], wrapped in guarded().
void export_fn(Napi::Env env, Napi::Object exports, const char* name,
               std::function<Napi::Value(const Napi::CallbackInfo&)> fn);

/// A Promise-returning job run on the libuv pool: `work` runs off the JS thread,
/// `done` builds the JS result on it. Errors become rejected promises with a code.
Napi::Value run_async(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done);

// Registration of each binding file's functions.
void register_tensor(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_io(Napi::Env env, Napi::Object exports);
void register_cancel(Napi::Env env, Napi::Object exports);
void register_linalg(Napi::Env env, Napi::Object exports);
void register_simd(Napi::Env env, Napi::Object exports);

}  // namespace medit::binding
