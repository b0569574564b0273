// The packed-bits byte and the four kinds it spells (docs/FORMAT.md, "Packed bits").
#include "llama/delta_kind.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/deltas/delta_test_util.h"

namespace llama {
namespace {

using namespace delta_test;

// The documented table, written out independently of DeltaKindFromBits.
std::optional<DeltaKind> DocumentedKind(std::uint8_t bits) {
  const bool u = bits & kU, p = bits & kP, re = bits & kRe, f = bits & kF;
  if (u + p + re > 1) return std::nullopt;
  if (u) return DeltaKind::kUpdate;
  if (p) return DeltaKind::kPartialSwap;
  if (re) return DeltaKind::kRelocation;
  if (f) return DeltaKind::kFlush;
  return std::nullopt;
}

TEST(DeltaKindTest, FromBitsMatchesTheDocumentedTableForAll256Bytes) {
  int kinds = 0;
  for (int b = 0; b < 256; ++b) {
    const auto bits = static_cast<std::uint8_t>(b);
    SCOPED_TRACE("bits " + std::to_string(b));
    EXPECT_EQ(DeltaKindFromBits(bits), DocumentedKind(bits));
    kinds += DeltaKindFromBits(bits).has_value();
  }
  // Update, PartialSwap and Relocation: their kind bit, the other two clear, and any of F,
  // E, R and the two reserved bits (32 each). Flush: F and no kind bit, and any of E, R and
  // the reserved bits (16). The reserved bits and E are checked by the decoder, not here.
  EXPECT_EQ(kinds, 32 * 3 + 16);
}

TEST(DeltaKindTest, FreshRecordsCarryTheDocumentedBits) {
  EXPECT_EQ(DeltaKindBits(DeltaKind::kUpdate), kU);
  EXPECT_EQ(DeltaKindBits(DeltaKind::kFlush), kF);
  EXPECT_EQ(DeltaKindBits(DeltaKind::kPartialSwap), kP | kF);
  EXPECT_EQ(DeltaKindBits(DeltaKind::kRelocation), kRe);
  for (const DeltaKind k : {DeltaKind::kUpdate, DeltaKind::kFlush, DeltaKind::kPartialSwap, DeltaKind::kRelocation}) {
    EXPECT_EQ(DeltaKindFromBits(DeltaKindBits(k)), k);
  }
}

TEST(DeltaKindTest, NamesAreDistinct) {
  EXPECT_EQ(DeltaKindName(DeltaKind::kUpdate), "Update");
  EXPECT_EQ(DeltaKindName(DeltaKind::kFlush), "Flush");
  EXPECT_EQ(DeltaKindName(DeltaKind::kPartialSwap), "PartialSwap");
  EXPECT_EQ(DeltaKindName(DeltaKind::kRelocation), "Relocation");
}

}  // namespace
}  // namespace llama
