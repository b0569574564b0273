#include "rebuild/rrb_builder.h"

#include <algorithm>

#include "rebuild/tree_page.h"

namespace llama {

namespace {
// A node under 1/kUnderfullFraction of its capacity merges with a neighbour when both fit
// in one. A quarter rather than a half leaves a wide band between merging and splitting
// (at full), so a run of inserts and erases at one spot does not split and merge the same
// nodes back and forth.
constexpr std::size_t kUnderfullFraction = 4;

tl::unexpected<Error> Corrupt(const std::string& what) { return MakeError(ErrorCode::kCorruption, "vector: " + what); }
}  // namespace

RrbBuilder::RrbBuilder(Store& store, const VectorConfig& config, Tree published)
    : store_(store),
      config_(config),
      leaf_capacity_(config.leaf_page_size - base_page_format::kHeaderSize),
      height_(published.height),
      size_(published.size) {
  root_.pid = published.root;
  root_.size = published.size;
}

RrbBuilder::~RrbBuilder() = default;

std::size_t RrbBuilder::MaxValueSize(const VectorConfig& config) { return llama::MaxValueSize(config.leaf_page_size); }

bool RrbBuilder::LeafFits(std::size_t count, std::size_t bytes) const {
  return count <= config_.leaf_max_elements && LeafEncodedSize(count, bytes) <= leaf_capacity_;
}

void RrbBuilder::Resize(Child& c) {
  const Node& n = *c.node;
  if (n.height == 0) {
    c.size = n.values.size();
    return;
  }
  c.size = 0;
  for (const Child& child : n.children) c.size += child.size;
}

Status RrbBuilder::Open(Child& c, std::uint8_t height) {
  if (c.node) return OkStatus();
  auto node = std::make_unique<Node>();
  node->height = height;
  if (c.pid == 0) {  // the empty tree's root
    c.node = std::move(node);
    c.size = 0;
    return OkStatus();
  }
  auto guard = store_.EnterGeneration();
  auto bytes = ReadTreePage(store_, guard, c.pid);
  LLAMA_RETURN_IF_ERROR(bytes);
  const std::string where = " (page " + std::to_string(c.pid) + ")";
  if (height == 0) {
    auto leaf = LeafView::Parse(*bytes);
    if (!leaf) return Corrupt(leaf.error().message() + where);
    if (auto s = leaf->Validate(); !s) return Corrupt(s.error().message() + where);
    if (leaf->size() != c.size) return Corrupt("leaf holds a different count than its parent says" + where);
    node->values.reserve(leaf->size());
    for (std::uint32_t i = 0; i < leaf->size(); ++i) {
      auto v = leaf->Get(i);
      if (!v) return Corrupt(v.error().message() + where);
      node->values.emplace_back(*v);
      node->bytes += v->size();
    }
  } else {
    auto inner = InnerView::Parse(*bytes);
    if (!inner) return Corrupt(inner.error().message() + where);
    if (auto s = inner->Validate(); !s) return Corrupt(s.error().message() + where);
    if (inner->height() != height) return Corrupt("inner node at the wrong height" + where);
    if (inner->total() != c.size) return Corrupt("inner node holds a different count than its parent says" + where);
    if (inner->count() > config_.branching) return Corrupt("inner node has more children than the branching" + where);
    const std::uint64_t full = FullSubtreeSize(config_, height - 1);
    for (std::uint32_t k = 0; k < inner->count(); ++k) {
      const std::uint64_t first = inner->before(k, full);
      const std::uint64_t end = k + 1 == inner->count() ? inner->total() : inner->before(k + 1, full);
      if (end <= first) return Corrupt("inner node has an empty child" + where);
      node->children.push_back(Child{inner->child(k), nullptr, end - first});
    }
  }
  opened_.push_back(c.pid);
  c.pid = 0;
  c.node = std::move(node);
  return OkStatus();
}

RrbBuilder::Siblings RrbBuilder::SplitLeaf(Child& c, bool at_end, bool near_front) {
  Node& n = *c.node;
  std::vector<std::string> values = std::move(n.values);
  std::size_t total_bytes = n.bytes;
  // At the end, fill each part (appends keep leaves full); elsewhere balance the parts.
  std::size_t target = values.size();
  if (!at_end) {
    std::size_t parts = (values.size() + config_.leaf_max_elements - 1) / config_.leaf_max_elements;
    parts = std::max<std::size_t>(
        {parts, 2, (LeafEncodedSize(values.size(), total_bytes) + leaf_capacity_ - 1) / leaf_capacity_});
    // The part the write went into gets the smaller share, so the next write nearby
    // does not split it again at once (with tiny nodes that would grow the tree a level
    // per write).
    target = near_front ? values.size() / parts : (values.size() + parts - 1) / parts;
    target = std::max<std::size_t>(target, 1);
  }
  std::vector<Node> parts(1);
  for (std::string& v : values) {
    Node* part = &parts.back();
    if (!part->values.empty() &&
        (part->values.size() >= target || !LeafFits(part->values.size() + 1, part->bytes + v.size()))) {
      part = &parts.emplace_back();
    }
    part->bytes += v.size();
    part->values.push_back(std::move(v));
  }
  n.values = std::move(parts[0].values);
  n.bytes = parts[0].bytes;
  Resize(c);
  Siblings out;
  for (std::size_t p = 1; p < parts.size(); ++p) {
    Child sibling{0, std::make_unique<Node>(std::move(parts[p])), 0};
    Resize(sibling);
    out.push_back(std::move(sibling));
  }
  return out;
}

RrbBuilder::Siblings RrbBuilder::SplitInner(Child& c, bool at_end, bool near_front) {
  Node& n = *c.node;
  const std::size_t count = n.children.size();
  std::size_t target = config_.branching;
  if (!at_end) {
    const std::size_t parts = std::max<std::size_t>(2, (count + config_.branching - 1) / config_.branching);
    target = std::max<std::size_t>(near_front ? count / parts : (count + parts - 1) / parts, 1);
  }
  std::vector<Child> all = std::move(n.children);
  n.children.clear();
  Siblings out;
  Node* part = &n;
  for (std::size_t k = 0; k < count; ++k) {
    if (part->children.size() >= target) {
      out.push_back(Child{0, std::make_unique<Node>(), 0});
      part = out.back().node.get();
      part->height = n.height;
    }
    part->children.push_back(std::move(all[k]));
  }
  Resize(c);
  for (Child& s : out) Resize(s);
  return out;
}

Result<RrbBuilder::Siblings> RrbBuilder::Insert(Child& c, std::uint64_t i, std::string value) {
  Node& n = *c.node;
  if (n.height == 0) {
    const bool at_end = i == n.values.size();
    n.bytes += value.size();
    n.values.insert(n.values.begin() + static_cast<std::ptrdiff_t>(i), std::move(value));
    Resize(c);
    if (!LeafFits(n.values.size(), n.bytes)) return SplitLeaf(c, at_end, 2 * i < n.values.size());
    return Siblings{};
  }
  // The child to insert into: a position on a boundary goes to the end of the left child.
  std::size_t k = 0;
  while (k + 1 < n.children.size() && i > n.children[k].size) i -= n.children[k++].size;
  const bool at_end = k + 1 == n.children.size() && i == n.children[k].size;
  LLAMA_RETURN_IF_ERROR(Open(n.children[k], n.height - 1));
  auto extra = Insert(n.children[k], i, std::move(value));
  if (!extra) return extra;
  for (std::size_t e = 0; e < extra->size(); ++e) {
    n.children.insert(n.children.begin() + static_cast<std::ptrdiff_t>(k + 1 + e), std::move((*extra)[e]));
  }
  Resize(c);
  if (n.children.size() > config_.branching) return SplitInner(c, at_end, 2 * k < n.children.size());
  return Siblings{};
}

Result<RrbBuilder::Siblings> RrbBuilder::Update(Child& c, std::uint64_t i, std::string value) {
  Node& n = *c.node;
  if (n.height == 0) {
    n.bytes = n.bytes - n.values[i].size() + value.size();
    n.values[i] = std::move(value);
    if (!LeafFits(n.values.size(), n.bytes)) return SplitLeaf(c, false, 2 * i < n.values.size());
    return Siblings{};
  }
  std::size_t k = 0;
  while (i >= n.children[k].size) i -= n.children[k++].size;
  LLAMA_RETURN_IF_ERROR(Open(n.children[k], n.height - 1));
  auto extra = Update(n.children[k], i, std::move(value));
  if (!extra) return extra;
  for (std::size_t e = 0; e < extra->size(); ++e) {
    n.children.insert(n.children.begin() + static_cast<std::ptrdiff_t>(k + 1 + e), std::move((*extra)[e]));
  }
  Resize(c);
  if (n.children.size() > config_.branching) return SplitInner(c, false, 2 * k < n.children.size());
  return Siblings{};
}

Status RrbBuilder::Erase(Child& c, std::uint64_t i) {
  Node& n = *c.node;
  if (n.height == 0) {
    n.bytes -= n.values[i].size();
    n.values.erase(n.values.begin() + static_cast<std::ptrdiff_t>(i));
    Resize(c);
    return OkStatus();
  }
  std::size_t k = 0;
  while (i >= n.children[k].size) i -= n.children[k++].size;
  if (auto s = Open(n.children[k], n.height - 1); !s) return s;
  if (auto s = Erase(n.children[k], i); !s) return s;
  if (n.children[k].size == 0) {
    n.children.erase(n.children.begin() + static_cast<std::ptrdiff_t>(k));
  } else if (auto s = MergeUnderfull(n, k); !s) {
    return s;
  }
  Resize(c);
  return OkStatus();
}

Status RrbBuilder::MergeUnderfull(Node& parent, std::size_t k) {
  Node& n = *parent.children[k].node;
  const bool leaf = n.height == 0;
  const std::size_t fill = leaf ? n.values.size() : n.children.size();
  const std::size_t capacity = leaf ? config_.leaf_max_elements : config_.branching;
  if (fill * kUnderfullFraction >= capacity || parent.children.size() < 2) return OkStatus();
  const std::size_t other = k + 1 < parent.children.size() ? k + 1 : k - 1;
  // A leaf neighbour's element count is its size: skip copying one that cannot fit.
  if (leaf && fill + parent.children[other].size > capacity) return OkStatus();
  if (auto s = Open(parent.children[other], n.height); !s) return s;
  const std::size_t left = std::min(k, other), right = std::max(k, other);
  Node& a = *parent.children[left].node;
  Node& b = *parent.children[right].node;
  if (leaf) {
    if (!LeafFits(a.values.size() + b.values.size(), a.bytes + b.bytes)) return OkStatus();
    for (std::string& v : b.values) a.values.push_back(std::move(v));
    a.bytes += b.bytes;
  } else {
    if (a.children.size() + b.children.size() > config_.branching) return OkStatus();
    for (Child& ch : b.children) a.children.push_back(std::move(ch));
  }
  Resize(parent.children[left]);
  parent.children.erase(parent.children.begin() + static_cast<std::ptrdiff_t>(right));
  return OkStatus();
}

Status RrbBuilder::ApplyAtRoot(const VectorOp& op) {
  if (auto s = Open(root_, height_); !s) return s;
  Result<Siblings> extra = Siblings{};
  switch (op.code) {
    case VectorOpCode::kAppend:
      extra = Insert(root_, size_, op.value);
      break;
    case VectorOpCode::kPrepend:
      extra = Insert(root_, 0, op.value);
      break;
    case VectorOpCode::kInsert:
      extra = Insert(root_, op.index, op.value);
      break;
    case VectorOpCode::kUpdate:
      extra = Update(root_, op.index, op.value);
      break;
    case VectorOpCode::kErase:
      if (auto s = Erase(root_, op.index); !s) return s;
      break;
  }
  LLAMA_RETURN_IF_ERROR(extra);
  // Grow: the root split, so a new root holds it and its siblings (and may split again).
  while (!extra->empty()) {
    // Checked before growing, so no tree past the u8 height's limit is ever built.
    if (height_ >= vector_format::kMaxHeight) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "vector: tree height limit (" + std::to_string(vector_format::kMaxHeight) + ") reached");
    }
    auto top = std::make_unique<Node>();
    top->height = static_cast<std::uint8_t>(height_ + 1);
    top->children.push_back(std::move(root_));
    for (Child& s : *extra) top->children.push_back(std::move(s));
    root_ = Child{0, std::move(top), 0};
    ++height_;
    Resize(root_);
    extra = root_.node->children.size() > config_.branching ? SplitInner(root_, false, false) : Siblings{};
  }
  // Shrink: an inner root with one child gives way to it; an empty tree has no root.
  while (height_ > 0 && root_.node && root_.node->children.size() == 1) {
    Child only = std::move(root_.node->children[0]);
    root_ = std::move(only);
    --height_;
  }
  if (root_.size == 0) {
    root_ = Child{};
    height_ = 0;
  }
  size_ = root_.size;
  return OkStatus();
}

Status RrbBuilder::Apply(const VectorEntry& entry) {
  if (auto s = ValidateOps(entry.ops, MaxValueSize(config_)); !s) return s;
  std::uint64_t size = size_;
  for (std::size_t n = 0; n < entry.ops.size(); ++n) {
    const VectorOp& op = entry.ops[n];
    const bool ok = op.code == VectorOpCode::kInsert ? op.index <= size : HasIndex(op.code) ? op.index < size : true;
    if (!ok) {
      return MakeError(ErrorCode::kInvalidArgument, std::string(VectorOpName(op.code)) + " at index " +
                                                        std::to_string(op.index) + " past the end (size " +
                                                        std::to_string(size) + ") at its turn in the replay");
    }
    size = op.code == VectorOpCode::kErase ? size - 1 : op.code == VectorOpCode::kUpdate ? size : size + 1;
  }
  for (const VectorOp& op : entry.ops) {
    if (auto s = ApplyAtRoot(op); !s) return s;
  }
  return OkStatus();
}

bool RrbBuilder::Regular(const Node& n) const {
  const std::uint64_t full = FullSubtreeSize(config_, static_cast<std::uint8_t>(n.height - 1));
  for (std::size_t k = 0; k + 1 < n.children.size(); ++k) {
    if (n.children[k].size != full) return false;
  }
  return n.children.back().size <= full;
}

Result<PageId> RrbBuilder::Write(Child& c, std::vector<PageId>& created, LssAddress& position) {
  if (!c.node) return c.pid;
  Node& n = *c.node;
  Result<std::vector<std::byte>> contents;
  if (n.height == 0) {
    contents = EncodeLeaf(n.values);
  } else {
    std::vector<InnerChild> children;
    for (Child& child : n.children) {
      auto pid = Write(child, created, position);
      if (!pid) return pid;
      children.push_back(InnerChild{*pid, child.size});
    }
    contents = EncodeInner(n.height, children, !Regular(n));
  }
  LLAMA_RETURN_IF_ERROR(contents);
  auto pid = store_.Allocate();
  if (!pid) return pid;
  created.push_back(*pid);
  auto page = BasePage::Create(*pid, config_.leaf_page_size, *contents);
  LLAMA_RETURN_IF_ERROR(page);
  OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
  auto guard = store_.EnterGeneration();
  auto installed = store_.UpdateR(guard, *pid, PageRef::Empty(), chain);
  LLAMA_RETURN_IF_ERROR(installed);
  if (!installed->installed) return MakeError(ErrorCode::kAborted, "vector: a fresh page was not empty");
  auto pos = store_.Flush(guard, *pid);
  LLAMA_RETURN_IF_ERROR(pos);
  position = std::max(position, *pos);
  c.pid = *pid;
  c.node.reset();
  return *pid;
}

Result<RrbBuilder::Written> RrbBuilder::Materialize() {
  Written out;
  auto root = Write(root_, out.created, out.position);
  if (!root) {
    // Best effort: give back the pages written so far (nothing names them).
    auto guard = store_.EnterGeneration();
    for (PageId pid : out.created) (void)store_.Free(guard, pid);
    return tl::unexpected(root.error());
  }
  out.tree = Tree{*root, height_, size_};
  out.dropped = std::move(opened_);
  return out;
}

}  // namespace llama
