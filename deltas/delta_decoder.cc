#include "llama/delta_decoder.h"

#include <string>

namespace llama {

using namespace delta_format;

std::string_view DeltaDecodeErrorName(DeltaDecodeError error) {
  switch (error) {
    case DeltaDecodeError::kTruncatedHeader:
      return "truncated header (fewer than 33 bytes)";
    case DeltaDecodeError::kLenMismatch:
      return "Len does not match the record's size";
    case DeltaDecodeError::kPayloadPastEnd:
      return "PLen runs past the end of the record";
    case DeltaDecodeError::kTrailingBytes:
      return "bytes after the payload (33 + PLen < Len)";
    case DeltaDecodeError::kUnknownKindBits:
      return "packed bits spell no delta kind";
    case DeltaDecodeError::kReservedBitsSet:
      return "reserved packed bits are set";
    case DeltaDecodeError::kFailedFlushOnNonFlush:
      return "failed-flush bit on a non-Flush delta";
    case DeltaDecodeError::kBadPayloadSize:
      return "payload size wrong for the delta kind";
    case DeltaDecodeError::kBadAddress:
      return "LSS address out of range or missing";
    case DeltaDecodeError::kStrayLastFlushed:
      return "Last Flushed Ptr set on a non-PartialSwap delta";
  }
  return "unknown decode error";
}

Error ToError(DeltaDecodeError error) {
  return Error(ErrorCode::kCorruption, std::string("delta record: ") + std::string(DeltaDecodeErrorName(error)));
}

namespace {

bool AddressInRange(std::uint64_t raw) { return raw == 0 || LssAddress::FromRaw(raw).is_valid(); }

}  // namespace

tl::expected<DeltaView, DeltaDecodeError> DecodeDelta(std::span<const std::byte> bytes) {
  using Fail = tl::unexpected<DeltaDecodeError>;
  if (bytes.size() < kHeaderSize) return Fail(DeltaDecodeError::kTruncatedHeader);
  const std::byte* p = bytes.data();
  const std::uint64_t len = DecodeFixed32(p + kLenOffset);
  if (len != bytes.size()) return Fail(DeltaDecodeError::kLenMismatch);
  const std::uint64_t plen = DecodeFixed32(p + kPayloadLenOffset);
  if (kHeaderSize + plen > len) return Fail(DeltaDecodeError::kPayloadPastEnd);
  if (kHeaderSize + plen < len) return Fail(DeltaDecodeError::kTrailingBytes);

  const auto bits = std::to_integer<std::uint8_t>(p[kPackedBitsOffset]);
  if (bits & kReservedMask) return Fail(DeltaDecodeError::kReservedBitsSet);
  const std::optional<DeltaKind> kind = DeltaKindFromBits(bits);
  if (!kind) return Fail(DeltaDecodeError::kUnknownKindBits);
  if ((bits & kFailedFlushBit) && *kind != DeltaKind::kFlush) {
    return Fail(DeltaDecodeError::kFailedFlushOnNonFlush);
  }

  const std::uint64_t prior = DecodeFixed64(p + kPriorStateOffset);
  const std::uint64_t last_flushed = DecodeFixed64(p + kLastFlushedOffset);
  if (!AddressInRange(prior) || !AddressInRange(last_flushed)) {
    return Fail(DeltaDecodeError::kBadAddress);
  }
  if (*kind != DeltaKind::kPartialSwap && last_flushed != 0) {
    return Fail(DeltaDecodeError::kStrayLastFlushed);
  }

  const std::byte* payload = p + kHeaderSize;
  switch (*kind) {
    case DeltaKind::kUpdate:
      break;  // opaque to LLAMA
    case DeltaKind::kFlush:
      if (plen != kFlushPayloadSize) return Fail(DeltaDecodeError::kBadPayloadSize);
      if (!LssAddress::FromRaw(DecodeFixed64(payload)).is_valid()) {
        return Fail(DeltaDecodeError::kBadAddress);
      }
      break;
    case DeltaKind::kPartialSwap:
      if (last_flushed == 0) return Fail(DeltaDecodeError::kBadAddress);
      break;
    case DeltaKind::kRelocation:
      if (plen != kRelocationPayloadSize) return Fail(DeltaDecodeError::kBadPayloadSize);
      if (!LssAddress::FromRaw(DecodeFixed64(payload)).is_valid() ||
          !LssAddress::FromRaw(DecodeFixed64(payload + 8)).is_valid()) {
        return Fail(DeltaDecodeError::kBadAddress);
      }
      break;
  }
  return DeltaView(bytes);
}

}  // namespace llama
