#include "llama/vector_snapshot.h"

#include <algorithm>

#include "rebuild/tree_page.h"

namespace llama {

// A leaf to read: its page, the index of its first element and, from the read index, its
// element count (0 when found by descent: the leaf itself says).
struct VectorSnapshot::LeafSpot {
  PageId pid = 0;
  std::uint64_t first = 0;
  std::uint32_t count = 0;
};

Status VectorSnapshot::CheckIndex(std::uint64_t i) const {
  if (!published_) return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: released");
  if (i >= size()) {
    return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: index " + std::to_string(i) +
                                                      " past the end (size " + std::to_string(size()) + ")");
  }
  return OkStatus();
}

Result<VectorSnapshot::LeafSpot> VectorSnapshot::Descend(Store& store, const GenerationGuard& guard,
                                                         std::uint64_t i) const {
  const VectorConfig& config = *published_->config;
  PageId pid = published_->tree.root;
  std::uint64_t first = 0;  // index of the first element under pid
  for (int h = published_->tree.height; h > 0; --h) {
    auto bytes = ReadTreePage(store, guard, pid);
    LLAMA_RETURN_IF_ERROR(bytes);
    // Built only on an error: this loop is the read path.
    auto where = [pid] { return " (page " + std::to_string(pid) + ")"; };
    auto inner = InnerView::Parse(*bytes);
    if (!inner) return MakeError(ErrorCode::kCorruption, inner.error().message() + where());
    if (inner->height() != h)
      return MakeError(ErrorCode::kCorruption, "vector: inner node at the wrong height" + where());
    auto located = inner->Locate(i - first, FullSubtreeSize(config, static_cast<std::uint8_t>(h - 1)));
    if (!located) return MakeError(ErrorCode::kCorruption, located.error().message() + where());
    first += located->second;
    pid = inner->child(located->first);
  }
  return LeafSpot{pid, first, 0};
}

Status VectorSnapshot::VisitLeaves(std::uint64_t from, std::uint64_t end, LeafVisitor visit, void* ctx,
                                   std::size_t* hint) const {
  if (!published_) return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: released");
  if (from >= end) return OkStatus();
  const PublishedTree& tree = *published_;
  Store& store = *tree.store;
  const std::uint64_t leaves = (end - from) / std::max<std::uint32_t>(tree.config->leaf_max_elements, 1) + 1;
  const VectorReadIndex* index = tree.read_index.Get(store, *tree.config, tree.tree, leaves);
  std::size_t k = index ? index->Find(from, hint ? *hint : 0) : 0;
  if (index != nullptr && index->pinned()) return VisitPinned(*index, k, end, visit, ctx, hint);
  for (std::uint64_t i = from; i < end; ++k) {
    auto guard = store.EnterGeneration();
    LeafSpot spot;
    if (index != nullptr) {
      const VectorReadIndex::Leaf& leaf = index->leaf(k);
      spot = {leaf.pid, leaf.first, leaf.count};
    } else if (auto found = Descend(store, guard, i); found) {
      spot = *found;
    } else {
      return tl::unexpected(found.error());
    }
    auto bytes = ReadTreePage(store, guard, spot.pid);
    LLAMA_RETURN_IF_ERROR(bytes);
    auto where = [&spot] { return " (page " + std::to_string(spot.pid) + ")"; };
    auto leaf = LeafView::Parse(*bytes);
    if (!leaf) return MakeError(ErrorCode::kCorruption, leaf.error().message() + where());
    if (i - spot.first >= leaf->size() || (spot.count != 0 && spot.count != leaf->size())) {
      return MakeError(ErrorCode::kCorruption, "vector: leaf size differs from what its parent says" + where());
    }
    auto more = visit(ctx, *leaf, spot.first);
    LLAMA_RETURN_IF_ERROR(more);
    if (hint != nullptr && index != nullptr) *hint = k + 1;
    if (!*more) break;
    i = spot.first + leaf->size();
  }
  return OkStatus();
}

// Pinned leaves need no guard: the publication this snapshot holds keeps their bytes.
Status VectorSnapshot::VisitPinned(const VectorReadIndex& index, std::size_t k, std::uint64_t end, LeafVisitor visit,
                                   void* ctx, std::size_t* hint) {
  for (; k < index.leaves() && index.leaf(k).first < end; ++k) {
    const VectorReadIndex::Leaf& leaf = index.leaf(k);
    auto more = visit(ctx, leaf.view(), leaf.first);
    LLAMA_RETURN_IF_ERROR(more);
    if (hint != nullptr) *hint = k + 1;
    if (!*more) break;
  }
  return OkStatus();
}

template <class Fn>
Status VectorSnapshot::ForLeaves(std::uint64_t from, std::uint64_t end, Fn&& fn, std::size_t* hint) const {
  using F = std::remove_reference_t<Fn>;
  auto visit = [](void* f, const LeafView& leaf, std::uint64_t first) -> Result<bool> {
    return (*static_cast<F*>(f))(leaf, first);
  };
  return VisitLeaves(from, end, visit, &fn, hint);
}

Status VectorSnapshot::WithValue(std::uint64_t i, void (*fn)(void*, std::string_view), void* ctx) const {
  if (auto s = CheckIndex(i); !s) return s;
  return ForLeaves(i, i + 1, [&](const LeafView& leaf, std::uint64_t first) -> Result<bool> {
    auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
    LLAMA_RETURN_IF_ERROR(v);
    fn(ctx, *v);
    return false;
  });
}

Result<std::string_view> VectorSnapshot::ViewUnpinned(std::uint64_t i) const {
  LLAMA_RETURN_IF_ERROR(CheckIndex(i));
  std::size_t hint = 0;
  auto leaf = PinLeaf(i, &hint);
  LLAMA_RETURN_IF_ERROR(leaf);
  const auto k = static_cast<std::uint32_t>(i - leaf->first);
  if (leaf->pin == nullptr) return leaf->view.GetUnchecked(k);  // the read index pins it
  // Keyed by page id, so each leaf is pinned once however often it is viewed. An earlier
  // pin of the same page may hold another copy of it (evicted and read back in between):
  // the same immutable contents, so the view comes from the pin that stays.
  std::lock_guard lock(published_->view_pins.mu);
  auto [at, inserted] = published_->view_pins.pins.try_emplace(leaf->pin->pid(), leaf->pin);
  if (inserted || at->second == leaf->pin) return leaf->view.GetUnchecked(k);
  return LeafView::Trusted(at->second->contents(), leaf->view.size()).GetUnchecked(k);
}

Result<std::string> VectorSnapshot::at(std::uint64_t i) const {
  std::string out;
  LLAMA_RETURN_IF_ERROR(at(i, &out));
  return out;
}

Status VectorSnapshot::for_each(std::uint64_t from, std::uint64_t count,
                                const std::function<bool(std::uint64_t, std::string_view)>& fn) const {
  const std::uint64_t end = std::min(size(), from + std::min(count, size()));
  return ForLeaves(from, end, [&](const LeafView& leaf, std::uint64_t first) -> Result<bool> {
    const std::uint64_t stop = std::min<std::uint64_t>(end, first + leaf.size());
    for (std::uint64_t i = std::max(from, first); i < stop; ++i) {
      auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
      LLAMA_RETURN_IF_ERROR(v);
      if (!fn(i, *v)) return false;
    }
    return true;
  });
}

Result<std::vector<std::string>> VectorSnapshot::range(std::uint64_t from, std::uint64_t count) const {
  std::vector<std::string> out;
  if (from < size()) out.reserve(std::min(count, size() - from));
  auto s = for_each(from, count, [&](std::uint64_t, std::string_view v) {
    out.emplace_back(v);
    return true;
  });
  LLAMA_RETURN_IF_ERROR(s);
  return out;
}

Status VectorSnapshot::prepare_reads() const {
  if (!published_) return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: released");
  return published_->read_index.Prepare(*published_->store, *published_->config, published_->tree);
}

std::size_t VectorSnapshot::read_index_leaves() const {
  const VectorReadIndex* index = published_ ? published_->read_index.built() : nullptr;
  return index ? index->leaves() : 0;
}

VectorSnapshot::iterator::iterator(const VectorSnapshot* snapshot, std::uint64_t at)
    : snapshot_(snapshot), at_(at), end_(snapshot->size()) {
  Load();
}

Result<VectorSnapshot::PinnedLeaf> VectorSnapshot::PinLeaf(std::uint64_t i, std::size_t* hint) const {
  const PublishedTree& tree = *published_;
  Store& store = *tree.store;
  const std::uint64_t leaves = (size() - i) / std::max<std::uint32_t>(tree.config->leaf_max_elements, 1) + 1;
  const VectorReadIndex* index = tree.read_index.Get(store, *tree.config, tree.tree, leaves);
  LeafSpot spot;
  auto guard = store.EnterGeneration();
  if (index != nullptr) {
    const std::size_t k = index->Find(i, *hint);
    *hint = k + 1;
    const VectorReadIndex::Leaf& leaf = index->leaf(k);
    if (index->pinned()) return PinnedLeaf{leaf.view(), leaf.first, nullptr};
    spot = {leaf.pid, leaf.first, leaf.count};
  } else if (auto found = Descend(store, guard, i); found) {
    spot = *found;
  } else {
    return tl::unexpected(found.error());
  }
  auto pin = store.PinBase(guard, spot.pid);
  LLAMA_RETURN_IF_ERROR(pin);
  auto where = [&spot] { return " (page " + std::to_string(spot.pid) + ")"; };
  auto leaf = LeafView::Parse((*pin)->contents());
  if (!leaf) return MakeError(ErrorCode::kCorruption, leaf.error().message() + where());
  if (auto s = leaf->Validate(); !s) return MakeError(ErrorCode::kCorruption, s.error().message() + where());
  if (i - spot.first >= leaf->size() || (spot.count != 0 && spot.count != leaf->size())) {
    return MakeError(ErrorCode::kCorruption, "vector: leaf size differs from what its parent says" + where());
  }
  return PinnedLeaf{*leaf, spot.first, std::move(*pin)};
}

// Moves to the leaf holding at_ (keeping it alive: by the read index's pin, or its own).
void VectorSnapshot::iterator::Load() {
  pin_.reset();
  offset_ = offsets_end_ = values_ = nullptr;
  if (at_ >= end_) return;
  auto leaf = snapshot_->PinLeaf(at_, &next_leaf_);
  if (!leaf) {
    error_ = tl::unexpected(leaf.error());
    at_ = end_;  // the iteration ends here
    return;
  }
  const std::byte* offsets = leaf->view.offsets();
  offset_ = offsets + 4 * (at_ - leaf->first);
  offsets_end_ = offsets + 4 * std::size_t{leaf->view.size()};
  values_ = offsets_end_ + 4;
  pin_ = std::move(leaf->pin);
}

}  // namespace llama
