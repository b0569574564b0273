#include "examples/bwtree/node_view.h"

#include <algorithm>

namespace llama::bwtree {

namespace {

// `cap` lowered to `key` if that is below it.
HighKey Lower(HighKey cap, std::string_view key) { return (cap.infinite || key < cap.key) ? HighKey::At(key) : cap; }

// The greatest key of `image` that is below `cap` and <= `bound` (< when !inclusive).
Result<std::optional<std::string_view>> ImageFloor(const NodeImage& image, std::string_view bound, bool inclusive,
                                                   const HighKey& cap) {
  if (!cap.infinite && cap.key <= bound) {
    bound = cap.key;
    inclusive = false;
  }
  auto i = image.LowerBound(bound);
  LLAMA_RETURN_IF_ERROR(i);
  if (inclusive && *i < image.size()) {
    auto k = image.KeyAt(*i);
    LLAMA_RETURN_IF_ERROR(k);
    if (*k == bound) return std::optional<std::string_view>(*k);
  }
  if (*i == 0) return std::optional<std::string_view>();
  auto k = image.KeyAt(*i - 1);
  LLAMA_RETURN_IF_ERROR(k);
  return std::optional<std::string_view>(*k);
}

auto ByKey = [](const Entry& e, std::string_view k) { return e.key < k; };

void Upsert(std::vector<Entry>& entries, const Entry& e) {
  auto it = std::lower_bound(entries.begin(), entries.end(), e.key, ByKey);
  if (it != entries.end() && it->key == e.key) {
    *it = e;
  } else {
    entries.insert(it, e);
  }
}

void Erase(std::vector<Entry>& entries, std::string_view key) {
  auto it = std::lower_bound(entries.begin(), entries.end(), key, ByKey);
  if (it != entries.end() && it->key == key) entries.erase(it);
}

void TruncateFrom(std::vector<Entry>& entries, std::string_view key) {
  entries.erase(std::lower_bound(entries.begin(), entries.end(), key, ByKey), entries.end());
}

}  // namespace

// The walk down a page state's chain, newest node first.
struct NodeView::ChainWalk {
  std::size_t chain_length = 0;
  bool flushed_below = false;  // reached llama's flush point: the rest is in the log
  bool bounds_known = false;   // a Split or Merge delta gave the node's high key and right sibling
  // Newer Split and Merge deltas took over the keys at or above it.
  HighKey cap = HighKey::Infinity();
};

Result<NodeView> NodeView::Of(PageState state) {
  NodeView v;
  ChainWalk walk;
  walk.chain_length = state.chain_length();
  for (const PageNode& node : state) {
    // Bytes and kinds are read from the node itself (PageNode::bytes): one hop a node.
    if (node.is_flush_point()) walk.flushed_below = true;  // this node and all below are in the log
    if (node.is_base()) {
      LLAMA_RETURN_IF_ERROR(v.ReadBase(node, walk));
      break;
    }
    LLAMA_RETURN_IF_ERROR(v.ReadDelta(node, walk));
  }
  LLAMA_RETURN_IF_ERROR(v.ReadBounds(walk.bounds_known));
  return v;
}

Status NodeView::ReadBase(const PageNode& node, const ChainWalk& walk) {
  if (!walk.flushed_below) unflushed_ = true;
  auto image = NodeImage::Parse(node.bytes());
  LLAMA_RETURN_IF_ERROR(image);
  base_ = *image;
  base_cap_ = walk.cap;
  return OkStatus();
}

Status NodeView::ReadDelta(const PageNode& node, ChainWalk& walk) {
  const DeltaKind kind = node.delta_kind();
  if (kind == DeltaKind::kFlush || kind == DeltaKind::kPartialSwap) {
    walk.flushed_below = true;
    return OkStatus();
  }
  if (kind != DeltaKind::kUpdate) return OkStatus();  // Relocation: where the state lives, not what it says
  if (!walk.flushed_below) unflushed_ = true;
  auto delta = BwDelta::Decode(node.bytes());
  LLAMA_RETURN_IF_ERROR(delta);
  Layer layer{*delta, std::nullopt, walk.cap};
  auto is_layer = ReadBwDelta(layer, walk);
  LLAMA_RETURN_IF_ERROR(is_layer);
  if (!*is_layer) return OkStatus();
  // Reserved at the first layer only: a consolidated node (a base, perhaps under a Birth
  // stamp, as a split's new node is) is read without allocating.
  if (layers_.empty()) layers_.reserve(walk.chain_length);
  layers_.push_back(std::move(layer));
  delta_bytes_ += node.bytes().size();
  return OkStatus();
}

Result<bool> NodeView::ReadBwDelta(Layer& layer, ChainWalk& walk) {
  const BwDelta& delta = layer.delta;
  switch (delta.tag) {
    case DeltaTag::kSplit:
      if (!walk.bounds_known) {
        high_ = HighKey::At(delta.key);
        right_ = delta.pid;
        walk.bounds_known = true;
      }
      walk.cap = Lower(walk.cap, delta.key);
      break;
    case DeltaTag::kMerge: {
      auto image = NodeImage::Parse(delta.image);
      LLAMA_RETURN_IF_ERROR(image);
      if (!walk.bounds_known) {
        high_ = image->high();
        right_ = image->right();
        walk.bounds_known = true;
      }
      walk.cap = Lower(walk.cap, image->low());
      layer.image = *image;
      break;
    }
    case DeltaTag::kRemoveNode:
      removed_ = true;
      if (nonce_ == 0) nonce_ = delta.nonce;
      break;
    case DeltaTag::kBirth:
    case DeltaTag::kRetire:
      // Not layers: they say nothing about the node's entries or bounds.
      if (nonce_ == 0) nonce_ = delta.nonce;
      if (delta.tag == DeltaTag::kRetire) removed_ = retired_ = true;
      return false;
    case DeltaTag::kDelete:
    case DeltaTag::kIndexErase:
      ++deletes_;
      break;
    default:
      break;
  }
  return true;
}

Status NodeView::ReadBounds(bool bounds_known) {
  if (!base_) {
    return MakeError(ErrorCode::kCorruption, "bwtree: a node's page state has no base page");
  }
  level_ = base_->level();
  low_ = base_->low();
  if (!bounds_known) {
    high_ = base_->high();
    right_ = base_->right();
  }
  if (!high_.infinite && !right_) {
    return MakeError(ErrorCode::kCorruption, "bwtree: a node with a high key has no right sibling");
  }
  return OkStatus();
}

Result<std::optional<Entry>> NodeView::Find(std::string_view key) const { return FindIn(key, 0); }

Result<std::optional<Entry>> NodeView::FindIn(std::string_view key, std::size_t from_layer) const {
  using Found = std::optional<Entry>;
  for (std::size_t i = from_layer; i < layers_.size(); ++i) {
    const BwDelta& d = layers_[i].delta;
    switch (d.tag) {
      case DeltaTag::kInsert:
        if (d.key == key) return Found(Entry{d.key, d.value, 0, false});
        break;
      case DeltaTag::kDelete:
      case DeltaTag::kIndexErase:
        if (d.key == key) return Found();
        break;
      case DeltaTag::kIndexInsert:
      case DeltaTag::kIndexTombstone:
        if (d.key == key) return Found(Entry{d.key, {}, d.pid, d.tag == DeltaTag::kIndexTombstone});
        break;
      case DeltaTag::kSplit:
        if (key >= d.key) return Found();
        break;
      case DeltaTag::kMerge:
        if (key >= layers_[i].image->low()) return layers_[i].image->Find(key);
        break;
      case DeltaTag::kRemoveNode:
      case DeltaTag::kBirth:
      case DeltaTag::kRetire:
        break;
    }
  }
  return base_->Find(key);
}

Result<std::optional<std::string_view>> NodeView::PrevKey(std::string_view bound, bool inclusive) const {
  std::optional<std::string_view> best;
  auto consider = [&](std::string_view k) {
    if (!best || k > *best) best = k;
  };
  for (const Layer& layer : layers_) {
    const BwDelta& d = layer.delta;
    switch (d.tag) {
      case DeltaTag::kInsert:
      case DeltaTag::kDelete:
      case DeltaTag::kIndexInsert:
      case DeltaTag::kIndexTombstone:
      case DeltaTag::kIndexErase:
        if ((inclusive ? d.key <= bound : d.key < bound) && !layer.cap.Excludes(d.key)) consider(d.key);
        break;
      case DeltaTag::kMerge: {
        auto k = ImageFloor(*layer.image, bound, inclusive, layer.cap);
        if (!k) return k;
        if (*k) consider(**k);
        break;
      }
      case DeltaTag::kSplit:
      case DeltaTag::kRemoveNode:
      case DeltaTag::kBirth:
      case DeltaTag::kRetire:
        break;
    }
  }
  auto k = ImageFloor(*base_, bound, inclusive, base_cap_);
  if (!k) return k;
  if (*k) consider(**k);
  return best;
}

Result<std::optional<Entry>> NodeView::FloorLive(std::string_view key, bool inclusive,
                                                 std::vector<Entry>* skipped) const {
  for (;;) {
    auto k = PrevKey(key, inclusive);
    LLAMA_RETURN_IF_ERROR(k);
    if (!*k) return std::optional<Entry>();
    auto e = Find(**k);
    if (!e) return e;
    if (*e && (*e)->live()) return e;
    if (*e && skipped != nullptr) skipped->push_back(**e);
    key = **k;
    inclusive = false;
  }
}

Result<std::optional<Entry>> NodeView::Predecessor(std::string_view key) const {
  for (;;) {
    auto k = PrevKey(key, false);
    LLAMA_RETURN_IF_ERROR(k);
    if (!*k) return std::optional<Entry>();
    auto e = Find(**k);
    if (!e || *e) return e;
    key = **k;  // a deleted key: look further down
  }
}

Result<NodeContents> NodeView::Materialize() const {
  NodeContents c;
  c.level = level_;
  c.low = low_;
  c.high = high_;
  c.right = right_;
  LLAMA_RETURN_IF_ERROR(CollectEntries(c.entries));
  return c;
}

Status NodeView::CollectEntries(std::vector<Entry>& out) const {
  out.clear();
  LLAMA_RETURN_IF_ERROR(base_->AppendAll(out));
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    const BwDelta& d = it->delta;
    switch (d.tag) {
      case DeltaTag::kInsert:
        Upsert(out, Entry{d.key, d.value, 0, false});
        break;
      case DeltaTag::kDelete:
      case DeltaTag::kIndexErase:
        Erase(out, d.key);
        break;
      case DeltaTag::kIndexInsert:
      case DeltaTag::kIndexTombstone:
        Upsert(out, Entry{d.key, {}, d.pid, d.tag == DeltaTag::kIndexTombstone});
        break;
      case DeltaTag::kSplit:
        TruncateFrom(out, d.key);
        break;
      case DeltaTag::kMerge:
        TruncateFrom(out, it->image->low());
        LLAMA_RETURN_IF_ERROR(it->image->AppendAll(out));
        break;
      case DeltaTag::kRemoveNode:
      case DeltaTag::kBirth:
      case DeltaTag::kRetire:
        break;
    }
  }
  return OkStatus();
}

}  // namespace llama::bwtree
