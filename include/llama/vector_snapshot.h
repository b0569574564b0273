// VectorSnapshot: an immutable view of a vector as one publication left it.
//
// Lifetime: a snapshot holds its publication (shared with the vector and other readers);
// while any snapshot of generation g is held, no page reachable from g's root is freed
// (the vector's reclamation rule: a dropped page is freed only when no held publication
// of a generation in [created, dropped) remains), so reads keep working and return the
// same elements however many newer snapshots are published. Releasing (release() or
// destruction) lets the vector reclaim pages only g could reach. A snapshot must not
// outlive its Vector or Store.
//
// Read path: the publication's read index (rebuild/vector_read_index.h, shared by every
// snapshot of it, built once it has served enough reads) names the leaf holding an
// element, so a read costs one Store::Read of that leaf; before the index exists a read
// descends from the root. Either way a read holds a store generation guard only while it
// looks at page bytes (one leaf at a time), and the store reads an evicted page back.
// When the index pins its leaves (a store without a memory budget), at(i, &out), with,
// view and the iterator read the leaf's bytes inline (llama/detail/vector_read_path.h):
// no call, no guard, no lock. Reads are safe from any number of threads at once.
//
// Naming: a snapshot is a read-only sequence, so it speaks a standard container's
// lower-case vocabulary (size, at, range, begin/end, for_each, with, view); the operations
// of Vector and Store, which act on the store, are CamelCase (Append, Sync, Snapshot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "llama/coding.h"
#include "llama/detail/vector_read_path.h"
#include "llama/status.h"
#include "llama/types.h"

namespace llama {

class VectorSnapshot {
 public:
  VectorSnapshot() = default;
  // The vector makes snapshots (Vector::Snapshot); `published` is one of its publications.
  explicit VectorSnapshot(std::shared_ptr<const detail::Publication> published) : published_(std::move(published)) {}

  bool valid() const { return published_ != nullptr; }
  std::uint64_t generation() const { return published_ ? published_->generation : 0; }
  std::uint64_t size() const { return published_ ? published_->size : 0; }
  std::uint64_t watermark() const { return published_ ? published_->watermark : 0; }
  std::uint8_t height() const { return published_ ? published_->height : 0; }
  PageId root() const { return published_ ? published_->root : 0; }

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
    if (const detail::LeafIndex* index = pinned_index(); index != nullptr && i < size()) return index->PinnedValue(i);
    return ViewUnpinned(i);
  }
  // Calls fn(std::string_view) with element i, viewed in place in its leaf page: no copy.
  // The view is valid during the call only, which holds a store generation guard (so keep
  // fn short, and do not call into the vector or store from it).
  template <class Fn>
  [[nodiscard]] Status with(std::uint64_t i, Fn&& fn) const {
    // Inline, so that a loop of reads keeps several cache misses in flight at once.
    if (const detail::LeafIndex* index = pinned_index(); index != nullptr && i < size()) {
      fn(index->PinnedValue(i));
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
    // Keeps the leaf's bytes alive when the index does not (a pinned base page; opaque
    // here, see rebuild/vector_snapshot.cc).
    std::shared_ptr<const void> pin_;
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
  // The publication's read index when it is built and pins its leaves, else null.
  const detail::LeafIndex* pinned_index() const {
    if (!published_) return nullptr;
    const detail::LeafIndex* index = published_->built_index();
    return index != nullptr && index->pinned() ? index : nullptr;
  }
  // The slow paths (rebuild/vector_snapshot.cc): element i without a pinned index, or an
  // error (released, past the end, or from the pages).
  Result<std::string_view> ViewUnpinned(std::uint64_t i) const;
  [[nodiscard]] Status WithValue(std::uint64_t i, void (*fn)(void*, std::string_view), void* ctx) const;

  std::shared_ptr<const detail::Publication> published_;
};

}  // namespace llama
