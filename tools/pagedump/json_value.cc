#include "tools/pagedump/json_value.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace llama::pagedump {

bool JsonValue::is_number() const {
  return std::holds_alternative<std::uint64_t>(value_) || std::holds_alternative<std::int64_t>(value_) ||
         std::holds_alternative<double>(value_);
}

bool JsonValue::is_integer() const {
  return std::holds_alternative<std::uint64_t>(value_) || std::holds_alternative<std::int64_t>(value_);
}

std::uint64_t JsonValue::as_uint() const { return std::get<std::uint64_t>(value_); }

std::int64_t JsonValue::as_int() const {
  if (const auto* u = std::get_if<std::uint64_t>(&value_)) return static_cast<std::int64_t>(*u);
  return std::get<std::int64_t>(value_);
}

double JsonValue::as_double() const {
  if (const auto* u = std::get_if<std::uint64_t>(&value_)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return static_cast<double>(*i);
  return std::get<double>(value_);
}

JsonValue& JsonValue::Set(std::string key, JsonValue value) {
  Object& object = std::get<Object>(value_);
  object.emplace_back(std::move(key), std::move(value));
  return object.back().second;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  const auto* object = std::get_if<Object>(&value_);
  if (object == nullptr) return nullptr;
  for (const Member& m : *object) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

JsonValue& JsonValue::Push(JsonValue value) {
  Array& array = std::get<Array>(value_);
  array.push_back(std::move(value));
  return array.back();
}

namespace {

void WriteString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", byte);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string DoubleText(double d) {
  if (!std::isfinite(d)) return "null";  // JSON has no NaN or infinity
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

}  // namespace

std::string JsonValue::ScalarText() const {
  if (is_null()) return "-";
  if (const auto* b = std::get_if<bool>(&value_)) return *b ? "true" : "false";
  if (const auto* u = std::get_if<std::uint64_t>(&value_)) return std::to_string(*u);
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value_)) return DoubleText(*d);
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  return Write(0);
}

std::string JsonValue::Write(int indent) const {
  std::string out;
  WriteTo(out, indent, 0);
  if (indent > 0) out += '\n';
  return out;
}

void JsonValue::WriteTo(std::string& out, int indent, int depth) const {
  auto newline = [&](int level) {
    if (indent == 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
  };
  if (const auto* s = std::get_if<std::string>(&value_)) {
    WriteString(out, *s);
  } else if (const auto* a = std::get_if<Array>(&value_)) {
    out += '[';
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i > 0) out += ',';
      newline(depth + 1);
      (*a)[i].WriteTo(out, indent, depth + 1);
    }
    if (!a->empty()) newline(depth);
    out += ']';
  } else if (const auto* o = std::get_if<Object>(&value_)) {
    out += '{';
    for (std::size_t i = 0; i < o->size(); ++i) {
      if (i > 0) out += ',';
      newline(depth + 1);
      WriteString(out, (*o)[i].first);
      out += indent == 0 ? ":" : ": ";
      (*o)[i].second.WriteTo(out, indent, depth + 1);
    }
    if (!o->empty()) newline(depth);
    out += '}';
  } else if (is_null()) {
    out += "null";
  } else {
    out += ScalarText();
  }
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<JsonValue> ParseDocument() {
    auto value = ParseValue(0);
    if (!value) return value;
    SkipSpace();
    if (pos_ != text_.size()) return Fail("trailing characters");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 256;

  tl::unexpected<Error> Fail(std::string_view what) const {
    return MakeError(ErrorCode::kInvalidArgument, "json: " + std::string(what) + " at offset " + std::to_string(pos_));
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Result<JsonValue> ParseValue(int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(depth);
    if (c == '[') return ParseArray(depth);
    if (c == '"') {
      auto s = ParseString();
      LLAMA_RETURN_IF_ERROR(s);
      return JsonValue(std::move(*s));
    }
    if (Consume("true")) return JsonValue(true);
    if (Consume("false")) return JsonValue(false);
    if (Consume("null")) return JsonValue();
    return ParseNumber();
  }

  Result<JsonValue> ParseObject(int depth) {
    ++pos_;
    JsonValue object = JsonValue::MakeObject();
    SkipSpace();
    if (Consume("}")) return object;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a key");
      auto key = ParseString();
      LLAMA_RETURN_IF_ERROR(key);
      SkipSpace();
      if (!Consume(":")) return Fail("expected ':'");
      auto value = ParseValue(depth + 1);
      if (!value) return value;
      object.Set(std::move(*key), std::move(*value));
      SkipSpace();
      if (Consume("}")) return object;
      if (!Consume(",")) return Fail("expected ',' or '}'");
    }
  }

  Result<JsonValue> ParseArray(int depth) {
    ++pos_;
    JsonValue array = JsonValue::MakeArray();
    SkipSpace();
    if (Consume("]")) return array;
    for (;;) {
      auto value = ParseValue(depth + 1);
      if (!value) return value;
      array.Push(std::move(*value));
      SkipSpace();
      if (Consume("]")) return array;
      if (!Consume(",")) return Fail("expected ',' or ']'");
    }
  }

  Result<std::uint32_t> ParseHex4() {
    if (pos_ + 4 > text_.size()) return Fail("short \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<std::uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<std::uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<std::uint32_t>(h - 'A' + 10);
      } else {
        return Fail("bad \\u escape");
      }
    }
    return v;
  }

  static void AppendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  Result<std::string> ParseString() {
    ++pos_;  // the opening quote
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          auto cp = ParseHex4();
          LLAMA_RETURN_IF_ERROR(cp);
          std::uint32_t code = *cp;
          if (code >= 0xd800 && code < 0xdc00 && Consume("\\u")) {
            auto low = ParseHex4();
            LLAMA_RETURN_IF_ERROR(low);
            if (*low < 0xdc00 || *low > 0xdfff) return Fail("bad surrogate pair");
            code = 0x10000 + ((code - 0xd800) << 10) + (*low - 0xdc00);
          }
          // Bytes as pagedump writes them (\u0000..\u00ff) come back as single bytes.
          if (code <= 0xff) {
            out += static_cast<char>(code);
          } else {
            AppendUtf8(out, code);
          }
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }

  Result<JsonValue> ParseNumber() {
    const std::size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    const std::size_t int_start = pos_;
    if (digits() == 0) return Fail("unexpected character");
    if (text_[int_start] == '0' && pos_ - int_start > 1) return Fail("leading zero");
    bool integral = true;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) return Fail("digits expected after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail("digits expected in the exponent");
    }
    const std::string number(text_.substr(start, pos_ - start));
    if (integral) {
      errno = 0;
      char* end = nullptr;
      if (number[0] == '-') {
        const long long v = std::strtoll(number.c_str(), &end, 10);
        if (errno == 0) return JsonValue(v);
      } else {
        const unsigned long long v = std::strtoull(number.c_str(), &end, 10);
        if (errno == 0) return JsonValue(v);
      }
    }
    return JsonValue(std::strtod(number.c_str(), nullptr));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<JsonValue> JsonValue::Parse(std::string_view text) { return Parser(text).ParseDocument(); }

}  // namespace llama::pagedump
