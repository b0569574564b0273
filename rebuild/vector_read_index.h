// The read index of one publication: its tree's leaves in order, each with the index of
// its first element, its element count and its page id. A read finds its leaf here (a
// division when every leaf but the last is full, else a binary search over the first
// indexes) and reads that one page, instead of decoding every inner page on the way down
// from the root. Iteration steps from a leaf to the next one in the index.
//
// Size: 16 bytes a leaf (about 250 KiB per million elements at 64 elements a leaf), built
// once per publication by reading each inner page once. It holds only page ids and
// counts, never pointers into page memory: a reader turns an id into bytes with
// Store::Read under a generation guard, which reads an evicted leaf back, so a reader
// never follows a freed pointer and the store's memory budget still counts every leaf.
//
// Why the ids stay valid: a LazyReadIndex lives in its PublishedTree and is reached only
// through a snapshot (or the vector) holding that tree. Vector frees a tree page only when
// no live publication can reach it (Vector::Reclaimable: a page dropped by generation d
// and first published by generation c waits in pending_free_ while any publication of a
// generation in [c, d) is still held, and a VectorSnapshot holds its publication), and
// tree pages are immutable once published. So every page an index names stays allocated,
// with the contents the index was built from, while the index can be used.
//
// Ownership: VectorReadIndex is a plain value. LazyReadIndex owns the one index it builds
// and frees it with the PublishedTree. It is built at most once, under a mutex, by the
// reader that finds the publication has done enough work to pay for it (see Get);
// afterwards readers load its pointer (release/acquire) without a lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "lss/store.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"

namespace llama {

class VectorReadIndex {
 public:
  struct Leaf {
    std::uint64_t first = 0;  // index of the leaf's first element
    PageId pid = 0;
    std::uint32_t count = 0;  // elements in the leaf (>= 1)
  };
  static_assert(sizeof(Leaf) == 16);

  // Reads every inner page of `tree` once (a generation guard held for one page at a time)
  // and lists its leaves. Corruption when the inner nodes' counts disagree with each other
  // or with the tree's size; I/O errors from the store.
  static Result<VectorReadIndex> Build(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree);

  std::size_t leaves() const { return leaves_.size(); }
  const Leaf& leaf(std::size_t k) const { return leaves_[k]; }
  // The position of the leaf holding element i (< the tree's size). `hint`: a leaf likely
  // to hold it (the one after the previous read's, when walking), checked first.
  std::size_t Find(std::uint64_t i, std::size_t hint = 0) const;
  std::size_t memory_bytes() const { return leaves_.capacity() * sizeof(Leaf); }

 private:
  Status Visit(Store& store, const VectorConfig& config, PageId pid, std::uint8_t height, std::uint64_t first,
               std::uint64_t size);
  std::vector<Leaf> leaves_;
  std::uint64_t radix_ = 0;  // every leaf but the last holds exactly this many (0: not so)
};

// The read index a publication builds for itself on demand. Copying or moving gives an
// empty one (it is a cache of the tree's pages, rebuilt when needed).
class LazyReadIndex {
 public:
  LazyReadIndex() = default;
  LazyReadIndex(const LazyReadIndex&) {}
  LazyReadIndex& operator=(const LazyReadIndex&) = delete;

  // The index, or null when the reader should descend from the root instead. `work` is
  // the number of leaves the caller is about to read. Until the reads of this publication
  // add up to about one leaf per height-1 inner page (what building reads), Get returns
  // null; then it builds the index. This keeps a publication read a few times (a snapshot
  // taken for one read of a busy vector) from paying for a whole index, while a
  // publication read often pays at most about twice what its reads need. A failed build
  // is retried after as much work again (the descent reports the error if it is real).
  const VectorReadIndex* Get(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree,
                             std::uint64_t work) const;
  // Builds it now if it is not built yet.
  Status Prepare(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree) const;
  // Null until built.
  const VectorReadIndex* built() const { return ready_.load(std::memory_order_acquire); }

 private:
  mutable std::atomic<std::uint64_t> work_{0};
  mutable std::mutex mu_;                                // one builder at a time
  mutable std::unique_ptr<const VectorReadIndex> index_;  // written under mu_, once
  mutable std::atomic<const VectorReadIndex*> ready_{nullptr};
};

}  // namespace llama
