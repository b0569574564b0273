// Typed views of the four delta kinds over a validated DeltaView. Each `From` returns
// nullopt when the record is of another kind; the accessors read the fields that kind
// gives meaning to. Views borrow: they live no longer than the bytes under the DeltaView.
#pragma once

#include <optional>
#include <span>

#include "llama/delta_decoder.h"

namespace llama {

class UpdateDelta {
 public:
  static std::optional<UpdateDelta> From(DeltaView v);
  PageId pid() const { return view_.pid(); }
  std::span<const std::byte> payload() const { return view_.payload(); }
  DeltaView view() const { return view_; }

 private:
  explicit UpdateDelta(DeltaView v) : view_(v) {}
  DeltaView view_;
};

class FlushDelta {
 public:
  static std::optional<FlushDelta> From(DeltaView v);
  PageId pid() const { return view_.pid(); }
  // Where the state below this delta was written in the LSS.
  LssAddress flushed_to() const;
  bool failed() const { return view_.is_failed_flush(); }
  DeltaView view() const { return view_; }

 private:
  explicit FlushDelta(DeltaView v) : view_(v) {}
  DeltaView view_;
};

class PartialSwapDelta {
 public:
  static std::optional<PartialSwapDelta> From(DeltaView v);
  PageId pid() const { return view_.pid(); }
  // The LSS address of the flushed state this delta stands in for (never null).
  LssAddress last_flushed() const { return view_.last_flushed(); }
  std::span<const std::byte> payload() const { return view_.payload(); }
  DeltaView view() const { return view_; }

 private:
  explicit PartialSwapDelta(DeltaView v) : view_(v) {}
  DeltaView view_;
};

class RelocationDelta {
 public:
  static std::optional<RelocationDelta> From(DeltaView v);
  PageId pid() const { return view_.pid(); }
  LssAddress from() const;
  LssAddress to() const;
  DeltaView view() const { return view_; }

 private:
  explicit RelocationDelta(DeltaView v) : view_(v) {}
  DeltaView view_;
};

}  // namespace llama
