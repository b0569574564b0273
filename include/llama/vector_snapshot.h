// VectorSnapshot: an immutable view of a vector as one publication left it.
//
// Lifetime: a snapshot holds its publication (shared with the vector and other readers);
// while any snapshot of generation g is held, no page reachable from g's root is freed
// (Vector's reclamation rule: Vector::Reclaimable frees a dropped page only when no held
// publication of a generation in [created, dropped) remains), so reads keep working and
// return the same elements however many newer snapshots are published. Releasing
// (release() or destruction) lets the vector reclaim pages only g could reach. A snapshot
// must not outlive its Vector or Store.
//
// Read path: the publication's read index (rebuild/vector_read_index.h, shared by every
// snapshot of it, built once it has served enough reads) names the leaf holding an
// element, so a read costs one Store::Read of that leaf; before the index exists a read
// descends from the root. Either way a read holds a store generation guard only while it
// looks at page bytes (one leaf at a time), and the store reads an evicted page back.
// Reads are safe from any number of threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "llama/store.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"
#include "rebuild/vector_read_index.h"

namespace llama {

// What a publication made visible; shared by the vector and the snapshots of it.
struct PublishedTree {
  PublishedTree(std::uint64_t gen, std::uint64_t mark, RrbBuilder::Tree t, Store* s, const VectorConfig* c)
      : generation(gen), watermark(mark), tree(t), store(s), config(c) {}
  std::uint64_t generation = 0;
  std::uint64_t watermark = 0;  // every write with a smaller timestamp is in it (or rejected)
  RrbBuilder::Tree tree;
  Store* store = nullptr;
  const VectorConfig* config = nullptr;
  LazyReadIndex read_index;  // built on demand, freed with this publication
  // Leaves pinned by VectorSnapshot::view when the read index does not pin them (a store
  // with a memory budget); freed with this publication. A copy starts empty.
  struct ViewPins {
    ViewPins() = default;
    ViewPins(const ViewPins&) {}
    ViewPins& operator=(const ViewPins&) = delete;
    std::mutex mu;
    std::unordered_map<PageId, BasePageHandle> pins;  // guarded by mu
  };
  mutable ViewPins view_pins;
};

class VectorSnapshot {
 public:
  VectorSnapshot() = default;
  explicit VectorSnapshot(std::shared_ptr<const PublishedTree> published) : published_(std::move(published)) {}

  bool valid() const { return published_ != nullptr; }
  std::uint64_t generation() const { return published_ ? published_->generation : 0; }
  std::uint64_t size() const { return published_ ? published_->tree.size : 0; }
  std::uint64_t watermark() const { return published_ ? published_->watermark : 0; }
  std::uint8_t height() const { return published_ ? published_->tree.height : 0; }
  PageId root() const { return published_ ? published_->tree.root : 0; }

  // InvalidArgument past the end; Corruption or I/O errors from the pages.
  Result<std::string> at(std::uint64_t i) const;
  // The same into the caller's string (its capacity is reused).
  [[nodiscard]] Status at(std::uint64_t i, std::string* out) const {
    return with(i, [out](std::string_view v) { out->assign(v); });
  }
  // Element i viewed in place, valid for as long as this snapshot's publication is held
  // (by this snapshot or a copy of it). Free when the read index pins the publication's
  // leaves (a store without a memory budget); with a budget, the leaf is pinned for the
  // publication on first view, so viewed leaves stay in memory outside the budget until
  // the publication is released (use at() or with() to read without pinning).
  Result<std::string_view> view(std::uint64_t i) const {
    if (const VectorReadIndex* index = pinned_index(); index != nullptr && i < size()) return PinnedValue(*index, i);
    return ViewUnpinned(i);
  }
  // Calls fn(std::string_view) with element i, viewed in place in its leaf page: no copy.
  // The view is valid during the call only, which holds a store generation guard (so keep
  // fn short, and do not call into the vector or store from it).
  template <class Fn>
  [[nodiscard]] Status with(std::uint64_t i, Fn&& fn) const {
    // Inline, so that a loop of reads keeps several cache misses in flight at once.
    if (const VectorReadIndex* index = pinned_index(); index != nullptr && i < size()) {
      fn(PinnedValue(*index, i));
      return OkStatus();
    }
    using F = std::remove_reference_t<Fn>;
    return WithValue(
        i, [](void* f, std::string_view v) { (*static_cast<F*>(f))(v); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }
  // Calls fn(index, value) for every element in [from, from + count) (clipped to the end),
  // in order; the view is valid during the call only. Stops early when fn returns false.
  [[nodiscard]] Status for_each(std::uint64_t from, std::uint64_t count,
                                const std::function<bool(std::uint64_t, std::string_view)>& fn) const;
  Result<std::vector<std::string>> range(std::uint64_t from, std::uint64_t count) const;
  Result<std::vector<std::string>> to_vector() const { return range(0, size()); }

  // Forward iteration, a leaf at a time, with views in place: *it is valid until the
  // iterator moves to another leaf (for as long as the snapshot is held when the
  // publication's leaves are pinned: see rebuild/vector_read_index.h), and the iterator
  // must not outlive its snapshot. An error ends the iteration early; error() says which
  // (check it after the loop).
  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    std::string_view operator*() const {
      const std::uint32_t from = DecodeFixed32(offset_);
      return {reinterpret_cast<const char*>(values_ + from), DecodeFixed32(offset_ + 4) - from};
    }
    iterator& operator++() {
      ++at_;
      offset_ += 4;
      if (offset_ == offsets_end_) Load();
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.at_ == b.at_; }
    const Status& error() const { return error_; }

   private:
    friend class VectorSnapshot;
    iterator(const VectorSnapshot* snapshot, std::uint64_t at);
    void Load();
    const VectorSnapshot* snapshot_ = nullptr;
    std::uint64_t at_ = 0, end_ = 0;
    std::size_t next_leaf_ = 0;  // read index position of the next leaf (a hint)
    // In the leaf holding at_ (validated): at_'s offset, the end of the offsets (the last
    // one, which ends the last value), and where the values start.
    const std::byte* offset_ = nullptr;
    const std::byte* offsets_end_ = nullptr;
    const std::byte* values_ = nullptr;
    BasePageHandle pin_;  // keeps the leaf's bytes alive when the index does not
    Status error_ = OkStatus();
  };
  iterator begin() const { return iterator(this, 0); }
  iterator end() const {
    iterator it;
    it.at_ = size();
    return it;
  }

  void release() { published_.reset(); }

  // Builds the publication's read index now rather than once reads have paid for it.
  [[nodiscard]] Status prepare_reads() const;
  // Diagnostics: leaves in the publication's read index (0 until it is built), and
  // whether that index pins them (rebuild/vector_read_index.h).
  std::size_t read_index_leaves() const;
  bool read_index_pins_leaves() const { return pinned_index() != nullptr; }

 private:
  struct LeafSpot;
  struct PinnedLeaf {
    LeafView view;
    std::uint64_t first = 0;
    BasePageHandle pin;  // null when the read index pins the leaf
  };
  // The leaf holding element i (< size()), checked and kept alive for the caller.
  Result<PinnedLeaf> PinLeaf(std::uint64_t i, std::size_t* hint) const;
  // Called with each leaf a walk visits and the index of its first element; false stops.
  using LeafVisitor = Result<bool> (*)(void* ctx, const LeafView& leaf, std::uint64_t first);
  // Visits, in order, each leaf holding an element of [from, end) (end <= size()), each
  // under a generation guard held for that call only. `hint`: the index position of the
  // leaf likely to hold `from`; set to the position after the last leaf visited.
  [[nodiscard]] Status VisitLeaves(std::uint64_t from, std::uint64_t end, LeafVisitor visit, void* ctx,
                                   std::size_t* hint = nullptr) const;
  [[nodiscard]] static Status VisitPinned(const VectorReadIndex& index, std::size_t k, std::uint64_t end,
                                          LeafVisitor visit, void* ctx, std::size_t* hint);
  template <class Fn>
  [[nodiscard]] Status ForLeaves(std::uint64_t from, std::uint64_t end, Fn&& fn, std::size_t* hint = nullptr) const;
  // The publication's read index when it is built and pins its leaves, else null.
  const VectorReadIndex* pinned_index() const {
    if (!published_) return nullptr;
    const VectorReadIndex* index = published_->read_index.built();
    return index != nullptr && index->pinned() ? index : nullptr;
  }
  // Element i < size() through a pinned index.
  static std::string_view PinnedValue(const VectorReadIndex& index, std::uint64_t i) {
    const VectorReadIndex::Leaf& leaf = index.leaf(index.Find(i));
    const LeafView view = leaf.view();
    const auto k = static_cast<std::uint32_t>(i - leaf.first);
    view.PrefetchValue(k);
    return view.GetUnchecked(k);
  }
  // Without an index: the leaf holding element i, found by descending from the root.
  Result<LeafSpot> Descend(Store& store, const GenerationGuard& guard, std::uint64_t i) const;
  [[nodiscard]] Status CheckIndex(std::uint64_t i) const;
  Result<std::string_view> ViewUnpinned(std::uint64_t i) const;
  [[nodiscard]] Status WithValue(std::uint64_t i, void (*fn)(void*, std::string_view), void* ctx) const;
  std::shared_ptr<const PublishedTree> published_;
};

}  // namespace llama
