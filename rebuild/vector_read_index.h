// The read index of one publication: its tree's leaves in order, each with the index of
// its first element, its element count and its page id. A read finds its leaf here (a
// division when every leaf but the last is full, else a binary search over the first
// indexes) and reads that one page, instead of decoding every inner page on the way down
// from the root. Iteration steps from a leaf to the next one in the index.
//
// Pinned leaves. When the store has no memory budget (nothing is evicted unasked, so every
// tree page stays resident anyway), the index also pins each leaf's base page
// (Store::PinBase) and keeps a pointer to its contents: a read then goes from the index
// entry straight to the leaf's bytes, with no generation guard and no mapping-table hop,
// and a view of a value stays valid for as long as the publication is held. Pinning costs
// no memory then: the pinned pages are the ones the store holds, shared by handle. With a
// budget the index pins nothing (a pinned page would outlive its eviction and escape the
// budget): a reader turns the id into bytes with Store::Read under a generation guard,
// which reads an evicted leaf back, so a reader never follows a freed pointer either way.
//
// Size: 32 bytes a leaf (about 1 MiB per ten million 8-byte elements with leaves filled
// to a 4 KiB page), plus a 16-byte handle per pinned leaf; built once per publication by
// reading each page once.
//
// Why the ids stay valid: a LazyReadIndex lives in its PublishedTree and is reached only
// through a snapshot (or the vector) holding that tree. The vector frees a tree page only
// when no live publication can reach it (VectorImpl::Reclaimable: a page dropped by
// generation d and first published by generation c waits in pending_free_ while any
// publication of a generation in [c, d) is still held, and a VectorSnapshot holds its
// publication), and tree pages are immutable once published. So every page an index names stays allocated,
// with the contents the index was built from, while the index can be used; a pinned leaf's
// bytes are kept alive by the pin itself, whatever the store does with the page.
//
// Ownership: VectorReadIndex is a plain value that owns its pins. LazyReadIndex owns the
// one index it builds and frees it (and so the pins) with the PublishedTree
// (rebuild/published_tree.h). It is built at most once, under a mutex, by the reader that
// finds the publication has done enough work to pay for it (see Get); afterwards readers
// load its pointer (release/acquire) without a lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "llama/detail/vector_read_path.h"
#include "llama/store.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"

namespace llama {

// The leaf table and its lookups are detail::LeafIndex (public, for the inline read path);
// this adds how it is built and the pins that keep a pinned index's bytes alive.
class VectorReadIndex : public detail::LeafIndex {
 public:
  using Leaf = detail::IndexedLeaf;

  // Reads every page of `tree` once (a generation guard held for one page at a time) and
  // lists its leaves; `pin`: pins them too. Corruption when the inner nodes' counts
  // disagree with each other or with the tree's size, or a leaf's offsets are invalid; I/O
  // errors from the store.
  static Result<VectorReadIndex> Build(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree,
                                       bool pin);

  // Memory the index itself holds (the pinned pages are the store's, shared).
  std::size_t memory_bytes() const {
    return leaves_.capacity() * sizeof(Leaf) + pins_.capacity() * sizeof(BasePageHandle);
  }

 private:
  Status Visit(Store& store, const VectorConfig& config, PageId pid, std::uint8_t height, std::uint64_t first,
               std::uint64_t size);
  Status AddLeaf(Store& store, const GenerationGuard& guard, PageId pid, std::span<const std::byte> bytes,
                 std::uint64_t first, std::uint64_t size);
  std::vector<BasePageHandle> pins_;  // what keeps Leaf::bytes alive (pinned indexes)
};

// The read index a publication builds for itself on demand. It owns the index and
// publishes it into `ready`, the publication's detail::Publication::built_index_, which
// the inline read path loads (acquire) without a lock.
class LazyReadIndex {
 public:
  explicit LazyReadIndex(std::atomic<const detail::LeafIndex*>* ready) : ready_(ready) {}
  LazyReadIndex(const LazyReadIndex&) = delete;
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
  const VectorReadIndex* built() const {
    return static_cast<const VectorReadIndex*>(ready_->load(std::memory_order_acquire));
  }

 private:
  std::atomic<const detail::LeafIndex*>* const ready_;  // stored once, under mu_
  mutable std::atomic<std::uint64_t> work_{0};
  mutable std::mutex mu_;                                 // one builder at a time
  mutable std::unique_ptr<const VectorReadIndex> index_;  // written under mu_, once
};

}  // namespace llama
