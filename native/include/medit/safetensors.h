// medit engine: safetensors reading and writing.
//
// Format (https://github.com/huggingface/safetensors, README "Format"): an 8-byte
// little-endian u64 N, then N bytes of UTF-8 JSON header
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>"}}
// then the data section; offsets are relative to its start. The reader enforces the
// spec's rules: the header starts with '{', keys are unique, every tensor's byte range
// matches numel * dtype size, ranges do not overlap and together cover the whole data
// section with no holes (the spec forbids holes so files cannot be polyglots).
//
// Every failure throws medit::Error(ErrorKind::IO) whose message starts with
// "safetensors: <path>: ". Reads use pread against a checked file size, never mmap, so a
// file truncated under us yields an error rather than SIGBUS.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "medit/tensor.h"

namespace medit::io {

// ---------------------------------------------------------------- header

/// One tensor entry as written in the header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as written: "F32", "F16", "BF16", "F64", "I64", "I32"
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;
};

/// A parsed, fully validated header.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // absolute file offset of the data section (8 + N)
  uint64_t file_size = 0;
};

/// Upper bound on N (the reference implementation's MAX_HEADER_SIZE).
constexpr uint64_t kSafetensorsMaxHeader = 100000000;

/// Reads and validates the header of `path` (tensors are not read).
SafetensorsHeader safetensors_read_header(const std::string& path);

/// Parses and validates a header from its raw JSON bytes; `data_len` is the size of the data
/// section and `path` only names the file in messages.
SafetensorsHeader safetensors_parse_header(const std::string& path, const char* json, size_t json_len, uint64_t data_len);

/// The engine dtype a file dtype loads as: F16/BF16 → F32 unless `keep_dtype`.
/// Throws IO for dtypes the engine cannot hold (U8, BOOL, F8_*, ...).
DType safetensors_load_dtype(const std::string& path, const SafetensorsEntry& e, bool keep_dtype);

/// The file dtype name for an engine dtype ("F32", "BF16", ...).
const char* safetensors_dtype_name(DType dt);

// ---------------------------------------------------------------- load / save

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Loads `names` (all tensors when null) from `path`. A requested name missing from the
/// file is an IO error naming it.
SafetensorsFile safetensors_load(const std::string& path, const std::vector<std::string>* names, bool keep_dtype);

/// Writes `tensors` and `metadata` to `path` atomically: the bytes go to
/// `path.tmp-<pid>-<random>` in the same directory, which is fsynced and renamed over
/// `path`; on any error the temporary file is removed and `path` is untouched.
/// Header keys are sorted by name; data is laid out widest dtype first so every tensor
/// is aligned to its element size, and the header is space-padded to a multiple of 8.
void safetensors_save(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata);

}  // namespace medit::io
