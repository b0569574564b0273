// The vector's bytes: what its pages and deltas hold. All of it is access-method meaning,
// opaque to the page store (LLAMA is type-blind); pagedump decodes it with these functions.
// Byte-by-byte layouts: docs/FORMAT.md, "Vector pages and deltas".
//
// A vector uses three kinds of pages, all in the store's mapping table:
//   - its meta page (registered in the catalog as "vector:<name>"): a base page with the
//     vector's fixed configuration and its writer buffer pages, and above it Update deltas
//     that are publications (one per published snapshot);
//   - buffer pages: an (empty) base page with Update deltas that are entries (the writes);
//   - tree pages: RRB leaves and inner nodes, each one immutable base page.
// Every Update-delta payload starts with a one-byte tag, every base page's contents with
// a four-byte magic, so any page of a vector can be recognized alone.
//
// Ownership: plain values and views into caller-owned bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/coding.h"
#include "llama/detail/vector_leaf.h"
#include "llama/status.h"
#include "llama/types.h"
#include "llama/vector_options.h"
#include "llama/vector_write_batch.h"

namespace llama {

namespace vector_format {
// Base page magics (first four bytes of the contents, little-endian).
inline constexpr std::uint32_t kMetaMagic = 0x544D564C;    // "LVMT"
inline constexpr std::uint32_t kLeafMagic = 0x464C564C;    // "LVLF"
inline constexpr std::uint32_t kInnerMagic = 0x4E49564C;   // "LVIN"
inline constexpr std::uint32_t kBufferMagic = 0x4655564C;  // "LVUF"
inline constexpr std::uint32_t kVersion = 1;
// Update-delta payload tags.
inline constexpr std::uint8_t kEntryTag = 0xE1;
inline constexpr std::uint8_t kPublicationTag = 0xB1;

inline constexpr std::size_t kMetaHeaderSize = 24;  // magic, version, branching, leaf max, leaf page size, slots
inline constexpr std::size_t kLeafHeaderSize = detail::kLeafHeaderSize;  // magic, count
inline constexpr std::size_t kInnerHeaderSize = 16;  // magic, height u8, flags u8, count u16, total u64
inline constexpr std::size_t kEntryHeaderSize =
    24;  // tag, reserved, op count u16, thread u32, timestamp u64, sequence u64
inline constexpr std::size_t kPublicationHeaderSize = 40;
// Inner flags: a size table follows the children.
inline constexpr std::uint8_t kInnerRelaxed = 0x01;
static_assert(kInnerHeaderSize == 4 + 1 + 1 + 2 + 8);
static_assert(kEntryHeaderSize == 1 + 1 + 2 + 4 + 8 + 8);
static_assert(kPublicationHeaderSize == 1 + 1 + 2 + 4 + 8 + 8 + 8 + 4 + 4);

// ---- Limits. Every fixed-width field has one of these bounds, checked where it is
// written (InvalidArgument: it never wraps) and where it is read (Corruption); the table
// is docs/FORMAT.md, "Vector limits".

// Tree pages are base pages: 4..64 KiB, less the base page header (include/llama/base_page.h,
// checked in vector_format.cc).
inline constexpr std::uint32_t kMinTreePageSize = 4096;
inline constexpr std::uint32_t kMaxTreePageSize = 65536;
inline constexpr std::size_t kTreePageOverhead = 16;
inline constexpr std::size_t kMaxTreePageContents = kMaxTreePageSize - kTreePageOverhead;
// Children per inner node. The child count is a u16, and a node of the largest branching
// (header, pid and size-table entry per child) fits the smallest tree page, so no branching
// in range needs a check against the page size.
inline constexpr std::uint32_t kMinBranching = 3;
inline constexpr std::uint32_t kMaxBranching = 256;
static_assert(kMaxBranching <= UINT16_MAX);
static_assert(kInnerHeaderSize + kMaxBranching * (4 + 8) <= kMinTreePageSize - kTreePageOverhead);
// Leaf counts and offsets are u32; a leaf is at most one tree page.
static_assert(kMaxTreePageContents <= UINT32_MAX);
// Writer slots: the meta page lists one buffer page id (u32) per slot and must fit the
// largest base page.
inline constexpr std::uint32_t kMaxSlots = 1024;
static_assert(kMetaHeaderSize + 4 * std::size_t{kMaxSlots} <= kMaxTreePageContents);
// Tree height (a u8 in publications and inner nodes). The builder refuses to grow a tree
// past it (ResourceExhausted). Measured heights, even under adversarial mixes of inserts
// and erases, stay within a few levels of log2 of the element count, and a vector holds
// fewer than 2^46 elements (2^32 pages of at most kMaxLeafElements): this is far above
// any reachable height. It also bounds the builder's recursion.
inline constexpr std::uint8_t kMaxHeight = 63;
// Operations in one entry: its count is a u16.
inline constexpr std::size_t kMaxEntryOps = UINT16_MAX;
// Timestamps come from a clock starting at 1; 2^64 - 1 is reserved as the open end of a
// recovery scan (and the clock at it is exhausted), so an entry never carries it.
inline constexpr std::uint64_t kMinTimestamp = 1;
inline constexpr std::uint64_t kMaxTimestamp = UINT64_MAX - 1;
}  // namespace vector_format

// Bytes a leaf of `count` values totalling `value_bytes` encodes to.
constexpr std::size_t LeafEncodedSize(std::size_t count, std::size_t value_bytes) {
  return vector_format::kLeafHeaderSize + 4 * (count + 1) + value_bytes;
}
// The largest value a leaf of this tree page size holds (a leaf of that value alone).
constexpr std::size_t MaxValueSize(std::uint32_t tree_page_size) {
  return tree_page_size - vector_format::kTreePageOverhead - LeafEncodedSize(1, 0);
}
// The most elements a leaf of this tree page size holds (empty values).
constexpr std::uint32_t MaxLeafElements(std::uint32_t tree_page_size) {
  return static_cast<std::uint32_t>(
      (tree_page_size - vector_format::kTreePageOverhead - vector_format::kLeafHeaderSize) / 4 - 1);
}
namespace vector_format {
// The largest value of any vector (its length is a u32 in entries); longer is Corruption.
inline constexpr std::size_t kMaxValueSize = MaxValueSize(kMaxTreePageSize);
static_assert(kMaxValueSize <= UINT32_MAX);
// The most elements a leaf holds: empty values in the largest tree page.
inline constexpr std::uint32_t kMaxLeafElements = MaxLeafElements(kMaxTreePageSize);
static_assert(LeafEncodedSize(kMaxLeafElements, 0) == kMaxTreePageContents);
}  // namespace vector_format

// ---- Operations and entries (buffer-page deltas) ----
// VectorOpCode and VectorOp are public (llama/vector_write_batch.h).

std::string_view VectorOpName(VectorOpCode code);

// One write call: a single operation or an all-or-nothing batch, with its place in the
// replay order (timestamp, unique per vector) and who wrote it.
struct VectorEntry {
  std::uint64_t timestamp = 0;
  std::uint32_t thread = 0;
  std::uint64_t sequence = 0;  // per writer thread, from 0
  std::vector<VectorOp> ops;
  friend bool operator==(const VectorEntry&, const VectorEntry&) = default;
};

// InvalidArgument naming the limit when `ops` cannot be one entry: none, more than
// kMaxEntryOps, or a value longer than `max_value_size`.
[[nodiscard]] Status ValidateOps(std::span<const VectorOp> ops, std::size_t max_value_size);
// InvalidArgument when a field does not fit its width (ValidateOps with kMaxValueSize, a
// timestamp outside kMinTimestamp..kMaxTimestamp).
Result<std::vector<std::byte>> EncodeEntry(const VectorEntry& entry);
// Corruption when a field is out of range (as EncodeEntry refuses to write it).
Result<VectorEntry> DecodeEntry(std::span<const std::byte> payload);
// The timestamp of an entry payload, without decoding its operations.
Result<std::uint64_t> EntryTimestamp(std::span<const std::byte> payload);
// Rewrites the timestamp of an encoded entry (the write path encodes and checks an entry
// before it takes its timestamp). InvalidArgument outside kMinTimestamp..kMaxTimestamp or
// when `payload` is not an entry.
[[nodiscard]] Status SetEntryTimestamp(std::span<std::byte> payload, std::uint64_t timestamp);

// ---- Publications (meta-page deltas) ----

struct VectorPublication {
  std::uint64_t generation = 0;
  PageId root = 0;              // 0: the empty vector (page 0 is the catalog, never a node)
  std::uint8_t height = 0;      // 0: the root is a leaf
  std::uint64_t size = 0;       // elements
  std::uint64_t watermark = 0;  // every entry with a timestamp below is in this snapshot
  // Tree pages dropped by this or earlier publications and not yet freed when this one
  // was written: recovery frees them (no reader survives a restart).
  std::vector<PageId> pending_free;
  friend bool operator==(const VectorPublication&, const VectorPublication&) = default;
};

// InvalidArgument when the height passes kMaxHeight, the empty tree has a height or
// elements, or the pending-free list passes its u32 count.
Result<std::vector<std::byte>> EncodePublication(const VectorPublication& publication);
Result<VectorPublication> DecodePublication(std::span<const std::byte> payload);

// The tag of a vector Update-delta payload, or 0 when it is not one.
std::uint8_t VectorPayloadTag(std::span<const std::byte> payload);

// ---- Meta page ----
// VectorConfig, what it holds, is public (llama/vector_options.h).

// InvalidArgument when ValidateVectorConfig refuses the configuration.
Result<std::vector<std::byte>> EncodeMeta(const VectorConfig& config);
Result<VectorConfig> DecodeMeta(std::span<const std::byte> contents);
// InvalidArgument naming the first parameter out of range.
[[nodiscard]] Status ValidateVectorConfig(const VectorConfig& config);

// ---- Tree pages ----

// A leaf's elements, viewed in place (valid while the page's bytes are). Parse checks only
// what every read needs (O(1)); Get checks the offsets it uses; Validate checks them all.
// The unchecked reads (size, offsets, GetUnchecked, PrefetchValue) are detail::LeafLayout's
// (llama/detail/vector_leaf.h), which VectorSnapshot's inline read path uses alone.
class LeafView : public detail::LeafLayout {
 public:
  LeafView() = default;
  // O(1) checks; Validate checks every offset.
  static Result<LeafView> Parse(std::span<const std::byte> contents);
  // A view of a leaf that Parse and Validate accepted before (`count` its element count),
  // for read paths that checked the leaf once and keep its bytes.
  static LeafView Trusted(std::span<const std::byte> contents, std::uint32_t count) {
    return Trusted(detail::LeafLayout(contents, count));
  }
  static LeafView Trusted(const detail::LeafLayout& checked) { return LeafView(checked); }
  Result<std::string_view> Get(std::uint32_t i) const;
  [[nodiscard]] Status Validate() const;

 private:
  explicit LeafView(const detail::LeafLayout& layout) : detail::LeafLayout(layout) {}
};

// InvalidArgument when the leaf would not fit the largest tree page (so its offsets fit
// their u32s); the builder keeps leaves within the vector's own page size.
Result<std::vector<std::byte>> EncodeLeaf(std::span<const std::string> values);

// An inner node viewed in place. Relaxed nodes carry a size table (cumulative element
// counts); regular ones do not: every child but the last then holds exactly
// `full_child` elements, so the child of index i is i / full_child (radix indexing).
class InnerView {
 public:
  // O(1) checks; Validate checks the whole size table.
  static Result<InnerView> Parse(std::span<const std::byte> contents);
  [[nodiscard]] Status Validate() const;
  std::uint8_t height() const { return height_; }
  bool relaxed() const { return relaxed_; }
  std::uint32_t count() const { return count_; }
  std::uint64_t total() const { return total_; }
  PageId child(std::uint32_t k) const;
  // Elements before child k (relaxed: from the table; regular: k * full_child).
  std::uint64_t before(std::uint32_t k, std::uint64_t full_child) const;
  // The child holding element i (< total) and the elements before it. Corruption when
  // the table does not place i inside one child.
  Result<std::pair<std::uint32_t, std::uint64_t>> Locate(std::uint64_t i, std::uint64_t full_child) const;

 private:
  std::span<const std::byte> contents_;
  std::uint8_t height_ = 0;
  bool relaxed_ = false;
  std::uint32_t count_ = 0;
  std::uint64_t total_ = 0;
};

struct InnerChild {
  PageId pid = 0;
  std::uint64_t size = 0;
};
// `relaxed` false omits the size table (the caller checked the node is regular).
// InvalidArgument unless 1 <= height <= kMaxHeight and 1..kMaxBranching children.
Result<std::vector<std::byte>> EncodeInner(std::uint8_t height, std::span<const InnerChild> children, bool relaxed);

// Elements a full subtree of `height` holds: leaf_max * branching^height (saturating).
std::uint64_t FullSubtreeSize(const VectorConfig& config, std::uint8_t height);

}  // namespace llama
