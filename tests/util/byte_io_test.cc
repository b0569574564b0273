#include "util/byte_io.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llama {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// The worked example: a tag, a 16-bit length, a 32- and a 64-bit integer, then the text.
void WriteExample(ByteWriter& w) { w.U8(0x7F).U16(3).U32(0x11223344u).U64(0x0102030405060708ull).Bytes("abc"); }

const std::vector<std::byte> kExample = Bytes({0x7F,                                            // u8
                                               0x03, 0x00,                                      // u16
                                               0x44, 0x33, 0x22, 0x11,                          // u32
                                               0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // u64
                                               'a', 'b', 'c'});

TEST(ByteWriterTest, AppendsTheWorkedExampleByteForByte) {
  std::vector<std::byte> out = Bytes({0xAA});  // bytes already there stay
  ByteWriter w(out);
  WriteExample(w);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), kExample.size());
  std::vector<std::byte> expected = Bytes({0xAA});
  expected.insert(expected.end(), kExample.begin(), kExample.end());
  EXPECT_EQ(out, expected);
  EXPECT_EQ(std::vector<std::byte>(w.written().begin(), w.written().end()), kExample);
}

TEST(ByteWriterTest, WritesTheSameBytesIntoAFixedSpanThatFitsExactly) {
  std::vector<std::byte> buf(kExample.size(), std::byte{0xEE});
  ByteWriter w{std::span<std::byte>(buf)};
  WriteExample(w);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), buf.size());
  EXPECT_EQ(buf, kExample);
}

TEST(ByteWriterTest, ZerosAndSkip) {
  std::vector<std::byte> out;
  ByteWriter w(out);
  w.U8(1).Zeros(3).Skip(2).U8(2);
  EXPECT_EQ(out, Bytes({1, 0, 0, 0, 0, 0, 2}));  // a vector grows by zeros on Skip

  std::vector<std::byte> buf = Bytes({9, 9, 9, 9, 9});
  ByteWriter f{std::span<std::byte>(buf)};
  f.U8(1).Skip(2).Zeros(1).U8(2);
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(buf, Bytes({1, 9, 9, 0, 2}));  // skipped bytes of a span stay as they were
}

TEST(ByteWriterTest, EmptyWritesSucceedEvenOnAnEmptySpan) {
  ByteWriter w{std::span<std::byte>()};
  w.Bytes(std::span<const std::byte>()).Bytes(std::string_view()).Zeros(0).Skip(0);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), 0u);
}

// Each width, one byte short of room: nothing of it is written and the writer fails.
TEST(ByteWriterTest, AWriteThatDoesNotFitWritesNothingAndFailsTheWriter) {
  struct Case {
    const char* what;
    std::size_t width;
    void (*write)(ByteWriter&);
  };
  const Case cases[] = {
      {"u8", 1, [](ByteWriter& w) { w.U8(0x55); }},
      {"u16", 2, [](ByteWriter& w) { w.U16(0x5555); }},
      {"u32", 4, [](ByteWriter& w) { w.U32(0x55555555u); }},
      {"u64", 8, [](ByteWriter& w) { w.U64(0x5555555555555555ull); }},
      {"bytes", 3, [](ByteWriter& w) { w.Bytes("UUU"); }},
      {"zeros", 3, [](ByteWriter& w) { w.Zeros(3); }},
      {"skip", 3, [](ByteWriter& w) { w.Skip(3); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    // One byte written first, so the failing write starts inside the span.
    std::vector<std::byte> buf(1 + c.width, std::byte{0xEE});
    ByteWriter w{std::span<std::byte>(buf).first(c.width)};
    w.U8(0x01);
    c.write(w);
    EXPECT_FALSE(w.ok());
    EXPECT_EQ(w.size(), 1u);
    std::vector<std::byte> expected(1 + c.width, std::byte{0xEE});
    expected[0] = std::byte{0x01};
    EXPECT_EQ(buf, expected);
  }
}

TEST(ByteWriterTest, StaysFailedAfterAWriteThatDidNotFit) {
  std::array<std::byte, 4> buf{};
  ByteWriter w{std::span<std::byte>(buf)};
  w.U64(1).U8(0x42);  // the u8 would fit, but the writer failed before it
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(buf[0], std::byte{0});
}

TEST(ByteReaderTest, ReadsTheWorkedExampleBack) {
  ByteReader r(kExample);
  std::uint8_t tag = 0;
  std::uint16_t len = 0;
  std::uint32_t u32 = 0;
  std::uint64_t u64 = 0;
  std::string_view text;
  ASSERT_TRUE(r.U8(&tag) && r.U16(&len) && r.U32(&u32) && r.U64(&u64) && r.String(len, &text));
  EXPECT_EQ(tag, 0x7F);
  EXPECT_EQ(len, 3);
  EXPECT_EQ(u32, 0x11223344u);
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_EQ(text, "abc");
  EXPECT_EQ(static_cast<const void*>(text.data()), static_cast<const void*>(kExample.data() + 15));  // a view
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.position(), kExample.size());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.rest().empty());
}

TEST(ByteReaderTest, BytesStringCopyAndSkip) {
  const std::vector<std::byte> in = Bytes({1, 2, 'x', 'y', 5, 6});
  ByteReader r(in);
  std::span<const std::byte> two;
  std::string copy;
  ASSERT_TRUE(r.Bytes(2, &two));
  EXPECT_EQ(two.data(), in.data());
  EXPECT_EQ(two.size(), 2u);
  ASSERT_TRUE(r.String(2, &copy));
  EXPECT_EQ(copy, "xy");
  ASSERT_TRUE(r.Skip(1));
  EXPECT_EQ(r.position(), 5u);
  EXPECT_EQ(r.remaining(), 1u);
  ASSERT_EQ(r.rest().size(), 1u);
  EXPECT_EQ(r.rest()[0], std::byte{6});
}

TEST(ByteReaderTest, ACopyLooksAheadWithoutMovingTheOriginal) {
  ByteReader r(kExample);
  ByteReader ahead = r;
  std::uint8_t tag = 0;
  ASSERT_TRUE(ahead.U8(&tag));
  EXPECT_EQ(tag, 0x7F);
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(ahead.position(), 1u);
}

TEST(ByteReaderTest, EmptyReadsSucceedEvenOnAnEmptySpan) {
  ByteReader r{std::span<const std::byte>()};
  std::span<const std::byte> bytes;
  std::string_view view;
  std::string copy = "old";
  EXPECT_TRUE(r.Bytes(0, &bytes));
  EXPECT_TRUE(r.String(0, &view));
  EXPECT_TRUE(r.String(0, &copy));
  EXPECT_EQ(copy, "");
  EXPECT_TRUE(r.Skip(0));
  EXPECT_TRUE(r.ok());
}

// Every read, from 0 up to one byte short of what it needs: it fails, consumes nothing,
// leaves its output as it was, and so does every later read.
TEST(ByteReaderTest, EveryShortReadFailsAndLeavesItsOutputUntouched) {
  struct Case {
    const char* what;
    std::size_t width;
    bool (*read)(ByteReader&);  // true if the read succeeded or changed its output
  };
  const Case cases[] = {
      {"u8", 1,
       [](ByteReader& r) {
         std::uint8_t v = 0xAB;
         return r.U8(&v) || v != 0xAB;
       }},
      {"u16", 2,
       [](ByteReader& r) {
         std::uint16_t v = 0xABCD;
         return r.U16(&v) || v != 0xABCD;
       }},
      {"u32", 4,
       [](ByteReader& r) {
         std::uint32_t v = 0xABCDEF01u;
         return r.U32(&v) || v != 0xABCDEF01u;
       }},
      {"u64", 8,
       [](ByteReader& r) {
         std::uint64_t v = 0xABCDEF0123456789ull;
         return r.U64(&v) || v != 0xABCDEF0123456789ull;
       }},
      {"bytes", 5,
       [](ByteReader& r) {
         std::span<const std::byte> v;
         return r.Bytes(5, &v) || v.data() != nullptr;
       }},
      {"string view", 5,
       [](ByteReader& r) {
         std::string_view v = "old";
         return r.String(5, &v) || v != "old";
       }},
      {"string copy", 5,
       [](ByteReader& r) {
         std::string v = "old";
         return r.String(5, &v) || v != "old";
       }},
      {"skip", 5, [](ByteReader& r) { return r.Skip(5); }},
  };
  const std::vector<std::byte> in(16, std::byte{0x11});
  for (const Case& c : cases) {
    for (std::size_t have = 0; have < c.width; ++have) {
      SCOPED_TRACE(std::string(c.what) + " with " + std::to_string(have) + " bytes left");
      // One byte read first, so the short read starts inside the span.
      ByteReader r(std::span<const std::byte>(in).first(1 + have));
      ASSERT_TRUE(r.Skip(1));
      EXPECT_FALSE(c.read(r));
      EXPECT_FALSE(r.ok());
      EXPECT_EQ(r.position(), 1u);
      EXPECT_EQ(r.remaining(), have);
      std::uint8_t later = 0;
      EXPECT_FALSE(r.U8(&later)) << "a failed reader reads on";
      EXPECT_FALSE(r.Skip(0));
    }
  }
}

TEST(ByteReaderTest, AHostileLengthNearSizeMaxDoesNotWrapTheBoundsCheck) {
  const std::vector<std::byte> in(4, std::byte{0});
  ByteReader r(in);
  ASSERT_TRUE(r.Skip(2));
  std::span<const std::byte> bytes;
  EXPECT_FALSE(r.Bytes(SIZE_MAX, &bytes));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.position(), 2u);

  std::array<std::byte, 4> buf{};
  ByteWriter w{std::span<std::byte>(buf)};
  w.U8(1).Skip(SIZE_MAX);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 1u);
}

}  // namespace
}  // namespace llama
