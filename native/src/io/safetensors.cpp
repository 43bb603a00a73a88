// safetensors reader and writer.
//
// Follows the format README of https://github.com/huggingface/safetensors (header layout,
// dtype names, the 100 MB header cap, "no holes" in the data buffer, space padding of the
// header to 8 bytes). Loading converts F16/BF16 to F32 with include/medit/half.h unless
// keep_dtype; every other supported dtype loads as itself. What it deliberately does not
// do: mmap (a file shrinking under an mmap would SIGBUS; pread turns that into an error),
// big-endian hosts, and loading dtypes the engine has no tensor type for (U8, BOOL, F8...),
// which are recognised in headers and rejected by name at load time.
#include "medit/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <unordered_map>

#include "json.h"
#include "medit/half.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; big-endian hosts need byte swaps");

namespace medit::io {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw Error(ErrorKind::IO, "safetensors: " + path + ": " + msg);
}

std::string errno_str(int err) { return std::strerror(err); }

// ---------------------------------------------------------------- dtype table

struct DTypeInfo {
  const char* name;
  uint32_t bits;    // bits per element (F4/F6 are sub-byte)
  bool supported;   // the engine has a tensor type for it
  DType engine;     // meaningful only when supported
};

// Names from the reference's Dtype enum (safetensors/src/tensor.rs).
const DTypeInfo kDTypes[] = {
    {"F32", 32, true, DType::F32},      {"F16", 16, true, DType::F16},       {"BF16", 16, true, DType::BF16},
    {"F64", 64, true, DType::F64},      {"I64", 64, true, DType::I64},       {"I32", 32, true, DType::I32},
    {"BOOL", 8, false, DType::F32},     {"U8", 8, false, DType::F32},        {"I8", 8, false, DType::F32},
    {"I16", 16, false, DType::F32},     {"U16", 16, false, DType::F32},      {"U32", 32, false, DType::F32},
    {"U64", 64, false, DType::F32},     {"F8_E4M3", 8, false, DType::F32},   {"F8_E5M2", 8, false, DType::F32},
    {"F8_E8M0", 8, false, DType::F32},  {"F6_E2M3", 6, false, DType::F32},   {"F6_E3M2", 6, false, DType::F32},
    {"F4", 4, false, DType::F32},       {"C64", 64, false, DType::F32},
};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string quoted(const std::string& s) { return json_quote(s); }

std::string tensor_label(const std::string& name) { return "tensor " + quoted(name); }

// A non-negative integer field (shape dim or data offset), with precise messages.
uint64_t nonneg_int(const std::string& path, const std::string& what, const JsonValue& v) {
  if (v.kind != JsonValue::Kind::NUMBER) fail(path, what + " is " + v.kind_name() + ", expected a non-negative integer");
  if (!v.num_integer) fail(path, what + " is " + v.num_text + ", expected a non-negative integer (not a fraction or exponent)");
  if (v.num_negative) fail(path, what + " is negative (" + v.num_text + ")");
  if (v.num_overflow || v.num_magnitude > static_cast<uint64_t>(INT64_MAX))
    fail(path, what + " is too large (" + v.num_text + ")");
  return v.num_magnitude;
}

const JsonValue* member(const JsonValue& obj, const char* key) {
  for (const auto& kv : obj.members)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

// ---------------------------------------------------------------- file reading

class ReadFile {
 public:
  explicit ReadFile(const std::string& path) : path_(path) {
    // O_NONBLOCK: opening a FIFO must not hang waiting for a writer (it is refused below).
    do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail(path, "cannot open for reading: " + errno_str(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0) fail(path, "cannot stat: " + errno_str(errno));
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~ReadFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;

  uint64_t size() const { return size_; }

  /// Reads exactly `n` bytes at `offset`; a short read (file shrank) is an error.
  void read_at(void* dst, uint64_t n, uint64_t offset) {
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1u << 30));
      const ssize_t r = ::pread(fd_, p, chunk, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        fail(path_, "read error at byte " + std::to_string(offset) + ": " + errno_str(errno));
      }
      if (r == 0) fail(path_, "unexpected end of file at byte " + std::to_string(offset) + " (the file is truncated)");
      p += r;
      n -= static_cast<uint64_t>(r);
      offset += static_cast<uint64_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

SafetensorsHeader read_header_from(const std::string& path, ReadFile& f) {
  const uint64_t size = f.size();
  if (size < 8)
    fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length prefix (not a safetensors file)");
  unsigned char prefix[8];
  f.read_at(prefix, 8, 0);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
  if (n > kSafetensorsMaxHeader)
    fail(path, "header length " + std::to_string(n) + " is absurdly large (limit " + std::to_string(kSafetensorsMaxHeader) +
                   " bytes); not a safetensors file or a corrupt one");
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
                   " bytes); the file is truncated or not safetensors");
  std::string json(static_cast<size_t>(n), '\0');
  f.read_at(json.data(), n, 8);
  SafetensorsHeader h = safetensors_parse_header(path, json.data(), json.size(), size - 8 - n);
  h.data_start = 8 + n;
  h.file_size = size;
  return h;
}

// ---------------------------------------------------------------- file writing

class WriteFile {
 public:
  WriteFile(const std::string& path, const std::string& tmp) : path_(path) {
    do fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail(path, "cannot create temporary file " + tmp + ": " + errno_str(errno));
  }
  ~WriteFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  WriteFile(const WriteFile&) = delete;
  WriteFile& operator=(const WriteFile&) = delete;

  void write_all(const void* src, uint64_t n) {
    const char* p = static_cast<const char*>(src);
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1u << 30));
      const ssize_t w = ::write(fd_, p, chunk);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(path_, "write error: " + errno_str(errno));
      }
      p += w;
      n -= static_cast<uint64_t>(w);
    }
  }

  /// fsync then close, so the rename below publishes complete bytes.
  void sync_and_close() {
    if (::fsync(fd_) != 0) fail(path_, "fsync failed: " + errno_str(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(path_, "close failed: " + errno_str(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::string temp_path_for(const std::string& path) {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + buf;
}

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

// ---------------------------------------------------------------- header

const char* safetensors_dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  MEDIT_THROW(DTYPE, "safetensors: no file dtype for engine dtype code " + std::to_string(static_cast<int>(dt)));
}

SafetensorsHeader safetensors_parse_header(const std::string& path, const char* json, size_t json_len, uint64_t data_len) {
  if (json_len == 0 || json[0] != '{')
    fail(path, "header does not start with '{' (the format requires a JSON object); not a safetensors file or a corrupt one");
  JsonValue root;
  try {
    root = json_parse(json, json_len);
  } catch (const JsonError& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what() + " at header byte " + std::to_string(e.offset));
  }
  if (root.kind != JsonValue::Kind::OBJECT) fail(path, std::string("header is ") + root.kind_name() + ", expected a JSON object");

  SafetensorsHeader h;
  h.tensors.reserve(root.members.size());
  for (const auto& [name, v] : root.members) {
    if (name == "__metadata__") {
      if (v.kind != JsonValue::Kind::OBJECT) fail(path, std::string("\"__metadata__\" is ") + v.kind_name() + ", expected an object of strings");
      for (const auto& [key, mv] : v.members) {
        if (mv.kind != JsonValue::Kind::STRING)
          fail(path, "\"__metadata__\" value for key " + quoted(key) + " is " + mv.kind_name() + ", expected a string");
        h.metadata[key] = mv.str;
      }
      continue;
    }
    const std::string label = tensor_label(name);
    if (v.kind != JsonValue::Kind::OBJECT) fail(path, label + ": entry is " + v.kind_name() + ", expected an object");
    const JsonValue* dtype = member(v, "dtype");
    const JsonValue* shape = member(v, "shape");
    const JsonValue* offsets = member(v, "data_offsets");
    if (!dtype) fail(path, label + ": missing \"dtype\"");
    if (!shape) fail(path, label + ": missing \"shape\"");
    if (!offsets) fail(path, label + ": missing \"data_offsets\"");

    SafetensorsEntry e;
    e.name = name;
    if (dtype->kind != JsonValue::Kind::STRING) fail(path, label + ": \"dtype\" is " + dtype->kind_name() + ", expected a string");
    e.dtype = dtype->str;
    const DTypeInfo* info = find_dtype(e.dtype);
    if (!info) fail(path, label + ": unknown dtype " + quoted(e.dtype));

    if (shape->kind != JsonValue::Kind::ARRAY) fail(path, label + ": \"shape\" is " + shape->kind_name() + ", expected an array of integers");
    uint64_t numel = 1;
    bool numel_overflow = false;
    for (size_t i = 0; i < shape->items.size(); ++i) {
      const uint64_t d = nonneg_int(path, label + ": shape dim " + std::to_string(i), shape->items[i]);
      e.shape.push_back(static_cast<int64_t>(d));
      if (__builtin_mul_overflow(numel, d, &numel)) numel_overflow = true;
    }
    // A zero dim makes numel 0 whatever overflowed before it.
    for (int64_t d : e.shape)
      if (d == 0) numel = 0, numel_overflow = false;

    if (offsets->kind != JsonValue::Kind::ARRAY || offsets->items.size() != 2)
      fail(path, label + ": \"data_offsets\" must be an array [begin, end]");
    e.begin = nonneg_int(path, label + ": data_offsets begin", offsets->items[0]);
    e.end = nonneg_int(path, label + ": data_offsets end", offsets->items[1]);
    if (e.begin > e.end)
      fail(path, label + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] has begin > end");
    if (e.end > data_len)
      fail(path, label + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     "] run past the end of the data section (" + std::to_string(data_len) + " bytes); the file is truncated or the offsets are wrong");
    uint64_t bits = 0;
    if (numel_overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(info->bits), &bits))
      fail(path, label + ": shape " + shape_str(e.shape) + " has too many elements");
    const uint64_t nbytes = e.end - e.begin;
    if (bits % 8 != 0 || bits / 8 != nbytes)
      fail(path, label + ": shape " + shape_str(e.shape) + " with dtype " + e.dtype + " needs " +
                     (bits % 8 ? std::to_string(bits) + " bits" : std::to_string(bits / 8) + " bytes") + " but data_offsets [" +
                     std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " + std::to_string(nbytes) + " bytes (shape/size mismatch)");
    h.tensors.push_back(std::move(e));
  }

  // The byte ranges must tile [0, data_len) exactly: no overlaps, holes or trailing bytes.
  std::vector<const SafetensorsEntry*> order;
  order.reserve(h.tensors.size());
  for (const auto& e : h.tensors) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < cursor)
      fail(path, tensor_label(e->name) + " [" + std::to_string(e->begin) + ", " + std::to_string(e->end) + ") overlaps " +
                     tensor_label(prev->name) + " [" + std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ") (overlapping tensors)");
    if (e->begin > cursor)
      fail(path, "bytes [" + std::to_string(cursor) + ", " + std::to_string(e->begin) + ") of the data section belong to no tensor (the format forbids holes)");
    cursor = e->end;
    prev = e;
  }
  if (cursor != data_len)
    fail(path, "the data section has " + std::to_string(data_len - cursor) + " trailing bytes after the last tensor (the format forbids holes)");
  return h;
}

SafetensorsHeader safetensors_read_header(const std::string& path) {
  ReadFile f(path);
  return read_header_from(path, f);
}

DType safetensors_load_dtype(const std::string& path, const SafetensorsEntry& e, bool keep_dtype) {
  const DTypeInfo* info = find_dtype(e.dtype);
  if (!info) fail(path, tensor_label(e.name) + ": unknown dtype " + quoted(e.dtype));
  if (!info->supported)
    fail(path, tensor_label(e.name) + " has dtype " + e.dtype + ", which medit cannot load (supported: F32, F16, BF16, F64, I64, I32)");
  if (!keep_dtype && (info->engine == DType::F16 || info->engine == DType::BF16)) return DType::F32;
  return info->engine;
}

// ---------------------------------------------------------------- load

SafetensorsFile safetensors_load(const std::string& path, const std::vector<std::string>* names, bool keep_dtype) {
  ReadFile f(path);
  const SafetensorsHeader h = read_header_from(path, f);

  std::vector<const SafetensorsEntry*> wanted;
  if (names) {
    std::unordered_map<std::string, const SafetensorsEntry*> by_name;
    for (const auto& e : h.tensors) by_name.emplace(e.name, &e);
    for (const std::string& n : *names) {
      auto it = by_name.find(n);
      if (it == by_name.end())
        fail(path, "no tensor named " + quoted(n) + " (the file has " + std::to_string(h.tensors.size()) + " tensors)");
      if (it->second) wanted.push_back(it->second);
      it->second = nullptr;  // load each name once even if requested twice
    }
  } else {
    for (const auto& e : h.tensors) wanted.push_back(&e);
  }
  // Check every dtype before allocating anything.
  std::vector<DType> dts;
  for (const SafetensorsEntry* e : wanted) dts.push_back(safetensors_load_dtype(path, *e, keep_dtype));

  SafetensorsFile out;
  out.metadata = h.metadata;
  std::vector<uint16_t> chunk;
  for (size_t k = 0; k < wanted.size(); ++k) {
    const SafetensorsEntry& e = *wanted[k];
    const DType file_dt = find_dtype(e.dtype)->engine;
    Tensor t = tensor_empty(e.shape, dts[k]);
    const uint64_t nbytes = e.end - e.begin;
    const uint64_t at = h.data_start + e.begin;
    if (file_dt == dts[k]) {
      f.read_at(t.raw(), nbytes, at);
    } else {  // F16/BF16 -> F32 in bounded chunks
      constexpr size_t kChunk = 1 << 18;
      chunk.resize(kChunk);
      float* dst = t.data<float>();
      const size_t n = static_cast<size_t>(t.numel());
      const bool bf16 = file_dt == DType::BF16;
      for (size_t i = 0; i < n; i += kChunk) {
        const size_t m = std::min(kChunk, n - i);
        f.read_at(chunk.data(), m * 2, at + i * 2);
        if (bf16) for (size_t j = 0; j < m; ++j) dst[i + j] = bf16_to_f32(chunk[j]);
        else for (size_t j = 0; j < m; ++j) dst[i + j] = f16_to_f32(chunk[j]);
      }
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------- save

void safetensors_save(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  MEDIT_THROW_IF(path.empty(), IO, "safetensors: empty output path");
  // Data layout: widest element first so each tensor starts aligned to its element size
  // (the reference writer sorts the same way); ties by name for a deterministic file.
  std::vector<const std::pair<const std::string, Tensor>*> layout;
  for (const auto& kv : tensors) {
    if (kv.first == "__metadata__") fail(path, "\"__metadata__\" is reserved and cannot name a tensor");
    if (!kv.second.storage) fail(path, tensor_label(kv.first) + " has no storage");
    if (kv.second.storage->bytes() < kv.second.nbytes()) fail(path, tensor_label(kv.first) + " storage is smaller than its shape");
    layout.push_back(&kv);
  }
  std::stable_sort(layout.begin(), layout.end(), [](const auto* a, const auto* b) {
    return dtype_size(a->second.dtype) > dtype_size(b->second.dtype);
  });
  std::map<std::string, std::pair<uint64_t, uint64_t>> offsets;
  uint64_t cursor = 0;
  for (const auto* kv : layout) {
    const uint64_t n = kv->second.nbytes();
    offsets[kv->first] = {cursor, cursor + n};
    cursor += n;
  }

  // Header: __metadata__ first (as the reference writes it), then tensors sorted by name.
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool mfirst = true;
    for (const auto& [k, v] : metadata) {
      if (!mfirst) header += ",";
      header += json_quote(k) + ":" + json_quote(v);
      mfirst = false;
    }
    header += "}";
    first = false;
  }
  for (const auto& [name, t] : tensors) {
    if (!first) header += ",";
    first = false;
    header += json_quote(name) + ":{\"dtype\":\"" + safetensors_dtype_name(t.dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    const auto& off = offsets[name];
    header += "],\"data_offsets\":[" + std::to_string(off.first) + "," + std::to_string(off.second) + "]}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data section starts 8-aligned
  // Never write a file this reader would refuse (e.g. names that are not UTF-8).
  safetensors_parse_header(path, header.data(), header.size(), cursor);

  const std::string tmp = temp_path_for(path);
  bool created = false;
  try {
    WriteFile w(path, tmp);
    created = true;
    unsigned char prefix[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) prefix[i] = static_cast<unsigned char>(n & 0xff);
    w.write_all(prefix, 8);
    w.write_all(header.data(), header.size());
    for (const auto* kv : layout) w.write_all(kv->second.raw(), kv->second.nbytes());
    w.sync_and_close();
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "cannot rename " + tmp + " over it: " + errno_str(errno));
    created = false;
  } catch (...) {
    if (created) ::unlink(tmp.c_str());
    throw;
  }
  // Persist the rename itself; best effort (some filesystems refuse fsync on directories).
  const int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace medit::io
