// DeltaRecord: an owned, validated delta record buffer; DeltaHandle: the cheap shared
// handle to an immutable one.
//
// Ownership: a DeltaRecord owns its bytes and may be changed (SetLssOffset, SetPriorState,
// SetDurable) only while it is owned by one party. Once wrapped in a DeltaHandle it is
// immutable and lives until the last handle goes; page nodes (include/llama/page_node.h) hold
// handles, so a record outlives every chain that shares it.
//
// Allocation: a record's bytes live in a block with room kept free in front of them.
// Share() builds the handle's control block (the record object inside it) in that room,
// so a shared record, its control block and its bytes are one allocation, and Share
// neither copies the bytes nor allocates. The block is then freed with the control block
// (the record inside no longer owns it).
//
// Pointers in the bytes are LSS addresses only, never memory addresses: the in-memory
// links of a chain live in the PageNode, not in the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "llama/delta_decoder.h"
#include "llama/delta_fields.h"
#include "llama/status.h"
#include "llama/types.h"

namespace llama {

class DeltaRecord;
using DeltaHandle = std::shared_ptr<const DeltaRecord>;

class DeltaRecord : public DeltaFields<DeltaRecord> {
 public:
  // Constructors of the four kinds. They fail (InvalidArgument) only when the payload
  // is larger than a record can hold or an address argument is out of range.
  static Result<DeltaRecord> MakeUpdate(PageId pid, std::span<const std::byte> payload, LssAddress prior_state = {});
  static Result<DeltaRecord> MakeFlush(PageId pid, LssAddress flushed_to, LssAddress prior_state = {});
  static Result<DeltaRecord> MakePartialSwap(PageId pid, LssAddress last_flushed,
                                             std::span<const std::byte> payload = {}, LssAddress prior_state = {});
  static Result<DeltaRecord> MakeRelocation(PageId pid, LssAddress from, LssAddress to, LssAddress prior_state = {});

  // Copies `bytes` after validating them (see DecodeDelta for the rules).
  static Result<DeltaRecord> Decode(std::span<const std::byte> bytes);

  DeltaRecord(DeltaRecord&&) noexcept = default;
  DeltaRecord& operator=(DeltaRecord&&) noexcept = default;
  DeltaRecord Clone() const;

  std::span<const std::byte> bytes() const { return {data(), size_}; }
  DeltaView view() const;

  // Header edits, for the owner before the record is shared or written.
  void SetLssOffset(std::uint32_t offset);
  Status SetPriorState(LssAddress prior);
  void SetDurable(bool durable);
  void SetConsolidationEligible(bool eligible);

 private:
  friend DeltaHandle Share(DeltaRecord record);
  // Bytes kept free in front of the record bytes, for Share's control block.
  static constexpr std::size_t kHeadroom = 96;
  // Frees the block unless a control block built in it frees it (a shared record).
  struct BlockDeleter {
    bool owned;
    void operator()(std::byte* block) const {
      if (owned) ::operator delete(block);
    }
  };
  using Block = std::unique_ptr<std::byte, BlockDeleter>;
  // A block for `size` record bytes (and the headroom).
  static Block AllocateBlock(std::uint32_t size);

  DeltaRecord(Block block, std::uint32_t size) : block_(std::move(block)), size_(size) {}
  // The record bytes (null in a moved-from record).
  std::byte* data() const { return block_ ? block_.get() + kHeadroom : nullptr; }
  static Result<DeltaRecord> Build(PageId pid, std::uint8_t bits, LssAddress prior, LssAddress last_flushed,
                                   std::span<const std::byte> payload);
  void SetBit(std::uint8_t bit, bool on);

  Block block_;  // kHeadroom bytes, then size_ record bytes
  std::uint32_t size_ = 0;
};

// Shares `record` without copying its bytes: one allocation holds the handle's control
// block, the record and its bytes.
DeltaHandle Share(DeltaRecord record);

}  // namespace llama
