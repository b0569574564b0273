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

Result<NodeView> NodeView::Of(PageState state) {
  NodeView v;
  bool flushed_below = false;  // reached llama's flush point: the rest is in the log
  bool bounds_known = false;
  HighKey cap = HighKey::Infinity();
  for (const PageNode& node : state) {
    // Bytes and kinds are read from the node itself (PageNode::bytes): one hop a node.
    if (node.is_flush_point()) flushed_below = true;  // this node and all below are in the log
    if (node.is_base()) {
      if (!flushed_below) v.unflushed_ = true;
      auto image = NodeImage::Parse(node.bytes());
      LLAMA_RETURN_IF_ERROR(image);
      v.base_ = *image;
      v.base_cap_ = cap;
      break;
    }
    const DeltaKind kind = node.delta_kind();
    if (kind == DeltaKind::kFlush || kind == DeltaKind::kPartialSwap) {
      flushed_below = true;
      continue;
    }
    if (kind != DeltaKind::kUpdate) continue;  // Relocation: where the state lives, not what it says
    if (!flushed_below) v.unflushed_ = true;
    auto delta = BwDelta::Decode(node.bytes());
    LLAMA_RETURN_IF_ERROR(delta);
    Layer layer{*delta, std::nullopt, cap};
    switch (delta->tag) {
      case DeltaTag::kSplit:
        if (!bounds_known) {
          v.high_ = HighKey::At(delta->key);
          v.right_ = delta->pid;
          bounds_known = true;
        }
        cap = Lower(cap, delta->key);
        break;
      case DeltaTag::kMerge: {
        auto image = NodeImage::Parse(delta->image);
        LLAMA_RETURN_IF_ERROR(image);
        if (!bounds_known) {
          v.high_ = image->high();
          v.right_ = image->right();
          bounds_known = true;
        }
        cap = Lower(cap, image->low());
        layer.image = *image;
        break;
      }
      case DeltaTag::kRemoveNode:
        v.removed_ = true;
        if (v.nonce_ == 0) v.nonce_ = delta->nonce;
        break;
      case DeltaTag::kBirth:
      case DeltaTag::kRetire:
        // Not layers: they say nothing about the node's entries or bounds.
        if (v.nonce_ == 0) v.nonce_ = delta->nonce;
        if (delta->tag == DeltaTag::kRetire) v.removed_ = v.retired_ = true;
        continue;
      case DeltaTag::kDelete:
      case DeltaTag::kIndexErase:
        ++v.deletes_;
        break;
      default:
        break;
    }
    // Reserved at the first layer only: a consolidated node (a base, perhaps under a Birth
    // stamp, as a split's new node is) is read without allocating.
    if (v.layers_.empty()) v.layers_.reserve(state.chain_length());
    v.layers_.push_back(std::move(layer));
    v.delta_bytes_ += node.bytes().size();
  }
  if (!v.base_) {
    return MakeError(ErrorCode::kCorruption, "bwtree: a node's page state has no base page");
  }
  v.level_ = v.base_->level();
  v.low_ = v.base_->low();
  if (!bounds_known) {
    v.high_ = v.base_->high();
    v.right_ = v.base_->right();
  }
  if (!v.high_.infinite && !v.right_) {
    return MakeError(ErrorCode::kCorruption, "bwtree: a node with a high key has no right sibling");
  }
  return v;
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
  if (auto s = base_->AppendAll(out); !s) return s;
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
        if (auto s = it->image->AppendAll(out); !s) return s;
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
