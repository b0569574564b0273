// DecodeDelta on malformed input: every rule of docs/FORMAT.md ("Decode errors") has a
// case here that breaks exactly that rule and expects exactly its DeltaDecodeError, and
// DeltaRecord::Decode reports the same input as a Corruption error.
#include "llama/delta_decoder.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "llama/delta_record.h"
#include "tests/deltas/delta_test_util.h"

namespace llama {
namespace {

using namespace delta_test;

// DecodeDelta fails with `want`, and DeltaRecord::Decode fails with the matching
// Corruption error.
void ExpectDecodeError(const Bytes& bytes, DeltaDecodeError want) {
  SCOPED_TRACE(Hex(bytes));
  auto view = DecodeDelta(bytes);
  ASSERT_FALSE(view.has_value()) << "decoded, expected " << DeltaDecodeErrorName(want);
  EXPECT_EQ(view.error(), want) << "got " << DeltaDecodeErrorName(view.error()) << ", expected "
                                << DeltaDecodeErrorName(want);
  auto record = DeltaRecord::Decode(bytes);
  ASSERT_FALSE(record.has_value());
  EXPECT_EQ(record.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(record.error(), ToError(want));
}

void ExpectDecodes(const Bytes& bytes) {
  SCOPED_TRACE(Hex(bytes));
  auto view = DecodeDelta(bytes);
  ASSERT_TRUE(view.has_value()) << DeltaDecodeErrorName(view.error());
  auto record = DeltaRecord::Decode(bytes);
  ASSERT_TRUE(record.has_value());
  EXPECT_TRUE(SameBytes(record->bytes(), bytes));
}

// A valid Update with a payload, the base most cases below break in one field.
RawDelta ValidUpdate() { return RawDelta().LssOff(0x40).Pid(7).Bits(kU).Prior(kAddrA.raw()).Payload(ToBytes("hello")); }
RawDelta ValidFlush() { return RawDelta().Pid(7).Bits(kF).Payload(Fixed64Bytes(kAddrB.raw())); }
RawDelta ValidPartialSwap() { return RawDelta().Pid(7).Bits(kP | kF).LastFlushed(kAddrB.raw()); }
RawDelta ValidRelocation() {
  return RawDelta().Pid(7).Bits(kRe).Payload(Concat(Fixed64Bytes(kAddrA.raw()), Fixed64Bytes(kAddrB.raw())));
}

TEST(DeltaDecoderTest, TheBaseRecordsAreValid) {
  // Guards every test below: each breaks one of these in exactly one way.
  ExpectDecodes(Encode(ValidUpdate()));
  ExpectDecodes(Encode(ValidFlush()));
  ExpectDecodes(Encode(ValidPartialSwap()));
  ExpectDecodes(Encode(ValidRelocation()));
}

TEST(DeltaDecoderTest, EveryLengthShorterThanTheHeaderIsTruncated) {
  const Bytes valid = Encode(ValidUpdate());
  for (std::size_t n = 0; n <= 32; ++n) {
    SCOPED_TRACE("length " + std::to_string(n));
    ExpectDecodeError(Bytes(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n)),
                      DeltaDecodeError::kTruncatedHeader);
    // Also when the first bytes claim exactly this length.
    Bytes claims(n);
    if (n >= 4) EncodeFixed32(claims.data(), static_cast<std::uint32_t>(n));
    ExpectDecodeError(claims, DeltaDecodeError::kTruncatedHeader);
  }
  // The decoder must not read past the span: a span cut out of a longer buffer.
  const std::span<const std::byte> cut(valid.data(), 32);
  auto view = DecodeDelta(cut);
  ASSERT_FALSE(view.has_value());
  EXPECT_EQ(view.error(), DeltaDecodeError::kTruncatedHeader);
}

TEST(DeltaDecoderTest, LenThatDisagreesWithTheBufferIsALenMismatch) {
  const Bytes valid = Encode(ValidUpdate());
  const auto size = static_cast<std::uint32_t>(valid.size());
  for (const std::uint32_t len : {size + 1, size + 100, 0xFFFFFFFFu,  // too big
                                  size - 1, 33u, 32u, 0u}) {          // too small
    SCOPED_TRACE("Len " + std::to_string(len));
    RawDelta d = ValidUpdate();
    d.len = len;
    ExpectDecodeError(Encode(d), DeltaDecodeError::kLenMismatch);
  }
  // A correct record inside a larger span: Len must equal the span, not fit in it.
  Bytes longer = valid;
  longer.push_back(std::byte{0});
  ExpectDecodeError(longer, DeltaDecodeError::kLenMismatch);
  // And a span that stops short of Len.
  ExpectDecodeError(Bytes(valid.begin(), valid.end() - 1), DeltaDecodeError::kLenMismatch);
}

TEST(DeltaDecoderTest, PLenPastTheEndOfTheRecord) {
  for (const std::uint32_t plen : {6u, 7u, 1000u, 0xFFFFFFFFu, 0xFFFFFFFFu - 32u}) {
    SCOPED_TRACE("PLen " + std::to_string(plen));
    RawDelta d = ValidUpdate();  // 5-byte payload
    d.plen = plen;
    ExpectDecodeError(Encode(d), DeltaDecodeError::kPayloadPastEnd);
  }
  RawDelta flush = ValidFlush();
  flush.plen = 9;
  ExpectDecodeError(Encode(flush), DeltaDecodeError::kPayloadPastEnd);
}

TEST(DeltaDecoderTest, BytesAfterThePayloadAreTrailingBytes) {
  RawDelta d = ValidUpdate();
  d.extra_bytes = 1;  // Len covers them, PLen does not
  ExpectDecodeError(Encode(d), DeltaDecodeError::kTrailingBytes);
  d.extra_bytes = 64;
  ExpectDecodeError(Encode(d), DeltaDecodeError::kTrailingBytes);
  RawDelta shorter = ValidUpdate();
  shorter.plen = 0;
  ExpectDecodeError(Encode(shorter), DeltaDecodeError::kTrailingBytes);
  RawDelta ps = ValidPartialSwap();
  ps.extra_bytes = 3;
  ExpectDecodeError(Encode(ps), DeltaDecodeError::kTrailingBytes);
}

TEST(DeltaDecoderTest, PackedBitsThatSpellNoKindAreUnknown) {
  struct Case {
    std::uint8_t bits;
    const char* what;
  };
  for (const Case& c : std::vector<Case>{
           {kU | kP, "U|P"},
           {kU | kRe, "U|Re"},
           {kP | kRe, "P|Re"},
           {kU | kP | kRe, "U|P|Re"},
           {kF | kU | kP, "F|U|P"},
           {kF | kP | kRe, "F|P|Re"},
           {0x00, "no bits"},
           {kR, "R alone"},
           {kE, "E alone"},
           {kE | kR, "E|R"},
       }) {
    SCOPED_TRACE(c.what);
    RawDelta d = ValidUpdate();
    d.bits = c.bits;
    ExpectDecodeError(Encode(d), DeltaDecodeError::kUnknownKindBits);
  }
}

TEST(DeltaDecoderTest, ReservedBitsMustBeZero) {
  for (const std::uint8_t reserved : {0x01, 0x02, 0x03}) {
    SCOPED_TRACE("reserved " + std::to_string(reserved));
    RawDelta u = ValidUpdate();
    u.bits |= reserved;
    ExpectDecodeError(Encode(u), DeltaDecodeError::kReservedBitsSet);
    RawDelta f = ValidFlush();
    f.bits |= reserved;
    ExpectDecodeError(Encode(f), DeltaDecodeError::kReservedBitsSet);
    RawDelta ps = ValidPartialSwap();
    ps.bits |= reserved;
    ExpectDecodeError(Encode(ps), DeltaDecodeError::kReservedBitsSet);
    RawDelta re = ValidRelocation();
    re.bits |= reserved;
    ExpectDecodeError(Encode(re), DeltaDecodeError::kReservedBitsSet);
    // Checked before the kind: reserved bits with no kind report the reserved bits.
    RawDelta none = ValidUpdate();
    none.bits = reserved;
    ExpectDecodeError(Encode(none), DeltaDecodeError::kReservedBitsSet);
  }
}

TEST(DeltaDecoderTest, FailedFlushBitOnlyOnAFlush) {
  RawDelta u = ValidUpdate();
  u.bits = kU | kE;
  ExpectDecodeError(Encode(u), DeltaDecodeError::kFailedFlushOnNonFlush);
  u.bits = kU | kF | kE;
  ExpectDecodeError(Encode(u), DeltaDecodeError::kFailedFlushOnNonFlush);
  RawDelta ps = ValidPartialSwap();
  ps.bits = kP | kF | kE;
  ExpectDecodeError(Encode(ps), DeltaDecodeError::kFailedFlushOnNonFlush);
  ps.bits = kP | kE;
  ExpectDecodeError(Encode(ps), DeltaDecodeError::kFailedFlushOnNonFlush);
  RawDelta re = ValidRelocation();
  re.bits = kRe | kE;
  ExpectDecodeError(Encode(re), DeltaDecodeError::kFailedFlushOnNonFlush);
  // On a Flush it is the failed-flush marker, and valid.
  RawDelta f = ValidFlush();
  f.bits = kF | kE;
  ExpectDecodes(Encode(f));
}

TEST(DeltaDecoderTest, FlushAndRelocationPayloadsHaveFixedSizes) {
  for (const std::size_t size : {0, 1, 7, 9, 16}) {
    SCOPED_TRACE("Flush payload " + std::to_string(size));
    RawDelta f = ValidFlush();
    const Bytes full = Concat(Fixed64Bytes(kAddrB.raw()), Bytes(16));
    f.payload.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    ExpectDecodeError(Encode(f), DeltaDecodeError::kBadPayloadSize);
  }
  for (const std::size_t size : {0, 8, 15, 17, 32}) {
    SCOPED_TRACE("Relocation payload " + std::to_string(size));
    RawDelta re = ValidRelocation();
    re.payload.resize(size);
    ExpectDecodeError(Encode(re), DeltaDecodeError::kBadPayloadSize);
  }
  // Update and PartialSwap payloads are opaque: any size is valid.
  for (const std::size_t size : {0, 8, 16, 999}) {
    RawDelta u = ValidUpdate();
    u.payload = Pattern(size);
    ExpectDecodes(Encode(u));
    RawDelta ps = ValidPartialSwap();
    ps.payload = Pattern(size);
    ExpectDecodes(Encode(ps));
  }
}

TEST(DeltaDecoderTest, BadAddresses) {
  for (const std::uint64_t bad : {kRawSegmentZero, kRawTopBit, kRawAllOnes, std::uint64_t{1}}) {
    SCOPED_TRACE("raw address " + std::to_string(bad));
    // Prior State Ptr out of range, on every kind.
    for (RawDelta d : {ValidUpdate(), ValidFlush(), ValidPartialSwap(), ValidRelocation()}) {
      d.prior = bad;
      ExpectDecodeError(Encode(d), DeltaDecodeError::kBadAddress);
    }
    // Last Flushed Ptr out of range on a PartialSwap.
    RawDelta ps = ValidPartialSwap();
    ps.last_flushed = bad;
    ExpectDecodeError(Encode(ps), DeltaDecodeError::kBadAddress);
    // Out of range is reported before "stray": the address check comes first.
    RawDelta u = ValidUpdate();
    u.last_flushed = bad;
    ExpectDecodeError(Encode(u), DeltaDecodeError::kBadAddress);
    // A Flush's flushed-to address out of range.
    RawDelta f = ValidFlush();
    f.payload = Fixed64Bytes(bad);
    ExpectDecodeError(Encode(f), DeltaDecodeError::kBadAddress);
    // A Relocation's from or to out of range.
    RawDelta from = ValidRelocation();
    EncodeFixed64(from.payload.data(), bad);
    ExpectDecodeError(Encode(from), DeltaDecodeError::kBadAddress);
    RawDelta to = ValidRelocation();
    EncodeFixed64(to.payload.data() + 8, bad);
    ExpectDecodeError(Encode(to), DeltaDecodeError::kBadAddress);
  }

  // Null where an address is required.
  RawDelta flush_null = ValidFlush();
  flush_null.payload = Fixed64Bytes(0);
  ExpectDecodeError(Encode(flush_null), DeltaDecodeError::kBadAddress);
  RawDelta ps_null = ValidPartialSwap();
  ps_null.last_flushed = 0;
  ExpectDecodeError(Encode(ps_null), DeltaDecodeError::kBadAddress);
  RawDelta from_null = ValidRelocation();
  EncodeFixed64(from_null.payload.data(), 0);
  ExpectDecodeError(Encode(from_null), DeltaDecodeError::kBadAddress);
  RawDelta to_null = ValidRelocation();
  EncodeFixed64(to_null.payload.data() + 8, 0);
  ExpectDecodeError(Encode(to_null), DeltaDecodeError::kBadAddress);
  RawDelta both_null = ValidRelocation();
  both_null.payload = Bytes(16);
  ExpectDecodeError(Encode(both_null), DeltaDecodeError::kBadAddress);

  // Null prior state is fine on every kind: the state below is in memory or absent.
  for (RawDelta d : {ValidUpdate(), ValidFlush(), ValidPartialSwap(), ValidRelocation()}) {
    d.prior = 0;
    ExpectDecodes(Encode(d));
  }
}

TEST(DeltaDecoderTest, LastFlushedOnAKindOtherThanPartialSwapIsStray) {
  for (RawDelta d : {ValidUpdate(), ValidFlush(), ValidRelocation()}) {
    SCOPED_TRACE("bits " + std::to_string(d.bits));
    d.last_flushed = kAddrA.raw();
    ExpectDecodeError(Encode(d), DeltaDecodeError::kStrayLastFlushed);
    d.last_flushed = kAddrMax.raw();
    ExpectDecodeError(Encode(d), DeltaDecodeError::kStrayLastFlushed);
  }
}

TEST(DeltaDecoderTest, TheFirstBrokenRuleInDocumentedOrderIsReported) {
  // docs/FORMAT.md lists the checks in order; a record breaking several reports the first.
  RawDelta d = ValidFlush();
  d.bits = kF | 0x01;             // reserved bit
  d.payload = Bytes(3);           // bad payload size
  d.last_flushed = kAddrA.raw();  // stray
  ExpectDecodeError(Encode(d), DeltaDecodeError::kReservedBitsSet);
  d.bits = kU | kP;  // unknown kind
  ExpectDecodeError(Encode(d), DeltaDecodeError::kUnknownKindBits);
  d.bits = kRe | kE;  // E on a non-Flush
  ExpectDecodeError(Encode(d), DeltaDecodeError::kFailedFlushOnNonFlush);
  d.bits = kRe;
  d.prior = kRawTopBit;  // bad address before stray and payload size
  ExpectDecodeError(Encode(d), DeltaDecodeError::kBadAddress);
  d.prior = 0;
  ExpectDecodeError(Encode(d), DeltaDecodeError::kStrayLastFlushed);
  d.last_flushed = 0;
  ExpectDecodeError(Encode(d), DeltaDecodeError::kBadPayloadSize);
  d.plen = 99;  // a length error comes before everything in the header
  ExpectDecodeError(Encode(d), DeltaDecodeError::kPayloadPastEnd);
}

TEST(DeltaDecoderTest, EveryErrorHasItsOwnNameAndIsACorruption) {
  const std::vector<DeltaDecodeError> all = {
      DeltaDecodeError::kTruncatedHeader,       DeltaDecodeError::kLenMismatch,     DeltaDecodeError::kPayloadPastEnd,
      DeltaDecodeError::kTrailingBytes,         DeltaDecodeError::kUnknownKindBits, DeltaDecodeError::kReservedBitsSet,
      DeltaDecodeError::kFailedFlushOnNonFlush, DeltaDecodeError::kBadPayloadSize,  DeltaDecodeError::kBadAddress,
      DeltaDecodeError::kStrayLastFlushed,
  };
  std::set<std::string_view> names;
  for (const DeltaDecodeError e : all) {
    const std::string_view name = DeltaDecodeErrorName(e);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown decode error");
    names.insert(name);
    const Error error = ToError(e);
    EXPECT_EQ(error.code(), ErrorCode::kCorruption);
    EXPECT_NE(error.message().find(name), std::string::npos) << error.message();
  }
  EXPECT_EQ(names.size(), all.size());
}

}  // namespace
}  // namespace llama
