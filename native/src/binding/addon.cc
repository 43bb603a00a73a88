// Module entry point: registers every binding file's functions on `exports`.
#include "common.h"

static Napi::Object InitMedit(Napi::Env env, Napi::Object exports) {
  using namespace medit::binding;
  TensorWrap::Init(env, exports);
  register_tensor(env, exports);
  register_cancel(env, exports);
  register_ops(env, exports);
  register_io(env, exports);
  register_linalg(env, exports);
  register_simd(env, exports);
  return exports;
}

NODE_API_MODULE(medit_native, InitMedit)
