// NodeImage: the bytes of one Bw-tree node as the tree writes them into a base page (and
// into a Merge delta), and NodeContents, the node as a list of entries that consolidation,
// splits and merges build images from. docs/BWTREE.md, "Node image", has every byte.
//
// A node covers the keys in [low, high) (high may be +infinity) at one level (0 = leaf). A
// leaf entry is a key and a value; an inner entry is a separator key and a child page id,
// live or a tombstone (the child is being merged into its left neighbour). Keys compare
// as unsigned bytes (std::string_view's order).
//
// Ownership: NodeImage borrows the bytes it parses and NodeContents' entries borrow keys
// and values from the page states they were read from; both are valid only while the
// reader stays in the generation in which it read those states (include/llama/store.h). Encoding
// copies into a caller-owned buffer.
//
// Reading is bounds-checked on every access rather than validated whole up front (which
// would cost O(entries) per node visited): a damaged image yields Corruption, never a
// read outside its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"

namespace llama::bwtree {

namespace node_image_format {
inline constexpr std::uint8_t kTag = 0x4E;  // 'N'
inline constexpr std::size_t kTagOffset = 0;
inline constexpr std::size_t kLevelOffset = 1;
inline constexpr std::size_t kFlagsOffset = 2;
inline constexpr std::size_t kReservedOffset = 3;
inline constexpr std::size_t kRightOffset = 4;
inline constexpr std::size_t kCountOffset = 8;
inline constexpr std::size_t kLowLenOffset = 12;
inline constexpr std::size_t kHighLenOffset = 14;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint8_t kHasHigh = 1;          // flags bit 0: high key present (else +inf)
inline constexpr std::uint8_t kHasRight = 2;         // flags bit 1: right sibling present
inline constexpr std::uint8_t kTombstone = 1;        // inner entry flags bit 0
inline constexpr std::size_t kOffsetSize = 4;        // one u32 per entry in the offset table
inline constexpr std::size_t kLeafEntryHeader = 6;   // u16 key len, u32 value len
inline constexpr std::size_t kInnerEntryHeader = 7;  // u16 key len, u32 child, u8 flags
}  // namespace node_image_format

// The largest key and value any tree accepts: a node of two entries and the chain above
// it always fit a page and a log record. A tree whose nodes are small accepts shorter keys
// still (BwTreeOptions::max_key_bytes).
inline constexpr std::size_t kMaxKeyBytes = 1024;
inline constexpr std::size_t kMaxValueBytes = 16 * 1024;
// The highest level a node may have (the level byte could say 255): a tree is at most 64
// levels tall. Every inner node a split makes has at least two children, so a tree this
// tall would need 2^63 leaves, more than 32-bit page ids can name; reaching the bound is
// an error (ResourceExhausted), and an image that claims a higher level is Corruption.
inline constexpr std::uint8_t kMaxLevel = 63;

// An exclusive upper bound: a key, or +infinity.
struct HighKey {
  bool infinite = true;
  std::string_view key;

  static HighKey Infinity() { return {}; }
  static HighKey At(std::string_view k) { return {false, k}; }
  // True when `k` is at or past the bound (outside a range that ends here).
  bool Excludes(std::string_view k) const { return !infinite && k >= key; }
  friend bool operator==(const HighKey& a, const HighKey& b) {
    return a.infinite == b.infinite && (a.infinite || a.key == b.key);
  }
};

// One entry of a leaf (key, value) or of an inner node (key, child, tombstone).
struct Entry {
  std::string_view key;
  std::string_view value;  // leaves
  PageId child = 0;        // inner nodes
  bool tombstone = false;  // inner nodes: the child is being merged away

  bool live() const { return !tombstone; }
};

struct NodeContents {
  std::uint8_t level = 0;
  std::string_view low;
  HighKey high;
  std::optional<PageId> right;
  std::vector<Entry> entries;  // sorted by key, all in [low, high)

  bool leaf() const { return level == 0; }
};

// Bytes an entry adds to an image (its offset slot included).
std::size_t EncodedEntrySize(const Entry& e, bool leaf);
// Bytes of the image of `node` (what EncodeNodeImage writes).
std::size_t EncodedNodeSize(const NodeContents& node);
// Appends the image of `node` to `out`. InvalidArgument for keys or values over the limits
// (nothing appended then).
Status EncodeNodeImage(const NodeContents& node, std::vector<std::byte>& out);

class NodeImage {
 public:
  static Result<NodeImage> Parse(std::span<const std::byte> bytes);

  std::uint8_t level() const { return level_; }
  bool leaf() const { return level_ == 0; }
  std::string_view low() const { return low_; }
  HighKey high() const { return high_; }
  std::optional<PageId> right() const { return right_; }
  std::uint32_t size() const { return count_; }

  Result<Entry> At(std::uint32_t i) const;
  Result<std::string_view> KeyAt(std::uint32_t i) const;
  // The index of the first entry whose key is >= `key` (size() if none).
  Result<std::uint32_t> LowerBound(std::string_view key) const;
  // The entry with exactly `key`, if any.
  Result<std::optional<Entry>> Find(std::string_view key) const;
  // Appends every entry, in order.
  Status AppendAll(std::vector<Entry>& out) const;

 private:
  NodeImage() = default;
  Result<std::uint32_t> OffsetOf(std::uint32_t i) const;

  std::span<const std::byte> bytes_;
  std::uint8_t level_ = 0;
  std::string_view low_;
  HighKey high_;
  std::optional<PageId> right_;
  std::uint32_t count_ = 0;
  std::size_t table_ = 0;  // where the offset table starts
};

}  // namespace llama::bwtree
