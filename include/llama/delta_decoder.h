// Decoding untrusted bytes into a delta record. Any byte string either decodes into a
// valid record or yields one DeltaDecodeError naming what is wrong; the decoder never
// reads outside the span it is given (fuzzed by fuzz/delta_decode_fuzzer.cc).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <tl/expected.hpp>

#include "llama/delta_fields.h"
#include "llama/status.h"

namespace llama {

enum class DeltaDecodeError : std::uint8_t {
  kTruncatedHeader,        // fewer than 33 bytes
  kLenMismatch,            // Len differs from the number of bytes given
  kPayloadPastEnd,         // 33 + PLen runs past Len
  kTrailingBytes,          // 33 + PLen stops short of Len
  kUnknownKindBits,        // none or several of U/P/Re, or none of them and F clear
  kReservedBitsSet,        // bits 1-0 of the packed bits are not zero
  kFailedFlushOnNonFlush,  // E set on a kind other than Flush
  kBadPayloadSize,         // Flush payload not 8 bytes, Relocation payload not 16
  kBadAddress,             // an LSS address out of range, or null where one is required
  kStrayLastFlushed,       // Last Flushed Ptr set on a kind other than PartialSwap
};

std::string_view DeltaDecodeErrorName(DeltaDecodeError error);
// The error as a Corruption Error, for callers that report rather than branch.
Error ToError(DeltaDecodeError error);

// A borrowed, validated view of an encoded delta record. Valid only while the bytes it
// views are alive; the owner of those bytes decides how long that is.
class DeltaView : public DeltaFields<DeltaView> {
 public:
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  friend tl::expected<DeltaView, DeltaDecodeError> DecodeDelta(std::span<const std::byte>);
  friend class DeltaRecord;  // its bytes were validated when it was made
  explicit DeltaView(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::span<const std::byte> bytes_;
};

// Validates `bytes` as exactly one delta record (Len must equal bytes.size()).
tl::expected<DeltaView, DeltaDecodeError> DecodeDelta(std::span<const std::byte> bytes);

}  // namespace llama
