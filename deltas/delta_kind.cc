#include "llama/delta_kind.h"

#include "llama/delta_format.h"

namespace llama {

using namespace delta_format;

std::string_view DeltaKindName(DeltaKind kind) {
  switch (kind) {
    case DeltaKind::kUpdate:
      return "Update";
    case DeltaKind::kFlush:
      return "Flush";
    case DeltaKind::kPartialSwap:
      return "PartialSwap";
    case DeltaKind::kRelocation:
      return "Relocation";
  }
  return "Unknown";
}

std::optional<DeltaKind> DeltaKindFromBits(std::uint8_t packed_bits) {
  switch (packed_bits & kKindMask) {
    case kUpdateBit:
      return DeltaKind::kUpdate;
    case kPartialSwapBit:
      return DeltaKind::kPartialSwap;
    case kRelocationBit:
      return DeltaKind::kRelocation;
    case 0:
      if (packed_bits & kFlushedBit) return DeltaKind::kFlush;
      return std::nullopt;
    default:
      return std::nullopt;  // two or three kind bits at once
  }
}

std::uint8_t DeltaKindBits(DeltaKind kind) {
  switch (kind) {
    case DeltaKind::kUpdate:
      return kUpdateBit;
    case DeltaKind::kFlush:
      return kFlushedBit;
    case DeltaKind::kPartialSwap:
      return kPartialSwapBit | kFlushedBit;
    case DeltaKind::kRelocation:
      return kRelocationBit;
  }
  return 0;
}

}  // namespace llama
