#include "deltas/typed_deltas.h"

namespace llama {

std::optional<UpdateDelta> UpdateDelta::From(DeltaView v) {
  if (v.kind() != DeltaKind::kUpdate) return std::nullopt;
  return UpdateDelta(v);
}

std::optional<FlushDelta> FlushDelta::From(DeltaView v) {
  if (v.kind() != DeltaKind::kFlush) return std::nullopt;
  return FlushDelta(v);
}

LssAddress FlushDelta::flushed_to() const { return LssAddress::FromRaw(DecodeFixed64(view_.payload().data())); }

std::optional<PartialSwapDelta> PartialSwapDelta::From(DeltaView v) {
  if (v.kind() != DeltaKind::kPartialSwap) return std::nullopt;
  return PartialSwapDelta(v);
}

std::optional<RelocationDelta> RelocationDelta::From(DeltaView v) {
  if (v.kind() != DeltaKind::kRelocation) return std::nullopt;
  return RelocationDelta(v);
}

LssAddress RelocationDelta::from() const { return LssAddress::FromRaw(DecodeFixed64(view_.payload().data())); }
LssAddress RelocationDelta::to() const { return LssAddress::FromRaw(DecodeFixed64(view_.payload().data() + 8)); }

}  // namespace llama
