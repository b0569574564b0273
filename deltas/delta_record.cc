#include "deltas/delta_record.h"

#include <cassert>
#include <cstring>
#include <string>

namespace llama {

using namespace delta_format;

namespace {

Status CheckAddress(LssAddress a, const char* what, bool required) {
  if (a.is_null() && !required) return OkStatus();
  if (a.is_valid()) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   std::string("delta record: ") + what + " is not a valid LSS address");
}

}  // namespace

Result<DeltaRecord> DeltaRecord::Build(PageId pid, std::uint8_t bits, LssAddress prior,
                                       LssAddress last_flushed,
                                       std::span<const std::byte> payload) {
  if (payload.size() > kMaxPayloadSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "delta record: payload of " + std::to_string(payload.size()) +
                         " bytes exceeds the u32 record length");
  }
  if (auto s = CheckAddress(prior, "prior state", false); !s) return tl::unexpected(s.error());
  const auto size = static_cast<std::uint32_t>(kHeaderSize + payload.size());
  auto data = std::make_unique<std::byte[]>(size);
  std::byte* p = data.get();
  EncodeFixed32(p + kLenOffset, size);
  EncodeFixed32(p + kLssOffOffset, 0);
  EncodeFixed32(p + kPidOffset, pid);
  p[kPackedBitsOffset] = static_cast<std::byte>(bits);
  EncodeFixed64(p + kPriorStateOffset, prior.raw());
  EncodeFixed64(p + kLastFlushedOffset, last_flushed.raw());
  EncodeFixed32(p + kPayloadLenOffset, static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(p + kHeaderSize, payload.data(), payload.size());
  DeltaRecord record(std::move(data), size);
  assert(DecodeDelta(record.bytes()).has_value());
  return record;
}

Result<DeltaRecord> DeltaRecord::MakeUpdate(PageId pid, std::span<const std::byte> payload,
                                            LssAddress prior_state) {
  return Build(pid, DeltaKindBits(DeltaKind::kUpdate), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::MakeFlush(PageId pid, LssAddress flushed_to,
                                           LssAddress prior_state) {
  if (auto s = CheckAddress(flushed_to, "flushed-to address", true); !s) {
    return tl::unexpected(s.error());
  }
  std::byte payload[kFlushPayloadSize];
  EncodeFixed64(payload, flushed_to.raw());
  return Build(pid, DeltaKindBits(DeltaKind::kFlush), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::MakePartialSwap(PageId pid, LssAddress last_flushed,
                                                 std::span<const std::byte> payload,
                                                 LssAddress prior_state) {
  if (auto s = CheckAddress(last_flushed, "last flushed address", true); !s) {
    return tl::unexpected(s.error());
  }
  return Build(pid, DeltaKindBits(DeltaKind::kPartialSwap), prior_state, last_flushed, payload);
}

Result<DeltaRecord> DeltaRecord::MakeRelocation(PageId pid, LssAddress from, LssAddress to,
                                                LssAddress prior_state) {
  if (auto s = CheckAddress(from, "relocation source", true); !s) return tl::unexpected(s.error());
  if (auto s = CheckAddress(to, "relocation target", true); !s) return tl::unexpected(s.error());
  std::byte payload[kRelocationPayloadSize];
  EncodeFixed64(payload, from.raw());
  EncodeFixed64(payload + 8, to.raw());
  return Build(pid, DeltaKindBits(DeltaKind::kRelocation), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::Decode(std::span<const std::byte> bytes) {
  auto view = DecodeDelta(bytes);
  if (!view) return tl::unexpected(ToError(view.error()));
  auto data = std::make_unique<std::byte[]>(bytes.size());
  std::memcpy(data.get(), bytes.data(), bytes.size());
  return DeltaRecord(std::move(data), static_cast<std::uint32_t>(bytes.size()));
}

DeltaRecord DeltaRecord::Clone() const {
  auto data = std::make_unique<std::byte[]>(size_);
  std::memcpy(data.get(), data_.get(), size_);
  return DeltaRecord(std::move(data), size_);
}

DeltaView DeltaRecord::view() const {
  // Every way of making a DeltaRecord validated its bytes; no need to decode again.
  return DeltaView(bytes());
}

void DeltaRecord::SetLssOffset(std::uint32_t offset) {
  EncodeFixed32(data_.get() + kLssOffOffset, offset);
}

Status DeltaRecord::SetPriorState(LssAddress prior) {
  if (auto s = CheckAddress(prior, "prior state", false); !s) return s;
  EncodeFixed64(data_.get() + kPriorStateOffset, prior.raw());
  return OkStatus();
}

void DeltaRecord::SetBit(std::uint8_t bit, bool on) {
  auto bits = std::to_integer<std::uint8_t>(data_[kPackedBitsOffset]);
  bits = on ? static_cast<std::uint8_t>(bits | bit) : static_cast<std::uint8_t>(bits & ~bit);
  data_[kPackedBitsOffset] = static_cast<std::byte>(bits);
}

void DeltaRecord::SetDurable(bool durable) {
  // A Flush delta is spelled by F alone, so its F bit is not a free durability flag.
  if (kind() == DeltaKind::kFlush) return;
  SetBit(kFlushedBit, durable);
}

void DeltaRecord::SetConsolidationEligible(bool eligible) { SetBit(kConsolidateBit, eligible); }

}  // namespace llama
