// BwTree::Check: a whole-tree walk for tests. Level by level from the root, along the
// side links, it checks what every reader relies on:
// - each level is a chain of nodes whose ranges are contiguous, from "" to +infinity;
// - every node is at its level, and its entries are sorted and inside its range;
// - every live separator in an inner node equals its child's low key, and the child is
//   one level down (a child's low key never changes, so this holds at all times).
// - a retired node (a root collapse under way) is the root's only child.
// Half-finished changes are legal and counted: a node its parent does not name yet (an
// unposted split), a tombstone (a merge under way), a removed node still on a level.
// It also counts the pages the tree holds and the pending page's records.
#include <set>
#include <string>

#include "examples/bwtree/bwtree.h"

namespace llama::bwtree {

namespace {

Error Broken(const std::string& what) { return Error(ErrorCode::kCorruption, "bwtree check: " + what); }

// Caps the walk of one level, so a cycle of side links is reported, not followed forever.
constexpr std::uint64_t kMaxNodesPerLevel = std::uint64_t{1} << 26;

}  // namespace

Result<TreeShape> BwTree::Check() {
  auto g = store_.EnterGeneration();
  TreeShape shape;
  std::set<PageId> named{root_};  // the nodes the level above names (live entries)
  std::set<PageId> pages;         // every page the tree holds
  PageId leftmost = root_;
  int level = -1;
  std::size_t root_entries = 0;
  for (;;) {
    std::set<PageId> named_below;
    std::optional<PageId> leftmost_below;
    std::string expect_low;
    std::uint64_t nodes = 0;
    PageId pid = leftmost;
    for (;; ++nodes) {
      if (nodes > kMaxNodesPerLevel) return tl::unexpected(Broken("a level does not end (a cycle of side links?)"));
      auto ref = store_.Read(g, pid);
      if (!ref) return tl::unexpected(ref.error());
      auto view = NodeView::Of(ref->state());
      if (!view) return tl::unexpected(view.error());
      const std::string where = "node " + std::to_string(pid) + " (level " + std::to_string(view->level()) + ")";
      if (level < 0) level = view->level();
      if (view->level() != level) return tl::unexpected(Broken(where + " on level " + std::to_string(level)));
      if (view->low() != expect_low) {
        return tl::unexpected(Broken(where + " starts at \"" + std::string(view->low()) + "\", expected \"" +
                                     expect_low + "\""));
      }
      pages.insert(pid);
      if (view->removed()) ++shape.removed_in_chain;
      if (view->retired() && (pid == root_ || shape.nodes_per_level.size() != 1 || root_entries != 1 || !named.count(pid))) {
        return tl::unexpected(Broken(where + " is retired but not the root's only child"));
      }
      if (!named.count(pid) && !view->removed()) ++shape.unposted_splits;
      auto contents = view->Materialize();
      if (!contents) return tl::unexpected(contents.error());
      for (std::size_t i = 0; i < contents->entries.size(); ++i) {
        const Entry& e = contents->entries[i];
        if (i > 0 && !(contents->entries[i - 1].key < e.key)) return tl::unexpected(Broken(where + ": entries out of order"));
        if (e.key < contents->low || contents->high.Excludes(e.key)) {
          return tl::unexpected(Broken(where + ": entry \"" + std::string(e.key) + "\" outside its range"));
        }
      }
      if (level == 0) {
        shape.keys += contents->entries.size();
      } else {
        if (contents->entries.empty() || contents->entries[0].key != contents->low || !contents->entries[0].live()) {
          return tl::unexpected(Broken(where + ": the first entry is not a live separator at the low key"));
        }
        if (!leftmost_below) leftmost_below = contents->entries[0].child;
        if (pid == root_) root_entries = contents->entries.size();
        for (const Entry& e : contents->entries) {
          if (e.tombstone) {
            ++shape.pending_merges;
            // Still allocated until its merge finishes (the tombstone goes before the free).
            auto removed = store_.Read(g, e.child);
            if (!removed) return tl::unexpected(Broken(where + ": tombstone child " + std::to_string(e.child) + ": " + removed.error().ToString()));
            pages.insert(e.child);
            continue;
          }
          auto child_ref = store_.Read(g, e.child);
          if (!child_ref) return tl::unexpected(Broken(where + ": child " + std::to_string(e.child) + ": " + child_ref.error().ToString()));
          auto child = NodeView::Of(child_ref->state());
          if (!child) return tl::unexpected(child.error());
          if (child->level() + 1 != level || child->low() != e.key) {
            return tl::unexpected(Broken(where + ": separator \"" + std::string(e.key) + "\" names child " +
                                         std::to_string(e.child) + " at level " + std::to_string(child->level()) +
                                         " starting at \"" + std::string(child->low()) + "\""));
          }
          named_below.insert(e.child);
        }
      }
      if (contents->high.infinite) break;
      expect_low.assign(contents->high.key);
      pid = *contents->right;
    }
    shape.nodes_per_level.push_back(nodes + 1);
    if (level == 0) break;
    if (!leftmost_below) return tl::unexpected(Broken("an inner level names no child"));
    named = std::move(named_below);
    leftmost = *leftmost_below;
    --level;
  }
  shape.pages = pages.size();
  auto records = PendingRecords(g);
  if (!records) return tl::unexpected(records.error());
  shape.pending = records->size();
  return shape;
}

}  // namespace llama::bwtree
