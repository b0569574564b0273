// The vector's page and delta encodings: round trips, and every truncation or damage is a
// Corruption error, never a crash.
#include "rebuild/vector_format.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace llama {
namespace {

template <typename Decode>
void EveryTruncationFails(const std::vector<std::byte>& bytes, Decode decode) {
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode(std::span(bytes).first(cut)).has_value()) << "truncated to " << cut;
  }
}

TEST(VectorFormatTest, EntriesRoundTrip) {
  VectorEntry e{42,
                3,
                7,
                {{VectorOpCode::kAppend, 0, "a"},
                 {VectorOpCode::kInsert, 17, "xyz"},
                 {VectorOpCode::kErase, 2, {}},
                 {VectorOpCode::kUpdate, 0, ""},
                 {VectorOpCode::kPrepend, 0, "p"}}};
  const std::vector<std::byte> bytes = EncodeEntry(e).value();
  auto back = DecodeEntry(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, e);
  EXPECT_EQ(VectorPayloadTag(bytes), vector_format::kEntryTag);
  EveryTruncationFails(bytes, DecodeEntry);
  std::vector<std::byte> bad = bytes;
  bad[vector_format::kEntryHeaderSize] = std::byte{9};  // unknown operation code
  EXPECT_EQ(DecodeEntry(bad).error().code(), ErrorCode::kCorruption);
}

TEST(VectorFormatTest, PublicationsRoundTrip) {
  VectorPublication p{9, 12, 2, 1000, 555, {4, 5, 6}};
  const std::vector<std::byte> bytes = EncodePublication(p).value();
  ASSERT_EQ(bytes.size(), vector_format::kPublicationHeaderSize + 12);
  auto back = DecodePublication(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, p);
  EveryTruncationFails(bytes, DecodePublication);
  VectorPublication with_size{1, 7, 0, 5, 1, {}};
  std::vector<std::byte> empty_with_size = EncodePublication(with_size).value();
  std::fill_n(empty_with_size.begin() + 4, 4, std::byte{0});  // root 0
  EXPECT_FALSE(DecodePublication(empty_with_size).has_value()) << "root 0 with elements";
}

TEST(VectorFormatTest, MetaRoundTripsAndValidates) {
  VectorConfig c{32, 64, 4096, {3, 4, 5}};
  auto back = DecodeMeta(EncodeMeta(c).value());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, c);
  EveryTruncationFails(EncodeMeta(c).value(), DecodeMeta);
  EXPECT_FALSE(ValidateVectorConfig(VectorConfig{2, 64, 4096, {1}}).has_value());
  EXPECT_FALSE(ValidateVectorConfig(VectorConfig{32, 64, 5000, {1}}).has_value());
  EXPECT_FALSE(ValidateVectorConfig(VectorConfig{32, 1, 4096, {1}}).has_value());
  EXPECT_FALSE(ValidateVectorConfig(VectorConfig{32, 64, 4096, {}}).has_value());
}

TEST(VectorFormatTest, LeavesAndInnerNodesReadInPlace) {
  const std::vector<std::string> values{"", "b", "hello"};
  const std::vector<std::byte> leaf = EncodeLeaf(values).value();
  EXPECT_EQ(leaf.size(), LeafEncodedSize(3, 6));
  auto view = LeafView::Parse(leaf);
  ASSERT_TRUE(view.has_value());
  ASSERT_TRUE(view->Validate().has_value());
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(*view->Get(i), values[i]);
  EXPECT_FALSE(view->Get(3).has_value());
  std::vector<std::byte> bad = leaf;
  bad[vector_format::kLeafHeaderSize + 8] = std::byte{0xFF};  // an offset past the bytes
  auto damaged = LeafView::Parse(bad);
  ASSERT_TRUE(damaged.has_value());
  EXPECT_FALSE(damaged->Validate().has_value());
  EXPECT_FALSE(damaged->Get(1).has_value());

  const std::vector<InnerChild> children{{7, 10}, {8, 10}, {9, 3}};
  // Views borrow the bytes: keep them alive as long as the views.
  const std::vector<std::byte> regular_bytes = EncodeInner(1, children, false).value();
  const std::vector<std::byte> relaxed_bytes = EncodeInner(1, children, true).value();
  auto regular = InnerView::Parse(regular_bytes);
  ASSERT_TRUE(regular.has_value());
  EXPECT_FALSE(regular->relaxed());
  EXPECT_EQ(regular->total(), 23u);
  EXPECT_EQ(*regular->Locate(22, 10), (std::pair<std::uint32_t, std::uint64_t>{2, 20}));
  auto relaxed = InnerView::Parse(relaxed_bytes);
  ASSERT_TRUE(relaxed.has_value());
  ASSERT_TRUE(relaxed->Validate().has_value());
  EXPECT_EQ(*relaxed->Locate(10, 0), (std::pair<std::uint32_t, std::uint64_t>{1, 10}));
  EXPECT_FALSE(relaxed->Locate(23, 0).has_value());
  EveryTruncationFails(relaxed_bytes, InnerView::Parse);
}

}  // namespace
}  // namespace llama

namespace llama {
namespace {
// The worked examples of docs/FORMAT.md, "Vector pages and deltas".
std::vector<std::byte> Hex(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}
TEST(VectorFormatTest, FormatDocExamples) {
  EXPECT_EQ(EncodeEntry(VectorEntry{5, 1, 0, {{VectorOpCode::kAppend, 0, "hi"}}}).value(),
            Hex({0xE1, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x68, 0x69}));
  const std::vector<std::string> leaf{"", "abc"};
  EXPECT_EQ(EncodeLeaf(leaf).value(), Hex({0x4C, 0x56, 0x4C, 0x46, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                           0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63}));
}
}  // namespace
}  // namespace llama
