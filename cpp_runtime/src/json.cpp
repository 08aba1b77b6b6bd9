#include "json.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>

#include "zoo/model.hpp"

namespace zoo::json {

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;
  const std::string& s_;
  std::size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& msg) const {
    std::size_t line = 1, col = 1;
    for (std::size_t k = 0; k < pos_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw Error("invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) +
                ": " + msg);
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  bool consume_literal(const char* lit) {
    std::size_t k = 0;
    while (lit[k] != '\0') {
      if (pos_ + k >= s_.size() || s_[pos_ + k] != lit[k]) return false;
      ++k;
    }
    pos_ += k;
    return true;
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    Value v;
    const char c = peek();
    if (c == '{') {
      v.type_ = Value::Type::Object;
      ++pos_;
      skip_ws();
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_ws();
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        skip_ws();
        expect(':');
        skip_ws();
        v.object_[key] = parse_value(depth + 1);
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.type_ = Value::Type::Array;
      ++pos_;
      skip_ws();
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_ws();
        v.array_.push_back(parse_value(depth + 1));
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.type_ = Value::Type::String;
      v.string_ = parse_string();
      return v;
    }
    if (consume_literal("true")) {
      v.type_ = Value::Type::Bool;
      v.bool_ = true;
      return v;
    }
    if (consume_literal("false")) {
      v.type_ = Value::Type::Bool;
      return v;
    }
    if (consume_literal("null")) return v;
    // Non-standard but emitted by Python's json.dumps for non-finite floats.
    if (consume_literal("NaN")) {
      v.type_ = Value::Type::Number;
      v.number_ = std::numeric_limits<double>::quiet_NaN();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9') || c == 'I') return parse_number();
    fail("unexpected character");
  }

  Value parse_number() {
    Value v;
    v.type_ = Value::Type::Number;
    if (consume_literal("Infinity")) {
      v.number_ = std::numeric_limits<double>::infinity();
      return v;
    }
    if (consume_literal("-Infinity")) {
      v.number_ = -std::numeric_limits<double>::infinity();
      return v;
    }
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    auto digits = [&] {
      const std::size_t d0 = pos_;
      while (peek() >= '0' && peek() <= '9') ++pos_;
      if (pos_ == d0) fail("malformed number");
    };
    digits();
    if (peek() == '.') {
      ++pos_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    const std::string tok = s_.substr(start, pos_ - start);
    errno = 0;
    char* end = nullptr;
    v.number_ = std::strtod(tok.c_str(), &end);  // JSON numbers never use a locale separator
    if (end != tok.c_str() + tok.size()) fail("malformed number");
    return v;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  unsigned parse_hex4() {
    unsigned cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = peek();
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
      else fail("malformed \\u escape");
      ++pos_;
    }
    return cp;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && consume_literal("\\u")) {
            const unsigned lo = parse_hex4();
            if (lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              put_utf8(out, cp);
              cp = lo;
            }
          }
          put_utf8(out, cp);
          break;
        }
        default: fail("invalid escape in string");
      }
    }
  }
};

Value Value::parse(const std::string& text) { return Parser(text).parse_document(); }

namespace {
const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "?";
}
[[noreturn]] void mismatch(const std::string& what, const char* want, Value::Type got) {
  throw Error(what + " must be " + want + ", not " + type_name(got));
}
}  // namespace

bool Value::as_bool(const std::string& what) const {
  if (type_ != Type::Bool) mismatch(what, "a boolean", type_);
  return bool_;
}
double Value::as_number(const std::string& what) const {
  if (type_ != Type::Number) mismatch(what, "a number", type_);
  return number_;
}
const std::string& Value::as_string(const std::string& what) const {
  if (type_ != Type::String) mismatch(what, "a string", type_);
  return string_;
}
const std::vector<Value>& Value::as_array(const std::string& what) const {
  if (type_ != Type::Array) mismatch(what, "an array", type_);
  return array_;
}
const std::map<std::string, Value>& Value::as_object(const std::string& what) const {
  if (type_ != Type::Object) mismatch(what, "an object", type_);
  return object_;
}
const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &it->second;
}

}  // namespace zoo::json
