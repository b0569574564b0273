// BasePage: the five page sizes, contents, the encoded image and what Decode refuses.
#include "llama/base_page.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "llama/coding.h"

namespace llama {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::uint32_t kValidSizes[] = {4096, 8192, 16384, 32768, 65536};

Bytes Pattern(std::size_t n, std::uint32_t salt) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((i * 197 + salt + (i >> 8)) & 0xFF);
  }
  return out;
}

bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

Bytes ToBytes(std::span<const std::byte> b) { return Bytes(b.begin(), b.end()); }

void ExpectCorruption(const Bytes& image, const std::string& what) {
  SCOPED_TRACE(what);
  auto page = BasePage::Decode(image);
  ASSERT_FALSE(page.has_value()) << "decoded";
  EXPECT_EQ(page.error().code(), ErrorCode::kCorruption) << page.error().ToString();
}

// A valid image of a 4 KiB page for pid 9 with `used` content bytes.
Bytes ValidImage(std::uint32_t used = 10) {
  auto page = BasePage::Create(9, 4096, Pattern(used, 1));
  EXPECT_TRUE(page.has_value());
  return ToBytes(page->Encoded());
}

TEST(BasePageTest, EveryValidSizeCreatesAnEmptyPage) {
  for (const std::uint32_t size : kValidSizes) {
    SCOPED_TRACE("page size " + std::to_string(size));
    EXPECT_TRUE(BasePage::IsValidPageSize(size));
    auto page = BasePage::Create(77, size);
    ASSERT_TRUE(page.has_value()) << page.error().ToString();
    EXPECT_EQ(page->page_size(), size);
    EXPECT_EQ(page->capacity(), size - 16);
    EXPECT_EQ(page->pid(), 77u);
    EXPECT_EQ(page->used(), 0u);
    EXPECT_TRUE(page->contents().empty());

    // The header, byte by byte (docs/FORMAT.md, "Base page").
    const auto image = page->Encoded();
    ASSERT_EQ(image.size(), 16u);
    EXPECT_EQ(DecodeFixed32(image.data() + 0), 0x50424C4Cu);  // "LLBP"
    EXPECT_EQ(image[0], std::byte{'L'});
    EXPECT_EQ(image[2], std::byte{'B'});
    EXPECT_EQ(std::uint32_t{1} << std::to_integer<int>(image[4]), size);
    EXPECT_EQ(image[5], std::byte{0});
    EXPECT_EQ(DecodeFixed16(image.data() + 6), 0);
    EXPECT_EQ(DecodeFixed32(image.data() + 8), 77u);
    EXPECT_EQ(DecodeFixed32(image.data() + 12), 0u);
  }
  EXPECT_EQ(BasePage::kMinPageSize, 4096u);
  EXPECT_EQ(BasePage::kMaxPageSize, 65536u);
}

TEST(BasePageTest, EveryValidSizeRoundTripsItsContents) {
  for (const std::uint32_t size : kValidSizes) {
    for (const std::uint32_t used : {1u, 100u, size / 2, size - 16}) {
      SCOPED_TRACE("page size " + std::to_string(size) + ", used " + std::to_string(used));
      const Bytes contents = Pattern(used, size);
      auto page = BasePage::Create(0xFFFFFFFF, size, contents);
      ASSERT_TRUE(page.has_value()) << page.error().ToString();
      EXPECT_EQ(page->used(), used);
      EXPECT_TRUE(SameBytes(page->contents(), contents));
      const auto image = page->Encoded();
      ASSERT_EQ(image.size(), 16 + used) << "the image is header plus contents, no padding";
      EXPECT_EQ(DecodeFixed32(image.data() + 12), used);
      EXPECT_TRUE(SameBytes(image.subspan(16), contents));

      auto decoded = BasePage::Decode(image);
      ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
      EXPECT_EQ(decoded->page_size(), size);
      EXPECT_EQ(decoded->pid(), 0xFFFFFFFFu);
      EXPECT_EQ(decoded->used(), used);
      EXPECT_EQ(decoded->capacity(), size - 16);
      EXPECT_TRUE(SameBytes(decoded->contents(), contents));
      EXPECT_TRUE(SameBytes(decoded->Encoded(), image));
      EXPECT_NE(decoded->Encoded().data(), image.data());
    }
  }
}

TEST(BasePageTest, ContentsOverCapacityAreRefused) {
  for (const std::uint32_t size : kValidSizes) {
    SCOPED_TRACE("page size " + std::to_string(size));
    const Bytes too_big = Pattern(size - 15, 3);  // capacity + 1
    auto created = BasePage::Create(1, size, too_big);
    ASSERT_FALSE(created.has_value());
    EXPECT_EQ(created.error().code(), ErrorCode::kInvalidArgument);

    auto page = BasePage::Create(1, size, Pattern(20, 4));
    ASSERT_TRUE(page.has_value());
    const Status s = page->SetContents(too_big);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(SameBytes(page->contents(), Pattern(20, 4))) << "a refused SetContents changed it";
    EXPECT_TRUE(page->SetContents(Pattern(size - 16, 5)).has_value()) << "exactly full must fit";
  }
}

TEST(BasePageTest, SetContentsReplacesWhatItShrinksAwayAndGrowsAgain) {
  auto page = BasePage::Create(3, 4096, Pattern(1000, 6));
  ASSERT_TRUE(page.has_value());
  const Bytes small = Pattern(10, 7);
  ASSERT_TRUE(page->SetContents(small).has_value());
  EXPECT_EQ(page->used(), 10u);
  EXPECT_TRUE(SameBytes(page->contents(), small));
  EXPECT_EQ(page->Encoded().size(), 26u);
  // Growing again shows only the new contents, never what the shrink left behind.
  const Bytes large = Pattern(3000, 8);
  ASSERT_TRUE(page->SetContents(large).has_value());
  EXPECT_TRUE(SameBytes(page->contents(), large));
  EXPECT_EQ(page->Encoded().size(), 16u + 3000u);

  ASSERT_TRUE(page->SetContents({}).has_value());
  EXPECT_EQ(page->used(), 0u);
  EXPECT_EQ(page->Encoded().size(), 16u);
  EXPECT_EQ(page->pid(), 3u) << "SetContents must leave the header alone";
}

// A page holds its header and contents, not its whole page size: the memory a budget
// counts is what the contents need, at every page size, after Create, Decode and growth.
TEST(BasePageTest, MemoryIsWhatTheContentsNeedNotThePageSize) {
  for (std::uint32_t size = BasePage::kMinPageSize; size <= BasePage::kMaxPageSize; size *= 2) {
    SCOPED_TRACE("page size " + std::to_string(size));
    auto empty = BasePage::Create(1, size);
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->memory_bytes(), sizeof(BasePage) + 16);
    auto page = BasePage::Create(1, size, Pattern(100, 1));
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->memory_bytes(), sizeof(BasePage) + 16 + 100);
    auto decoded = BasePage::Decode(page->Encoded());
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->memory_bytes(), sizeof(BasePage) + 16 + 100);
    EXPECT_EQ(decoded->page_size(), size);
    ASSERT_TRUE(page->SetContents(Pattern(size - 16, 2)).has_value());  // full
    EXPECT_EQ(page->memory_bytes(), sizeof(BasePage) + size);
  }
}

TEST(BasePageTest, OtherSizesAreRefused) {
  for (const std::uint32_t size : {0u, 1u, 1000u, 2048u, 4095u, 4097u, 12288u, 65535u, 65537u, 131072u, 0xFFFFFFFFu}) {
    SCOPED_TRACE("page size " + std::to_string(size));
    EXPECT_FALSE(BasePage::IsValidPageSize(size));
    auto page = BasePage::Create(1, size);
    ASSERT_FALSE(page.has_value());
    EXPECT_EQ(page.error().code(), ErrorCode::kInvalidArgument);
    auto with_contents = BasePage::Create(1, size, Pattern(1, 0));
    ASSERT_FALSE(with_contents.has_value());
    EXPECT_EQ(with_contents.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(BasePage::IsValidPageSize(std::uint64_t{1} << 32));
}

TEST(BasePageTest, DecodeRefusesAShortHeader) {
  const Bytes image = ValidImage(0);
  for (std::size_t n = 0; n < 16; ++n) {
    ExpectCorruption(Bytes(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(n)),
                     "length " + std::to_string(n));
  }
}

TEST(BasePageTest, DecodeRefusesBadMagic) {
  for (std::size_t i = 0; i < 4; ++i) {
    Bytes image = ValidImage();
    image[i] ^= std::byte{0x20};  // e.g. "lLBP"
    ExpectCorruption(image, "magic byte " + std::to_string(i));
  }
  Bytes zero = ValidImage();
  EncodeFixed32(zero.data(), 0);
  ExpectCorruption(zero, "zero magic");
}

TEST(BasePageTest, DecodeRefusesABadSizeCode) {
  for (const int code : {0, 1, 11, 17, 31, 32, 255}) {
    Bytes image = ValidImage(0);
    image[4] = static_cast<std::byte>(code);
    ExpectCorruption(image, "size code " + std::to_string(code));
  }
  for (int code = 12; code <= 16; ++code) {
    Bytes image = ValidImage(0);
    image[4] = static_cast<std::byte>(code);
    auto page = BasePage::Decode(image);
    ASSERT_TRUE(page.has_value()) << "size code " << code;
    EXPECT_EQ(page->page_size(), 1u << code);
  }
}

TEST(BasePageTest, DecodeRefusesNonzeroReservedBytes) {
  for (const std::size_t at : {5, 6, 7}) {
    for (const int value : {0x01, 0x80, 0xFF}) {
      Bytes image = ValidImage();
      image[at] = static_cast<std::byte>(value);
      ExpectCorruption(image, "byte " + std::to_string(at) + " = " + std::to_string(value));
    }
  }
}

TEST(BasePageTest, DecodeRefusesUsedBeyondCapacity) {
  // A 4 KiB page holds 4080 bytes. Used past that is refused whatever the image size.
  for (const std::uint32_t used : {4081u, 4096u, 65520u, 0xFFFFFFFFu}) {
    Bytes image = ValidImage(0);
    EncodeFixed32(image.data() + 12, used);
    ExpectCorruption(image, "used " + std::to_string(used) + ", header only");
    if (used < 8192) {
      Bytes full = ValidImage(0);
      full.resize(16 + used);
      EncodeFixed32(full.data() + 12, used);
      ExpectCorruption(full, "used " + std::to_string(used) + ", image to match");
    }
  }
  // The same used length is fine on a page large enough for it.
  Bytes big = ValidImage(0);
  big[4] = std::byte{13};
  big.resize(16 + 4081);
  EncodeFixed32(big.data() + 12, 4081);
  EXPECT_TRUE(BasePage::Decode(big).has_value());
}

TEST(BasePageTest, DecodeRefusesAnImageWhoseSizeDisagreesWithUsed) {
  const Bytes image = ValidImage(10);
  ExpectCorruption(Bytes(image.begin(), image.end() - 1), "one byte short");
  Bytes longer = image;
  longer.push_back(std::byte{0});
  ExpectCorruption(longer, "one byte long");
  // A whole page buffer is not an image unless the page is full.
  Bytes padded = image;
  padded.resize(4096);
  ExpectCorruption(padded, "padded to the page size");
  Bytes header_only(image.begin(), image.begin() + 16);
  ExpectCorruption(header_only, "contents missing");
}

}  // namespace
}  // namespace llama
