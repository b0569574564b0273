// Internal to llama-store; public only because VectorSnapshot's read path is inline (a loop
// of independent reads then keeps several cache misses in flight). Not part of the API: it
// may change in any release. The rest of the read path, and how these are built, is in
// rebuild/ (published_tree.h, vector_read_index.h, vector_snapshot.cc).
//
//   Publication  what a snapshot holds: the fields its inline accessors read, and the
//                publication's read index once built. Only rebuild/'s PublishedTree
//                derives from it (its constructor is protected).
//   LeafIndex    the flat table of a publication's leaves that the read index builds;
//                Find names the leaf holding an element, PinnedValue reads it when the
//                index pins its leaves.
//
// Ownership and lifetime: a Publication is owned by shared pointers (the vector's current
// one, and each VectorSnapshot of it) and dies with the last of them. It owns its read
// index (through PublishedTree), built at most once and then never changed, so a
// LeafIndex pointer loaded from built_index() is valid for as long as the publication is
// held; so are the leaf bytes of a pinned index (the index holds the pins).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "llama/detail/vector_leaf.h"
#include "llama/types.h"

namespace llama::detail {

// One leaf in a read index.
struct IndexedLeaf {
  std::uint64_t first = 0;           // index of the leaf's first element
  const std::byte* bytes = nullptr;  // the pinned leaf's contents (null when not pinned)
  PageId pid = 0;
  std::uint32_t count = 0;  // elements in the leaf (>= 1)
  std::uint32_t size = 0;   // bytes of contents (pinned leaves)
  // The pinned leaf, checked when the index was built.
  LeafLayout view() const { return LeafLayout(std::span<const std::byte>(bytes, size), count); }
};
static_assert(sizeof(IndexedLeaf) == 32);

class LeafIndex {
 public:
  std::size_t leaves() const { return leaves_.size(); }
  const IndexedLeaf& leaf(std::size_t k) const { return leaves_[k]; }
  // True when every leaf is pinned (IndexedLeaf::bytes set).
  bool pinned() const { return pinned_; }
  // The position of the leaf holding element i (< the tree's size). `hint`: a leaf likely
  // to hold it (the one after the previous read's, when walking), checked first.
  std::size_t Find(std::uint64_t i, std::size_t hint = 0) const {
    if (radix_ != 0) return static_cast<std::size_t>(std::min<std::uint64_t>(i / radix_, leaves_.size() - 1));
    return Search(i, hint);
  }
  // Element i (< the tree's size) of a pinned index: no checks, no lock, no guard.
  std::string_view PinnedValue(std::uint64_t i) const {
    const IndexedLeaf& leaf = leaves_[Find(i)];
    const LeafLayout view = leaf.view();
    const auto k = static_cast<std::uint32_t>(i - leaf.first);
    view.PrefetchValue(k);
    return view.GetUnchecked(k);
  }

 protected:
  LeafIndex() = default;
  // Binary search over the leaves' first indexes (rebuild/vector_read_index.cc).
  std::size_t Search(std::uint64_t i, std::size_t hint) const;

  std::vector<IndexedLeaf> leaves_;
  std::uint64_t radix_ = 0;  // every leaf but the last holds exactly this many (0: not so)
  bool pinned_ = false;
};

class Publication {
 public:
  Publication(const Publication&) = delete;
  Publication& operator=(const Publication&) = delete;

  const std::uint64_t generation;
  const std::uint64_t watermark;  // every write with a smaller timestamp is in it (or rejected)
  const PageId root;              // 0: the empty vector
  const std::uint8_t height;      // 0: the root is a leaf
  const std::uint64_t size;       // elements

  // The read index, once built (null before); see rebuild/vector_read_index.h.
  const LeafIndex* built_index() const { return built_index_.load(std::memory_order_acquire); }

 protected:
  Publication(std::uint64_t gen, std::uint64_t mark, PageId root_page, std::uint8_t tree_height, std::uint64_t elements)
      : generation(gen), watermark(mark), root(root_page), height(tree_height), size(elements) {}
  ~Publication() = default;

  // Stored (release) once, by the builder of the read index, which owns what it points to.
  mutable std::atomic<const LeafIndex*> built_index_{nullptr};
};

}  // namespace llama::detail
