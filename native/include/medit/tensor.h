// medit engine: tensors, dtypes, storage and errors.
//
// A Tensor is a contiguous, row-major buffer with a dtype and a shape. Storage is
// reference-counted (shared_ptr) so views (reshape) and in-flight async jobs keep it
// alive; every allocation is counted in a live-bytes counter that `memory()` reports.
// Buffers come from the caching allocator (medit/allocator.h), so a loop that makes the same
// shapes every step reuses its buffers instead of calling malloc.
// Devices: only the CPU today; `Device` is the seam the CUDA backend plugs into.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace medit {

// ---------------------------------------------------------------- errors

/// Error kinds; the binding maps each to a JS `code` (MEDIT_E_<KIND>).
enum class ErrorKind { SHAPE, DTYPE, DEVICE, OOM, CANCELLED, IO, ARG, INTERNAL };

/// The one exception type the engine throws. Never abort()/exit() in kernels.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

const char* error_code(ErrorKind kind);

#define MEDIT_THROW(KIND, MSG) throw ::medit::Error(::medit::ErrorKind::KIND, (MSG))
#define MEDIT_THROW_IF(COND, KIND, MSG) \
  do {                                  \
    if (COND) MEDIT_THROW(KIND, MSG);   \
  } while (0)

// ---------------------------------------------------------------- dtypes

/// Dtype codes. The TS table in lib/kernel-names.ts holds the same numbers; the
/// addon exports them and the loader checks both agree at start-up.
enum class DType : int32_t { F32 = 0, F64 = 1, I32 = 2, I64 = 3, F16 = 4, BF16 = 5 };
static_assert(static_cast<int>(DType::F32) == 0 && static_cast<int>(DType::F64) == 1 &&
                  static_cast<int>(DType::I32) == 2 && static_cast<int>(DType::I64) == 3 &&
                  static_cast<int>(DType::F16) == 4 && static_cast<int>(DType::BF16) == 5,
              "dtype codes are part of the JS ABI");

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);
bool dtype_is_float(DType dt);

// ---------------------------------------------------------------- devices

enum class DeviceKind : int32_t { CPU = 0, CUDA = 1 };
struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
};

// ---------------------------------------------------------------- storage

/// Bytes and buffers currently alive in the native allocator.
struct MemoryStats {
  int64_t live_bytes;
  int64_t live_buffers;
  int64_t peak_bytes;
};
MemoryStats memory_stats();
void reset_peak_bytes();

/// An owned buffer (16-byte aligned) from the caching allocator; returned to it when the last
/// shared_ptr goes.
class Storage {
 public:
  explicit Storage(size_t bytes, Device device = {});
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t capacity_ = 0;  // the allocator's size class
  Device device_;
};

// ---------------------------------------------------------------- tensor

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

/// A contiguous row-major tensor. Copying a Tensor copies the handle, not the data.
struct Tensor {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::F32;
  Shape shape;

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* data() const { return static_cast<T*>(storage->data()); }
  void* raw() const { return storage->data(); }
};

/// A new tensor with uninitialised contents (zeros when `zero`).
Tensor tensor_empty(const Shape& shape, DType dtype, bool zero = false);
/// A view with a new shape over the same storage (same numel required).
Tensor tensor_reshape(const Tensor& t, const Shape& shape);
/// A deep copy.
Tensor tensor_clone(const Tensor& t);

// Guards shared by kernels.
void check_dtype(const Tensor& t, DType dt, const char* op, const char* arg);
void check_float(const Tensor& t, const char* op, const char* arg);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_shape(const Tensor& t, const Shape& want, const char* op, const char* arg);

/// Dispatch a float kernel on f32/f64: `MEDIT_FLOAT_DISPATCH(t.dtype, "op", [&](auto zero){ using T = decltype(zero); ... })`.
template <typename F>
void float_dispatch(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    default: MEDIT_THROW(DTYPE, std::string(op) + ": expected a float32 or float64 tensor but received " + dtype_name(dt));
  }
}

}  // namespace medit
