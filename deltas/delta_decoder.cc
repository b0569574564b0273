#include "llama/delta_decoder.h"

#include <string>

#include "util/byte_io.h"

namespace llama {

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
  using namespace delta_format;  // the layout's constants; the names above do not depend on it
  using Fail = tl::unexpected<DeltaDecodeError>;
  ByteReader r(bytes);
  std::uint32_t len = 0, lss_offset = 0, pid = 0, plen = 0;
  std::uint8_t bits = 0;
  std::uint64_t prior = 0, last_flushed = 0;
  // The header's fields in their order (delta_format.h pins it).
  if (!r.U32(&len) || !r.U32(&lss_offset) || !r.U32(&pid) || !r.U8(&bits) || !r.U64(&prior) || !r.U64(&last_flushed) ||
      !r.U32(&plen)) {
    return Fail(DeltaDecodeError::kTruncatedHeader);
  }
  if (len != bytes.size()) return Fail(DeltaDecodeError::kLenMismatch);
  if (kHeaderSize + std::uint64_t{plen} > len) return Fail(DeltaDecodeError::kPayloadPastEnd);
  if (kHeaderSize + std::uint64_t{plen} < len) return Fail(DeltaDecodeError::kTrailingBytes);

  if (bits & kReservedMask) return Fail(DeltaDecodeError::kReservedBitsSet);
  const std::optional<DeltaKind> kind = DeltaKindFromBits(bits);
  if (!kind) return Fail(DeltaDecodeError::kUnknownKindBits);
  if ((bits & kFailedFlushBit) && *kind != DeltaKind::kFlush) {
    return Fail(DeltaDecodeError::kFailedFlushOnNonFlush);
  }

  if (!AddressInRange(prior) || !AddressInRange(last_flushed)) {
    return Fail(DeltaDecodeError::kBadAddress);
  }
  if (*kind != DeltaKind::kPartialSwap && last_flushed != 0) {
    return Fail(DeltaDecodeError::kStrayLastFlushed);
  }

  // The rest is the payload, `plen` bytes (checked above).
  std::uint64_t first = 0, second = 0;
  switch (*kind) {
    case DeltaKind::kUpdate:
      break;  // opaque to LLAMA
    case DeltaKind::kFlush:
      if (plen != kFlushPayloadSize) return Fail(DeltaDecodeError::kBadPayloadSize);
      (void)r.U64(&first);
      if (!LssAddress::FromRaw(first).is_valid()) return Fail(DeltaDecodeError::kBadAddress);
      break;
    case DeltaKind::kPartialSwap:
      if (last_flushed == 0) return Fail(DeltaDecodeError::kBadAddress);
      break;
    case DeltaKind::kRelocation:
      if (plen != kRelocationPayloadSize) return Fail(DeltaDecodeError::kBadPayloadSize);
      (void)(r.U64(&first) && r.U64(&second));
      if (!LssAddress::FromRaw(first).is_valid() || !LssAddress::FromRaw(second).is_valid()) {
        return Fail(DeltaDecodeError::kBadAddress);
      }
      break;
  }
  return DeltaView(bytes);
}

}  // namespace llama
