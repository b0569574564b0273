// RrbBuilder: replays a batch of entries onto a published RRB tree and writes the new
// tree's pages: path copying, so pages on the paths the batch changed are new and every
// other page is shared with the published tree.
//
// The tree: leaves hold up to `leaf_max_elements` values (and no more bytes than a leaf
// page holds); inner nodes up to `branching` children, with a size table only where the
// node is relaxed (vector_format.h). Insert, erase and update at an index walk one path
// (O(log n) pages); a node that overflows splits (a leaf into as many leaves as its bytes
// need), a node that falls under a quarter full merges with a neighbour when both fit in
// one, an empty node disappears, and the root grows or shrinks a level. Splits at the end
// of a node keep the left part full, so a tree built by appends stays regular (radix
// indexed, no size tables); prepends and middle inserts make it relaxed.
//
// Ownership: the builder owns the working nodes of the new tree (in memory until
// Materialize). Published pages it reads are only copied from, under a GenerationGuard
// held for each read. One builder per rebuild, used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llama/store.h"
#include "rebuild/vector_format.h"

namespace llama {

class RrbBuilder {
 public:
  struct Tree {
    PageId root = 0;  // 0: empty
    std::uint8_t height = 0;
    std::uint64_t size = 0;
  };

  RrbBuilder(Store& store, const VectorConfig& config, Tree published);
  ~RrbBuilder();
  RrbBuilder(const RrbBuilder&) = delete;
  RrbBuilder& operator=(const RrbBuilder&) = delete;

  // Applies an entry's operations in order, all or nothing: InvalidArgument (and no
  // change) when an index is past the end at its turn or a value does not fit a leaf;
  // other errors are I/O or corruption from reading published pages, or
  // ResourceExhausted when the tree would grow past vector_format::kMaxHeight (the
  // builder is then unusable).
  [[nodiscard]] Status Apply(const VectorEntry& entry);
  std::uint64_t size() const { return size_; }

  struct Written {
    Tree tree;
    std::vector<PageId> created;  // new pages, all flushed
    std::vector<PageId> dropped;  // published pages the new tree no longer uses
    LssAddress position;          // covers every flush (Sync it for durability)
  };
  // Allocates and writes (Update-R, Flush) a page for every new node. Call once.
  Result<Written> Materialize();

  // The largest value a leaf page of this configuration can hold.
  static std::size_t MaxValueSize(const VectorConfig& config);

 private:
  struct Node;
  struct Child {
    PageId pid = 0;              // a published page (shared), when node is null
    std::unique_ptr<Node> node;  // a new node of this rebuild
    std::uint64_t size = 0;
  };
  struct Node {
    std::uint8_t height = 0;
    std::vector<std::string> values;  // leaf
    std::size_t bytes = 0;            // leaf: sum of value sizes
    std::vector<Child> children;      // inner
  };
  using Siblings = std::vector<Child>;

  Status Open(Child& child, std::uint8_t height);
  Result<Siblings> Insert(Child& c, std::uint64_t i, std::string value);
  Result<Siblings> Update(Child& c, std::uint64_t i, std::string value);
  Status Erase(Child& c, std::uint64_t i);
  Status ApplyAtRoot(const VectorOp& op);
  // Splits an overfull node into parts that fit (the first stays in `c`).
  // `near_front`: the write that overflowed it was in the front half.
  Siblings SplitLeaf(Child& c, bool at_end, bool near_front);
  Siblings SplitInner(Child& c, bool at_end, bool near_front);
  Status MergeUnderfull(Node& parent, std::size_t k);
  bool LeafFits(std::size_t count, std::size_t bytes) const;
  static void Resize(Child& c);
  Result<PageId> Write(Child& c, std::vector<PageId>& created, LssAddress& position);
  bool Regular(const Node& n) const;

  Store& store_;
  const VectorConfig config_;
  const std::size_t leaf_capacity_;
  Child root_;
  std::uint8_t height_ = 0;
  std::uint64_t size_ = 0;
  std::vector<PageId> opened_;  // published pages copied into new nodes (so dropped)
};

}  // namespace llama
