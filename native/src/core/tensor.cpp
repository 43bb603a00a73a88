// Storage allocation with live-byte accounting, dtype tables, tensor helpers.
#include "medit/tensor.h"

#include "medit/allocator.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace medit {

namespace {
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_live_buffers{0};
std::atomic<int64_t> g_peak_bytes{0};
}  // namespace

const char* error_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::SHAPE: return "MEDIT_E_SHAPE";
    case ErrorKind::DTYPE: return "MEDIT_E_DTYPE";
    case ErrorKind::DEVICE: return "MEDIT_E_DEVICE";
    case ErrorKind::OOM: return "MEDIT_E_OOM";
    case ErrorKind::CANCELLED: return "MEDIT_E_CANCELLED";
    case ErrorKind::IO: return "MEDIT_E_IO";
    case ErrorKind::ARG: return "MEDIT_E_ARG";
    case ErrorKind::INTERNAL: return "MEDIT_E_INTERNAL";
  }
  return "MEDIT_E_INTERNAL";
}

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::F16: return 2;
    case DType::BF16: return 2;
  }
  MEDIT_THROW(DTYPE, "unknown dtype code " + std::to_string(static_cast<int>(dt)));
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
  }
  return "unknown";
}

bool dtype_is_float(DType dt) { return dt == DType::F32 || dt == DType::F64 || dt == DType::F16 || dt == DType::BF16; }

MemoryStats memory_stats() { return {g_live_bytes.load(), g_live_buffers.load(), g_peak_bytes.load()}; }
void reset_peak_bytes() { g_peak_bytes.store(g_live_bytes.load()); }

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  MEDIT_THROW_IF(device.kind != DeviceKind::CPU, DEVICE, "storage: only the cpu device is compiled into this build");
  // 16-byte alignment is all the kernels need (GEMM packs its own aligned panels); the
  // allocator's size classes also avoid the heap fragmentation aligned_alloc's memalign path
  // caused over training runs.
  data_ = pool_alloc(bytes, &capacity_);
  int64_t live = g_live_bytes.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  g_live_buffers.fetch_add(1);
  int64_t peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

Storage::~Storage() {
  pool_free(data_, capacity_);
  g_live_bytes.fetch_sub(static_cast<int64_t>(bytes_));
  g_live_buffers.fetch_sub(1);
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t Tensor::size(int64_t axis) const {
  int64_t d = dim();
  if (axis < 0) axis += d;
  MEDIT_THROW_IF(axis < 0 || axis >= d, SHAPE, "axis " + std::to_string(axis) + " out of range for shape " + shape_str(shape));
  return shape[static_cast<size_t>(axis)];
}

Tensor tensor_empty(const Shape& shape, DType dtype, bool zero) {
  for (int64_t d : shape) MEDIT_THROW_IF(d < 0, SHAPE, "negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = std::make_shared<Storage>(t.nbytes());
  if (zero) std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor tensor_reshape(const Tensor& t, const Shape& shape) {
  MEDIT_THROW_IF(shape_numel(shape) != t.numel(), SHAPE,
                 "reshape: cannot view " + shape_str(t.shape) + " as " + shape_str(shape));
  Tensor v = t;
  v.shape = shape;
  return v;
}

Tensor tensor_clone(const Tensor& t) {
  Tensor c = tensor_empty(t.shape, t.dtype);
  std::memcpy(c.raw(), t.raw(), t.nbytes());
  return c;
}

void check_dtype(const Tensor& t, DType dt, const char* op, const char* arg) {
  MEDIT_THROW_IF(t.dtype != dt, DTYPE,
                 std::string(op) + ": expected " + dtype_name(dt) + " for " + arg + " but received " + dtype_name(t.dtype));
}

void check_float(const Tensor& t, const char* op, const char* arg) {
  MEDIT_THROW_IF(t.dtype != DType::F32 && t.dtype != DType::F64, DTYPE,
                 std::string(op) + ": expected float32 or float64 for " + arg + " but received " + dtype_name(t.dtype));
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  MEDIT_THROW_IF(a.dtype != b.dtype, DTYPE,
                 std::string(op) + ": operands have different dtypes (" + dtype_name(a.dtype) + " and " + dtype_name(b.dtype) + ")");
}

void check_shape(const Tensor& t, const Shape& want, const char* op, const char* arg) {
  MEDIT_THROW_IF(t.shape != want, SHAPE,
                 std::string(op) + ": expected shape " + shape_str(want) + " for " + arg + " but received " + shape_str(t.shape));
}

}  // namespace medit
