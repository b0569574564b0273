#include "llama/coding.h"

#include <gtest/gtest.h>

#include "llama/types.h"

namespace llama {
namespace {

TEST(CodingTest, FixedWidthRoundTripsLittleEndian) {
  std::byte buf[8];
  EncodeFixed32(buf, 0x11223344u);
  EXPECT_EQ(buf[0], std::byte{0x44});
  EXPECT_EQ(buf[3], std::byte{0x11});
  EXPECT_EQ(DecodeFixed32(buf), 0x11223344u);
  EncodeFixed64(buf, 0x0102030405060708ull);
  EXPECT_EQ(buf[0], std::byte{0x08});
  EXPECT_EQ(buf[7], std::byte{0x01});
  EXPECT_EQ(DecodeFixed64(buf), 0x0102030405060708ull);
  EncodeFixed16(buf, 0xBEEF);
  EXPECT_EQ(buf[0], std::byte{0xEF});
  EXPECT_EQ(DecodeFixed16(buf), 0xBEEF);
}

TEST(LssAddressTest, SplitsSegmentAndOffset) {
  const LssAddress a = LssAddress::Make(7, 0x1000);
  EXPECT_EQ(a.segment(), 7u);
  EXPECT_EQ(a.offset(), 0x1000u);
  EXPECT_TRUE(a.is_valid());
  EXPECT_FALSE(a.is_null());
  EXPECT_TRUE(LssAddress().is_null());
  EXPECT_FALSE(LssAddress().is_valid());
  EXPECT_FALSE(LssAddress::Make(LssAddress::kMaxSegment + 1, 0).is_valid());
  EXPECT_TRUE(LssAddress::Make(LssAddress::kMaxSegment, 0xFFFFFFFF).is_valid());
  // Addresses past 4 GiB of total log are representable (segments * offsets).
  EXPECT_GT(LssAddress::Make(3, 0).raw(), std::uint64_t{0xFFFFFFFF});
}

}  // namespace
}  // namespace llama
