// safetensors I/O bindings (filled in by the safetensors work).
#include "common.h"

namespace medit::binding {
void register_io(Napi::Env env, Napi::Object exports) {}
}  // namespace medit::binding
