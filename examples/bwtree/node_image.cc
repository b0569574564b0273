#include "examples/bwtree/node_image.h"

#include <string>

#include "llama/coding.h"

namespace llama::bwtree {

using namespace node_image_format;

namespace {

Error Corrupt(const std::string& why) { return Error(ErrorCode::kCorruption, "bwtree node image: " + why); }

const std::byte* Bytes(std::string_view s) { return reinterpret_cast<const std::byte*>(s.data()); }

void Append(std::vector<std::byte>& out, std::string_view s) { out.insert(out.end(), Bytes(s), Bytes(s) + s.size()); }

void Put16(std::vector<std::byte>& out, std::size_t at, std::uint16_t v) { EncodeFixed16(out.data() + at, v); }
void Put32(std::vector<std::byte>& out, std::size_t at, std::uint32_t v) { EncodeFixed32(out.data() + at, v); }

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
  const std::size_t start = out.size();
  out.resize(start + kHeaderSize);
  out[start + kTagOffset] = std::byte{kTag};
  out[start + kLevelOffset] = std::byte{node.level};
  std::uint8_t flags = 0;
  if (!node.high.infinite) flags |= kHasHigh;
  if (node.right) flags |= kHasRight;
  out[start + kFlagsOffset] = std::byte{flags};
  out[start + kReservedOffset] = std::byte{0};
  Put32(out, start + kRightOffset, node.right.value_or(0));
  Put32(out, start + kCountOffset, static_cast<std::uint32_t>(node.entries.size()));
  Put16(out, start + kLowLenOffset, static_cast<std::uint16_t>(node.low.size()));
  Put16(out, start + kHighLenOffset, static_cast<std::uint16_t>(node.high.infinite ? 0 : node.high.key.size()));
  Append(out, node.low);
  if (!node.high.infinite) Append(out, node.high.key);
  const std::size_t table = out.size();
  out.resize(table + kOffsetSize * node.entries.size());
  for (std::size_t i = 0; i < node.entries.size(); ++i) {
    const Entry& e = node.entries[i];
    if (e.key.size() > kMaxKeyBytes) return too_big("key", e.key.size(), kMaxKeyBytes);
    if (e.value.size() > kMaxValueBytes) return too_big("value", e.value.size(), kMaxValueBytes);
    Put32(out, table + kOffsetSize * i, static_cast<std::uint32_t>(out.size() - start));
    const std::size_t at = out.size();
    if (node.leaf()) {
      out.resize(at + kLeafEntryHeader);
      Put16(out, at, static_cast<std::uint16_t>(e.key.size()));
      Put32(out, at + 2, static_cast<std::uint32_t>(e.value.size()));
      Append(out, e.key);
      Append(out, e.value);
    } else {
      out.resize(at + kInnerEntryHeader);
      Put16(out, at, static_cast<std::uint16_t>(e.key.size()));
      Put32(out, at + 2, e.child);
      out[at + 6] = std::byte{e.tombstone ? kTombstone : std::uint8_t{0}};
      Append(out, e.key);
    }
  }
  return OkStatus();
}

Result<NodeImage> NodeImage::Parse(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderSize) return tl::unexpected(Corrupt("shorter than its 16-byte header"));
  const std::byte* p = bytes.data();
  if (std::to_integer<std::uint8_t>(p[kTagOffset]) != kTag) return tl::unexpected(Corrupt("bad tag"));
  const auto flags = std::to_integer<std::uint8_t>(p[kFlagsOffset]);
  if ((flags & ~(kHasHigh | kHasRight)) != 0 || p[kReservedOffset] != std::byte{0}) {
    return tl::unexpected(Corrupt("reserved bits set"));
  }
  NodeImage image;
  image.bytes_ = bytes;
  image.level_ = std::to_integer<std::uint8_t>(p[kLevelOffset]);
  if (image.level_ > kMaxLevel) {
    return tl::unexpected(
        Corrupt("level " + std::to_string(image.level_) + " above the limit of " + std::to_string(kMaxLevel)));
  }
  if (flags & kHasRight) image.right_ = DecodeFixed32(p + kRightOffset);
  image.count_ = DecodeFixed32(p + kCountOffset);
  const std::size_t low_len = DecodeFixed16(p + kLowLenOffset);
  const std::size_t high_len = DecodeFixed16(p + kHighLenOffset);
  if (!(flags & kHasHigh) && high_len != 0) return tl::unexpected(Corrupt("high key length without a high key"));
  const std::size_t keys_end = kHeaderSize + low_len + high_len;
  if (keys_end > bytes.size()) return tl::unexpected(Corrupt("bound keys past the end"));
  image.low_ = AsStringView(bytes.subspan(kHeaderSize, low_len));
  if (flags & kHasHigh) {
    image.high_ = HighKey::At(AsStringView(bytes.subspan(kHeaderSize + low_len, high_len)));
    if (image.high_.key <= image.low_) return tl::unexpected(Corrupt("high key not above the low key"));
  }
  image.table_ = keys_end;
  if (image.count_ > (bytes.size() - keys_end) / kOffsetSize) {
    return tl::unexpected(Corrupt("entry count " + std::to_string(image.count_) + " past the end"));
  }
  return image;
}

Result<std::uint32_t> NodeImage::OffsetOf(std::uint32_t i) const {
  if (i >= count_) return tl::unexpected(Corrupt("entry index out of range"));
  const std::uint32_t off = DecodeFixed32(bytes_.data() + table_ + kOffsetSize * i);
  const std::size_t need = leaf() ? kLeafEntryHeader : kInnerEntryHeader;
  if (off < table_ + kOffsetSize * count_ || off > bytes_.size() || bytes_.size() - off < need) {
    return tl::unexpected(Corrupt("entry offset out of range"));
  }
  return off;
}

Result<std::string_view> NodeImage::KeyAt(std::uint32_t i) const {
  auto off = OffsetOf(i);
  LLAMA_RETURN_IF_ERROR(off);
  const std::byte* p = bytes_.data() + *off;
  const std::size_t key_len = DecodeFixed16(p);
  const std::size_t header = leaf() ? kLeafEntryHeader : kInnerEntryHeader;
  if (bytes_.size() - *off - header < key_len) return tl::unexpected(Corrupt("key past the end"));
  return AsStringView(bytes_.subspan(*off + header, key_len));
}

Result<Entry> NodeImage::At(std::uint32_t i) const {
  auto key = KeyAt(i);
  LLAMA_RETURN_IF_ERROR(key);
  const std::size_t off = *OffsetOf(i);  // checked by KeyAt
  const std::byte* p = bytes_.data() + off;
  Entry e;
  e.key = *key;
  if (leaf()) {
    const std::size_t value_len = DecodeFixed32(p + 2);
    const std::size_t value_at = off + kLeafEntryHeader + key->size();
    if (bytes_.size() - value_at < value_len) return tl::unexpected(Corrupt("value past the end"));
    e.value = AsStringView(bytes_.subspan(value_at, value_len));
  } else {
    e.child = DecodeFixed32(p + 2);
    const auto flags = std::to_integer<std::uint8_t>(p[6]);
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
