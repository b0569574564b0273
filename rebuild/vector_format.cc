#include "rebuild/vector_format.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "util/byte_io.h"

namespace llama {

namespace {

using namespace vector_format;

// Tree pages are base pages: the limits in vector_format.h restate the base page's.
static_assert(kMinTreePageSize == BasePage::kMinPageSize && kMaxTreePageSize == BasePage::kMaxPageSize);
static_assert(kTreePageOverhead == base_page_format::kHeaderSize);

tl::unexpected<Error> Corrupt(const std::string& what) { return MakeError(ErrorCode::kCorruption, "vector: " + what); }
tl::unexpected<Error> Invalid(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, "vector: " + what);
}
// The same rule, read back: an out-of-range field is damage, not a bad argument.
tl::unexpected<Error> AsCorruption(const Error& e) { return MakeError(ErrorCode::kCorruption, e.message()); }

// Each range check below serves both sides: the encoder returns its InvalidArgument, the
// decoder the same message as Corruption.
Status CheckTimestamp(std::uint64_t ts) {
  if (ts >= kMinTimestamp && ts <= kMaxTimestamp) return OkStatus();
  return Invalid("entry timestamp " + std::to_string(ts) + " outside " + std::to_string(kMinTimestamp) + ".." +
                 std::to_string(kMaxTimestamp));
}

Status CheckInnerShape(std::uint8_t height, std::size_t count) {
  if (height < 1 || height > kMaxHeight) {
    return Invalid("inner node height " + std::to_string(height) + " outside 1.." + std::to_string(kMaxHeight));
  }
  if (count < 1 || count > kMaxBranching) {
    return Invalid("inner node of " + std::to_string(count) + " children (1.." + std::to_string(kMaxBranching) + ")");
  }
  return OkStatus();
}

// Every encoder knows its exact size first: its bytes are allocated once and written
// through a ByteWriter over that span, never grown field by field. (Growing a vector a
// field at a time also gave GCC 12 at -O3 a false -Wstringop-overflow in EncodeInner: it
// lost track of the resized vector's size across the reallocation.)
template <class Fill>
std::vector<std::byte> EncodeExactly(std::size_t size, Fill fill) {
  std::vector<std::byte> out(size);
  ByteWriter w{std::span<std::byte>(out)};
  fill(w);
  assert(w.ok() && w.size() == size);
  return out;
}

// The encoded size of an operation in an entry.
std::size_t OpEncodedSize(const VectorOp& op) {
  return 1 + (HasIndex(op.code) ? 8 : 0) + (HasValue(op.code) ? 4 + op.value.size() : 0);
}

}  // namespace

std::string_view VectorOpName(VectorOpCode code) {
  switch (code) {
    case VectorOpCode::kAppend:
      return "Append";
    case VectorOpCode::kPrepend:
      return "Prepend";
    case VectorOpCode::kInsert:
      return "Insert";
    case VectorOpCode::kErase:
      return "Erase";
    case VectorOpCode::kUpdate:
      return "Update";
  }
  return "?";
}

Status ValidateOps(std::span<const VectorOp> ops, std::size_t max_value_size) {
  if (ops.empty()) return Invalid("empty write batch");
  if (ops.size() > kMaxEntryOps) {
    return Invalid(std::to_string(ops.size()) + " operations in one write, more than the limit of " +
                   std::to_string(kMaxEntryOps));
  }
  for (const VectorOp& op : ops) {
    if (HasValue(op.code) && op.value.size() > max_value_size) {
      return Invalid("a value of " + std::to_string(op.value.size()) + " bytes does not fit a leaf page (at most " +
                     std::to_string(max_value_size) + ")");
    }
  }
  return OkStatus();
}

Result<std::vector<std::byte>> EncodeEntry(const VectorEntry& entry) {
  LLAMA_RETURN_IF_ERROR(ValidateOps(entry.ops, kMaxValueSize));
  LLAMA_RETURN_IF_ERROR(CheckTimestamp(entry.timestamp));
  std::size_t size = kEntryHeaderSize;
  for (const VectorOp& op : entry.ops) size += OpEncodedSize(op);
  return EncodeExactly(size, [&](ByteWriter& w) {
    w.U8(kEntryTag).U8(0).U16(static_cast<std::uint16_t>(entry.ops.size())).U32(entry.thread);
    w.U64(entry.timestamp).U64(entry.sequence);
    for (const VectorOp& op : entry.ops) {
      w.U8(static_cast<std::uint8_t>(op.code));
      if (HasIndex(op.code)) w.U64(op.index);
      if (HasValue(op.code)) w.U32(static_cast<std::uint32_t>(op.value.size())).Bytes(op.value);
    }
  });
}

Result<VectorEntry> DecodeEntry(std::span<const std::byte> payload) {
  ByteReader r(payload);
  std::uint8_t tag = 0, reserved = 0;
  std::uint16_t count = 0;
  VectorEntry e;
  if (!r.U8(&tag) || !r.U8(&reserved) || !r.U16(&count) || !r.U32(&e.thread) || !r.U64(&e.timestamp) ||
      !r.U64(&e.sequence)) {
    return Corrupt("entry shorter than its header");
  }
  if (tag != kEntryTag) return Corrupt("not an entry (tag " + std::to_string(tag) + ")");
  if (reserved != 0) return Corrupt("entry reserved byte set");
  if (count == 0) return Corrupt("entry with no operation");
  if (auto s = CheckTimestamp(e.timestamp); !s) return AsCorruption(s.error());
  for (std::uint16_t i = 0; i < count; ++i) {
    VectorOp op;
    std::uint8_t code = 0;
    if (!r.U8(&code)) return Corrupt("entry operation " + std::to_string(i) + " truncated");
    if (code < 1 || code > 5)
      return Corrupt("entry operation " + std::to_string(i) + " has unknown code " + std::to_string(code));
    op.code = static_cast<VectorOpCode>(code);
    if (HasIndex(op.code) && !r.U64(&op.index)) return Corrupt("entry operation " + std::to_string(i) + " truncated");
    if (HasValue(op.code)) {
      std::uint32_t len = 0;
      if (!r.U32(&len)) return Corrupt("entry operation " + std::to_string(i) + " value truncated");
      if (len > kMaxValueSize) {
        return Corrupt("entry operation " + std::to_string(i) + " has a value of " + std::to_string(len) +
                       " bytes, more than any leaf holds (" + std::to_string(kMaxValueSize) + ")");
      }
      if (!r.String(len, &op.value)) {
        return Corrupt("entry operation " + std::to_string(i) + " value truncated");
      }
    }
    e.ops.push_back(std::move(op));
  }
  if (r.remaining() != 0) return Corrupt("trailing bytes after the entry's operations");
  return e;
}

Result<std::uint64_t> EntryTimestamp(std::span<const std::byte> payload) {
  if (payload.size() < kEntryHeaderSize || VectorPayloadTag(payload) != kEntryTag) {
    return Corrupt("not an entry, or shorter than its header");
  }
  const std::uint64_t ts = DecodeFixed64(payload.data() + 8);
  if (auto s = CheckTimestamp(ts); !s) return AsCorruption(s.error());
  return ts;
}

Status SetEntryTimestamp(std::span<std::byte> payload, std::uint64_t timestamp) {
  if (payload.size() < kEntryHeaderSize || VectorPayloadTag(payload) != kEntryTag) {
    return Invalid("not an entry, or shorter than its header");
  }
  LLAMA_RETURN_IF_ERROR(CheckTimestamp(timestamp));
  EncodeFixed64(payload.data() + 8, timestamp);
  return OkStatus();
}

namespace {

// What a publication's fields must satisfy, whichever side checks (the encoder's
// InvalidArgument, the decoder's Corruption). The pending-free count is a u32: at most
// 2^32 - 1 page ids exist besides page 0, and the list names each dropped page once.
Status CheckPublication(const VectorPublication& p) {
  if (p.height > kMaxHeight) {
    return Invalid("publication height " + std::to_string(p.height) + " above the limit " + std::to_string(kMaxHeight));
  }
  if ((p.root == 0) != (p.size == 0)) return Invalid("publication root and size disagree");
  if (p.root == 0 && p.height != 0) return Invalid("publication of the empty vector has a height");
  if (p.pending_free.size() > UINT32_MAX) {
    return Invalid("publication pending-free list longer than its u32 count");
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<std::byte>> EncodePublication(const VectorPublication& p) {
  LLAMA_RETURN_IF_ERROR(CheckPublication(p));
  return EncodeExactly(kPublicationHeaderSize + 4 * p.pending_free.size(), [&](ByteWriter& w) {
    w.U8(kPublicationTag).U8(p.height).U16(0).U32(p.root);
    w.U64(p.generation).U64(p.size).U64(p.watermark);
    w.U32(static_cast<std::uint32_t>(p.pending_free.size())).U32(0);
    for (PageId pid : p.pending_free) w.U32(pid);
  });
}

Result<VectorPublication> DecodePublication(std::span<const std::byte> payload) {
  ByteReader r(payload);
  std::uint8_t tag = 0;
  std::uint16_t reserved16 = 0;
  std::uint32_t count = 0, reserved32 = 0;
  VectorPublication p;
  if (!r.U8(&tag) || !r.U8(&p.height) || !r.U16(&reserved16) || !r.U32(&p.root) || !r.U64(&p.generation) ||
      !r.U64(&p.size) || !r.U64(&p.watermark) || !r.U32(&count) || !r.U32(&reserved32)) {
    return Corrupt("publication shorter than its header");
  }
  if (tag != kPublicationTag) return Corrupt("not a publication (tag " + std::to_string(tag) + ")");
  if (reserved16 != 0 || reserved32 != 0) return Corrupt("publication reserved bytes set");
  if (r.remaining() != std::size_t{count} * 4) return Corrupt("publication pending-free list has the wrong length");
  p.pending_free.resize(count);
  for (PageId& pid : p.pending_free) (void)r.U32(&pid);
  if (auto s = CheckPublication(p); !s) return AsCorruption(s.error());
  return p;
}

std::uint8_t VectorPayloadTag(std::span<const std::byte> payload) {
  if (payload.empty()) return 0;
  const auto tag = std::to_integer<std::uint8_t>(payload[0]);
  return tag == kEntryTag || tag == kPublicationTag ? tag : 0;
}

Status ValidateVectorConfig(const VectorConfig& c) {
  if (c.branching < kMinBranching || c.branching > kMaxBranching) {
    return Invalid("branching must be " + std::to_string(kMinBranching) + ".." + std::to_string(kMaxBranching));
  }
  if (c.leaf_page_size < kMinTreePageSize || c.leaf_page_size > kMaxTreePageSize ||
      (c.leaf_page_size & (c.leaf_page_size - 1)) != 0) {
    return Invalid("leaf page size must be 4, 8, 16, 32 or 64 KiB");
  }
  // Enough offsets for a full leaf of empty values; more would make a leaf that no page
  // holds. (Any branching in range fits any page: see kMaxBranching.)
  const std::size_t most = MaxLeafElements(c.leaf_page_size);
  if (c.leaf_max_elements < 2 || c.leaf_max_elements > most) {
    return Invalid("leaf_max_elements must be 2.." + std::to_string(most) + " for leaf pages of " +
                   std::to_string(c.leaf_page_size) + " bytes");
  }
  if (c.buffers.empty() || c.buffers.size() > kMaxSlots) {
    return Invalid("writer slots must be 1.." + std::to_string(kMaxSlots));
  }
  return OkStatus();
}

Result<std::vector<std::byte>> EncodeMeta(const VectorConfig& c) {
  LLAMA_RETURN_IF_ERROR(ValidateVectorConfig(c));
  return EncodeExactly(kMetaHeaderSize + 4 * c.buffers.size(), [&](ByteWriter& w) {
    w.U32(kMetaMagic).U32(kVersion).U32(c.branching).U32(c.leaf_max_elements).U32(c.leaf_page_size);
    w.U32(static_cast<std::uint32_t>(c.buffers.size()));
    for (PageId pid : c.buffers) w.U32(pid);
  });
}

Result<VectorConfig> DecodeMeta(std::span<const std::byte> contents) {
  ByteReader r(contents);
  std::uint32_t magic = 0, version = 0, slots = 0;
  VectorConfig c;
  if (!r.U32(&magic) || !r.U32(&version) || !r.U32(&c.branching) || !r.U32(&c.leaf_max_elements) ||
      !r.U32(&c.leaf_page_size) || !r.U32(&slots)) {
    return Corrupt("meta page shorter than its header");
  }
  if (magic != kMetaMagic) return Corrupt("not a vector meta page (bad magic)");
  if (version != kVersion) return Corrupt("meta page version " + std::to_string(version) + " is not supported");
  if (r.remaining() != std::size_t{slots} * 4) return Corrupt("meta page buffer list has the wrong length");
  c.buffers.resize(slots);
  for (PageId& pid : c.buffers) (void)r.U32(&pid);
  if (auto s = ValidateVectorConfig(c); !s) return Corrupt("meta page: " + s.error().message());
  return c;
}

// ---- Leaves: magic u32, count u32, offsets u32[count + 1] (from the start of the value
// bytes), value bytes.

Result<std::vector<std::byte>> EncodeLeaf(std::span<const std::string> values) {
  std::size_t value_bytes = 0;
  for (const std::string& v : values) value_bytes += v.size();
  if (LeafEncodedSize(values.size(), value_bytes) > kMaxTreePageContents) {
    return Invalid("a leaf of " + std::to_string(values.size()) + " values and " + std::to_string(value_bytes) +
                   " bytes does not fit the largest tree page");
  }
  return EncodeExactly(LeafEncodedSize(values.size(), value_bytes), [&](ByteWriter& w) {
    w.U32(kLeafMagic).U32(static_cast<std::uint32_t>(values.size()));
    std::uint32_t at = 0;
    w.U32(0);
    for (const std::string& v : values) w.U32(at += static_cast<std::uint32_t>(v.size()));
    for (const std::string& v : values) w.Bytes(v);
  });
}

Result<LeafView> LeafView::Parse(std::span<const std::byte> contents) {
  if (contents.size() < kLeafHeaderSize + 4) return Corrupt("leaf shorter than its header");
  if (DecodeFixed32(contents.data()) != kLeafMagic) return Corrupt("not a leaf (bad magic)");
  const std::uint32_t count = DecodeFixed32(contents.data() + 4);
  if ((contents.size() - kLeafHeaderSize) / 4 < std::size_t{count} + 1) return Corrupt("leaf offsets truncated");
  return LeafView(detail::LeafLayout(contents, count));
}

Result<std::string_view> LeafView::Get(std::uint32_t i) const {
  if (i >= count_) return MakeError(ErrorCode::kInvalidArgument, "leaf index past its end");
  const std::byte* offsets = contents_.data() + kLeafHeaderSize;
  const std::uint32_t from = DecodeFixed32(offsets + 4 * std::size_t{i});
  const std::uint32_t to = DecodeFixed32(offsets + 4 * (std::size_t{i} + 1));
  const std::size_t values_at = kLeafHeaderSize + 4 * (std::size_t{count_} + 1);
  if (from > to || to > contents_.size() - values_at) return Corrupt("leaf offsets out of range");
  return std::string_view(reinterpret_cast<const char*>(contents_.data() + values_at + from), to - from);
}

Status LeafView::Validate() const {
  const std::size_t values_at = kLeafHeaderSize + 4 * (std::size_t{count_} + 1);
  const std::size_t value_bytes = contents_.size() - values_at;
  std::uint32_t previous = 0;
  for (std::uint32_t i = 0; i <= count_; ++i) {
    const std::uint32_t off = DecodeFixed32(contents_.data() + kLeafHeaderSize + 4 * std::size_t{i});
    if (off < previous || off > value_bytes || (i == 0 && off != 0)) return Corrupt("leaf offsets out of order");
    previous = off;
  }
  if (previous != value_bytes) return Corrupt("leaf value bytes do not match its offsets");
  return OkStatus();
}

// ---- Inner nodes: magic u32, height u8, flags u8, count u16, total u64, child pids
// u32[count], and when relaxed, cumulative sizes u64[count].

Result<std::vector<std::byte>> EncodeInner(std::uint8_t height, std::span<const InnerChild> children, bool relaxed) {
  LLAMA_RETURN_IF_ERROR(CheckInnerShape(height, children.size()));
  std::uint64_t total = 0;
  for (const InnerChild& c : children) total += c.size;
  const std::size_t size = kInnerHeaderSize + 4 * children.size() + (relaxed ? 8 * children.size() : 0);
  return EncodeExactly(size, [&](ByteWriter& w) {
    w.U32(kInnerMagic).U8(height).U8(relaxed ? kInnerRelaxed : 0).U16(static_cast<std::uint16_t>(children.size()));
    w.U64(total);
    for (const InnerChild& c : children) w.U32(c.pid);
    if (relaxed) {
      std::uint64_t sum = 0;
      for (const InnerChild& c : children) w.U64(sum += c.size);
    }
  });
}

Result<InnerView> InnerView::Parse(std::span<const std::byte> contents) {
  if (contents.size() < kInnerHeaderSize) return Corrupt("inner node shorter than its header");
  if (DecodeFixed32(contents.data()) != kInnerMagic) return Corrupt("not an inner node (bad magic)");
  InnerView v;
  v.contents_ = contents;
  v.height_ = std::to_integer<std::uint8_t>(contents[4]);
  const auto flags = std::to_integer<std::uint8_t>(contents[5]);
  v.relaxed_ = (flags & kInnerRelaxed) != 0;
  v.count_ = DecodeFixed16(contents.data() + 6);
  v.total_ = DecodeFixed64(contents.data() + 8);
  if ((flags & ~kInnerRelaxed) != 0) return Corrupt("inner node has unknown flags");
  if (auto s = CheckInnerShape(v.height_, v.count_); !s) return AsCorruption(s.error());
  const std::size_t want = kInnerHeaderSize + 4 * std::size_t{v.count_} + (v.relaxed_ ? 8 * std::size_t{v.count_} : 0);
  if (contents.size() != want) return Corrupt("inner node has the wrong length");
  return v;
}

Status InnerView::Validate() const {
  for (std::uint32_t k = 0; k < count_; ++k) {
    if (child(k) == 0) return Corrupt("inner node names page 0 (the catalog) as a child");
  }
  if (!relaxed_) return OkStatus();
  std::uint64_t previous = 0;
  for (std::uint32_t k = 0; k < count_; ++k) {
    const std::uint64_t cum = before(k + 1, 0);
    if (cum <= previous) return Corrupt("inner node size table not increasing");
    previous = cum;
  }
  if (previous != total_) return Corrupt("inner node size table does not add up to its total");
  return OkStatus();
}

PageId InnerView::child(std::uint32_t k) const { return DecodeFixed32(contents_.data() + kInnerHeaderSize + 4 * k); }

std::uint64_t InnerView::before(std::uint32_t k, std::uint64_t full_child) const {
  if (k == 0) return 0;
  if (!relaxed_) {
    // Saturates rather than wraps: k * full_child may pass 2^64 on a damaged node.
    if (full_child != 0 && k > total_ / full_child) return total_;
    return std::uint64_t{k} * full_child;
  }
  return DecodeFixed64(contents_.data() + kInnerHeaderSize + 4 * std::size_t{count_} + 8 * std::size_t{k - 1});
}

Result<std::pair<std::uint32_t, std::uint64_t>> InnerView::Locate(std::uint64_t i, std::uint64_t full_child) const {
  if (i >= total_) return Corrupt("index past an inner node's total");
  std::uint32_t k = 0;
  if (!relaxed_) {
    if (full_child == 0) return Corrupt("regular inner node without a full child size");
    k = static_cast<std::uint32_t>(std::min<std::uint64_t>(i / full_child, count_ - 1));
  } else {
    // As immer does: guess from the average child size, then step to the child whose
    // range holds i (children of a relaxed node are close to equal, so one or two steps).
    const std::uint64_t average = std::max<std::uint64_t>(total_ / count_, 1);
    k = static_cast<std::uint32_t>(std::min<std::uint64_t>(i / average, count_ - 1));
    while (k + 1 < count_ && before(k + 1, 0) <= i) ++k;
    while (k > 0 && before(k, 0) > i) --k;
  }
  const std::uint64_t first = before(k, full_child);
  const std::uint64_t end = k + 1 == count_ ? total_ : before(k + 1, full_child);
  if (first > i || i >= end) return Corrupt("inner node size table does not place the index");
  return std::pair{k, first};
}

std::uint64_t FullSubtreeSize(const VectorConfig& config, std::uint8_t height) {
  std::uint64_t n = config.leaf_max_elements;
  for (std::uint8_t h = 0; h < height; ++h) {
    if (n > (std::uint64_t{1} << 56) / config.branching) return std::uint64_t{1} << 56;
    n *= config.branching;
  }
  return n;
}

}  // namespace llama
