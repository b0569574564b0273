// BwTree: a latch-free Bw-tree (Levandoski, Lomet, Sengupta, ICDE 2013) built only on the
// public page-store API (include/llama/store.h). Ordered byte-string keys and values: Put, Get,
// Erase and forward range scans, from any number of threads at once.
//
//   auto store = *llama::Store::Open("/data/db", {});
//   auto tree = *llama::bwtree::BwTree::Open(*store, "users", {});
//   tree->Put("k", "v", {.sync = true});           // durable once it returns OK
//   auto v = tree->Get("k");                        // Result<std::optional<std::string>>
//   std::string buf;
//   bool found = *tree->Get("k", &buf);             // into buf's capacity: no allocation
//   auto rows = tree->Scan("a", 100);               // up to 100 pairs with key >= "a"
//   BwTree::Cursor c(*tree);                        // bwtree_cursor.h: a forward iterator
//   for (auto s = c.Seek("a"); s && c.Valid(); s = c.Next()) use(c.key(), c.value());
//
// Structure (docs/BWTREE.md has the design and every payload byte):
// - One llama page per node. A node's state is a chain of Bw-tree deltas (Update deltas
//   whose payloads bw_delta.h defines) over a base page holding a node image
//   (node_image.h). Inserts and deletes are deltas prepended by CAS (Update-D); a chain
//   longer than `consolidate_after` is folded into a new base page (Update-R).
// - A node larger than `node_bytes` splits: its upper half goes to a new page first, then
//   a Split delta is CASed onto the node, then an IndexInsert delta onto the parent. Any
//   thread that crosses a side link the parent does not know yet posts it (help-along).
// - A node smaller than `merge_fraction * node_bytes` is merged into its left neighbour:
//   tombstone in the parent, RemoveNode on the node, Merge delta (carrying its contents)
//   on the left neighbour, tombstone erased, page freed. Any thread that meets a
//   tombstone helps the merge along.
// - The root's page id never changes (the store's catalog names it); a root that splits
//   pushes its contents down into new children, and a root left with one child takes
//   that child's contents and frees it (the root collapse: the tree gets shorter).
// - A page that only a half-finished structure change can name (a new node before the
//   Split that names it, a merged or collapsed node before its Free) is listed in the
//   tree's pending page (a second catalog root) first; Open frees those a crash left
//   unreachable, so crashes leak no pages.
//
// Durability: a write with `sync` flushes its leaf (and any node on its path whose state
// the log does not have yet) and syncs the log to there (group commit). After a crash
// every synced write is there: structure changes reach the log in dependency order
// (a new node before the Split that names it, a Split before the IndexInsert that posts
// it, a tombstone before the RemoveNode, a RemoveNode before the Merge, a Merge before the
// erase and the Free, a Retire before the root's copy of the child, the copy before the
// child's Free), so every prefix of the log is a valid tree.
//
// Ownership and threads: the tree borrows the Store (which must outlive it) and owns no
// pages in memory of its own; every node lives in the store's mapping table. All
// methods are thread-safe. Values returned are copies (Get into a caller's string reuses
// its capacity, so a Get that meets only consolidated nodes allocates nothing). A tree
// name is open at most once per store at a time (Open refuses a second BwTree while the
// first lives).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examples/bwtree/node_image.h"
#include "examples/bwtree/node_view.h"
#include "llama/status.h"
#include "llama/store.h"

namespace llama::bwtree {

struct BwTreeOptions {
  // A node whose consolidated image would be larger than this splits (256 B .. 32 KiB).
  std::uint32_t node_bytes = 8192;
  // The longest key Put accepts. 0: the most node_bytes allows (BwTree::MaxKeyBytesFor:
  // 32 bytes at 256, 160 at 1 KiB, kMaxKeyBytes = 1 KiB from 6,204 up). Open refuses more
  // than that: a node must hold its two bound keys and four entries of the longest key, so
  // that a split leaves every inner node two children or more (else the tree would grow a
  // level every few inserts).
  std::uint32_t max_key_bytes = 0;
  // Bw-tree deltas on a leaf's chain before the thread that added the last one
  // consolidates it.
  std::uint32_t consolidate_after = 8;
  // The same for inner nodes: every lookup walks them, so short chains pay off there, and
  // they change seldom (once per split or merge below them).
  std::uint32_t inner_consolidate_after = 2;
  // A node whose consolidated image is smaller than this fraction of node_bytes is
  // merged into its left neighbour (a leftmost child absorbs its right neighbour instead,
  // if the two fit in 3/4 of node_bytes) (0 .. 0.4; 0 never merges).
  double merge_fraction = 0.25;
  // For crash tests: called on the thread doing a structure change at the moments a crash
  // leaves a page that only the pending page names ("new node flushed", "tombstone
  // erased", "root copied") or a collapse half done ("child retired"). Null: not called.
  std::function<void(std::string_view step)> test_hook;
};

struct WriteOptions {
  // Durable when the call returns: flush the leaf, then Store::Sync (group commit).
  bool sync = false;
};

struct BwTreeStats {
  std::uint64_t consolidations = 0;
  std::uint64_t splits = 0;            // Split deltas installed (root push-downs not counted)
  std::uint64_t root_splits = 0;       // the root pushed its contents down a level
  std::uint64_t index_posts = 0;       // IndexInsert deltas installed
  std::uint64_t merges_started = 0;    // tombstones installed
  std::uint64_t merges = 0;            // Merge deltas installed
  std::uint64_t nodes_freed = 0;       // pages freed after a merge finished
  std::uint64_t root_collapses = 0;    // the root took its only child's contents (one level less)
  std::uint64_t orphans_freed = 0;     // pages Open found unreachable after a crash and freed
  std::uint64_t cas_retries = 0;       // lost CAS races retried by writers
  std::uint64_t full_chain_folds = 0;  // writers that folded a full leaf chain before adding to it
  std::uint64_t restarts = 0;          // traversals started again from the root
  std::uint64_t link_hops = 0;         // leaves a cursor (or Scan) reached by the previous leaf's link
  std::uint64_t link_descents = 0;     // leaves it reached by a descent instead (the link was not trusted)
};

// What Check() found: the tree's shape, level by level from the root (index 0).
struct TreeShape {
  // The root's level + 1 (nodes_per_level.size()); at most kMaxLevel + 1.
  std::size_t height() const { return nodes_per_level.size(); }
  std::vector<std::uint64_t> nodes_per_level;
  std::uint64_t keys = 0;
  std::uint64_t unposted_splits = 0;   // side links whose right node the parent does not name
  std::uint64_t pending_merges = 0;    // tombstones still in inner nodes
  std::uint64_t removed_in_chain = 0;  // removed nodes still linked into a level
  // Pages the tree holds: every node on a level (the root included) and every removed
  // node a tombstone still names. With the catalog page and one pending page per tree,
  // that is every page the store has, unless a page leaked.
  std::uint64_t pages = 0;
  std::uint64_t pending = 0;  // records in the pending page (0 once every change finished)
  // Whether the store's pages in use were compared with the pages its trees hold: only when
  // every catalog root is a Bw-tree's (Check cannot count another layer's pages).
  bool store_pages_checked = false;
  std::uint64_t store_pages = 0;  // the store's pages in use, when checked
  std::uint64_t nodes() const;
};

class BwTree {
 public:
  // Opens the tree registered in `store` under `name`, creating an empty one on first use.
  static Result<std::unique_ptr<BwTree>> Open(Store& store, std::string_view name, BwTreeOptions options = {});

  // The longest key a tree with nodes of `node_bytes` can take (see
  // BwTreeOptions::max_key_bytes).
  static std::uint32_t MaxKeyBytesFor(std::uint32_t node_bytes);

  // InvalidArgument for keys over max_key_bytes() or values over 16 KiB; ResourceExhausted
  // if the tree would grow past kMaxLevel (the write itself is in the tree then).
  Status Put(std::string_view key, std::string_view value, WriteOptions options = {});
  Result<std::optional<std::string>> Get(std::string_view key);
  // True if the key is there, its value then copied into `*value` (assigned, so a string
  // with the capacity already is not reallocated); false leaves `*value` as it was. The
  // leaf is read in place: a Get that meets only consolidated nodes allocates nothing.
  Result<bool> Get(std::string_view key, std::string* value);
  // True if the key was there.
  Result<bool> Erase(std::string_view key, WriteOptions options = {});
  // Up to `limit` pairs with key >= `start`, in key order. Every key present for the whole
  // scan is returned exactly once; keys written during it may or may not be.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view start, std::size_t limit);
  // A forward iterator over the leaves (bwtree_cursor.h): Scan without a descent per leaf.
  class Cursor;

  // Walks the whole tree and checks its invariants (ranges contiguous on every level,
  // entries sorted and in range, every node's range and so every key inside the range the
  // separators above it give, separators equal to their children's low keys, levels
  // consistent, a retired node only as the root's only child). When every root in the
  // store's catalog is a Bw-tree's, it also walks the other trees and compares the pages
  // all of them hold (nodes, pending pages, pages pending records name, the catalog page)
  // with the store's pages in use: a subtree no longer reached shows up there. Meant for
  // tests, with no writer running on any tree of the store; Corruption says what is wrong.
  Result<TreeShape> Check();

  ~BwTree();
  BwTree(const BwTree&) = delete;
  BwTree& operator=(const BwTree&) = delete;

  BwTreeStats stats() const;
  PageId root() const { return root_; }
  // The pending page (catalog name "bwtree-pending:<name>").
  PageId pending_page() const { return pending_; }
  const BwTreeOptions& options() const { return options_; }
  // The longest key Put accepts (options().max_key_bytes, or what node_bytes allows). Get,
  // Erase and Scan take keys up to kMaxKeyBytes: a tree written with larger nodes and
  // reopened with smaller ones may hold longer keys than it now accepts.
  std::uint32_t max_key_bytes() const { return max_key_bytes_; }

 private:
  // One operation's context: its generation, whether it may help other threads'
  // structure changes (helpers themselves do not, so helping never recurses), and the
  // nodes on its path whose state is not in the log yet (a synced write flushes them).
  struct Op {
    explicit Op(const GenerationGuard& g, bool may_help = true, int restarts = 1 << 20)
        : guard(g), help(may_help), max_restarts(restarts) {}
    // Only a synced write flushes its path: any other operation (a Get above all) keeps no
    // list, so it does not allocate one.
    void NoteUnflushed(PageId pid, const NodeView& view) {
      if (sync && view.unflushed()) unflushed.push_back(pid);
    }
    const GenerationGuard& guard;
    bool help;
    bool sync = false;
    std::vector<PageId> unflushed;
    // Restarts before a traversal gives up (kBusy). Helpers give up soon: the thread
    // whose own operation needs the node helps the change that is in its way.
    int max_restarts;
  };
  static Op Helper(const GenerationGuard& g) { return Op(g, false, 64); }
  // A node found by a traversal: its page, the head it was read at, its view.
  struct Located {
    PageId pid = 0;
    PageRef head = PageRef::Empty();
    NodeView view;
  };
  // True when a writer must fold the leaf's chain before adding to it (see WriteLeaf).
  bool ChainFull(const Located& at) const;
  static constexpr int kMaxFullChainFolds = 16;

  // A page and the nonce of its pending record.
  struct Pending {
    PageId pid = 0;
    std::uint64_t nonce = 0;
  };

  BwTree(Store& store, std::string name, PageId root, PageId pending, BwTreeOptions options);
  // InvalidArgument for a key over `max_key_bytes` or a value over kMaxValueBytes.
  static Status CheckKeyValue(std::string_view key, std::string_view value, std::size_t max_key_bytes = kMaxKeyBytes);
  // Gives a page fresh from the catalog (an empty base page) an empty leaf; a page that is
  // a node already is left alone.
  Status InitializePage(PageId pid);

  // The node at `level` whose range holds `key`, from the root.
  Result<Located> Descend(Op& op, std::string_view key, std::uint8_t level);
  // After a lost CAS on `at`: the same node re-read if it still holds `key`, else a new
  // descent.
  Result<Located> Reread(Op& op, const Located& at, std::string_view key);
  Result<UpdateOutcome> Prepend(const GenerationGuard& g, PageId pid, PageRef head,
                                const std::vector<std::byte>& payload);
  // Installs `payload` on the leaf for `key` (retrying lost races), consolidates if the
  // chain grew long, and for a synced write returns the log position to Sync.
  Result<LssAddress> WriteLeaf(Op& op, std::string_view key, const std::vector<std::byte>& payload, bool sync,
                               bool* existed);
  Result<LssAddress> FlushForSync(Op& op, PageId leaf);
  Status Flush(const GenerationGuard& g, PageId pid);

  // Structure changes (bwtree_smo.cc). Each gives up quietly when it loses a race or the
  // tree is not in the shape it expects: a later operation will try again.
  // After a delta went onto `view`'s node: consolidates once the chain is long, or at
  // once after a delete that leaves the node about half empty.
  Status AfterDelta(Op& op, PageId pid, const NodeView& view, bool deleted);
  // Folds the node's chain (of at least `min_deltas` deltas) into a new base; splits it
  // if too large, starts merging it if too small.
  Status Consolidate(Op& op, PageId pid, std::uint32_t min_deltas);
  // Starts merging the node if it is small (after it became a non-leftmost child).
  Status MaybeMerge(Op& op, PageId pid);
  bool WantsMerge(const NodeContents& contents, std::size_t size) const;
  Result<bool> Split(Op& op, PageId pid, PageRef head, const NodeContents& contents);
  Status SplitRoot(Op& op, PageRef head, const NodeContents& contents, const std::vector<std::size_t>& cuts);
  Status PostIndexEntry(const GenerationGuard& g, PageId left, PageId right, std::string_view key, std::uint8_t level);
  Status TryStartMerge(Op& op, PageId pid, std::string_view low, std::uint8_t level);
  // `pid` is small and its parent's leftmost child: merges its right neighbour (under
  // the same parent) into it if the two fit in one node with room to spare.
  Status AbsorbRightNeighbour(Op& op, PageId pid, const Located& parent);
  // Finishes the merge that the parent's tombstone for `removed` (a node on `level` whose
  // low key is `low`) started: freeze it, have its left neighbour absorb it, erase the
  // tombstone and free it. Any thread that meets the tombstone helps.
  Status HelpMerge(const GenerationGuard& g, PageId removed, std::string_view low, std::uint8_t level);
  // How one CAS step of a structure change ended: done, lost its race (try again), or
  // given up (the change finished or is not wanted any more, or is left to a later helper).
  enum class Step { kDone, kRetry, kGiveUp };
  struct MergeFreeze;
  struct LeftNeighbour;
  // The parent whose tombstone names `removed`, if one still does.
  Result<std::optional<Located>> FindTombstone(Op& helper, PageId removed, std::string_view low, std::uint8_t level);
  // HelpMerge's step 1: the nonce of the RemoveNode that froze `removed` (ours or another
  // thread's), or none if the node is not frozen (no merge under way, or races lost).
  Result<std::optional<std::uint64_t>> FreezeForMerge(Op& helper, PageId removed, std::string_view low,
                                                      std::uint8_t level);
  Status TryFreeze(Op& helper, PageId removed, std::string_view low, std::uint8_t level, MergeFreeze& freeze);
  // Step 2: whether the left neighbour absorbed `removed` (false: give up).
  Result<bool> MergeIntoLeftNeighbour(Op& helper, PageId removed, std::string_view low, std::uint8_t level);
  // Walks right along `level` from `first` to the node whose side link is `removed`.
  Result<LeftNeighbour> FindLeftNeighbour(const GenerationGuard& g, PageId first, PageId removed, std::string_view low,
                                          std::uint8_t level);
  // A Merge delta carrying the frozen `removed` node's contents, on `target`.
  Result<Step> PrependMerge(Op& helper, const Located& target, PageId removed);
  // Step 3, once `removed` is absorbed; `nonce` names its pending record (0: none).
  Status EraseTombstoneAndFree(Op& helper, PageId removed, std::string_view low, std::uint8_t level,
                               std::uint64_t nonce);
  // Where to cut `contents` into parts of about node_bytes * 3/4 (empty: it cannot be cut).
  std::vector<std::size_t> Partition(const NodeContents& contents) const;
  // New pages for the parts of `contents` that start at `starts` (each flushed), the last
  // ending at `high` with right sibling `right`, each other one ending where the next
  // starts. Frees what it made if one fails.
  Result<std::vector<Pending>> NewParts(const GenerationGuard& g, const NodeContents& contents,
                                        const std::vector<std::size_t>& starts, HighKey high,
                                        std::optional<PageId> right);
  // A new page holding `contents` as its base, flushed (so it is in the log before any
  // delta that names it).
  Result<Pending> NewNode(const GenerationGuard& g, const NodeContents& contents);
  Result<OwnedChain> BaseChain(PageId pid, const NodeContents& contents) const;
  // Every free of a node goes through here: it is counted before and after, so that a
  // cursor can tell whether a page id it kept across generations may name another page now.
  Result<LssAddress> FreePage(const GenerationGuard& g, PageId pid);
  void FreeQuietly(const GenerationGuard& g, PageId pid);
  void Hook(std::string_view step) const {
    if (options_.test_hook) options_.test_hook(step);
  }
  // After new nodes' fate is in the log: drops their pending records, freeing them first
  // if nothing names them (`linked` false).
  Status Settle(const GenerationGuard& g, const std::vector<Pending>& created, bool linked);

  // The root collapse (bwtree_smo.cc). While the root is an inner node with one child
  // that has no right sibling: Retire the child, copy it into the root, free it.
  Status TryCollapseRoot(const GenerationGuard& g);
  // Finishes the collapse of the retired `child` (any thread that meets it helps).
  Status HelpCollapse(const GenerationGuard& g, PageId child);

  // The pending page (bwtree_pending.cc): records (page id, nonce) of pages that only a
  // half-finished structure change names, each written before the page's stamp (Birth,
  // RemoveNode, Retire) with that nonce can reach the log.
  std::uint64_t NewNonce();
  // Adds the record and flushes the pending page (so it is in the log before the stamp).
  Status AddPending(const GenerationGuard& g, PageId pid, std::uint64_t nonce);
  // Removes the record (reaches the log with the pending page's next flush).
  Status DropPending(const GenerationGuard& g, PageId pid, std::uint64_t nonce);
  // Prepends an Insert or Delete of a record onto the pending page (folding it when long).
  Status ChangePending(const GenerationGuard& g, const std::vector<std::byte>& payload);
  Result<std::vector<Pending>> PendingRecords(const GenerationGuard& g);
  // The records in any tree's pending page (Check() counts other trees' pages too).
  static Result<std::vector<Pending>> PendingRecordsOf(Store& store, const GenerationGuard& g, PageId pending);
  // Check(): the pages every Bw-tree in the store holds, against the store's pages in use.
  Status CheckStorePages(const GenerationGuard& g, const std::set<PageId>& own_pages, TreeShape& shape);
  // Open: settles every record a crash left (finishing or freeing what it names).
  Status ReclaimPending();
  // Whether the record can go; frees the page if a crash left it stamped and unreachable.
  Result<bool> ResolvePending(const GenerationGuard& g, Pending record);
  Result<bool> Reachable(const GenerationGuard& g, PageId pid, const NodeView& view);

  Store& store_;
  const std::string name_;
  const PageId root_;
  const PageId pending_;
  const BwTreeOptions options_;
  const std::uint32_t merge_bytes_;
  const std::uint32_t max_key_bytes_;
  const std::uint64_t nonce_seed_;
  std::atomic<std::uint64_t> nonce_next_{0};

  // FreePage calls begun and ended (seq_cst): no free overlapped an interval in which
  // frees_started_ at its end equals frees_done_ at its start.
  std::atomic<std::uint64_t> frees_started_{0}, frees_done_{0};

  mutable std::atomic<std::uint64_t> consolidations_{0}, splits_{0}, root_splits_{0}, index_posts_{0},
      merges_started_{0}, merges_{0}, nodes_freed_{0}, root_collapses_{0}, orphans_freed_{0}, cas_retries_{0},
      full_chain_folds_{0}, restarts_{0}, link_hops_{0}, link_descents_{0};
};

}  // namespace llama::bwtree
