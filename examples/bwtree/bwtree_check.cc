// BwTree::Check: a whole-tree walk for tests. Level by level from the root, along the
// side links, it checks what every reader relies on:
// - each level is a chain of nodes whose ranges are contiguous, from "" to +infinity;
// - every node is at its level, and its entries are sorted and inside its range;
// - every node's range lies inside the range the level above gives it: a child named by
//   a live separator k gets [k, the next live separator) (the parent's high key after the
//   last one), and a node the parent does not name (an unposted split, a node being
//   merged away) lies inside the range of the named node left of it; so every key is
//   where a descent from the root for it arrives;
// - every live separator in an inner node equals its child's low key, and the child is
//   one level down (a child's low key never changes, so this holds at all times);
// - a retired node (a root collapse under way) is the root's only child.
// Half-finished changes are legal and counted: a node its parent does not name yet (an
// unposted split), a tombstone (a merge under way), a removed node still on a level.
// Then it counts the pages the store's trees hold and compares them with the store's
// pages in use (CheckStorePages).
#include <map>
#include <set>
#include <string>

#include "examples/bwtree/bwtree.h"

namespace llama::bwtree {

namespace {

Error Broken(const std::string& what) { return Error(ErrorCode::kCorruption, "bwtree check: " + what); }

// Caps the walk of one level, so a cycle of side links is reported, not followed forever.
constexpr std::uint64_t kMaxNodesPerLevel = std::uint64_t{1} << 26;

constexpr std::string_view kTreePrefix = "bwtree:";
constexpr std::string_view kPendingPrefix = "bwtree-pending:";

// The keys a node may hold: [low, high).
struct KeyRange {
  std::string low;
  bool infinite = true;
  std::string high;

  bool Contains(std::string_view node_low, const HighKey& node_high) const {
    if (node_low < low) return false;
    if (infinite) return true;
    return !node_high.infinite && node_high.key <= high;
  }
  std::string ToString() const { return "[\"" + low + "\", " + (infinite ? "+inf" : "\"" + high + "\"") + ")"; }
};

// One tree's walk, level by level. Borrows the store and the guard for its lifetime.
class TreeWalk {
 public:
  TreeWalk(Store& store, const GenerationGuard& g, PageId root) : store_(store), g_(g), root_(root) {}

  // Walks every level; Corruption names the first broken invariant.
  Status Run(TreeShape& shape);
  const std::set<PageId>& pages() const { return pages_; }

 private:
  Status WalkLevel(PageId leftmost, TreeShape& shape);
  Status CheckNode(PageId pid, const NodeView& view, const NodeContents& contents, const std::string& where,
                   TreeShape& shape);
  // An inner node's children: separators against their children, and the ranges the next
  // level's nodes must lie in.
  Status CheckChildren(PageId pid, const NodeContents& contents, const std::string& where, TreeShape& shape);

  Store& store_;
  const GenerationGuard& g_;
  const PageId root_;
  std::set<PageId> pages_;                  // every page the tree holds
  std::map<PageId, KeyRange> named_;        // this level's nodes the level above names
  std::map<PageId, KeyRange> named_below_;  // the next level's, as this one is walked
  std::optional<PageId> leftmost_below_;
  int level_ = -1;
  std::size_t root_entries_ = 0;
  KeyRange allowed_;  // the range of the named node last passed on this level
};

Status TreeWalk::Run(TreeShape& shape) {
  named_[root_] = KeyRange{};
  PageId leftmost = root_;
  for (;;) {
    leftmost_below_.reset();
    named_below_.clear();
    LLAMA_RETURN_IF_ERROR(WalkLevel(leftmost, shape));
    if (level_ == 0) return OkStatus();
    if (!leftmost_below_) return tl::unexpected(Broken("an inner level names no child"));
    named_ = std::move(named_below_);
    leftmost = *leftmost_below_;
    --level_;
  }
}

Status TreeWalk::WalkLevel(PageId leftmost, TreeShape& shape) {
  std::string expect_low;
  PageId pid = leftmost;
  for (std::uint64_t nodes = 0;; ++nodes) {
    if (nodes > kMaxNodesPerLevel) return tl::unexpected(Broken("a level does not end (a cycle of side links?)"));
    auto ref = store_.Read(g_, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    auto view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(view);
    const std::string where = "node " + std::to_string(pid) + " (level " + std::to_string(view->level()) + ")";
    if (level_ < 0) level_ = view->level();
    if (view->level() != level_) return tl::unexpected(Broken(where + " on level " + std::to_string(level_)));
    if (view->low() != expect_low) {
      return tl::unexpected(
          Broken(where + " starts at \"" + std::string(view->low()) + "\", expected \"" + expect_low + "\""));
    }
    auto contents = view->Materialize();
    LLAMA_RETURN_IF_ERROR(contents);
    LLAMA_RETURN_IF_ERROR(CheckNode(pid, *view, *contents, where, shape));
    if (contents->high.infinite) {
      shape.nodes_per_level.push_back(nodes + 1);
      return OkStatus();
    }
    expect_low.assign(contents->high.key);
    pid = *contents->right;
  }
}

Status TreeWalk::CheckNode(PageId pid, const NodeView& view, const NodeContents& contents, const std::string& where,
                           TreeShape& shape) {
  pages_.insert(pid);
  if (view.removed()) ++shape.removed_in_chain;
  const bool named = named_.count(pid) != 0;
  if (view.retired() && (pid == root_ || shape.nodes_per_level.size() != 1 || root_entries_ != 1 || !named)) {
    return tl::unexpected(Broken(where + " is retired but not the root's only child"));
  }
  if (named) {
    allowed_ = named_[pid];
  } else {
    if (!view.removed()) ++shape.unposted_splits;
    if (view.low().empty()) return tl::unexpected(Broken(where + " starts its level but its parent does not name it"));
  }
  // The node's range, and so every entry in it, inside the range the separators above
  // give it: a node outside it holds keys no descent can reach.
  if (!allowed_.Contains(contents.low, contents.high)) {
    return tl::unexpected(
        Broken(where + " covers keys outside " + allowed_.ToString() + ", the range the level above gives it"));
  }
  for (std::size_t i = 0; i < contents.entries.size(); ++i) {
    const Entry& e = contents.entries[i];
    if (i > 0 && !(contents.entries[i - 1].key < e.key))
      return tl::unexpected(Broken(where + ": entries out of order"));
    if (e.key < contents.low || contents.high.Excludes(e.key)) {
      return tl::unexpected(Broken(where + ": entry \"" + std::string(e.key) + "\" outside its range"));
    }
  }
  if (level_ == 0) {
    shape.keys += contents.entries.size();
    return OkStatus();
  }
  return CheckChildren(pid, contents, where, shape);
}

Status TreeWalk::CheckChildren(PageId pid, const NodeContents& contents, const std::string& where, TreeShape& shape) {
  if (contents.entries.empty() || contents.entries[0].key != contents.low || !contents.entries[0].live()) {
    return tl::unexpected(Broken(where + ": the first entry is not a live separator at the low key"));
  }
  if (!leftmost_below_) leftmost_below_ = contents.entries[0].child;
  if (pid == root_) root_entries_ = contents.entries.size();
  KeyRange* previous_live = nullptr;  // the range of the last live child, until its end is known
  for (const Entry& e : contents.entries) {
    if (e.tombstone) {
      ++shape.pending_merges;
      // Still allocated until its merge finishes (the tombstone goes before the free).
      auto removed = store_.Read(g_, e.child);
      if (!removed) {
        return tl::unexpected(
            Broken(where + ": tombstone child " + std::to_string(e.child) + ": " + removed.error().ToString()));
      }
      pages_.insert(e.child);
      continue;
    }
    auto child_ref = store_.Read(g_, e.child);
    if (!child_ref) {
      return tl::unexpected(Broken(where + ": child " + std::to_string(e.child) + ": " + child_ref.error().ToString()));
    }
    auto child = NodeView::Of(child_ref->state());
    LLAMA_RETURN_IF_ERROR(child);
    if (child->level() + 1 != level_ || child->low() != e.key) {
      return tl::unexpected(Broken(where + ": separator \"" + std::string(e.key) + "\" names child " +
                                   std::to_string(e.child) + " at level " + std::to_string(child->level()) +
                                   " starting at \"" + std::string(child->low()) + "\""));
    }
    if (previous_live != nullptr) {  // its range ends where this one begins
      previous_live->infinite = false;
      previous_live->high.assign(e.key);
    }
    auto [it, fresh] = named_below_.emplace(
        e.child, KeyRange{std::string(e.key), contents.high.infinite, std::string(contents.high.key)});
    if (!fresh) return tl::unexpected(Broken(where + ": child " + std::to_string(e.child) + " is named twice"));
    previous_live = &it->second;
  }
  return OkStatus();
}

}  // namespace

Result<TreeShape> BwTree::Check() {
  auto g = store_.EnterGeneration();
  TreeShape shape;
  TreeWalk walk(store_, g, root_);
  LLAMA_RETURN_IF_ERROR(walk.Run(shape));
  shape.pages = walk.pages().size();
  auto records = PendingRecords(g);
  LLAMA_RETURN_IF_ERROR(records);
  shape.pending = records->size();
  LLAMA_RETURN_IF_ERROR(CheckStorePages(g, walk.pages(), shape));
  return shape;
}

Status BwTree::CheckStorePages(const GenerationGuard& g, const std::set<PageId>& own_pages, TreeShape& shape) {
  auto roots = store_.Roots();
  LLAMA_RETURN_IF_ERROR(roots);
  std::set<PageId> held = own_pages;
  held.insert(kCatalogPage);
  for (const NamedRoot& root : *roots) {
    const std::string_view name = root.name;
    held.insert(root.pid);
    if (name.starts_with(kPendingPrefix)) {
      auto records = PendingRecordsOf(store_, g, root.pid);
      LLAMA_RETURN_IF_ERROR(records);
      // A record may outlive its page's free for a moment (the free is logged first).
      for (const Pending& p : *records) {
        if (store_.Read(g, p.pid)) held.insert(p.pid);
      }
    } else if (root.pid == root_) {
      continue;  // walked already
    } else if (name.starts_with(kTreePrefix)) {
      TreeShape other;
      TreeWalk walk(store_, g, root.pid);
      if (auto s = walk.Run(other); !s) {
        return tl::unexpected(Broken("tree \"" + root.name + "\": " + s.error().ToString()));
      }
      held.insert(walk.pages().begin(), walk.pages().end());
    } else {
      return OkStatus();  // another layer's root: its pages cannot be counted here
    }
  }
  shape.store_pages_checked = true;
  shape.store_pages = store_.stats().pages_in_use;
  if (shape.store_pages != held.size()) {
    return tl::unexpected(Broken("the store has " + std::to_string(shape.store_pages) +
                                 " pages in use, its Bw-trees hold " + std::to_string(held.size()) +
                                 " (with their pending pages and the catalog page): pages leaked or a "
                                 "subtree is no longer reached"));
  }
  return OkStatus();
}

}  // namespace llama::bwtree
