#include "llama/delta_record.h"

#include <cassert>
#include <cstring>
#include <new>
#include <string>

#include "util/byte_io.h"

namespace llama {

using namespace delta_format;

namespace {

// Share's allocator: builds the control block in the headroom of the record's own block
// when it fits there (it always does with the standard libraries we build with), or in
// an allocation of its own if not. Either way deallocate frees what allocate returned:
// the record's block in the first case (the record inside then no longer owns it).
template <class T>
struct HeadroomAllocator {
  using value_type = T;
  HeadroomAllocator(std::byte* record_block, std::size_t room, bool* built_in_place)
      : block(record_block), headroom(room), in_place(built_in_place) {}
  template <class U>
  HeadroomAllocator(const HeadroomAllocator<U>& other) noexcept
      : block(other.block), headroom(other.headroom), in_place(other.in_place) {}

  T* allocate(std::size_t n) {
    const bool fits = n * sizeof(T) <= headroom && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    if (fits && !*in_place) {
      *in_place = true;
      return reinterpret_cast<T*>(block);
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t /*n*/) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const HeadroomAllocator<U>& other) const {
    return block == other.block;
  }

  std::byte* block;
  std::size_t headroom;
  bool* in_place;  // only allocate uses it, during Share
};

Status CheckAddress(LssAddress a, const char* what, bool required) {
  if (a.is_null() && !required) return OkStatus();
  if (a.is_valid()) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument, std::string("delta record: ") + what + " is not a valid LSS address");
}

}  // namespace

Result<DeltaRecord> DeltaRecord::Build(PageId pid, std::uint8_t bits, LssAddress prior, LssAddress last_flushed,
                                       std::span<const std::byte> payload) {
  if (payload.size() > kMaxPayloadSize) {
    return MakeError(ErrorCode::kInvalidArgument, "delta record: payload of " + std::to_string(payload.size()) +
                                                      " bytes exceeds the u32 record length");
  }
  LLAMA_RETURN_IF_ERROR(CheckAddress(prior, "prior state", false));
  const auto size = static_cast<std::uint32_t>(kHeaderSize + payload.size());
  Block block = AllocateBlock(size);
  ByteWriter w(std::span<std::byte>(block.get() + kHeadroom, size));
  // The header's fields in their order (delta_format.h pins it), the LSS offset 0 until
  // the record is written to the log.
  w.U32(size).U32(0).U32(pid).U8(bits).U64(prior.raw()).U64(last_flushed.raw());
  w.U32(static_cast<std::uint32_t>(payload.size())).Bytes(payload);
  assert(w.ok() && w.size() == size);
  DeltaRecord record(std::move(block), size);
  assert(DecodeDelta(record.bytes()).has_value());
  return record;
}

Result<DeltaRecord> DeltaRecord::MakeUpdate(PageId pid, std::span<const std::byte> payload, LssAddress prior_state) {
  return Build(pid, DeltaKindBits(DeltaKind::kUpdate), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::MakeFlush(PageId pid, LssAddress flushed_to, LssAddress prior_state) {
  LLAMA_RETURN_IF_ERROR(CheckAddress(flushed_to, "flushed-to address", true));
  std::byte payload[kFlushPayloadSize];
  ByteWriter(payload).U64(flushed_to.raw());
  return Build(pid, DeltaKindBits(DeltaKind::kFlush), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::MakePartialSwap(PageId pid, LssAddress last_flushed,
                                                 std::span<const std::byte> payload, LssAddress prior_state) {
  LLAMA_RETURN_IF_ERROR(CheckAddress(last_flushed, "last flushed address", true));
  return Build(pid, DeltaKindBits(DeltaKind::kPartialSwap), prior_state, last_flushed, payload);
}

Result<DeltaRecord> DeltaRecord::MakeRelocation(PageId pid, LssAddress from, LssAddress to, LssAddress prior_state) {
  LLAMA_RETURN_IF_ERROR(CheckAddress(from, "relocation source", true));
  LLAMA_RETURN_IF_ERROR(CheckAddress(to, "relocation target", true));
  std::byte payload[kRelocationPayloadSize];
  ByteWriter(payload).U64(from.raw()).U64(to.raw());
  return Build(pid, DeltaKindBits(DeltaKind::kRelocation), prior_state, {}, payload);
}

Result<DeltaRecord> DeltaRecord::Decode(std::span<const std::byte> bytes) {
  auto view = DecodeDelta(bytes);
  if (!view) return tl::unexpected(ToError(view.error()));
  const auto size = static_cast<std::uint32_t>(bytes.size());
  Block block = AllocateBlock(size);
  std::memcpy(block.get() + kHeadroom, bytes.data(), size);
  return DeltaRecord(std::move(block), size);
}

DeltaRecord DeltaRecord::Clone() const {
  Block block = AllocateBlock(size_);
  std::memcpy(block.get() + kHeadroom, data(), size_);
  return DeltaRecord(std::move(block), size_);
}

DeltaView DeltaRecord::view() const {
  // Every way of making a DeltaRecord validated its bytes; no need to decode again.
  return DeltaView(bytes());
}

void DeltaRecord::SetLssOffset(std::uint32_t offset) { EncodeFixed32(data() + kLssOffOffset, offset); }

Status DeltaRecord::SetPriorState(LssAddress prior) {
  LLAMA_RETURN_IF_ERROR(CheckAddress(prior, "prior state", false));
  EncodeFixed64(data() + kPriorStateOffset, prior.raw());
  return OkStatus();
}

void DeltaRecord::SetBit(std::uint8_t bit, bool on) {
  auto bits = std::to_integer<std::uint8_t>(data()[kPackedBitsOffset]);
  bits = on ? static_cast<std::uint8_t>(bits | bit) : static_cast<std::uint8_t>(bits & ~bit);
  data()[kPackedBitsOffset] = static_cast<std::byte>(bits);
}

void DeltaRecord::SetDurable(bool durable) {
  // A Flush delta is spelled by F alone, so its F bit is not a free durability flag.
  if (kind() == DeltaKind::kFlush) return;
  SetBit(kFlushedBit, durable);
}

void DeltaRecord::SetConsolidationEligible(bool eligible) { SetBit(kConsolidateBit, eligible); }

DeltaRecord::Block DeltaRecord::AllocateBlock(std::uint32_t size) {
  return Block(static_cast<std::byte*>(::operator new(kHeadroom + size)), BlockDeleter{true});
}

DeltaHandle Share(DeltaRecord record) {
  bool in_place = false;
  HeadroomAllocator<DeltaRecord> allocator(record.block_.get(), DeltaRecord::kHeadroom, &in_place);
  std::shared_ptr<DeltaRecord> shared = std::allocate_shared<DeltaRecord>(allocator, std::move(record));
  // Built in the record's own block: the control block's deallocation frees it.
  if (in_place) shared->block_.get_deleter().owned = false;
  return shared;
}

}  // namespace llama
