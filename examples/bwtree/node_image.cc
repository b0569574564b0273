#include "examples/bwtree/node_image.h"

#include <string>

#include "util/byte_io.h"

namespace llama::bwtree {

using namespace node_image_format;

namespace {

Error Corrupt(const std::string& why) { return Error(ErrorCode::kCorruption, "bwtree node image: " + why); }

// InvalidArgument unless every field of `node` fits its image (checked before anything is
// written, so a node that does not fit appends nothing).
Status CheckEncodable(const NodeContents& node) {
  auto too_big = [](const char* what, std::size_t n, std::size_t limit) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("bwtree: ") + what + " of " + std::to_string(n) +
                                                      " bytes exceeds the limit of " + std::to_string(limit));
  };
  if (node.level > kMaxLevel) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: level " + std::to_string(node.level) +
                                                      " exceeds the limit of " + std::to_string(kMaxLevel));
  }
  if (node.low.size() > kMaxKeyBytes) return too_big("low key", node.low.size(), kMaxKeyBytes);
  if (!node.high.infinite && node.high.key.size() > kMaxKeyBytes) {
    return too_big("high key", node.high.key.size(), kMaxKeyBytes);
  }
  for (const Entry& e : node.entries) {
    if (e.key.size() > kMaxKeyBytes) return too_big("key", e.key.size(), kMaxKeyBytes);
    if (e.value.size() > kMaxValueBytes) return too_big("value", e.value.size(), kMaxValueBytes);
  }
  return OkStatus();
}

}  // namespace

std::size_t EncodedEntrySize(const Entry& e, bool leaf) {
  return kOffsetSize + (leaf ? kLeafEntryHeader + e.key.size() + e.value.size() : kInnerEntryHeader + e.key.size());
}

std::size_t EncodedNodeSize(const NodeContents& node) {
  std::size_t n = kHeaderSize + node.low.size() + (node.high.infinite ? 0 : node.high.key.size());
  for (const Entry& e : node.entries) n += EncodedEntrySize(e, node.leaf());
  return n;
}

Status EncodeNodeImage(const NodeContents& node, std::vector<std::byte>& out) {
  LLAMA_RETURN_IF_ERROR(CheckEncodable(node));
  const std::string_view high = node.high.infinite ? std::string_view() : node.high.key;
  std::uint8_t flags = 0;
  if (!node.high.infinite) flags |= kHasHigh;
  if (node.right) flags |= kHasRight;
  ByteWriter w(out);
  w.U8(kTag).U8(node.level).U8(flags).U8(0).U32(node.right.value_or(0));
  w.U32(static_cast<std::uint32_t>(node.entries.size()));
  w.U16(static_cast<std::uint16_t>(node.low.size())).U16(static_cast<std::uint16_t>(high.size()));
  w.Bytes(node.low).Bytes(high);
  // The offset table: where each entry starts, counted from the image's first byte.
  std::size_t entry_at = w.size() + kOffsetSize * node.entries.size();
  for (const Entry& e : node.entries) {
    w.U32(static_cast<std::uint32_t>(entry_at));
    entry_at += EncodedEntrySize(e, node.leaf()) - kOffsetSize;
  }
  for (const Entry& e : node.entries) {
    w.U16(static_cast<std::uint16_t>(e.key.size()));
    if (node.leaf()) {
      w.U32(static_cast<std::uint32_t>(e.value.size())).Bytes(e.key).Bytes(e.value);
    } else {
      w.U32(e.child).U8(e.tombstone ? kTombstone : std::uint8_t{0}).Bytes(e.key);
    }
  }
  return OkStatus();
}

Result<NodeImage> NodeImage::Parse(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  std::uint8_t tag = 0, flags = 0, reserved = 0;
  std::uint32_t right = 0;
  std::uint16_t low_len = 0, high_len = 0;
  NodeImage image;
  if (!r.U8(&tag) || !r.U8(&image.level_) || !r.U8(&flags) || !r.U8(&reserved) || !r.U32(&right) ||
      !r.U32(&image.count_) || !r.U16(&low_len) || !r.U16(&high_len)) {
    return tl::unexpected(Corrupt("shorter than its 16-byte header"));
  }
  if (tag != kTag) return tl::unexpected(Corrupt("bad tag"));
  if ((flags & ~(kHasHigh | kHasRight)) != 0 || reserved != 0) {
    return tl::unexpected(Corrupt("reserved bits set"));
  }
  image.bytes_ = bytes;
  if (image.level_ > kMaxLevel) {
    return tl::unexpected(
        Corrupt("level " + std::to_string(image.level_) + " above the limit of " + std::to_string(kMaxLevel)));
  }
  if (flags & kHasRight) image.right_ = right;
  if (!(flags & kHasHigh) && high_len != 0) return tl::unexpected(Corrupt("high key length without a high key"));
  std::string_view high;
  if (!r.String(low_len, &image.low_) || !r.String(high_len, &high)) {
    return tl::unexpected(Corrupt("bound keys past the end"));
  }
  if (flags & kHasHigh) {
    image.high_ = HighKey::At(high);
    if (image.high_.key <= image.low_) return tl::unexpected(Corrupt("high key not above the low key"));
  }
  image.table_ = r.position();
  if (image.count_ > r.remaining() / kOffsetSize) {
    return tl::unexpected(Corrupt("entry count " + std::to_string(image.count_) + " past the end"));
  }
  return image;
}

Result<std::uint32_t> NodeImage::OffsetOf(std::uint32_t i) const {
  if (i >= count_) return tl::unexpected(Corrupt("entry index out of range"));
  std::uint32_t off = 0;  // stays 0, out of range, if the read failed (Parse checked it cannot)
  (void)ByteReader(bytes_.subspan(table_ + kOffsetSize * i)).U32(&off);
  const std::size_t need = leaf() ? kLeafEntryHeader : kInnerEntryHeader;
  if (off < table_ + kOffsetSize * count_ || off > bytes_.size() || bytes_.size() - off < need) {
    return tl::unexpected(Corrupt("entry offset out of range"));
  }
  return off;
}

Result<std::string_view> NodeImage::KeyAt(std::uint32_t i) const {
  auto off = OffsetOf(i);
  LLAMA_RETURN_IF_ERROR(off);
  ByteReader r(bytes_.subspan(*off));
  std::uint16_t key_len = 0;
  std::string_view key;
  // The entry's header is there (OffsetOf checked), its key may not be.
  const std::size_t header = leaf() ? kLeafEntryHeader : kInnerEntryHeader;
  if (!r.U16(&key_len) || !r.Skip(header - 2) || !r.String(key_len, &key)) {
    return tl::unexpected(Corrupt("key past the end"));
  }
  return key;
}

Result<Entry> NodeImage::At(std::uint32_t i) const {
  auto off = OffsetOf(i);
  LLAMA_RETURN_IF_ERROR(off);
  ByteReader r(bytes_.subspan(*off));
  Entry e;
  std::uint16_t key_len = 0;
  std::uint32_t value_len = 0;
  std::uint8_t flags = 0;
  // The entry's header is there (OffsetOf checked); its key and value may not be.
  const bool header_read =
      leaf() ? r.U16(&key_len) && r.U32(&value_len) : r.U16(&key_len) && r.U32(&e.child) && r.U8(&flags);
  if (!header_read || !r.String(key_len, &e.key)) return tl::unexpected(Corrupt("key past the end"));
  if (leaf()) {
    if (!r.String(value_len, &e.value)) return tl::unexpected(Corrupt("value past the end"));
  } else {
    if ((flags & ~kTombstone) != 0) return tl::unexpected(Corrupt("reserved entry flag bits set"));
    e.tombstone = (flags & kTombstone) != 0;
  }
  return e;
}

Result<std::uint32_t> NodeImage::LowerBound(std::string_view key) const {
  std::uint32_t lo = 0, hi = count_;
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo) / 2;
    auto k = KeyAt(mid);
    LLAMA_RETURN_IF_ERROR(k);
    if (*k < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

Result<std::optional<Entry>> NodeImage::Find(std::string_view key) const {
  auto i = LowerBound(key);
  LLAMA_RETURN_IF_ERROR(i);
  if (*i == count_) return std::optional<Entry>();
  auto e = At(*i);
  LLAMA_RETURN_IF_ERROR(e);
  if (e->key != key) return std::optional<Entry>();
  return std::optional<Entry>(*e);
}

Status NodeImage::AppendAll(std::vector<Entry>& out) const {
  out.reserve(out.size() + count_);
  for (std::uint32_t i = 0; i < count_; ++i) {
    auto e = At(i);
    LLAMA_RETURN_IF_ERROR(e);
    out.push_back(*e);
  }
  return OkStatus();
}

}  // namespace llama::bwtree
