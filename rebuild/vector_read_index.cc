#include "rebuild/vector_read_index.h"

#include <algorithm>
#include <string>

#include "rebuild/tree_page.h"

namespace llama {

namespace {
Status Corrupt(PageId pid, const std::string& what) {
  return MakeError(ErrorCode::kCorruption, "vector read index: " + what + " (page " + std::to_string(pid) + ")");
}
}  // namespace

Result<VectorReadIndex> VectorReadIndex::Build(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree,
                                               bool pin) {
  VectorReadIndex index;
  index.pinned_ = pin;
  if (tree.root == 0) return index;
  index.leaves_.reserve(tree.size / std::max<std::uint32_t>(config.leaf_max_elements, 1) + 1);
  LLAMA_RETURN_IF_ERROR(index.Visit(store, config, tree.root, tree.height, 0, tree.size));
  index.leaves_.shrink_to_fit();
  index.pins_.shrink_to_fit();
  const std::uint64_t full = index.leaves_.front().count;
  const bool regular =
      std::all_of(index.leaves_.begin(), index.leaves_.end() - 1, [full](const Leaf& l) { return l.count == full; });
  index.radix_ = regular ? full : 0;
  return index;
}

// Appends the leaves under `pid` (a node of `height` holding `size` elements, the first of
// them element `first`). Recursion depth is the tree's height (at most kMaxHeight).
Status VectorReadIndex::Visit(Store& store, const VectorConfig& config, PageId pid, std::uint8_t height,
                              std::uint64_t first, std::uint64_t size) {
  std::vector<std::pair<PageId, std::uint64_t>> children;  // copied out, so no guard is held below
  {
    auto guard = store.EnterGeneration();
    auto bytes = ReadTreePage(store, guard, pid);
    LLAMA_RETURN_IF_ERROR(bytes);
    if (height == 0) return AddLeaf(store, guard, pid, *bytes, first, size);
    auto inner = InnerView::Parse(*bytes);
    if (!inner) return Corrupt(pid, inner.error().message());
    if (inner->height() != height) return Corrupt(pid, "inner node at the wrong height");
    if (inner->total() != size) return Corrupt(pid, "inner node total differs from its parent's count");
    if (auto s = inner->Validate(); !s) return Corrupt(pid, s.error().message());
    const std::uint64_t full = FullSubtreeSize(config, static_cast<std::uint8_t>(height - 1));
    children.reserve(inner->count());
    for (std::uint32_t k = 0; k < inner->count(); ++k) {
      const std::uint64_t from = inner->before(k, full);
      const std::uint64_t to = k + 1 == inner->count() ? inner->total() : inner->before(k + 1, full);
      if (to <= from) return Corrupt(pid, "inner node child without elements");
      children.emplace_back(inner->child(k), to - from);
    }
  }
  for (const auto& [child, count] : children) {
    if (auto s = Visit(store, config, child, static_cast<std::uint8_t>(height - 1), first, count); !s) return s;
    first += count;
  }
  return OkStatus();
}

// `bytes`: the leaf's contents as read under `guard`. A pinned index reads them from the
// pin instead (the same page, unless it was evicted and read back in between: either way
// the contents the pin keeps alive are the ones checked and used).
Status VectorReadIndex::AddLeaf(Store& store, const GenerationGuard& guard, PageId pid,
                                std::span<const std::byte> bytes, std::uint64_t first, std::uint64_t size) {
  BasePageHandle page;
  if (pinned_) {
    auto pinned = store.PinBase(guard, pid);
    LLAMA_RETURN_IF_ERROR(pinned);
    page = std::move(*pinned);
    bytes = page->contents();
  }
  auto leaf = LeafView::Parse(bytes);
  if (!leaf) return Corrupt(pid, leaf.error().message());
  if (leaf->size() != size || size == 0) return Corrupt(pid, "leaf size differs from its parent's count");
  Leaf entry{first, nullptr, pid, leaf->size(), 0};
  if (pinned_) {
    // Checked once here, so reads through the pin need no checks of their own.
    if (auto s = leaf->Validate(); !s) return Corrupt(pid, s.error().message());
    entry.bytes = bytes.data();
    entry.size = static_cast<std::uint32_t>(bytes.size());
    pins_.push_back(std::move(page));
  }
  leaves_.push_back(entry);
  return OkStatus();
}

}  // namespace llama

namespace llama::detail {

std::size_t LeafIndex::Search(std::uint64_t i, std::size_t hint) const {
  if (hint < leaves_.size() && leaves_[hint].first <= i && i - leaves_[hint].first < leaves_[hint].count) return hint;
  auto after = std::upper_bound(leaves_.begin(), leaves_.end(), i,
                                [](std::uint64_t v, const IndexedLeaf& l) { return v < l.first; });
  return static_cast<std::size_t>(after - leaves_.begin()) - 1;
}

}  // namespace llama::detail

namespace llama {

const VectorReadIndex* LazyReadIndex::Get(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree,
                                          std::uint64_t work) const {
  if (const VectorReadIndex* index = built()) return index;
  // About the number of height-1 inner pages: what building the index reads.
  const std::uint64_t threshold =
      1 + tree.size / (std::uint64_t{std::max<std::uint32_t>(config.leaf_max_elements, 1)} * config.branching);
  if (work_.fetch_add(work, std::memory_order_relaxed) + work < threshold) return nullptr;
  if (!Prepare(store, config, tree)) {
    work_.store(0, std::memory_order_relaxed);
    return nullptr;
  }
  return built();
}

Status LazyReadIndex::Prepare(Store& store, const VectorConfig& config, const RrbBuilder::Tree& tree) const {
  std::lock_guard lock(mu_);
  if (ready_->load(std::memory_order_relaxed) != nullptr) return OkStatus();
  // Pinning is free without a budget (every page stays resident) and would escape one.
  const bool pin = store.options().memory_budget == 0;
  auto built = VectorReadIndex::Build(store, config, tree, pin);
  LLAMA_RETURN_IF_ERROR(built);
  index_ = std::make_unique<const VectorReadIndex>(std::move(*built));
  ready_->store(index_.get(), std::memory_order_release);
  return OkStatus();
}

}  // namespace llama
