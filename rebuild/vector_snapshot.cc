#include "llama/vector_snapshot.h"

#include <algorithm>

#include "rebuild/published_tree.h"
#include "rebuild/tree_page.h"

namespace llama {

namespace {

// Every snapshot's publication is a PublishedTree (detail::Publication's constructor is
// protected, and only PublishedTree derives from it).
const PublishedTree& Tree(const std::shared_ptr<const detail::Publication>& published) {
  return static_cast<const PublishedTree&>(*published);
}

Status Released() { return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: released"); }

Status CheckIndex(const detail::Publication* published, std::uint64_t i) {
  if (published == nullptr) return Released();
  if (i >= published->size) {
    return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: index " + std::to_string(i) +
                                                      " past the end (size " + std::to_string(published->size) + ")");
  }
  return OkStatus();
}

// A leaf to read: its page, the index of its first element and, from the read index, its
// element count (0 when found by descent: the leaf itself says).
struct LeafSpot {
  PageId pid = 0;
  std::uint64_t first = 0;
  std::uint32_t count = 0;
};

std::string PageSuffix(PageId pid) { return " (page " + std::to_string(pid) + ")"; }

// Without an index: the leaf holding element i, found by descending from the root.
Result<LeafSpot> Descend(const PublishedTree& tree, const GenerationGuard& guard, std::uint64_t i) {
  const VectorConfig& config = *tree.config;
  PageId pid = tree.root;
  std::uint64_t first = 0;  // index of the first element under pid
  for (int h = tree.height; h > 0; --h) {
    auto bytes = ReadTreePage(*tree.store, guard, pid);
    LLAMA_RETURN_IF_ERROR(bytes);
    auto inner = InnerView::Parse(*bytes);
    // The messages are built only on an error: this loop is the read path.
    if (!inner) return MakeError(ErrorCode::kCorruption, inner.error().message() + PageSuffix(pid));
    if (inner->height() != h)
      return MakeError(ErrorCode::kCorruption, "vector: inner node at the wrong height" + PageSuffix(pid));
    auto located = inner->Locate(i - first, FullSubtreeSize(config, static_cast<std::uint8_t>(h - 1)));
    if (!located) return MakeError(ErrorCode::kCorruption, located.error().message() + PageSuffix(pid));
    first += located->second;
    pid = inner->child(located->first);
  }
  return LeafSpot{pid, first, 0};
}

// Checks a leaf read at `spot` for element i against what its parent or the index said.
Result<LeafView> CheckLeaf(std::span<const std::byte> contents, const LeafSpot& spot, std::uint64_t i, bool validate) {
  auto leaf = LeafView::Parse(contents);
  if (!leaf) return MakeError(ErrorCode::kCorruption, leaf.error().message() + PageSuffix(spot.pid));
  if (validate) {
    if (auto s = leaf->Validate(); !s)
      return MakeError(ErrorCode::kCorruption, s.error().message() + PageSuffix(spot.pid));
  }
  if (i - spot.first >= leaf->size() || (spot.count != 0 && spot.count != leaf->size())) {
    return MakeError(ErrorCode::kCorruption,
                     "vector: leaf size differs from what its parent says" + PageSuffix(spot.pid));
  }
  return *leaf;
}

// The read index for reading elements [from, end) of `tree`, or null to descend instead.
const VectorReadIndex* IndexFor(const PublishedTree& tree, std::uint64_t from, std::uint64_t end) {
  const std::uint64_t leaves = (end - from) / std::max<std::uint32_t>(tree.config->leaf_max_elements, 1) + 1;
  return tree.read_index.Get(*tree.store, *tree.config, tree.tree(), leaves);
}

// Called with each leaf a walk visits and the index of its first element; false stops.
using LeafVisitor = Result<bool> (*)(void* ctx, const LeafView& leaf, std::uint64_t first);

// Pinned leaves need no guard: the publication the caller holds keeps their bytes.
Status VisitPinned(const VectorReadIndex& index, std::size_t k, std::uint64_t end, LeafVisitor visit, void* ctx,
                   std::size_t* hint) {
  for (; k < index.leaves() && index.leaf(k).first < end; ++k) {
    const VectorReadIndex::Leaf& leaf = index.leaf(k);
    auto more = visit(ctx, LeafView::Trusted(leaf.view()), leaf.first);
    LLAMA_RETURN_IF_ERROR(more);
    if (hint != nullptr) *hint = k + 1;
    if (!*more) break;
  }
  return OkStatus();
}

// Visits, in order, each leaf holding an element of [from, end) (end <= size), each under
// a generation guard held for that call only. `hint`: the index position of the leaf
// likely to hold `from`; set to the position after the last leaf visited.
Status VisitLeaves(const PublishedTree& tree, std::uint64_t from, std::uint64_t end, LeafVisitor visit, void* ctx,
                   std::size_t* hint = nullptr) {
  if (from >= end) return OkStatus();
  Store& store = *tree.store;
  const VectorReadIndex* index = IndexFor(tree, from, end);
  std::size_t k = index ? index->Find(from, hint ? *hint : 0) : 0;
  if (index != nullptr && index->pinned()) return VisitPinned(*index, k, end, visit, ctx, hint);
  for (std::uint64_t i = from; i < end; ++k) {
    auto guard = store.EnterGeneration();
    LeafSpot spot;
    if (index != nullptr) {
      const VectorReadIndex::Leaf& leaf = index->leaf(k);
      spot = {leaf.pid, leaf.first, leaf.count};
    } else if (auto found = Descend(tree, guard, i); found) {
      spot = *found;
    } else {
      return tl::unexpected(found.error());
    }
    auto bytes = ReadTreePage(store, guard, spot.pid);
    LLAMA_RETURN_IF_ERROR(bytes);
    auto leaf = CheckLeaf(*bytes, spot, i, /*validate=*/false);
    LLAMA_RETURN_IF_ERROR(leaf);
    auto more = visit(ctx, *leaf, spot.first);
    LLAMA_RETURN_IF_ERROR(more);
    if (hint != nullptr && index != nullptr) *hint = k + 1;
    if (!*more) break;
    i = spot.first + leaf->size();
  }
  return OkStatus();
}

template <class Fn>
Status ForLeaves(const detail::Publication* published, std::uint64_t from, std::uint64_t end, Fn&& fn,
                 std::size_t* hint = nullptr) {
  if (published == nullptr) return Released();
  using F = std::remove_reference_t<Fn>;
  auto visit = [](void* f, const LeafView& leaf, std::uint64_t first) -> Result<bool> {
    return (*static_cast<F*>(f))(leaf, first);
  };
  return VisitLeaves(static_cast<const PublishedTree&>(*published), from, end, visit, &fn, hint);
}

// A leaf checked and kept alive for its reader.
struct PinnedLeaf {
  LeafView view;
  std::uint64_t first = 0;
  BasePageHandle pin;  // null when the read index pins the leaf
};

// The leaf holding element i (< size), checked and kept alive for the caller.
Result<PinnedLeaf> PinLeaf(const PublishedTree& tree, std::uint64_t i, std::size_t* hint) {
  Store& store = *tree.store;
  const VectorReadIndex* index = IndexFor(tree, i, tree.size);
  LeafSpot spot;
  auto guard = store.EnterGeneration();
  if (index != nullptr) {
    const std::size_t k = index->Find(i, *hint);
    *hint = k + 1;
    const VectorReadIndex::Leaf& leaf = index->leaf(k);
    if (index->pinned()) return PinnedLeaf{LeafView::Trusted(leaf.view()), leaf.first, nullptr};
    spot = {leaf.pid, leaf.first, leaf.count};
  } else if (auto found = Descend(tree, guard, i); found) {
    spot = *found;
  } else {
    return tl::unexpected(found.error());
  }
  auto pin = store.PinBase(guard, spot.pid);
  LLAMA_RETURN_IF_ERROR(pin);
  // Validated once here: the iterator and views then read it without checks.
  auto leaf = CheckLeaf((*pin)->contents(), spot, i, /*validate=*/true);
  LLAMA_RETURN_IF_ERROR(leaf);
  return PinnedLeaf{*leaf, spot.first, std::move(*pin)};
}

}  // namespace

Status VectorSnapshot::WithValue(std::uint64_t i, void (*fn)(void*, std::string_view), void* ctx) const {
  LLAMA_RETURN_IF_ERROR(CheckIndex(published_.get(), i));
  return ForLeaves(published_.get(), i, i + 1, [&](const LeafView& leaf, std::uint64_t first) -> Result<bool> {
    auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
    LLAMA_RETURN_IF_ERROR(v);
    fn(ctx, *v);
    return false;
  });
}

Result<std::string_view> VectorSnapshot::ViewUnpinned(std::uint64_t i) const {
  LLAMA_RETURN_IF_ERROR(CheckIndex(published_.get(), i));
  const PublishedTree& tree = Tree(published_);
  std::size_t hint = 0;
  auto leaf = PinLeaf(tree, i, &hint);
  LLAMA_RETURN_IF_ERROR(leaf);
  const auto k = static_cast<std::uint32_t>(i - leaf->first);
  if (leaf->pin == nullptr) return leaf->view.GetUnchecked(k);  // the read index pins it
  // Keyed by page id, so each leaf is pinned once however often it is viewed. An earlier
  // pin of the same page may hold another copy of it (evicted and read back in between):
  // the same immutable contents, so the view comes from the pin that stays.
  std::lock_guard lock(tree.view_pins.mu);
  auto [at, inserted] = tree.view_pins.pins.try_emplace(leaf->pin->pid(), leaf->pin);
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
  return ForLeaves(published_.get(), from, end, [&](const LeafView& leaf, std::uint64_t first) -> Result<bool> {
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
  if (!published_) return Released();
  const PublishedTree& tree = Tree(published_);
  return tree.read_index.Prepare(*tree.store, *tree.config, tree.tree());
}

std::size_t VectorSnapshot::read_index_leaves() const {
  const detail::LeafIndex* index = published_ ? published_->built_index() : nullptr;
  return index ? index->leaves() : 0;
}

VectorSnapshot::iterator::iterator(const VectorSnapshot* snapshot, std::uint64_t at)
    : snapshot_(snapshot), at_(at), end_(snapshot->size()) {
  Load();
}

// Moves to the leaf holding at_ (keeping it alive: by the read index's pin, or its own).
void VectorSnapshot::iterator::Load() {
  pin_.reset();
  offset_ = offsets_end_ = values_ = nullptr;
  if (at_ >= end_) return;
  auto leaf = PinLeaf(Tree(snapshot_->published_), at_, &next_leaf_);
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
