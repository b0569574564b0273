// NodeView: the logical Bw-tree node that one page state spells: its base page (a node
// image) under a chain of Bw-tree deltas, read newest first, with llama's own deltas
// (Flush, PartialSwap, Relocation) skipped.
//
// What the chain means (docs/BWTREE.md, "Reading a node"):
// - The node's level and low key come from the base (they never change). Its high key and
//   right sibling come from the newest Split or Merge delta, else from the base.
// - A key's entry is decided by the newest layer that speaks for it: an Insert, Delete or
//   Index* delta for exactly that key; a Split delta says nothing exists at or past its
//   key; a Merge delta answers for every key at or past the removed node's low key from
//   the image it carries; the base answers last.
// - The node is removed (frozen, about to be merged away) if a RemoveNode delta is in the
//   chain; it is always the newest Bw-tree delta of a removed node. A Retire delta freezes
//   it the same way, for the root collapse (it is retired too).
// - Birth and Retire deltas (and a RemoveNode's nonce) name the tree's pending record for
//   the page: nonce() is the newest one's. They are not layers: they say nothing about
//   entries or bounds, and delta_count() does not count them.
//
// Ownership: the view borrows the page state (its records and base page), so it is valid
// only while the reader stays in the generation it read the state in.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "examples/bwtree/bw_delta.h"
#include "examples/bwtree/node_image.h"
#include "llama/page_state.h"
#include "llama/status.h"

namespace llama::bwtree {

class NodeView {
 public:
  // The view of an in-memory page state (Store::Read returns one). Corruption for a state
  // with no base page or with payloads that do not decode.
  static Result<NodeView> Of(PageState state);

  std::uint8_t level() const { return level_; }
  bool leaf() const { return level_ == 0; }
  std::string_view low() const { return low_; }
  HighKey high() const { return high_; }
  std::optional<PageId> right() const { return right_; }
  bool removed() const { return removed_; }
  // Frozen by a Retire delta: the root's only child, being copied into the root.
  bool retired() const { return retired_; }
  // The nonce of the newest Birth, Retire or RemoveNode delta (0: none).
  std::uint64_t nonce() const { return nonce_; }
  // Bw-tree deltas on the chain (what consolidation folds).
  std::uint32_t delta_count() const { return static_cast<std::uint32_t>(layers_.size()); }
  // Payload bytes of those deltas.
  std::size_t delta_bytes() const { return delta_bytes_; }
  // Delete and IndexErase deltas on the chain, and entries in the base: a node whose
  // deletes rival its base is worth consolidating early (it may be small enough to merge).
  std::uint32_t delete_count() const { return deletes_; }
  std::uint32_t base_entries() const { return base_->size(); }
  // Some of the node's state (a Bw-tree delta or a new base) is not in the log yet.
  bool unflushed() const { return unflushed_; }
  bool Covers(std::string_view key) const { return key >= low_ && !high_.Excludes(key); }

  // The entry with exactly `key`, if the node has one (an inner entry may be a tombstone).
  Result<std::optional<Entry>> Find(std::string_view key) const;
  // Inner nodes: the live entry with the greatest key <= `key` (< `key` when
  // !inclusive), the child a search for `key` goes to. Tombstones passed over on the way
  // are appended to `skipped` (when given): merges a reader may help finish.
  Result<std::optional<Entry>> FloorLive(std::string_view key, bool inclusive,
                                         std::vector<Entry>* skipped = nullptr) const;
  // The entry, live or not, with the greatest key < `key`.
  Result<std::optional<Entry>> Predecessor(std::string_view key) const;
  // Every entry in order, with the node's bounds: what a new base page would hold.
  Result<NodeContents> Materialize() const;
  // Every entry in order into `out`, cleared first: a reader that keeps `out` from node to
  // node (a cursor) reuses its capacity instead of allocating a vector per node.
  Status CollectEntries(std::vector<Entry>& out) const;

 private:
  // One Bw-tree delta and, for a Merge, its parsed image; `cap` bounds the keys this layer
  // may still speak for (newer Split and Merge deltas took over the keys at or above it).
  struct Layer {
    BwDelta delta;
    std::optional<NodeImage> image;
    HighKey cap;
  };
  // The greatest key this view holds below (or at) `bound`, over every layer, each
  // within its cap: a candidate for Floor and Predecessor.
  Result<std::optional<std::string_view>> PrevKey(std::string_view bound, bool inclusive) const;
  Result<std::optional<Entry>> FindIn(std::string_view key, std::size_t from_layer) const;

  // Of's steps: the walk down the chain, one node at a time, then the bounds.
  struct ChainWalk;
  Status ReadBase(const PageNode& node, const ChainWalk& walk);
  // A delta node: llama's own move the flush point, a Bw-tree delta is read by ReadBwDelta.
  Status ReadDelta(const PageNode& node, ChainWalk& walk);
  // What `layer`'s delta says about the node; false for a stamp (Birth, Retire), which is
  // no layer.
  Result<bool> ReadBwDelta(Layer& layer, ChainWalk& walk);
  // The level, low key and (unless a delta gave them) high key and right sibling, from the
  // base.
  Status ReadBounds(bool bounds_known);

  std::vector<Layer> layers_;  // newest first
  std::size_t delta_bytes_ = 0;
  std::optional<NodeImage> base_;
  HighKey base_cap_;
  std::uint8_t level_ = 0;
  std::string_view low_;
  HighKey high_;
  std::optional<PageId> right_;
  std::uint32_t deletes_ = 0;
  std::uint64_t nonce_ = 0;
  bool removed_ = false;
  bool retired_ = false;
  bool unflushed_ = false;
};

}  // namespace llama::bwtree
