#include "examples/bwtree/bw_delta.h"

#include <string>

#include "util/byte_io.h"

namespace llama::bwtree {

namespace {

Error Corrupt(const std::string& why) { return Error(ErrorCode::kCorruption, "bwtree delta: " + why); }

constexpr std::uint8_t TagByte(DeltaTag tag) { return static_cast<std::uint8_t>(tag); }

// An empty payload with room for `size` bytes, so that encoding allocates once.
std::vector<std::byte> Reserved(std::size_t size) {
  std::vector<std::byte> out;
  out.reserve(size);
  return out;
}

// The key of `key_len` bytes, which with `extra` bytes after it must end the payload.
Status ReadKeyThen(ByteReader& r, std::size_t key_len, std::size_t extra, std::string_view* key) {
  if (r.remaining() < key_len + extra) return tl::unexpected(Corrupt("lengths past the end"));
  if (r.remaining() != key_len + extra) return tl::unexpected(Corrupt("trailing bytes"));
  (void)r.String(key_len, key);  // there, checked above
  return OkStatus();
}

}  // namespace

std::vector<std::byte> BwDelta::Insert(std::string_view key, std::string_view value) {
  auto out = Reserved(7 + key.size() + value.size());
  ByteWriter w(out);
  w.U8(TagByte(DeltaTag::kInsert)).U16(static_cast<std::uint16_t>(key.size()));
  w.U32(static_cast<std::uint32_t>(value.size())).Bytes(key).Bytes(value);
  return out;
}

std::vector<std::byte> BwDelta::Delete(std::string_view key) {
  auto out = Reserved(3 + key.size());
  ByteWriter(out).U8(TagByte(DeltaTag::kDelete)).U16(static_cast<std::uint16_t>(key.size())).Bytes(key);
  return out;
}

std::vector<std::byte> BwDelta::KeyAndPage(DeltaTag tag, std::string_view key, PageId pid) {
  auto out = Reserved(7 + key.size());
  ByteWriter(out).U8(TagByte(tag)).U32(pid).U16(static_cast<std::uint16_t>(key.size())).Bytes(key);
  return out;
}

std::vector<std::byte> BwDelta::RemoveNode(std::uint64_t nonce) {
  if (nonce == 0) return {static_cast<std::byte>(DeltaTag::kRemoveNode)};
  return Stamp(DeltaTag::kRemoveNode, nonce);
}

std::vector<std::byte> BwDelta::Stamp(DeltaTag tag, std::uint64_t nonce) {
  auto out = Reserved(9);
  ByteWriter(out).U8(TagByte(tag)).U64(nonce);
  return out;
}

std::vector<std::byte> BwDelta::Merge(PageId removed, std::span<const std::byte> image) {
  auto out = Reserved(5 + image.size());
  ByteWriter(out).U8(TagByte(DeltaTag::kMerge)).U32(removed).Bytes(image);
  return out;
}

Result<BwDelta> BwDelta::Decode(std::span<const std::byte> payload) {
  ByteReader r(payload);
  std::uint8_t tag = 0;
  if (!r.U8(&tag)) return tl::unexpected(Corrupt("empty payload"));
  BwDelta d;
  std::uint16_t key_len = 0;
  switch (tag) {
    case TagByte(DeltaTag::kInsert): {
      d.tag = DeltaTag::kInsert;
      std::uint32_t value_len = 0;
      if (!r.U16(&key_len) || !r.U32(&value_len)) return tl::unexpected(Corrupt("truncated insert"));
      if (value_len > payload.size() - 1) return tl::unexpected(Corrupt("value length past the end"));
      LLAMA_RETURN_IF_ERROR(ReadKeyThen(r, key_len, value_len, &d.key));
      (void)r.String(value_len, &d.value);  // all that is left, checked by ReadKeyThen
      return d;
    }
    case TagByte(DeltaTag::kDelete):
      d.tag = DeltaTag::kDelete;
      if (!r.U16(&key_len)) return tl::unexpected(Corrupt("truncated header"));
      LLAMA_RETURN_IF_ERROR(ReadKeyThen(r, key_len, 0, &d.key));
      return d;
    case TagByte(DeltaTag::kSplit):
    case TagByte(DeltaTag::kIndexInsert):
    case TagByte(DeltaTag::kIndexTombstone):
    case TagByte(DeltaTag::kIndexErase):
      d.tag = static_cast<DeltaTag>(tag);
      if (!r.U32(&d.pid) || !r.U16(&key_len)) return tl::unexpected(Corrupt("truncated header"));
      LLAMA_RETURN_IF_ERROR(ReadKeyThen(r, key_len, 0, &d.key));
      return d;
    case TagByte(DeltaTag::kRemoveNode):
      d.tag = DeltaTag::kRemoveNode;
      if (r.remaining() == 0) return d;
      [[fallthrough]];
    case TagByte(DeltaTag::kBirth):
    case TagByte(DeltaTag::kRetire):
      d.tag = static_cast<DeltaTag>(tag);
      if (r.remaining() != 8) {
        return tl::unexpected(Corrupt("a nonce of " + std::to_string(r.remaining()) + " bytes"));
      }
      (void)r.U64(&d.nonce);  // there, checked above
      if (d.nonce == 0) return tl::unexpected(Corrupt("a zero nonce"));
      return d;
    case TagByte(DeltaTag::kMerge):
      d.tag = DeltaTag::kMerge;
      if (!r.U32(&d.pid)) return tl::unexpected(Corrupt("truncated merge"));
      d.image = r.rest();
      return d;
    default:
      return tl::unexpected(Corrupt("unknown tag " + std::to_string(tag)));
  }
}

}  // namespace llama::bwtree
