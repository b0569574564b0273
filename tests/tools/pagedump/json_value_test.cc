// JsonValue: what pagedump writes, its reader reads back unchanged.
#include "tools/pagedump/json_value.h"

#include <gtest/gtest.h>

namespace llama::pagedump {
namespace {

TEST(JsonValueTest, WriteThenParseRoundTrips) {
  JsonValue doc = JsonValue::MakeObject();
  doc.Set("count", 3);
  doc.Set("negative", -5);
  doc.Set("big", std::uint64_t{18446744073709551615ull});
  doc.Set("fraction", 0.25);
  doc.Set("name", std::string("a\"b\\c\n\x01\xff"));
  doc.Set("none", JsonValue());
  doc.Set("flag", true);
  JsonValue list = JsonValue::MakeArray();
  list.Push(1);
  list.Push("two");
  list.Push(JsonValue::MakeObject());
  doc.Set("list", std::move(list));
  for (int indent : {0, 2}) {
    const std::string text = doc.Write(indent);
    for (char c : text) EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80) << "non-ASCII output";
    auto parsed = JsonValue::Parse(text);
    ASSERT_TRUE(parsed) << parsed.error().ToString() << "\n" << text;
    EXPECT_EQ(*parsed, doc) << text;
  }
}

TEST(JsonValueTest, FindsMembersInOrder) {
  auto parsed = JsonValue::Parse(R"({"b": 1, "a": [true, null, "x"], "c": {"d": -2.5e1}})");
  ASSERT_TRUE(parsed);
  ASSERT_NE(parsed->Find("a"), nullptr);
  EXPECT_EQ(parsed->Find("a")->as_array().size(), 3u);
  EXPECT_EQ(parsed->Find("b")->as_uint(), 1u);
  EXPECT_DOUBLE_EQ(parsed->Find("c")->Find("d")->as_double(), -25.0);
  EXPECT_EQ(parsed->Find("missing"), nullptr);
  EXPECT_EQ(parsed->as_object().front().first, "b");
}

TEST(JsonValueTest, RefusesMalformedText) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"abc", "tru", "[1] 2", "\"\\q\"", "{\"a\":1,}", "-", "\"\x01\""}) {
    EXPECT_FALSE(JsonValue::Parse(bad)) << bad;
  }
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_FALSE(JsonValue::Parse(deep));
}

TEST(JsonValueTest, UnicodeEscapesBecomeUtf8) {
  auto parsed = JsonValue::Parse(R"("\u00e9\u20ac\ud83d\ude00")");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->as_string(), std::string("\xe9") + "\xe2\x82\xac" + "\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace llama::pagedump
