// DeltaRecord: the four constructors, encode/decode round trips checked field by field
// against the documented byte offsets, the typed views, the header setters, Clone, Share,
// and the arguments the constructors refuse.
#include "llama/delta_record.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <memory>
#include <string>
#include <vector>

#include "deltas/typed_deltas.h"
#include "llama/delta_format.h"
#include "tests/deltas/delta_test_util.h"

namespace llama {
namespace {

using namespace delta_test;

// What a record is expected to hold, spelled independently of the code under test.
struct ExpectedDelta {
  std::uint32_t lss_off = 0;
  PageId pid = 0;
  std::uint8_t bits = 0;
  DeltaKind kind = DeltaKind::kUpdate;
  LssAddress prior;
  LssAddress last_flushed;
  Bytes payload;
  LssAddress flushed_to;  // Flush
  LssAddress from, to;    // Relocation

  ExpectedDelta& LssOff(std::uint32_t v) { return lss_off = v, *this; }
  ExpectedDelta& Pid(PageId v) { return pid = v, *this; }
  ExpectedDelta& Bits(std::uint8_t v) { return bits = v, *this; }
  ExpectedDelta& Kind(DeltaKind v) { return kind = v, *this; }
  ExpectedDelta& Prior(LssAddress v) { return prior = v, *this; }
  ExpectedDelta& LastFlushed(LssAddress v) { return last_flushed = v, *this; }
  ExpectedDelta& Payload(Bytes v) { return payload = std::move(v), *this; }
  ExpectedDelta& FlushedTo(LssAddress v) { return flushed_to = v, *this; }
  ExpectedDelta& From(LssAddress v) { return from = v, *this; }
  ExpectedDelta& To(LssAddress v) { return to = v, *this; }
};

// Every accessor of a DeltaRecord or DeltaView, and the raw bytes at the documented offsets.
template <typename Fields>
void ExpectFields(const Fields& f, const ExpectedDelta& e) {
  const std::span<const std::byte> b = f.bytes();
  const auto len = static_cast<std::uint32_t>(33 + e.payload.size());
  ASSERT_EQ(b.size(), len);
  EXPECT_EQ(DecodeFixed32(b.data() + 0), len);
  EXPECT_EQ(DecodeFixed32(b.data() + 4), e.lss_off);
  EXPECT_EQ(DecodeFixed32(b.data() + 8), e.pid);
  EXPECT_EQ(std::to_integer<std::uint8_t>(b[12]), e.bits);
  EXPECT_EQ(DecodeFixed64(b.data() + 13), e.prior.raw());
  EXPECT_EQ(DecodeFixed64(b.data() + 21), e.last_flushed.raw());
  EXPECT_EQ(DecodeFixed32(b.data() + 29), e.payload.size());
  EXPECT_TRUE(SameBytes(b.subspan(33), e.payload));

  EXPECT_EQ(f.len(), len);
  EXPECT_EQ(f.lss_offset(), e.lss_off);
  EXPECT_EQ(f.pid(), e.pid);
  EXPECT_EQ(f.packed_bits(), e.bits);
  EXPECT_EQ(f.kind(), e.kind);
  EXPECT_EQ(f.is_update(), e.kind == DeltaKind::kUpdate);
  EXPECT_EQ(f.is_flush(), e.kind == DeltaKind::kFlush);
  EXPECT_EQ(f.is_partial_swap(), e.kind == DeltaKind::kPartialSwap);
  EXPECT_EQ(f.is_relocation(), e.kind == DeltaKind::kRelocation);
  EXPECT_EQ(f.is_durable(), (e.bits & kF) != 0);
  EXPECT_EQ(f.is_failed_flush(), (e.bits & kE) != 0);
  EXPECT_EQ(f.is_consolidation_eligible(), (e.bits & kR) != 0);
  EXPECT_EQ(f.prior_state(), e.prior);
  EXPECT_EQ(f.last_flushed(), e.last_flushed);
  EXPECT_EQ(f.payload_len(), e.payload.size());
  EXPECT_TRUE(SameBytes(f.payload(), e.payload));
  EXPECT_EQ(f.payload().data(), b.data() + 33);
}

// Exactly the typed view of the record's kind exists, and it reads the right fields.
void ExpectTypedViews(DeltaView v, const ExpectedDelta& e) {
  const auto update = UpdateDelta::From(v);
  const auto flush = FlushDelta::From(v);
  const auto ps = PartialSwapDelta::From(v);
  const auto reloc = RelocationDelta::From(v);
  EXPECT_EQ(update.has_value(), e.kind == DeltaKind::kUpdate);
  EXPECT_EQ(flush.has_value(), e.kind == DeltaKind::kFlush);
  EXPECT_EQ(ps.has_value(), e.kind == DeltaKind::kPartialSwap);
  EXPECT_EQ(reloc.has_value(), e.kind == DeltaKind::kRelocation);
  if (update) {
    EXPECT_EQ(update->pid(), e.pid);
    EXPECT_TRUE(SameBytes(update->payload(), e.payload));
    EXPECT_EQ(update->view().bytes().data(), v.bytes().data());
  }
  if (flush) {
    EXPECT_EQ(flush->pid(), e.pid);
    EXPECT_EQ(flush->flushed_to(), e.flushed_to);
    EXPECT_EQ(flush->failed(), (e.bits & kE) != 0);
    EXPECT_EQ(flush->view().bytes().data(), v.bytes().data());
  }
  if (ps) {
    EXPECT_EQ(ps->pid(), e.pid);
    EXPECT_EQ(ps->last_flushed(), e.last_flushed);
    EXPECT_FALSE(ps->last_flushed().is_null());
    EXPECT_TRUE(SameBytes(ps->payload(), e.payload));
    EXPECT_EQ(ps->view().bytes().data(), v.bytes().data());
  }
  if (reloc) {
    EXPECT_EQ(reloc->pid(), e.pid);
    EXPECT_EQ(reloc->from(), e.from);
    EXPECT_EQ(reloc->to(), e.to);
    EXPECT_EQ(reloc->view().bytes().data(), v.bytes().data());
  }
}

// The record, its view, DecodeDelta of its bytes and DeltaRecord::Decode of its bytes
// all read back `e`, and the decoded copy is byte-identical but owns its own buffer.
void ExpectRoundTrip(const DeltaRecord& r, const ExpectedDelta& e) {
  {
    SCOPED_TRACE("record");
    ExpectFields(r, e);
  }
  {
    SCOPED_TRACE("record.view()");
    ExpectFields(r.view(), e);
    EXPECT_EQ(r.view().bytes().data(), r.bytes().data());
  }
  auto view = DecodeDelta(r.bytes());
  ASSERT_TRUE(view.has_value()) << DeltaDecodeErrorName(view.error()) << "\n" << Hex(r.bytes());
  {
    SCOPED_TRACE("DecodeDelta");
    ExpectFields(*view, e);
    EXPECT_EQ(view->bytes().data(), r.bytes().data());
    ExpectTypedViews(*view, e);
  }
  auto copy = DeltaRecord::Decode(r.bytes());
  ASSERT_TRUE(copy.has_value()) << copy.error().ToString();
  {
    SCOPED_TRACE("DeltaRecord::Decode");
    EXPECT_TRUE(SameBytes(copy->bytes(), r.bytes()));
    EXPECT_NE(copy->bytes().data(), r.bytes().data());
    ExpectFields(*copy, e);
  }
}

TEST(DeltaRecordTest, UpdateRoundTripsWithEmptySmallAndLargePayloads) {
  for (const std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{4096}, std::size_t{1} << 20}) {
    SCOPED_TRACE("payload size " + std::to_string(size));
    const Bytes payload = Pattern(size, static_cast<std::uint32_t>(size));
    auto r = DeltaRecord::MakeUpdate(42, payload, kAddrA);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ExpectRoundTrip(*r, ExpectedDelta().Pid(42).Bits(kU).Kind(DeltaKind::kUpdate).Prior(kAddrA).Payload(payload));
  }
}

TEST(DeltaRecordTest, UpdateWithoutPriorStateHasNullPrior) {
  auto r = DeltaRecord::MakeUpdate(0, ToBytes("x"));
  ASSERT_TRUE(r.has_value());
  ExpectRoundTrip(*r, ExpectedDelta().Bits(kU).Kind(DeltaKind::kUpdate).Payload(ToBytes("x")));
}

TEST(DeltaRecordTest, ExtremeFieldValuesRoundTrip) {
  auto r = DeltaRecord::MakeUpdate(0xFFFFFFFF, ToBytes("edge"), kAddrMax);
  ASSERT_TRUE(r.has_value());
  r->SetLssOffset(0xFFFFFFFF);
  ExpectRoundTrip(*r, ExpectedDelta()
                          .LssOff(0xFFFFFFFF)
                          .Pid(0xFFFFFFFF)
                          .Bits(kU)
                          .Kind(DeltaKind::kUpdate)
                          .Prior(kAddrMax)
                          .Payload(ToBytes("edge")));
}

TEST(DeltaRecordTest, FlushRoundTripsCarryingItsTargetAddress) {
  auto r = DeltaRecord::MakeFlush(9, kAddrB, kAddrA);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ExpectRoundTrip(*r, ExpectedDelta()
                          .Pid(9)
                          .Bits(kF)
                          .Kind(DeltaKind::kFlush)
                          .Prior(kAddrA)
                          .Payload(Fixed64Bytes(kAddrB.raw()))
                          .FlushedTo(kAddrB));

  auto no_prior = DeltaRecord::MakeFlush(10, kAddrMax);
  ASSERT_TRUE(no_prior.has_value());
  ExpectRoundTrip(*no_prior, ExpectedDelta()
                                 .Pid(10)
                                 .Bits(kF)
                                 .Kind(DeltaKind::kFlush)
                                 .Payload(Fixed64Bytes(kAddrMax.raw()))
                                 .FlushedTo(kAddrMax));
}

TEST(DeltaRecordTest, FailedFlushDecodesAndKeepsItsEBit) {
  // No constructor makes a failed flush (the flush path writes the marker); decode one.
  const Bytes bytes =
      Encode(RawDelta().LssOff(0x200).Pid(3).Bits(kF | kE).Prior(kAddrA.raw()).Payload(Fixed64Bytes(kAddrB.raw())));
  auto r = DeltaRecord::Decode(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ExpectRoundTrip(*r, ExpectedDelta()
                          .LssOff(0x200)
                          .Pid(3)
                          .Bits(kF | kE)
                          .Kind(DeltaKind::kFlush)
                          .Prior(kAddrA)
                          .Payload(Fixed64Bytes(kAddrB.raw()))
                          .FlushedTo(kAddrB));
}

TEST(DeltaRecordTest, PartialSwapRoundTripsWithAndWithoutPayload) {
  auto bare = DeltaRecord::MakePartialSwap(5, kAddrB);
  ASSERT_TRUE(bare.has_value()) << bare.error().ToString();
  ExpectRoundTrip(*bare, ExpectedDelta().Pid(5).Bits(kP | kF).Kind(DeltaKind::kPartialSwap).LastFlushed(kAddrB));

  const Bytes payload = Pattern(100, 5);
  auto full = DeltaRecord::MakePartialSwap(6, kAddrB, payload, kAddrA);
  ASSERT_TRUE(full.has_value()) << full.error().ToString();
  ExpectRoundTrip(*full, ExpectedDelta()
                             .Pid(6)
                             .Bits(kP | kF)
                             .Kind(DeltaKind::kPartialSwap)
                             .Prior(kAddrA)
                             .LastFlushed(kAddrB)
                             .Payload(payload));
}

TEST(DeltaRecordTest, RelocationRoundTripsCarryingFromAndTo) {
  auto r = DeltaRecord::MakeRelocation(11, kAddrA, kAddrB, kAddrMax);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ExpectRoundTrip(*r, ExpectedDelta()
                          .Pid(11)
                          .Bits(kRe)
                          .Kind(DeltaKind::kRelocation)
                          .Prior(kAddrMax)
                          .Payload(Concat(Fixed64Bytes(kAddrA.raw()), Fixed64Bytes(kAddrB.raw())))
                          .From(kAddrA)
                          .To(kAddrB));
}

TEST(DeltaRecordTest, FlagBitsDecodeOnEveryKind) {
  struct Case {
    std::uint8_t bits;
    DeltaKind kind;
    std::uint64_t last_flushed;
    Bytes payload;
  };
  const Bytes reloc = Concat(Fixed64Bytes(kAddrA.raw()), Fixed64Bytes(kAddrB.raw()));
  const std::vector<Case> cases = {
      {kU | kF | kR, DeltaKind::kUpdate, 0, ToBytes("u")},
      {kU | kR, DeltaKind::kUpdate, 0, {}},
      {kF | kR, DeltaKind::kFlush, 0, Fixed64Bytes(kAddrB.raw())},
      {kF | kE | kR, DeltaKind::kFlush, 0, Fixed64Bytes(kAddrB.raw())},
      {kP, DeltaKind::kPartialSwap, kAddrA.raw(), {}},  // a PartialSwap not yet durable
      {kP | kF | kR, DeltaKind::kPartialSwap, kAddrA.raw(), ToBytes("ps")},
      {kRe | kF | kR, DeltaKind::kRelocation, 0, reloc},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("bits " + std::to_string(c.bits));
    const Bytes bytes = Encode(RawDelta().Pid(1).Bits(c.bits).LastFlushed(c.last_flushed).Payload(c.payload));
    auto r = DeltaRecord::Decode(bytes);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ExpectRoundTrip(*r, ExpectedDelta()
                            .Pid(1)
                            .Bits(c.bits)
                            .Kind(c.kind)
                            .LastFlushed(LssAddress::FromRaw(c.last_flushed))
                            .Payload(c.payload)
                            .FlushedTo(kAddrB)
                            .From(kAddrA)
                            .To(kAddrB));
  }
}

// Bytes of `after` differ from `before` only inside [begin, end).
void ExpectChangedOnlyIn(const Bytes& before, std::span<const std::byte> after, std::size_t begin, std::size_t end) {
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i >= begin && i < end) continue;
    EXPECT_EQ(before[i], after[i]) << "byte " << i << " changed";
  }
}

TEST(DeltaRecordTest, SetLssOffsetWritesBytes4To7Only) {
  auto r = DeltaRecord::MakeUpdate(7, ToBytes("payload"), kAddrA);
  ASSERT_TRUE(r.has_value());
  const Bytes before = ToBytes(r->bytes());
  r->SetLssOffset(0xA1B2C3D4);
  EXPECT_EQ(r->lss_offset(), 0xA1B2C3D4u);
  EXPECT_EQ(r->bytes()[4], std::byte{0xD4});
  EXPECT_EQ(r->bytes()[7], std::byte{0xA1});
  ExpectChangedOnlyIn(before, r->bytes(), 4, 8);
  ExpectRoundTrip(*r, ExpectedDelta()
                          .LssOff(0xA1B2C3D4)
                          .Pid(7)
                          .Bits(kU)
                          .Kind(DeltaKind::kUpdate)
                          .Prior(kAddrA)
                          .Payload(ToBytes("payload")));
  r->SetLssOffset(0);
  EXPECT_TRUE(SameBytes(r->bytes(), before));
}

TEST(DeltaRecordTest, SetPriorStateTakesValidOrNullAndRefusesOutOfRange) {
  auto r = DeltaRecord::MakeRelocation(8, kAddrA, kAddrB);
  ASSERT_TRUE(r.has_value());
  const Bytes before = ToBytes(r->bytes());

  ASSERT_TRUE(r->SetPriorState(kAddrMax).has_value());
  EXPECT_EQ(r->prior_state(), kAddrMax);
  ExpectChangedOnlyIn(before, r->bytes(), 13, 21);
  EXPECT_TRUE(DecodeDelta(r->bytes()).has_value());

  for (const std::uint64_t bad : {kRawSegmentZero, kRawTopBit, kRawAllOnes}) {
    SCOPED_TRACE("raw " + std::to_string(bad));
    const Bytes held = ToBytes(r->bytes());
    const Status s = r->SetPriorState(LssAddress::FromRaw(bad));
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(SameBytes(r->bytes(), held)) << "a refused SetPriorState changed the record";
  }

  ASSERT_TRUE(r->SetPriorState(LssAddress()).has_value());
  EXPECT_TRUE(r->prior_state().is_null());
  EXPECT_TRUE(SameBytes(r->bytes(), before));
}

TEST(DeltaRecordTest, SetDurableTogglesFAndNeverChangesTheKind) {
  auto update = DeltaRecord::MakeUpdate(1, ToBytes("u"));
  auto ps = DeltaRecord::MakePartialSwap(1, kAddrA);
  auto reloc = DeltaRecord::MakeRelocation(1, kAddrA, kAddrB);
  ASSERT_TRUE(update && ps && reloc);
  for (DeltaRecord* r : {&*update, &*ps, &*reloc}) {
    const DeltaKind kind = r->kind();
    SCOPED_TRACE(std::string(DeltaKindName(kind)));
    const Bytes before = ToBytes(r->bytes());
    const std::uint8_t bits = r->packed_bits();
    r->SetDurable(true);
    EXPECT_TRUE(r->is_durable());
    EXPECT_EQ(r->packed_bits(), bits | kF);
    EXPECT_EQ(r->kind(), kind);
    ExpectChangedOnlyIn(before, r->bytes(), 12, 13);
    EXPECT_TRUE(DecodeDelta(r->bytes()).has_value());
    r->SetDurable(false);
    EXPECT_FALSE(r->is_durable());
    EXPECT_EQ(r->packed_bits(), bits & ~kF);
    EXPECT_EQ(r->kind(), kind);
    EXPECT_TRUE(DecodeDelta(r->bytes()).has_value());
  }

  // A Flush delta is spelled by F alone: clearing F would unmake it, so SetDurable leaves it.
  auto flush = DeltaRecord::MakeFlush(1, kAddrB);
  ASSERT_TRUE(flush.has_value());
  const Bytes before = ToBytes(flush->bytes());
  flush->SetDurable(false);
  EXPECT_TRUE(SameBytes(flush->bytes(), before));
  EXPECT_EQ(flush->kind(), DeltaKind::kFlush);
  flush->SetDurable(true);
  EXPECT_TRUE(SameBytes(flush->bytes(), before));
}

TEST(DeltaRecordTest, SetConsolidationEligibleTogglesROnEveryKind) {
  auto update = DeltaRecord::MakeUpdate(1, ToBytes("u"));
  auto flush = DeltaRecord::MakeFlush(1, kAddrB);
  auto ps = DeltaRecord::MakePartialSwap(1, kAddrA);
  auto reloc = DeltaRecord::MakeRelocation(1, kAddrA, kAddrB);
  ASSERT_TRUE(update && flush && ps && reloc);
  for (DeltaRecord* r : {&*update, &*flush, &*ps, &*reloc}) {
    const DeltaKind kind = r->kind();
    SCOPED_TRACE(std::string(DeltaKindName(kind)));
    const Bytes before = ToBytes(r->bytes());
    EXPECT_FALSE(r->is_consolidation_eligible());
    r->SetConsolidationEligible(true);
    EXPECT_TRUE(r->is_consolidation_eligible());
    EXPECT_EQ(r->packed_bits(), std::to_integer<std::uint8_t>(before[12]) | kR);
    EXPECT_EQ(r->kind(), kind);
    ExpectChangedOnlyIn(before, r->bytes(), 12, 13);
    auto copy = DeltaRecord::Decode(r->bytes());
    ASSERT_TRUE(copy.has_value());
    EXPECT_TRUE(copy->is_consolidation_eligible());
    r->SetConsolidationEligible(false);
    EXPECT_TRUE(SameBytes(r->bytes(), before));
  }
}

TEST(DeltaRecordTest, CloneIsAnIndependentByteIdenticalCopy) {
  auto r = DeltaRecord::MakePartialSwap(4, kAddrB, ToBytes("swap"), kAddrA);
  ASSERT_TRUE(r.has_value());
  r->SetLssOffset(0x80);
  DeltaRecord clone = r->Clone();
  EXPECT_TRUE(SameBytes(clone.bytes(), r->bytes()));
  EXPECT_NE(clone.bytes().data(), r->bytes().data());

  const Bytes original = ToBytes(r->bytes());
  clone.SetLssOffset(0x100);
  clone.SetConsolidationEligible(true);
  ASSERT_TRUE(clone.SetPriorState(kAddrMax).has_value());
  EXPECT_TRUE(SameBytes(r->bytes(), original)) << "editing the clone changed the original";
  EXPECT_EQ(clone.lss_offset(), 0x100u);
  EXPECT_EQ(r->lss_offset(), 0x80u);
}

TEST(DeltaRecordTest, MoveHandsTheBytesToTheNewOwner) {
  auto r = DeltaRecord::MakeUpdate(2, ToBytes("moved"));
  ASSERT_TRUE(r.has_value());
  const std::byte* data = r->bytes().data();
  DeltaRecord moved = std::move(*r);
  EXPECT_EQ(moved.bytes().data(), data);
  EXPECT_EQ(AsStringView(moved.payload()), "moved");
}

TEST(DeltaRecordTest, ShareKeepsOneImmutableRecordAliveUntilTheLastHandle) {
  auto r = DeltaRecord::MakeUpdate(12, ToBytes("shared"), kAddrA);
  ASSERT_TRUE(r.has_value());
  const Bytes bytes = ToBytes(r->bytes());
  const std::byte* data = r->bytes().data();

  DeltaHandle first = Share(std::move(*r));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->bytes().data(), data) << "Share copied the bytes instead of moving them";
  EXPECT_TRUE(SameBytes(first->bytes(), bytes));

  DeltaHandle second = first;
  EXPECT_EQ(first.use_count(), 2);
  std::weak_ptr<const DeltaRecord> watch = first;
  first.reset();
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(AsStringView(second->payload()), "shared");
  EXPECT_EQ(second->pid(), 12u);
  second.reset();
  EXPECT_TRUE(watch.expired());
}

// Share builds the handle's control block (the record inside it) in the room kept in front
// of the record's bytes: a shared record is one allocation, bytes included, and that
// allocation lives until the last handle and the last weak reference are gone.
TEST(DeltaRecordTest, ASharedRecordIsOneAllocationWithItsBytes) {
  auto r = DeltaRecord::MakeUpdate(3, Bytes(1000, std::byte{0x5A}));
  ASSERT_TRUE(r.has_value());
  const std::byte* data = r->bytes().data();
  DeltaHandle handle = Share(std::move(*r));
  EXPECT_EQ(handle->bytes().data(), data) << "Share neither copies nor moves the bytes";
  const auto* record = reinterpret_cast<const std::byte*>(handle.get());
  EXPECT_LT(record, data) << "the record object sits in front of its bytes";
  EXPECT_LT(data - record, 128) << "in the room kept for it, in the same allocation";
  std::weak_ptr<const DeltaRecord> watch = handle;
  DeltaRecord owned = handle->Clone();
  owned.SetLssOffset(0x40);
  EXPECT_EQ(handle->lss_offset(), 0u) << "a clone owns bytes of its own";
  handle.reset();
  EXPECT_TRUE(watch.expired());
  DeltaHandle again = Share(std::move(owned));
  EXPECT_EQ(again->lss_offset(), 0x40u);
  EXPECT_EQ(again->payload().size(), 1000u);
}

// Out-of-range raw addresses, and what each is.
const std::vector<std::pair<std::uint64_t, const char*>>& BadAddresses() {
  static const auto* bad = new std::vector<std::pair<std::uint64_t, const char*>>{
      {kRawSegmentZero, "segment 0 with an offset"},
      {kRawTopBit, "top bit set"},
      {kRawAllOnes, "all ones"},
      {LssAddress::Make(LssAddress::kMaxSegment + 1, 0).raw(), "segment 2^31"},
  };
  return *bad;
}

void ExpectInvalidArgument(const Result<DeltaRecord>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(r.error().message().empty());
}

TEST(DeltaRecordTest, MakeRefusesAnOutOfRangePriorState) {
  for (const auto& [raw, what] : BadAddresses()) {
    SCOPED_TRACE(what);
    const LssAddress bad = LssAddress::FromRaw(raw);
    ExpectInvalidArgument(DeltaRecord::MakeUpdate(1, ToBytes("x"), bad));
    ExpectInvalidArgument(DeltaRecord::MakeFlush(1, kAddrB, bad));
    ExpectInvalidArgument(DeltaRecord::MakePartialSwap(1, kAddrB, {}, bad));
    ExpectInvalidArgument(DeltaRecord::MakeRelocation(1, kAddrA, kAddrB, bad));
  }
}

TEST(DeltaRecordTest, MakeRefusesNullOrOutOfRangeRequiredAddresses) {
  ExpectInvalidArgument(DeltaRecord::MakeFlush(1, LssAddress()));
  ExpectInvalidArgument(DeltaRecord::MakePartialSwap(1, LssAddress()));
  ExpectInvalidArgument(DeltaRecord::MakeRelocation(1, LssAddress(), kAddrB));
  ExpectInvalidArgument(DeltaRecord::MakeRelocation(1, kAddrA, LssAddress()));
  for (const auto& [raw, what] : BadAddresses()) {
    SCOPED_TRACE(what);
    const LssAddress bad = LssAddress::FromRaw(raw);
    ExpectInvalidArgument(DeltaRecord::MakeFlush(1, bad));
    ExpectInvalidArgument(DeltaRecord::MakePartialSwap(1, bad));
    ExpectInvalidArgument(DeltaRecord::MakeRelocation(1, bad, kAddrB));
    ExpectInvalidArgument(DeltaRecord::MakeRelocation(1, kAddrA, bad));
  }
}

TEST(DeltaRecordTest, MakeRefusesAPayloadLargerThanARecordCanHold) {
  // A real (reserved, never touched) mapping one byte larger than the largest payload, so
  // the span is a valid range; the constructors must refuse it before reading any of it.
  const std::size_t size = delta_format::kMaxPayloadSize + 1;
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) GTEST_SKIP() << "cannot reserve " << size << " bytes of address space";
  const std::span<const std::byte> huge(static_cast<const std::byte*>(map), size);
  ExpectInvalidArgument(DeltaRecord::MakeUpdate(1, huge));
  ExpectInvalidArgument(DeltaRecord::MakePartialSwap(1, kAddrA, huge));
  munmap(map, size);
}

}  // namespace
}  // namespace llama
