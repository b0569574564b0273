// libFuzzer target: any byte string given to the delta decoder (and the base page decoder)
// either decodes into something that obeys every rule of docs/FORMAT.md or is refused with
// a Corruption error. Never a crash, never a read outside the input.
//
// For a valid delta record it reads every accessor and typed view, checks the rules the
// decoder promises, checks that DeltaRecord::Decode copies the bytes exactly, and that the
// constructors (Make* plus the header setters) rebuild the same bytes: the encoder and
// the decoder agree. For a valid base page it checks the same round trip through
// BasePage::Create. Any broken promise aborts, so the fuzzer reports it as a crash.
//
// The same source is linked into delta_decode_replay (fuzz/replay_main.cc), which replays
// the committed corpus and regressions in every normal build.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "deltas/typed_deltas.h"
#include "llama/base_page.h"
#include "llama/delta_decoder.h"
#include "llama/delta_format.h"
#include "llama/delta_record.h"

namespace llama {
namespace {

[[noreturn]] void Fail(const char* what, int line) {
  std::fprintf(stderr, "delta_decode_fuzzer: check failed at line %d: %s\n", line, what);
  std::abort();
}

#define FUZZ_CHECK(cond)                \
  do {                                  \
    if (!(cond)) Fail(#cond, __LINE__); \
  } while (false)

bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Folds bytes into a value the optimizer cannot drop, so every byte is really read.
volatile std::uint64_t g_sink = 0;
void Touch(std::span<const std::byte> bytes) {
  std::uint64_t h = 0;
  for (const std::byte b : bytes) h = h * 131 + std::to_integer<std::uint64_t>(b);
  g_sink = g_sink + h;
}

// Builds the record `v` describes through the public constructors and setters.
Result<DeltaRecord> Rebuild(const DeltaView& v) {
  Result<DeltaRecord> r = MakeError(ErrorCode::kAborted, "unset");
  switch (v.kind()) {
    case DeltaKind::kUpdate:
      r = DeltaRecord::MakeUpdate(v.pid(), v.payload(), v.prior_state());
      break;
    case DeltaKind::kFlush:
      r = DeltaRecord::MakeFlush(v.pid(), FlushDelta::From(v)->flushed_to(), v.prior_state());
      break;
    case DeltaKind::kPartialSwap:
      r = DeltaRecord::MakePartialSwap(v.pid(), v.last_flushed(), v.payload(), v.prior_state());
      break;
    case DeltaKind::kRelocation: {
      const auto reloc = RelocationDelta::From(v);
      r = DeltaRecord::MakeRelocation(v.pid(), reloc->from(), reloc->to(), v.prior_state());
      break;
    }
  }
  if (!r) return r;
  r->SetLssOffset(v.lss_offset());
  r->SetDurable(v.is_durable());
  r->SetConsolidationEligible(v.is_consolidation_eligible());
  return r;
}

void CheckValidDelta(std::span<const std::byte> input, const DeltaView& v) {
  using namespace delta_format;
  // Header fields and the rules of a valid record.
  FUZZ_CHECK(v.bytes().data() == input.data() && v.bytes().size() == input.size());
  FUZZ_CHECK(v.len() == input.size());
  FUZZ_CHECK(kHeaderSize + std::uint64_t{v.payload_len()} == v.len());
  FUZZ_CHECK(v.payload().size() == v.payload_len());
  FUZZ_CHECK(v.payload().data() == input.data() + kHeaderSize);
  FUZZ_CHECK((v.packed_bits() & kReservedMask) == 0);
  FUZZ_CHECK(DeltaKindFromBits(v.packed_bits()) == v.kind());
  FUZZ_CHECK(!DeltaKindName(v.kind()).empty());
  const int kinds = v.is_update() + v.is_flush() + v.is_partial_swap() + v.is_relocation();
  FUZZ_CHECK(kinds == 1);
  FUZZ_CHECK(!v.is_failed_flush() || v.is_flush());
  FUZZ_CHECK(v.prior_state().is_null() || v.prior_state().is_valid());
  FUZZ_CHECK(v.is_partial_swap() ? v.last_flushed().is_valid() : v.last_flushed().is_null());
  g_sink = g_sink + v.lss_offset() + v.pid() + v.is_durable() + v.is_consolidation_eligible();
  Touch(v.payload());

  // Exactly the typed view of its kind, reading what that kind gives meaning to.
  const auto update = UpdateDelta::From(v);
  const auto flush = FlushDelta::From(v);
  const auto ps = PartialSwapDelta::From(v);
  const auto reloc = RelocationDelta::From(v);
  FUZZ_CHECK(update.has_value() == v.is_update());
  FUZZ_CHECK(flush.has_value() == v.is_flush());
  FUZZ_CHECK(ps.has_value() == v.is_partial_swap());
  FUZZ_CHECK(reloc.has_value() == v.is_relocation());
  if (update) {
    FUZZ_CHECK(update->pid() == v.pid());
    FUZZ_CHECK(SameBytes(update->payload(), v.payload()));
  }
  if (flush) {
    FUZZ_CHECK(v.payload_len() == kFlushPayloadSize);
    FUZZ_CHECK(flush->flushed_to().is_valid());
    FUZZ_CHECK(flush->failed() == v.is_failed_flush());
    FUZZ_CHECK(flush->pid() == v.pid());
  }
  if (ps) {
    FUZZ_CHECK(ps->last_flushed() == v.last_flushed());
    FUZZ_CHECK(SameBytes(ps->payload(), v.payload()));
    FUZZ_CHECK(ps->pid() == v.pid());
  }
  if (reloc) {
    FUZZ_CHECK(v.payload_len() == kRelocationPayloadSize);
    FUZZ_CHECK(reloc->from().is_valid() && reloc->to().is_valid());
    FUZZ_CHECK(reloc->pid() == v.pid());
  }

  // DeltaRecord::Decode copies exactly these bytes; its view is the same record.
  auto record = DeltaRecord::Decode(input);
  FUZZ_CHECK(record.has_value());
  FUZZ_CHECK(SameBytes(record->bytes(), input));
  FUZZ_CHECK(record->bytes().data() != input.data());
  FUZZ_CHECK(SameBytes(record->view().bytes(), input));
  FUZZ_CHECK(record->kind() == v.kind());
  FUZZ_CHECK(SameBytes(record->Clone().bytes(), input));

  // The constructors rebuild the same bytes. Only the failed-flush bit has no setter
  // (the flush path writes that marker), so it is compared apart.
  auto rebuilt = Rebuild(v);
  FUZZ_CHECK(rebuilt.has_value());
  std::byte expected_bits = input[kPackedBitsOffset] & ~std::byte{kFailedFlushBit};
  FUZZ_CHECK(rebuilt->bytes()[kPackedBitsOffset] == expected_bits);
  FUZZ_CHECK(rebuilt->bytes().size() == input.size());
  FUZZ_CHECK(SameBytes(rebuilt->bytes().first(kPackedBitsOffset), input.first(kPackedBitsOffset)));
  FUZZ_CHECK(SameBytes(rebuilt->bytes().subspan(kPackedBitsOffset + 1), input.subspan(kPackedBitsOffset + 1)));
}

void CheckInvalidDelta(std::span<const std::byte> input, DeltaDecodeError error) {
  FUZZ_CHECK(!DeltaDecodeErrorName(error).empty());
  auto record = DeltaRecord::Decode(input);
  FUZZ_CHECK(!record.has_value());
  FUZZ_CHECK(record.error().code() == ErrorCode::kCorruption);
  FUZZ_CHECK(record.error() == ToError(error));
}

void CheckBasePage(std::span<const std::byte> input) {
  auto page = BasePage::Decode(input);
  if (!page) {
    FUZZ_CHECK(page.error().code() == ErrorCode::kCorruption);
    return;
  }
  FUZZ_CHECK(BasePage::IsValidPageSize(page->page_size()));
  FUZZ_CHECK(page->used() <= page->capacity());
  FUZZ_CHECK(page->capacity() + base_page_format::kHeaderSize == page->page_size());
  FUZZ_CHECK(page->contents().size() == page->used());
  FUZZ_CHECK(SameBytes(page->Encoded(), input));
  Touch(page->contents());
  auto again = BasePage::Create(page->pid(), page->page_size(), page->contents());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(SameBytes(again->Encoded(), input));
}

}  // namespace
}  // namespace llama

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto view = llama::DecodeDelta(input);
  if (view) {
    llama::CheckValidDelta(input, *view);
  } else {
    llama::CheckInvalidDelta(input, view.error());
  }
  llama::CheckBasePage(input);
  return 0;
}
