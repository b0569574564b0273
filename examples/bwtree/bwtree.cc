// BwTree: opening, the operations, traversal and the durable-write path. Structure changes
// (consolidation, splits, merges) are in bwtree_smo.cc; Check() in bwtree_check.cc.
#include "examples/bwtree/bwtree.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "examples/bwtree/bw_delta.h"
#include "examples/bwtree/bwtree_cursor.h"

namespace llama::bwtree {

namespace {

bool IsNotFound(const Error& e) { return e.code() == ErrorCode::kNotFound; }

// The trees open in this process, by store and name: the pending page's records belong to
// one BwTree at a time (Open settles them, assuming no change of this tree is under way).
std::mutex open_trees_mu;
std::set<std::pair<const Store*, std::string>>& OpenTrees() {
  static auto* trees = new std::set<std::pair<const Store*, std::string>>();
  return *trees;
}

std::uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Catalog names longer than this would not fit the pending page's "bwtree-pending:" prefix
// in the catalog's 255 bytes.
constexpr std::size_t kMaxNameBytes = 240;

}  // namespace

Status BwTree::CheckKeyValue(std::string_view key, std::string_view value, std::size_t max_key_bytes) {
  if (key.size() > max_key_bytes) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: key of " + std::to_string(key.size()) +
                                                      " bytes exceeds the limit of " + std::to_string(max_key_bytes));
  }
  if (value.size() > kMaxValueBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: value of " + std::to_string(value.size()) +
                                                      " bytes exceeds the limit of " + std::to_string(kMaxValueBytes));
  }
  return OkStatus();
}

std::uint64_t TreeShape::nodes() const {
  std::uint64_t n = 0;
  for (std::uint64_t c : nodes_per_level) n += c;
  return n;
}

BwTree::BwTree(Store& store, std::string name, PageId root, PageId pending, BwTreeOptions options)
    : store_(store),
      name_(std::move(name)),
      root_(root),
      pending_(pending),
      options_(options),
      merge_bytes_(static_cast<std::uint32_t>(options.merge_fraction * options.node_bytes)),
      max_key_bytes_(options.max_key_bytes != 0 ? options.max_key_bytes : MaxKeyBytesFor(options.node_bytes)),
      nonce_seed_(RandomSeed()) {}

BwTree::~BwTree() {
  std::lock_guard lock(open_trees_mu);
  OpenTrees().erase({&store_, name_});
}

Result<std::unique_ptr<BwTree>> BwTree::Open(Store& store, std::string_view name, BwTreeOptions options) {
  if (options.node_bytes < 256 || options.node_bytes > 32 * 1024) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: node_bytes must be in 256 .. 32768");
  }
  if (options.max_key_bytes > MaxKeyBytesFor(options.node_bytes)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bwtree: max_key_bytes " + std::to_string(options.max_key_bytes) + " exceeds the limit of " +
                         std::to_string(MaxKeyBytesFor(options.node_bytes)) + " for node_bytes " +
                         std::to_string(options.node_bytes) +
                         " (a node must hold its bound keys and four entries of the longest key)");
  }
  if (options.consolidate_after < 1 || options.consolidate_after > 64 || options.inner_consolidate_after < 1 ||
      options.inner_consolidate_after > 64) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bwtree: consolidate_after and inner_consolidate_after must be in 1 .. 64");
  }
  if (!(options.merge_fraction >= 0 && options.merge_fraction <= 0.4)) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: merge_fraction must be in 0 .. 0.4");
  }
  if (name.size() > kMaxNameBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "bwtree: a tree name has at most 240 bytes");
  }
  {
    std::lock_guard lock(open_trees_mu);
    if (!OpenTrees().emplace(&store, std::string(name)).second) {
      return MakeError(ErrorCode::kInvalidArgument, "bwtree: tree \"" + std::string(name) + "\" is open already");
    }
  }
  // The store's catalog names the root page (its id never changes) and the pending page.
  auto root = store.OpenRoot("bwtree:" + std::string(name));
  auto pending = root ? store.OpenRoot("bwtree-pending:" + std::string(name)) : root;
  if (!pending) {
    std::lock_guard lock(open_trees_mu);
    OpenTrees().erase({&store, std::string(name)});
    return tl::unexpected(pending.error());
  }
  // From here the tree's destructor unregisters the name.
  std::unique_ptr<BwTree> tree(new BwTree(store, std::string(name), *root, *pending, options));
  LLAMA_RETURN_IF_ERROR(tree->InitializePage(tree->root_));
  LLAMA_RETURN_IF_ERROR(tree->InitializePage(tree->pending_));
  // What a crash cut short: pages stamped for a change whose end is not in the log.
  LLAMA_RETURN_IF_ERROR(tree->ReclaimPending());
  return tree;
}

Status BwTree::InitializePage(PageId pid) {
  LssAddress written;
  {
    auto g = store_.EnterGeneration();
    auto ref = store_.Read(g, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    // The catalog gives a new root page an empty base page (flush-marked by llama, if it was
    // flushed or read back); a tree's root (and pending page) never is.
    bool fresh = ref->empty();
    if (!fresh) {
      const BasePage* base = ref->state().base();
      fresh = base != nullptr && base->used() == 0 &&
              std::none_of(ref->state().begin(), ref->state().end(),
                           [](const PageNode& n) { return n.is_delta() && n.delta()->is_update(); });
    }
    if (!fresh) {
      auto view = NodeView::Of(ref->state());
      LLAMA_RETURN_IF_ERROR(view);
      return OkStatus();
    }
    // First use: an empty leaf covering every key.
    auto chain = BaseChain(pid, NodeContents{});
    LLAMA_RETURN_IF_ERROR(chain);
    auto out = store_.UpdateR(g, pid, *ref, *chain);
    LLAMA_RETURN_IF_ERROR(out);
    if (!out->installed) return InitializePage(pid);  // the evictor moved the page meanwhile
    auto pos = store_.Flush(g, pid);
    LLAMA_RETURN_IF_ERROR(pos);
    written = *pos;
  }
  return store_.Sync(written);
}

// ---- Operations ----

std::uint32_t BwTree::MaxKeyBytesFor(std::uint32_t node_bytes) {
  using namespace node_image_format;
  // An inner node's header, two bound keys and four entries (offset slot, entry header and
  // key each): kHeaderSize + 2k + 4 * (kOffsetSize + kInnerEntryHeader + k) <= node_bytes.
  // (A leaf's entry header is one byte shorter, so a leaf of four such keys fits too.)
  constexpr std::size_t kFixed = kHeaderSize + 4 * (kOffsetSize + kInnerEntryHeader);
  if (node_bytes <= kFixed) return 0;
  return static_cast<std::uint32_t>(std::min<std::size_t>(kMaxKeyBytes, (node_bytes - kFixed) / 6));
}

Status BwTree::Put(std::string_view key, std::string_view value, WriteOptions options) {
  LLAMA_RETURN_IF_ERROR(CheckKeyValue(key, value, max_key_bytes_));
  const std::vector<std::byte> payload = BwDelta::Insert(key, value);
  LssAddress sync_to;
  {
    auto g = store_.EnterGeneration();
    Op op(g);
    op.sync = options.sync;
    auto pos = WriteLeaf(op, key, payload, options.sync, nullptr);
    LLAMA_RETURN_IF_ERROR(pos);
    sync_to = *pos;
  }
  if (!options.sync) return OkStatus();
  return sync_to.is_null() ? store_.SyncAll() : store_.Sync(sync_to);
}

Result<bool> BwTree::Erase(std::string_view key, WriteOptions options) {
  LLAMA_RETURN_IF_ERROR(CheckKeyValue(key, {}));
  const std::vector<std::byte> payload = BwDelta::Delete(key);
  LssAddress sync_to;
  bool existed = false;
  {
    auto g = store_.EnterGeneration();
    Op op(g);
    op.sync = options.sync;
    auto pos = WriteLeaf(op, key, payload, options.sync, &existed);
    LLAMA_RETURN_IF_ERROR(pos);
    sync_to = *pos;
  }
  if (options.sync) {
    LLAMA_RETURN_IF_ERROR(sync_to.is_null() ? store_.SyncAll() : store_.Sync(sync_to));
  }
  return existed;
}

Result<std::optional<std::string>> BwTree::Get(std::string_view key) {
  std::string value;
  auto found = Get(key, &value);
  LLAMA_RETURN_IF_ERROR(found);
  if (!*found) return std::optional<std::string>();
  return std::optional<std::string>(std::move(value));
}

Result<bool> BwTree::Get(std::string_view key, std::string* value) {
  LLAMA_RETURN_IF_ERROR(CheckKeyValue(key, {}));
  // Everything below reads the nodes in place (NodeView borrows their bytes, the Op keeps
  // no list for a read): the one copy is the value's, into the caller's string.
  auto g = store_.EnterGeneration();
  Op op(g);
  auto at = Descend(op, key, 0);
  LLAMA_RETURN_IF_ERROR(at);
  auto entry = at->view.Find(key);
  LLAMA_RETURN_IF_ERROR(entry);
  // A reader that walks a long chain folds it, so a read-mostly load soon reads bases.
  // (The entry stays readable: the old chain is not freed while this generation lasts.)
  if (at->view.delta_count() >= std::max(2u, options_.consolidate_after / 2)) {
    LLAMA_RETURN_IF_ERROR(Consolidate(op, at->pid, 2));
  }
  if (!*entry) return false;
  value->assign((*entry)->value);
  return true;
}

Result<std::vector<std::pair<std::string, std::string>>> BwTree::Scan(std::string_view start, std::size_t limit) {
  std::vector<std::pair<std::string, std::string>> out;
  if (limit == 0) {
    LLAMA_RETURN_IF_ERROR(CheckKeyValue(start, {}));
    return out;
  }
  Cursor cursor(*this);
  Status s = cursor.Seek(start);
  for (; s && cursor.Valid(); s = cursor.Next()) {
    out.emplace_back(cursor.key(), cursor.value());
    if (out.size() == limit) return out;
  }
  LLAMA_RETURN_IF_ERROR(s);
  return out;
}

BwTreeStats BwTree::stats() const {
  BwTreeStats s;
  s.consolidations = consolidations_.load(std::memory_order_relaxed);
  s.splits = splits_.load(std::memory_order_relaxed);
  s.root_splits = root_splits_.load(std::memory_order_relaxed);
  s.index_posts = index_posts_.load(std::memory_order_relaxed);
  s.merges_started = merges_started_.load(std::memory_order_relaxed);
  s.merges = merges_.load(std::memory_order_relaxed);
  s.nodes_freed = nodes_freed_.load(std::memory_order_relaxed);
  s.root_collapses = root_collapses_.load(std::memory_order_relaxed);
  s.orphans_freed = orphans_freed_.load(std::memory_order_relaxed);
  s.cas_retries = cas_retries_.load(std::memory_order_relaxed);
  s.full_chain_folds = full_chain_folds_.load(std::memory_order_relaxed);
  s.restarts = restarts_.load(std::memory_order_relaxed);
  s.link_hops = link_hops_.load(std::memory_order_relaxed);
  s.link_descents = link_descents_.load(std::memory_order_relaxed);
  return s;
}

// ---- Writes ----

Result<LssAddress> BwTree::WriteLeaf(Op& op, std::string_view key, const std::vector<std::byte>& payload, bool sync,
                                     bool* existed) {
  auto at = Descend(op, key, 0);
  LLAMA_RETURN_IF_ERROR(at);
  for (int folds = 0;;) {
    // A full chain is folded before anything goes on it. Writers whose consolidations
    // lose races to each other's deltas would otherwise grow a chain without bound, past
    // what one log record holds, and its flush would fail. Nobody adds to a full chain, so
    // the only CAS that can beat a fold is another fold (or a split): some writer makes
    // progress every round. A node that cannot be folded (too large, with no place to
    // split) lets writers through after a few rounds rather than stopping them.
    if (folds < kMaxFullChainFolds && ChainFull(*at)) {
      ++folds;
      full_chain_folds_.fetch_add(1, std::memory_order_relaxed);
      LLAMA_RETURN_IF_ERROR(Consolidate(op, at->pid, 1));
      at = Reread(op, *at, key);
      LLAMA_RETURN_IF_ERROR(at);
      continue;
    }
    if (existed != nullptr) {  // an erase writes a Delete only for a key that is there
      auto entry = at->view.Find(key);
      LLAMA_RETURN_IF_ERROR(entry);
      *existed = entry->has_value();
      if (!*existed) break;
    }
    auto out = Prepend(op.guard, at->pid, at->head, payload);
    // NotFound: the leaf was merged away and freed since the descent; like a lost race,
    // look again (Reread descends anew).
    if (!out && !IsNotFound(out.error())) return tl::unexpected(out.error());
    if (out && out->installed) {
      LLAMA_RETURN_IF_ERROR(AfterDelta(op, at->pid, at->view, existed != nullptr));
      break;
    }
    cas_retries_.fetch_add(1, std::memory_order_relaxed);
    at = Reread(op, *at, key);
    LLAMA_RETURN_IF_ERROR(at);
  }
  if (!sync) return LssAddress();
  return FlushForSync(op, at->pid);
}

bool BwTree::ChainFull(const Located& at) const {
  // Long (twice the consolidation threshold), or heavy: its deltas' bytes past a quarter
  // of the largest log record (a flush writes the unflushed deltas, and the base with
  // them when it was never flushed, which a node's size bounds).
  return at.view.delta_count() >= 2 * options_.consolidate_after ||
         (at.view.delta_count() > 0 && at.view.delta_bytes() >= store_.max_record_size() / 4);
}

Result<LssAddress> BwTree::FlushForSync(Op& op, PageId leaf) {
  // The leaf, and every node on the path whose state the log does not have yet (a Split
  // the write went past, a root that was just pushed down): the write is durable only
  // with the structure that leads to it.
  LssAddress to;
  bool everything = false;
  op.unflushed.push_back(leaf);
  for (PageId pid : op.unflushed) {
    Result<LssAddress> pos = MakeError(ErrorCode::kBusy, "");
    for (int attempt = 0; attempt < 4; ++attempt) {
      pos = store_.Flush(op.guard, pid);
      if (pos || pos.error().code() != ErrorCode::kBusy) break;
    }
    if (pos) {
      to = std::max(to, *pos);
    } else if (IsNotFound(pos.error())) {
      // Merged away and freed since: its contents were flushed into its left neighbour
      // before the free, so everything appended so far covers them.
      everything = true;
    } else {
      return tl::unexpected(pos.error());
    }
  }
  return everything ? LssAddress() : to;
}

Status BwTree::Flush(const GenerationGuard& g, PageId pid) {
  auto pos = store_.Flush(g, pid);
  if (pos || IsNotFound(pos.error())) return OkStatus();
  return tl::unexpected(pos.error());
}

Result<UpdateOutcome> BwTree::Prepend(const GenerationGuard& g, PageId pid, PageRef head,
                                      const std::vector<std::byte>& payload) {
  auto record = DeltaRecord::MakeUpdate(pid, payload);
  LLAMA_RETURN_IF_ERROR(record);
  return store_.UpdateD(g, pid, head, Share(std::move(*record)));
}

// ---- Traversal ----

Result<BwTree::Located> BwTree::Descend(Op& op, std::string_view key, std::uint8_t level) {
  for (int restart = 0;; ++restart) {
    if (restart > 0) {
      restarts_.fetch_add(1, std::memory_order_relaxed);
      if (restart % 64 == 0) std::this_thread::yield();
      // An operation's traversal that restarts this often is not converging (a bug: a
      // healthy tree restarts a handful of times at most); a helper's just lets go.
      if (restart > op.max_restarts) {
        return MakeError(ErrorCode::kBusy, "bwtree: a traversal restarted " + std::to_string(op.max_restarts) +
                                               " times without reaching its node");
      }
    }
    PageId pid = root_;
    bool has_parent = false;
    int expect_level = -1;  // the level the next node must be at (-1: the root, any)
    for (;;) {
      auto ref = store_.Read(op.guard, pid);
      if (!ref) {
        if (IsNotFound(ref.error())) break;  // freed under a stale read: start again
        return tl::unexpected(ref.error());
      }
      if (ref->empty()) break;  // not published yet (cannot happen from a valid read)
      auto view = NodeView::Of(ref->state());
      LLAMA_RETURN_IF_ERROR(view);
      // A removed node is reached only through a parent read before its tombstone: the
      // next descent routes around it (and helps the merge). A retired one is the root's
      // only child being copied into the root: finish that, then start again.
      if (view->removed()) {
        if (view->retired()) {
          LLAMA_RETURN_IF_ERROR(HelpCollapse(op.guard, pid));
        }
        break;
      }
      if (expect_level >= 0 && view->level() != expect_level) break;
      if (key < view->low()) break;  // a stale parent sent us too far right
      if (view->high().Excludes(key)) {
        // A side link: the node split and the parent may not know yet.
        const PageId right = *view->right();
        op.NoteUnflushed(pid, *view);
        if (op.help && has_parent) {
          LLAMA_RETURN_IF_ERROR(PostIndexEntry(op.guard, pid, right, view->high().key, view->level()));
        }
        expect_level = view->level();
        pid = right;
        continue;
      }
      // An empty leaf, or an inner node with one child, left over from a delete-heavy
      // load whose last delete could not merge it then (it was a leftmost child, or its
      // neighbour was busy): a reader passing by starts the merge. O(1) to notice.
      if (op.help && view->delta_count() == 0 && view->base_entries() <= (view->leaf() ? 0u : 1u)) {
        // The root with one child gets shorter instead (then this descent goes on through
        // the old root's view, meets the retired child and starts again).
        auto s = pid != root_ ? MaybeMerge(op, pid) : view->leaf() ? OkStatus() : TryCollapseRoot(op.guard);
        LLAMA_RETURN_IF_ERROR(s);
      }
      if (view->level() == level) return Located{pid, *ref, std::move(*view)};
      if (view->level() < level) {
        return MakeError(ErrorCode::kNotFound, "bwtree: the tree has no level " + std::to_string(level));
      }
      op.NoteUnflushed(pid, *view);
      std::vector<Entry> skipped;
      auto child = view->FloorLive(key, true, op.help ? &skipped : nullptr);
      LLAMA_RETURN_IF_ERROR(child);
      if (!*child) {
        return MakeError(ErrorCode::kCorruption, "bwtree: inner node " + std::to_string(pid) +
                                                     " has no live entry at or below a key it covers");
      }
      for (const Entry& t : skipped) {
        LLAMA_RETURN_IF_ERROR(HelpMerge(op.guard, t.child, t.key, static_cast<std::uint8_t>(view->level() - 1)));
      }
      has_parent = true;
      expect_level = view->level() - 1;
      pid = (*child)->child;
    }
  }
}

Result<BwTree::Located> BwTree::Reread(Op& op, const Located& at, std::string_view key) {
  auto ref = store_.Read(op.guard, at.pid);
  if (ref && ref->in_memory()) {
    auto view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(view);
    if (!view->removed() && view->level() == at.view.level() && view->Covers(key)) {
      return Located{at.pid, *ref, std::move(*view)};
    }
  } else if (!ref && !IsNotFound(ref.error())) {
    return tl::unexpected(ref.error());
  }
  return Descend(op, key, at.view.level());
}

}  // namespace llama::bwtree
