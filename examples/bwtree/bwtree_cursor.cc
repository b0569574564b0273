// BwTree::Cursor: the leaf level walked by right-sibling links, a descent only where a link
// cannot be trusted. docs/BWTREE.md, "Operations", has the argument.
#include "examples/bwtree/bwtree_cursor.h"

#include <algorithm>
#include <utility>

namespace llama::bwtree {

Status BwTree::Cursor::Seek(std::string_view key) {
  if (auto s = CheckKeyValue(key, {}); !s) {
    Clear();
    return s;
  }
  // Copied before the buffers change: `key` may be a view of them.
  from_.assign(key);
  if (auto s = Load(false); !s) {
    Clear();
    return s;
  }
  return SkipExhausted();
}

Status BwTree::Cursor::Next() {
  if (!Valid()) return OkStatus();
  ++pos_;
  return SkipExhausted();
}

Status BwTree::Cursor::SkipExhausted() {
  // Each leaf ends where the next begins, so from_ only grows and the walk ends.
  while (pos_ == slots_.size() && !last_) {
    if (auto s = Load(true); !s) {
      Clear();
      return s;
    }
  }
  return OkStatus();
}

void BwTree::Cursor::Clear() {
  slots_.clear();
  pos_ = 0;
  last_ = true;
}

Status BwTree::Cursor::Load(bool follow_link) {
  auto g = tree_.store_.EnterGeneration();
  // Taken before this leaf is read: the next hop compares it with the frees started after
  // that hop's read.
  const std::uint64_t frees_done = tree_.frees_done_.load(std::memory_order_seq_cst);
  std::optional<NodeView> sibling;
  if (follow_link) {
    auto read = ReadSibling(g);
    LLAMA_RETURN_IF_ERROR(read);
    sibling = std::move(*read);
  }
  frees_done_ = frees_done;
  if (sibling) {
    tree_.link_hops_.fetch_add(1, std::memory_order_relaxed);
    return Fill(*sibling);
  }
  if (follow_link) tree_.link_descents_.fetch_add(1, std::memory_order_relaxed);
  // No link, or one that no longer leads to from_: the leaf that holds from_ now.
  Op op(g);
  auto at = tree_.Descend(op, from_, 0);
  LLAMA_RETURN_IF_ERROR(at);
  return Fill(at->view);
}

Result<std::optional<NodeView>> BwTree::Cursor::ReadSibling(const GenerationGuard& g) const {
  using Found = std::optional<NodeView>;
  auto ref = tree_.store_.Read(g, right_);
  if (!ref) {
    if (ref.error().code() == ErrorCode::kNotFound) return Found();  // merged away and freed
    return tl::unexpected(ref.error());
  }
  // A free begun since the previous leaf was read may have handed its id to another page,
  // of this tree or of another tree in the store: descend rather than read it.
  if (ref->empty() || tree_.frees_started_.load(std::memory_order_seq_cst) != frees_done_) return Found();
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  // Still the leaf that starts where the previous one ended, not one being merged away
  // (its keys went to its left neighbour, which covers from_ now).
  if (view->removed() || !view->leaf() || view->low() != from_) return Found();
  return Found(std::move(*view));
}

Status BwTree::Cursor::Fill(const NodeView& leaf) {
  // Copied now, while the generation keeps the leaf's bytes: the caller may hold the views
  // as long as it likes without pinning anything.
  slots_.clear();
  data_.clear();
  pos_ = 0;
  LLAMA_RETURN_IF_ERROR(leaf.CollectEntries(entries_));
  auto it = std::lower_bound(entries_.begin(), entries_.end(), std::string_view(from_),
                             [](const Entry& e, std::string_view k) { return e.key < k; });
  for (; it != entries_.end(); ++it) {
    slots_.push_back(Slot{data_.size(), it->key.size(), it->value.size()});
    data_.append(it->key);
    data_.append(it->value);
  }
  last_ = leaf.high().infinite;
  if (!last_) from_.assign(leaf.high().key);
  right_ = leaf.right().value_or(0);
  return OkStatus();
}

}  // namespace llama::bwtree
