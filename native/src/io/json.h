// A small strict JSON (RFC 8259) parser for safetensors headers. Internal to src/io.
//
// It builds a tree of JsonValue. Numbers keep their text plus, for integers, the sign
// and magnitude (with an overflow flag) so callers can give precise messages about
// negative, fractional or huge values. Strings are checked for valid UTF-8 and escapes
// (\uXXXX including surrogate pairs) are decoded to UTF-8. Duplicate object keys and
// nesting deeper than kJsonMaxDepth are rejected. Not a general-purpose library: no
// streaming and no serialisation beyond json_quote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace medit::io {

constexpr int kJsonMaxDepth = 64;

/// A parse failure: `what()` describes it, `offset` is the byte where it was found.
class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& msg, size_t offset) : std::runtime_error(msg), offset(offset) {}
  size_t offset;
};

struct JsonValue {
  enum class Kind { NUL, BOOL, NUMBER, STRING, ARRAY, OBJECT };
  Kind kind = Kind::NUL;
  bool boolean = false;
  // NUMBER
  std::string num_text;
  bool num_integer = false;   // no fraction or exponent
  bool num_negative = false;  // a leading '-' with a nonzero magnitude
  bool num_overflow = false;  // integer magnitude does not fit in uint64
  uint64_t num_magnitude = 0;
  // STRING
  std::string str;
  // ARRAY / OBJECT (objects keep key order)
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  const char* kind_name() const;
};

/// Parses exactly one JSON value spanning `data[0, len)` (surrounding whitespace allowed).
JsonValue json_parse(const char* data, size_t len);

/// `s` as a JSON string literal (quotes, backslash and control characters escaped).
std::string json_quote(const std::string& s);

}  // namespace medit::io
