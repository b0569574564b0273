// JsonValue: the document every pagedump view builds, written as JSON (--json) or as
// text (text_renderer.h), and read back by the tests and the fuzzer (Parse).
//
// Objects keep their keys in insertion order, so output is stable and diffable. Numbers
// are unsigned or signed 64-bit integers or doubles; values that need all 64 bits (store
// ids, checksums) are written as hex strings by the views, so any JSON reader gets them
// exactly. Strings are bytes: Write escapes every byte outside printable ASCII (\u00XX,
// one per byte), so the output is always ASCII and valid JSON.
//
// Ownership: a plain value that owns its children.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "llama/status.h"

namespace llama::pagedump {

class JsonValue {
 public:
  using Array = std::vector<JsonValue>;
  using Member = std::pair<std::string, JsonValue>;
  using Object = std::vector<Member>;

  JsonValue() = default;  // null
  JsonValue(std::nullptr_t) {}
  JsonValue(bool v) : value_(v) {}
  // Signed integers >= 0 are held as unsigned, as Parse holds them, so equal numbers
  // compare equal however they were made.
  JsonValue(int v) { SetSigned(v); }
  JsonValue(long v) { SetSigned(v); }
  JsonValue(long long v) { SetSigned(v); }
  JsonValue(unsigned v) : value_(static_cast<std::uint64_t>(v)) {}
  JsonValue(unsigned long v) : value_(static_cast<std::uint64_t>(v)) {}
  JsonValue(unsigned long long v) : value_(static_cast<std::uint64_t>(v)) {}
  JsonValue(double v) : value_(v) {}
  JsonValue(const char* v) : value_(std::string(v)) {}
  JsonValue(std::string_view v) : value_(std::string(v)) {}
  JsonValue(std::string v) : value_(std::move(v)) {}
  JsonValue(Array v) : value_(std::move(v)) {}
  JsonValue(Object v) : value_(std::move(v)) {}

  static JsonValue MakeArray() { return JsonValue(Array{}); }
  static JsonValue MakeObject() { return JsonValue(Object{}); }

  bool is_null() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_bool() const { return std::holds_alternative<bool>(value_); }
  bool is_number() const;
  bool is_integer() const;
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }
  bool is_object() const { return std::holds_alternative<Object>(value_); }

  // Accessors; calling one on another type is a programming error (std::bad_variant_access).
  bool as_bool() const { return std::get<bool>(value_); }
  std::uint64_t as_uint() const;  // an integer >= 0
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(value_); }
  const Array& as_array() const { return std::get<Array>(value_); }
  Array& as_array() { return std::get<Array>(value_); }
  const Object& as_object() const { return std::get<Object>(value_); }

  // Objects: appends a member (keys are not checked for uniqueness: views never repeat one).
  JsonValue& Set(std::string key, JsonValue value);
  // The member named `key`, or nullptr (also when this is not an object).
  const JsonValue* Find(std::string_view key) const;
  // Arrays: appends.
  JsonValue& Push(JsonValue value);

  // Compact when indent == 0, else pretty with `indent` spaces per level.
  std::string Write(int indent = 2) const;
  // Scalars as text: strings unquoted, numbers in decimal, null as "-".
  std::string ScalarText() const;

  // Strict RFC 8259 JSON (one value, surrounding whitespace allowed), nesting at most 256
  // deep. \u escapes above 0xff become UTF-8. InvalidArgument naming the offset otherwise.
  static Result<JsonValue> Parse(std::string_view text);

  friend bool operator==(const JsonValue&, const JsonValue&) = default;

 private:
  void SetSigned(std::int64_t v) {
    if (v >= 0) {
      value_ = static_cast<std::uint64_t>(v);
    } else {
      value_ = v;
    }
  }
  void WriteTo(std::string& out, int indent, int depth) const;
  std::variant<std::monostate, bool, std::uint64_t, std::int64_t, double, std::string, Array, Object> value_;
};

}  // namespace llama::pagedump
