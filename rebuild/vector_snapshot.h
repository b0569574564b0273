// VectorSnapshot: an immutable view of a vector as one publication left it.
//
// Lifetime: a snapshot holds its publication (shared with the vector and other readers);
// while any snapshot of generation g is held, no page reachable from g's root is freed
// (Vector's reclamation rule), so reads keep working and return the same elements however
// many newer snapshots are published. Releasing (release() or destruction) lets the vector
// reclaim pages only g could reach. A snapshot must not outlive its Vector or Store.
// Reads are safe from any number of threads at once; each read holds a store generation
// guard only while it follows page pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lss/store.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"

namespace llama {

// What a publication made visible; shared by the vector and the snapshots of it.
struct PublishedTree {
  std::uint64_t generation = 0;
  std::uint64_t watermark = 0;  // every write with a smaller timestamp is in it (or rejected)
  RrbBuilder::Tree tree;
  Store* store = nullptr;
  const VectorConfig* config = nullptr;
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
  // Calls fn(index, value) for every element in [from, from + count) (clipped to the end),
  // in order; the view is valid during the call only. Stops early when fn returns false.
  [[nodiscard]] Status for_each(std::uint64_t from, std::uint64_t count,
                                const std::function<bool(std::uint64_t, std::string_view)>& fn) const;
  Result<std::vector<std::string>> range(std::uint64_t from, std::uint64_t count) const;
  Result<std::vector<std::string>> to_vector() const { return range(0, size()); }

  // Forward iteration, a leaf at a time. An error ends the iteration early; error() says
  // which (check it after the loop).
  class iterator {
   public:
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    const std::string& operator*() const { return leaf_[at_ - leaf_first_]; }
    iterator& operator++();
    friend bool operator==(const iterator& a, const iterator& b) { return a.at_ == b.at_; }
    const Status& error() const { return error_; }

   private:
    friend class VectorSnapshot;
    iterator(const VectorSnapshot* snapshot, std::uint64_t at);
    void Load();
    const VectorSnapshot* snapshot_ = nullptr;
    std::uint64_t at_ = 0, end_ = 0, leaf_first_ = 0;
    std::vector<std::string> leaf_;
    Status error_ = OkStatus();
  };
  iterator begin() const { return iterator(this, 0); }
  iterator end() const {
    iterator it;
    it.at_ = size();
    return it;
  }

  void release() { published_.reset(); }

 private:
  // Calls fn on the leaf holding element i: its elements and the index of its first.
  Status WithLeaf(std::uint64_t i, const std::function<Status(const LeafView&, std::uint64_t)>& fn) const;
  std::shared_ptr<const PublishedTree> published_;
};

}  // namespace llama
