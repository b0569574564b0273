#include "rebuild/vector_snapshot.h"

#include <algorithm>

#include "rebuild/tree_page.h"

namespace llama {

Status VectorSnapshot::WithLeaf(std::uint64_t i, const std::function<Status(const LeafView&, std::uint64_t)>& fn) const {
  if (!published_) return MakeError(ErrorCode::kInvalidArgument, "vector snapshot: released");
  if (i >= size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "vector snapshot: index " + std::to_string(i) + " past the end (size " + std::to_string(size()) + ")");
  }
  Store& store = *published_->store;
  const VectorConfig& config = *published_->config;
  auto guard = store.EnterGeneration();
  PageId pid = published_->tree.root;
  std::uint64_t first = 0;  // index of the first element under pid
  for (int h = published_->tree.height;; --h) {
    auto bytes = ReadTreePage(store, guard, pid);
    if (!bytes) return tl::unexpected(bytes.error());
    // Built only on an error: this loop is the read path.
    auto where = [pid] { return " (page " + std::to_string(pid) + ")"; };
    if (h == 0) {
      auto leaf = LeafView::Parse(*bytes);
      if (!leaf) return MakeError(ErrorCode::kCorruption, leaf.error().message() + where());
      if (i - first >= leaf->size()) return MakeError(ErrorCode::kCorruption, "vector: leaf shorter than its parent says" + where());
      return fn(*leaf, first);
    }
    auto inner = InnerView::Parse(*bytes);
    if (!inner) return MakeError(ErrorCode::kCorruption, inner.error().message() + where());
    if (inner->height() != h) return MakeError(ErrorCode::kCorruption, "vector: inner node at the wrong height" + where());
    auto located = inner->Locate(i - first, FullSubtreeSize(config, static_cast<std::uint8_t>(h - 1)));
    if (!located) return MakeError(ErrorCode::kCorruption, located.error().message() + where());
    first += located->second;
    pid = inner->child(located->first);
  }
}

Result<std::string> VectorSnapshot::at(std::uint64_t i) const {
  std::string out;
  auto s = WithLeaf(i, [&](const LeafView& leaf, std::uint64_t first) -> Status {
    auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
    if (!v) return tl::unexpected(v.error());
    out.assign(*v);
    return OkStatus();
  });
  if (!s) return tl::unexpected(s.error());
  return out;
}

Status VectorSnapshot::for_each(std::uint64_t from, std::uint64_t count,
                                const std::function<bool(std::uint64_t, std::string_view)>& fn) const {
  const std::uint64_t end = std::min(size(), from + std::min(count, size()));
  bool more = true;
  for (std::uint64_t i = from; i < end && more;) {
    auto s = WithLeaf(i, [&](const LeafView& leaf, std::uint64_t first) -> Status {
      for (; i < end && i - first < leaf.size() && more; ++i) {
        auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
        if (!v) return tl::unexpected(v.error());
        more = fn(i, *v);
      }
      return OkStatus();
    });
    if (!s) return s;
  }
  return OkStatus();
}

Result<std::vector<std::string>> VectorSnapshot::range(std::uint64_t from, std::uint64_t count) const {
  std::vector<std::string> out;
  auto s = for_each(from, count, [&](std::uint64_t, std::string_view v) {
    out.emplace_back(v);
    return true;
  });
  if (!s) return tl::unexpected(s.error());
  return out;
}

VectorSnapshot::iterator::iterator(const VectorSnapshot* snapshot, std::uint64_t at)
    : snapshot_(snapshot), at_(at), end_(snapshot->size()) {
  Load();
}

void VectorSnapshot::iterator::Load() {
  leaf_.clear();
  leaf_first_ = at_;
  if (at_ >= end_) return;
  auto s = snapshot_->WithLeaf(at_, [&](const LeafView& leaf, std::uint64_t first) -> Status {
    leaf_first_ = at_;
    for (std::uint64_t i = at_; i - first < leaf.size(); ++i) {
      auto v = leaf.Get(static_cast<std::uint32_t>(i - first));
      if (!v) return tl::unexpected(v.error());
      leaf_.emplace_back(*v);
    }
    return OkStatus();
  });
  if (!s) {
    error_ = s;
    at_ = end_;  // the iteration ends here
    leaf_.clear();
  }
}

VectorSnapshot::iterator& VectorSnapshot::iterator::operator++() {
  ++at_;
  if (at_ >= leaf_first_ + leaf_.size()) Load();
  return *this;
}

}  // namespace llama
