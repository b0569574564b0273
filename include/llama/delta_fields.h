// Type-blind field accessors shared by the borrowed DeltaView and the owned DeltaRecord.
// They read straight from the encoded bytes, which the owner has already validated
// (include/llama/delta_decoder.h), so no accessor can read out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "llama/coding.h"
#include "llama/delta_format.h"
#include "llama/delta_kind.h"
#include "llama/types.h"

namespace llama {

template <typename Derived>
class DeltaFields {
 public:
  std::uint32_t len() const { return Read32(delta_format::kLenOffset); }
  std::uint32_t lss_offset() const { return Read32(delta_format::kLssOffOffset); }
  PageId pid() const { return Read32(delta_format::kPidOffset); }
  std::uint8_t packed_bits() const { return std::to_integer<std::uint8_t>(bytes()[delta_format::kPackedBitsOffset]); }
  // Valid records always spell a kind (the decoder rejects the rest).
  DeltaKind kind() const { return *DeltaKindFromBits(packed_bits()); }
  bool is_update() const { return kind() == DeltaKind::kUpdate; }
  bool is_flush() const { return kind() == DeltaKind::kFlush; }
  bool is_partial_swap() const { return kind() == DeltaKind::kPartialSwap; }
  bool is_relocation() const { return kind() == DeltaKind::kRelocation; }
  // The durability bit (F): the record's content is in the LSS and synced.
  bool is_durable() const { return (packed_bits() & delta_format::kFlushedBit) != 0; }
  bool is_failed_flush() const { return (packed_bits() & delta_format::kFailedFlushBit) != 0; }
  bool is_consolidation_eligible() const { return (packed_bits() & delta_format::kConsolidateBit) != 0; }
  LssAddress prior_state() const { return LssAddress::FromRaw(Read64(delta_format::kPriorStateOffset)); }
  LssAddress last_flushed() const { return LssAddress::FromRaw(Read64(delta_format::kLastFlushedOffset)); }
  std::uint32_t payload_len() const { return Read32(delta_format::kPayloadLenOffset); }
  std::span<const std::byte> payload() const { return bytes().subspan(delta_format::kHeaderSize, payload_len()); }
  std::span<const std::byte> bytes() const { return static_cast<const Derived&>(*this).bytes(); }

 private:
  std::uint32_t Read32(std::size_t at) const { return DecodeFixed32(bytes().data() + at); }
  std::uint64_t Read64(std::size_t at) const { return DecodeFixed64(bytes().data() + at); }
};

}  // namespace llama
