// Strict JSON parser for safetensors headers (grammar: RFC 8259 sections 2-7; UTF-8
// well-formedness: Unicode 15 table 3-7). See json.h for what it does and does not do.
#include "json.h"

#include <cstdio>
#include <unordered_set>

namespace medit::io {

const char* JsonValue::kind_name() const {
  switch (kind) {
    case Kind::NUL: return "null";
    case Kind::BOOL: return "a boolean";
    case Kind::NUMBER: return "a number";
    case Kind::STRING: return "a string";
    case Kind::ARRAY: return "an array";
    case Kind::OBJECT: return "an object";
  }
  return "a value";
}

namespace {

class Parser {
 public:
  Parser(const char* data, size_t len) : p_(reinterpret_cast<const unsigned char*>(data)), n_(len) {}

  JsonValue parse_document() {
    skip_ws();
    JsonValue v = parse_value(0);
    skip_ws();
    if (i_ != n_) fail("unexpected " + describe_here() + " after the top-level value");
    return v;
  }

 private:
  const unsigned char* p_;
  size_t n_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& msg) { throw JsonError(msg, i_); }
  [[noreturn]] void fail_at(const std::string& msg, size_t at) { throw JsonError(msg, at); }

  std::string describe_here() const {
    if (i_ >= n_) return "end of input";
    const unsigned char c = p_[i_];
    char buf[32];
    if (c >= 0x20 && c < 0x7f) std::snprintf(buf, sizeof buf, "character '%c'", c);
    else std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  void skip_ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }

  void expect_literal(const char* lit) {
    for (const char* c = lit; *c; ++c, ++i_)
      if (i_ >= n_ || p_[i_] != static_cast<unsigned char>(*c)) fail(std::string("invalid literal (expected '") + lit + "')");
  }

  JsonValue parse_value(int depth) {
    if (i_ >= n_) fail("unexpected end of input, expected a value");
    JsonValue v;
    switch (p_[i_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"':
        v.kind = JsonValue::Kind::STRING;
        v.str = parse_string();
        return v;
      case 't':
        expect_literal("true");
        v.kind = JsonValue::Kind::BOOL;
        v.boolean = true;
        return v;
      case 'f':
        expect_literal("false");
        v.kind = JsonValue::Kind::BOOL;
        return v;
      case 'n':
        expect_literal("null");
        return v;
      default:
        if (p_[i_] == '-' || (p_[i_] >= '0' && p_[i_] <= '9')) return parse_number();
        fail("unexpected " + describe_here() + ", expected a value");
    }
  }

  JsonValue parse_object(int depth) {
    if (depth > kJsonMaxDepth) fail("nesting deeper than " + std::to_string(kJsonMaxDepth) + " levels");
    JsonValue v;
    v.kind = JsonValue::Kind::OBJECT;
    ++i_;  // '{'
    skip_ws();
    if (i_ < n_ && p_[i_] == '}') {
      ++i_;
      return v;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      skip_ws();
      if (i_ >= n_ || p_[i_] != '"') fail("unexpected " + describe_here() + ", expected a string key");
      const size_t key_at = i_;
      std::string key = parse_string();
      if (!seen.insert(key).second) fail_at("duplicate key " + json_quote(key), key_at);
      skip_ws();
      if (i_ >= n_ || p_[i_] != ':') fail("unexpected " + describe_here() + ", expected ':'");
      ++i_;
      skip_ws();
      JsonValue member = parse_value(depth);
      v.members.emplace_back(std::move(key), std::move(member));
      skip_ws();
      if (i_ < n_ && p_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < n_ && p_[i_] == '}') {
        ++i_;
        return v;
      }
      fail("unexpected " + describe_here() + ", expected ',' or '}'");
    }
  }

  JsonValue parse_array(int depth) {
    if (depth > kJsonMaxDepth) fail("nesting deeper than " + std::to_string(kJsonMaxDepth) + " levels");
    JsonValue v;
    v.kind = JsonValue::Kind::ARRAY;
    ++i_;  // '['
    skip_ws();
    if (i_ < n_ && p_[i_] == ']') {
      ++i_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(parse_value(depth));
      skip_ws();
      if (i_ < n_ && p_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < n_ && p_[i_] == ']') {
        ++i_;
        return v;
      }
      fail("unexpected " + describe_here() + ", expected ',' or ']'");
    }
  }

  // number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT )
  JsonValue parse_number() {
    JsonValue v;
    v.kind = JsonValue::Kind::NUMBER;
    const size_t start = i_;
    bool minus = false;
    if (p_[i_] == '-') {
      minus = true;
      ++i_;
    }
    if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') fail("invalid number: expected a digit");
    uint64_t mag = 0;
    bool overflow = false;
    if (p_[i_] == '0') {
      ++i_;
      if (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') fail("invalid number: leading zero");
    } else {
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') {
        const uint64_t d = p_[i_] - '0';
        if (mag > (UINT64_MAX - d) / 10) overflow = true;
        else mag = mag * 10 + d;
        ++i_;
      }
    }
    bool integer = true;
    if (i_ < n_ && p_[i_] == '.') {
      integer = false;
      ++i_;
      if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') fail("invalid number: expected a digit after '.'");
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
    }
    if (i_ < n_ && (p_[i_] == 'e' || p_[i_] == 'E')) {
      integer = false;
      ++i_;
      if (i_ < n_ && (p_[i_] == '+' || p_[i_] == '-')) ++i_;
      if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') fail("invalid number: expected a digit in the exponent");
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
    }
    v.num_text.assign(reinterpret_cast<const char*>(p_ + start), i_ - start);
    v.num_integer = integer;
    v.num_negative = minus && (mag != 0 || overflow);
    v.num_overflow = overflow;
    v.num_magnitude = overflow ? 0 : mag;
    return v;
  }

  unsigned hex4() {
    if (n_ - i_ < 4) fail("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      const unsigned char c = p_[i_++];
      u <<= 4;
      if (c >= '0' && c <= '9') u |= c - '0';
      else if (c >= 'a' && c <= 'f') u |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') u |= c - 'A' + 10;
      else fail_at("invalid hex digit in \\u escape", i_ - 1);
    }
    return u;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  // One raw UTF-8 sequence starting at p_[i_] (a lead byte >= 0x80), copied to `out`.
  void copy_utf8_sequence(std::string& out) {
    const size_t at = i_;
    const unsigned char c = p_[i_];
    int len;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c == 0xe0) len = 3, lo = 0xa0;
    else if (c == 0xed) len = 3, hi = 0x9f;  // excludes UTF-16 surrogates
    else if (c >= 0xe1 && c <= 0xef) len = 3;
    else if (c == 0xf0) len = 4, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) len = 4;
    else if (c == 0xf4) len = 4, hi = 0x8f;  // caps at U+10FFFF
    else fail_at("invalid UTF-8 in string", at);
    if (n_ - i_ < static_cast<size_t>(len)) fail_at("invalid UTF-8 in string (truncated sequence)", at);
    for (int k = 1; k < len; ++k) {
      const unsigned char b = p_[i_ + k];
      const unsigned char blo = k == 1 ? lo : 0x80, bhi = k == 1 ? hi : 0xbf;
      if (b < blo || b > bhi) fail_at("invalid UTF-8 in string", at);
    }
    out.append(reinterpret_cast<const char*>(p_ + i_), len);
    i_ += len;
  }

  std::string parse_string() {
    const size_t start = i_;
    ++i_;  // '"'
    std::string out;
    for (;;) {
      if (i_ >= n_) fail_at("unterminated string", start);
      const unsigned char c = p_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c >= 0x80) {
        copy_utf8_sequence(out);
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++i_;
        continue;
      }
      ++i_;
      if (i_ >= n_) fail_at("unterminated string", start);
      const unsigned char e = p_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          const size_t esc_at = i_ - 2;
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail_at("lone low surrogate in \\u escape", esc_at);
          if (cp >= 0xd800 && cp <= 0xdbff) {  // a high surrogate must be followed by \uDC00-\uDFFF
            if (n_ - i_ < 2 || p_[i_] != '\\' || p_[i_ + 1] != 'u') fail_at("lone high surrogate in \\u escape", esc_at);
            i_ += 2;
            const uint32_t low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail_at("high surrogate not followed by a low surrogate", esc_at);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          }
          put_utf8(out, cp);
          break;
        }
        default: fail_at("invalid escape in string", i_ - 2);
      }
    }
  }
};

}  // namespace

JsonValue json_parse(const char* data, size_t len) { return Parser(data, len).parse_document(); }

std::string json_quote(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out.push_back(static_cast<char>(c));
  }
  out.push_back('"');
  return out;
}

}  // namespace medit::io
