// BwTree::Cursor: a forward iterator over a tree's keys that walks the leaf level by the
// leaves' right-sibling links instead of descending from the root for every leaf.
//
//   BwTree::Cursor c(*tree);
//   for (Status s = c.Seek("a"); s && c.Valid(); s = c.Next()) Use(c.key(), c.value());
//   // check the last `s`: an error ends the iteration too
//
// Guarantees (Scan's, which is built on it): every key present for the whole iteration,
// from Seek to the move that passes it, is returned exactly once, in increasing order; a
// key written or erased meanwhile may or may not be. docs/BWTREE.md, "Operations", says
// why following a link is as safe as a descent.
//
// Each leaf is read in a generation of its own and its entries (from the position on) are
// copied into the cursor's buffers, so no generation is held between calls however long
// the caller takes: key() and value() stay valid until the next Seek or Next. The buffers
// are kept from leaf to leaf, so walking leaves no larger than the largest so far does not
// allocate.
//
// Ownership and threads: borrows the tree, which must outlive it. One thread at a time;
// any number of cursors may walk one tree from different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examples/bwtree/bwtree.h"

namespace llama::bwtree {

class BwTree::Cursor {
 public:
  explicit Cursor(BwTree& tree) : tree_(tree) {}

  // Positions the cursor at the first key >= `key`; not Valid() if there is none.
  // InvalidArgument for a key over kMaxKeyBytes. `key` may be a view of this cursor's key().
  Status Seek(std::string_view key);
  // Moves to the next key; not Valid() past the last. A no-op on a cursor that is not Valid().
  Status Next();
  // At a key. False before the first Seek, past the end, and after an error.
  bool Valid() const { return pos_ < slots_.size(); }
  // Only while Valid(); valid until the next Seek or Next.
  std::string_view key() const { return {data_.data() + slots_[pos_].at, slots_[pos_].key_size}; }
  std::string_view value() const {
    return {data_.data() + slots_[pos_].at + slots_[pos_].key_size, slots_[pos_].value_size};
  }

 private:
  // One copied entry: its key at `at` in data_, its value right after.
  struct Slot {
    std::size_t at;
    std::size_t key_size;
    std::size_t value_size;
  };

  // Reads the leaf that holds from_ (by the right-sibling link when `follow_link`, else by
  // a descent) and copies its entries >= from_.
  Status Load(bool follow_link);
  // The leaf at right_, if it is still the one that starts at from_ (else a descent is
  // needed). Read under `g`.
  Result<std::optional<NodeView>> ReadSibling(const GenerationGuard& g) const;
  // Copies `leaf`'s entries >= from_ and takes its high key and right sibling.
  Status Fill(const NodeView& leaf);
  // Loads the following leaves while the current one has nothing left to return.
  Status SkipExhausted();
  // Not Valid() and nothing to follow (after an error).
  void Clear();

  BwTree& tree_;
  std::string data_;  // the current leaf's keys and values from the position on
  std::vector<Slot> slots_;
  std::size_t pos_ = 0;
  // Where the next leaf starts: the current leaf's high key (the Seek key while seeking).
  std::string from_;
  bool last_ = true;  // the current leaf ends at +infinity: nothing follows it
  PageId right_ = 0;  // the current leaf's right sibling when it was read
  // The tree's frees_done_ before the current leaf was read: if no free has started
  // since, right_ still names the page the leaf's link named (the id was not reused).
  std::uint64_t frees_done_ = 0;
  std::vector<Entry> entries_;  // scratch: a leaf's entries while they are copied
};

}  // namespace llama::bwtree
