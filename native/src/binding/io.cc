// safetensors I/O bindings: safetensorsReadHeader (sync), safetensorsLoad and
// safetensorsSave (Promises run on the libuv pool). See include/medit/safetensors.h.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "medit/safetensors.h"

namespace medit::binding {

namespace {

Napi::Object plain_object_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info.Length() <= i || !info[i].IsObject() || info[i].IsArray())
    throw Error(ErrorKind::ARG, std::string(op) + ": expected an object for " + name);
  return info[i].As<Napi::Object>();
}

// Own enumerable string keys (Object.keys): GetPropertyNames would include inherited ones.
std::vector<std::string> own_keys(Napi::Object obj) {
  napi_value names;
  napi_status st = napi_get_all_property_names(obj.Env(), obj, napi_key_own_only,
                                               static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                               napi_key_numbers_to_strings, &names);
  NAPI_THROW_IF_FAILED(obj.Env(), st, {});
  Napi::Array a(obj.Env(), names);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

// Defines an own data property: unlike obj[key] = v, a key "__proto__" (legal in a file)
// stays an ordinary property instead of replacing the prototype.
void set_own(Napi::Object obj, const std::string& key, Napi::Value v) {
  obj.DefineProperty(Napi::PropertyDescriptor::Value(key, v, napi_default_jsproperty));
}

Napi::Object metadata_object(Napi::Env env, const std::map<std::string, std::string>& metadata) {
  Napi::Object m = Napi::Object::New(env);
  for (const auto& [k, v] : metadata) set_own(m, k, Napi::String::New(env, v));
  return m;
}

}  // namespace

void register_io(Napi::Env env, Napi::Object exports) {
  // safetensorsReadHeader(path) -> {tensors: [{name, dtype, shape, begin, end}], metadata}
  export_fn(env, exports, "safetensorsReadHeader", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::string path = string_arg(info, 0, "safetensorsReadHeader", "path");
    const io::SafetensorsHeader h = io::safetensors_read_header(path);
    Napi::Env env = info.Env();
    Napi::Array tensors = Napi::Array::New(env, h.tensors.size());
    for (size_t i = 0; i < h.tensors.size(); ++i) {
      const io::SafetensorsEntry& e = h.tensors[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", e.name);
      o.Set("dtype", e.dtype);
      Napi::Array shape = Napi::Array::New(env, e.shape.size());
      for (size_t d = 0; d < e.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(e.shape[d])));
      o.Set("shape", shape);
      o.Set("begin", Napi::Number::New(env, static_cast<double>(e.begin)));
      o.Set("end", Napi::Number::New(env, static_cast<double>(e.end)));
      tensors.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("tensors", tensors);
    out.Set("metadata", metadata_object(env, h.metadata));
    return out;
  });

  // safetensorsLoad(path, names | null, keepDtype) -> Promise<{tensors: {name: handle}, metadata}>
  export_fn(env, exports, "safetensorsLoad", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const char* op = "safetensorsLoad";
    std::string path = string_arg(info, 0, op, "path");
    std::shared_ptr<std::vector<std::string>> names;
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      if (!info[1].IsArray()) throw Error(ErrorKind::ARG, "safetensorsLoad: expected an array of strings or null for names");
      Napi::Array a = info[1].As<Napi::Array>();
      names = std::make_shared<std::vector<std::string>>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        if (!v.IsString()) throw Error(ErrorKind::ARG, "safetensorsLoad: expected strings in names");
        names->push_back(v.As<Napi::String>().Utf8Value());
      }
    }
    const bool keep = bool_arg(info, 2, op, "keepDtype");
    auto result = std::make_shared<io::SafetensorsFile>();
    return run_async(
        info.Env(), [path, names, keep, result] { *result = io::safetensors_load(path, names.get(), keep); },
        [result](Napi::Env env) -> Napi::Value {
          Napi::Object tensors = Napi::Object::New(env);
          for (auto& [name, t] : result->tensors) set_own(tensors, name, wrap(env, t));
          Napi::Object out = Napi::Object::New(env);
          out.Set("tensors", tensors);
          out.Set("metadata", metadata_object(env, result->metadata));
          result->tensors.clear();  // the handles own the storage now
          return out;
        });
  });

  // safetensorsSave(path, {name: handle}, {key: string}) -> Promise<void>
  export_fn(env, exports, "safetensorsSave", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const char* op = "safetensorsSave";
    std::string path = string_arg(info, 0, op, "path");
    Napi::Object tobj = plain_object_arg(info, 1, op, "tensors");
    auto tensors = std::make_shared<std::map<std::string, Tensor>>();
    for (const std::string& name : own_keys(tobj)) {
      (*tensors)[name] = tensor_value(tobj.Get(name), op, "tensors[" + name + "]");
    }
    auto metadata = std::make_shared<std::map<std::string, std::string>>();
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
      Napi::Object mobj = plain_object_arg(info, 2, op, "metadata");
      for (const std::string& key : own_keys(mobj)) {
        Napi::Value v = mobj.Get(key);
        if (!v.IsString()) throw Error(ErrorKind::ARG, "safetensorsSave: metadata value for key \"" + key + "\" must be a string");
        (*metadata)[key] = v.As<Napi::String>().Utf8Value();
      }
    }
    // The job holds a reference to every tensor's storage until it finishes.
    return run_async(
        info.Env(), [path, tensors, metadata] { io::safetensors_save(path, *tensors, *metadata); },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  });
}

}  // namespace medit::binding
