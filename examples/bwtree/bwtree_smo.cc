// BwTree structure changes: consolidation, splits (and the root's push-down), posting
// index entries, and merges. docs/BWTREE.md, "Structure changes", walks through each
// protocol and the order in which its steps reach the log.
//
// Every step is one CAS on one page. A step that loses its race, or finds the tree in a
// shape it does not expect, gives up without error: the tree is correct after every
// step, and a later operation that meets the half-finished change (a side link the parent
// does not know, a tombstone) finishes it. Only I/O and corruption errors are returned.
#include <algorithm>

#include "examples/bwtree/bw_delta.h"
#include "examples/bwtree/bwtree.h"

namespace llama::bwtree {

namespace {

// Attempts at one CAS step before giving up to a later helper.
constexpr int kStepAttempts = 16;
// Nodes walked along one level looking for a removed node's left neighbour.
constexpr int kMaxSideSteps = 64;
// Merges started from inside other structure changes (a merge that leaves the absorbing
// node or the parent small) nest at most this deep on one thread; deeper ones wait for
// the next operation on the node.
constexpr int kMaxNestedMerges = 8;
thread_local int nested_merges = 0;

class NestedMerge {
 public:
  NestedMerge() { ++nested_merges; }
  ~NestedMerge() { --nested_merges; }
  NestedMerge(const NestedMerge&) = delete;
  NestedMerge& operator=(const NestedMerge&) = delete;
};

bool IsNotFound(const Error& e) { return e.code() == ErrorCode::kNotFound; }
// A step that meets one of these lets go: the page was freed under it, or its traversal
// gave up (helpers stop early), or it lost too many races in a row.
bool GivesUp(const Error& e) { return e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kBusy; }
Status LetGo(const Error& e) { return GivesUp(e) ? OkStatus() : Status(tl::unexpected(e)); }
Status OkIfFreed(const Error& e) { return IsNotFound(e) ? OkStatus() : Status(tl::unexpected(e)); }

// The smallest base page that holds `bytes` of contents.
std::uint32_t PageSizeFor(std::size_t bytes) {
  std::uint32_t size = BasePage::kMinPageSize;
  while (size < BasePage::kMaxPageSize && size - base_page_format::kHeaderSize < bytes) size *= 2;
  return size;
}

// The entry at `index` of `contents` as a separator, with its page id (inner) or value.
NodeContents Slice(const NodeContents& contents, std::size_t begin, std::size_t end, std::string_view low, HighKey high,
                   std::optional<PageId> right) {
  NodeContents part;
  part.level = contents.level;
  part.low = low;
  part.high = high;
  part.right = right;
  part.entries.assign(contents.entries.begin() + static_cast<std::ptrdiff_t>(begin),
                      contents.entries.begin() + static_cast<std::ptrdiff_t>(end));
  return part;
}

}  // namespace

Result<OwnedChain> BwTree::BaseChain(PageId pid, const NodeContents& contents) const {
  std::vector<std::byte> image;
  image.reserve(EncodedNodeSize(contents));
  LLAMA_RETURN_IF_ERROR(EncodeNodeImage(contents, image));
  auto page = BasePage::Create(pid, PageSizeFor(image.size()), image);
  LLAMA_RETURN_IF_ERROR(page);
  return PageChainBuilder::Base(Share(std::move(*page)));
}

Result<BwTree::Pending> BwTree::NewNode(const GenerationGuard& g, const NodeContents& contents) {
  auto pid = store_.Allocate();
  LLAMA_RETURN_IF_ERROR(pid);
  const Pending born{*pid, NewNonce()};
  // The pending record is in the log before the node can be: a crash before a node that
  // names this one reaches the log leaves a page Open finds (by the Birth stamp) and frees.
  Status listed = AddPending(g, born.pid, born.nonce);
  auto chain = listed ? BaseChain(born.pid, contents) : Result<OwnedChain>(tl::unexpected(listed.error()));
  auto birth = chain ? DeltaRecord::MakeUpdate(born.pid, BwDelta::Stamp(DeltaTag::kBirth, born.nonce))
                     : Result<DeltaRecord>(tl::unexpected(chain.error()));
  auto ref = birth ? store_.Read(g, born.pid) : Result<PageRef>(tl::unexpected(birth.error()));
  Result<UpdateOutcome> out = tl::unexpected(ref ? Error(ErrorCode::kBusy, "") : ref.error());
  if (ref) {
    OwnedChain state = PageChainBuilder::Prepend(Share(std::move(*birth)), std::move(*chain));
    out = store_.UpdateR(g, born.pid, *ref, state);
  }
  // Nobody else knows the id yet, so the CAS cannot lose; flushing now puts the node in
  // the log before any delta that names it.
  auto pos = out ? store_.Flush(g, born.pid) : Result<LssAddress>(tl::unexpected(out.error()));
  if (!pos) {
    (void)Settle(g, {born}, false);
    return tl::unexpected(pos.error());
  }
  Hook("new node flushed");
  return born;
}

Status BwTree::Settle(const GenerationGuard& g, const std::vector<Pending>& created, bool linked) {
  for (const Pending& p : created) {
    // Unlinked: the free is logged before the record's removal can be.
    if (!linked) FreeQuietly(g, p.pid);
    LLAMA_RETURN_IF_ERROR(DropPending(g, p.pid, p.nonce));
  }
  return OkStatus();
}

Result<LssAddress> BwTree::FreePage(const GenerationGuard& g, PageId pid) {
  frees_started_.fetch_add(1, std::memory_order_seq_cst);
  auto freed = store_.Free(g, pid);
  frees_done_.fetch_add(1, std::memory_order_seq_cst);
  return freed;
}

void BwTree::FreeQuietly(const GenerationGuard& g, PageId pid) {
  // Only for pages nobody can reach; if logging the free fails, the store reports that
  // failure on every later write anyway.
  (void)FreePage(g, pid);
}

Status BwTree::AfterDelta(Op& op, PageId pid, const NodeView& view, bool deleted) {
  // `view` is the node before the delta went on.
  if (deleted && 2 * (view.delete_count() + 1) >= view.base_entries()) {
    // A delete-heavy load must not leave nodes bloated: fold now, and merge if small.
    return Consolidate(op, pid, 1);
  }
  const std::uint32_t threshold = view.leaf() ? options_.consolidate_after : options_.inner_consolidate_after;
  if (view.delta_count() + 1 < threshold) return OkStatus();
  return Consolidate(op, pid, threshold);
}

Status BwTree::Consolidate(Op& op, PageId pid, std::uint32_t min_deltas) {
  auto ref = store_.Read(op.guard, pid);
  if (!ref) return OkIfFreed(ref.error());
  if (!ref->in_memory()) return OkStatus();
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  if (view->removed() || view->delta_count() < min_deltas) return OkStatus();
  auto contents = view->Materialize();
  LLAMA_RETURN_IF_ERROR(contents);
  const std::size_t size = EncodedNodeSize(*contents);
  if (size > options_.node_bytes && contents->entries.size() >= 2) {
    auto split = Split(op, pid, *ref, *contents);
    LLAMA_RETURN_IF_ERROR(split);
    if (*split) return OkStatus();
    // No place to cut (e.g. all but the first entry are tombstones): consolidate if it fits.
    if (size > BasePage::kMaxPageSize - base_page_format::kHeaderSize) return OkStatus();
  }
  auto chain = BaseChain(pid, *contents);
  LLAMA_RETURN_IF_ERROR(chain);
  auto out = store_.UpdateR(op.guard, pid, *ref, *chain);
  if (!out) return LetGo(out.error());
  if (!out->installed) return OkStatus();
  consolidations_.fetch_add(1, std::memory_order_relaxed);
  if (pid == root_) return contents->entries.size() == 1 && !contents->leaf() ? TryCollapseRoot(op.guard) : OkStatus();
  if (WantsMerge(*contents, size) && nested_merges < kMaxNestedMerges) {
    NestedMerge nested;
    return TryStartMerge(op, pid, contents->low, contents->level);
  }
  return OkStatus();
}

bool BwTree::WantsMerge(const NodeContents& contents, std::size_t size) const {
  if (merge_bytes_ == 0) return false;
  // An empty leaf or an inner node with one child is not worth a page whatever its keys'
  // length; otherwise the size decides.
  return size < merge_bytes_ || contents.entries.size() <= (contents.leaf() ? 0u : 1u);
}

Status BwTree::MaybeMerge(Op& op, PageId pid) {
  if (pid == root_ || nested_merges >= kMaxNestedMerges) return OkStatus();
  auto ref = store_.Read(op.guard, pid);
  if (!ref) return OkIfFreed(ref.error());
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  if (view->removed()) return OkStatus();
  auto contents = view->Materialize();
  LLAMA_RETURN_IF_ERROR(contents);
  if (!WantsMerge(*contents, EncodedNodeSize(*contents))) return OkStatus();
  NestedMerge nested;
  return TryStartMerge(op, pid, contents->low, contents->level);
}

std::vector<std::size_t> BwTree::Partition(const NodeContents& contents) const {
  const std::size_t total = EncodedNodeSize(contents);
  const std::size_t part_bytes = std::max<std::size_t>(1, options_.node_bytes * 3 / 4);
  const std::size_t parts = std::max<std::size_t>(2, (total + part_bytes - 1) / part_bytes);
  const std::size_t target = total / parts;
  // An inner part keeps two entries or more, so every inner node a split makes has two
  // children at least and the tree's height stays logarithmic whatever the keys' length
  // (a tree written with larger nodes may hold keys too long for this node_bytes). A node
  // that cannot be cut so stays whole, on a larger page.
  const std::size_t min_entries = contents.leaf() ? 1 : 2;
  const std::size_t n = contents.entries.size();
  std::vector<std::size_t> cuts;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Entry& e = contents.entries[i];
    // A part starts at a live entry: a tombstone stays in the node of its left neighbour,
    // which its merge needs.
    const std::size_t part_begin = cuts.empty() ? 0 : cuts.back();
    const bool room = i - part_begin >= min_entries && n - i >= min_entries;
    if (i > 0 && room && cuts.size() + 1 < parts && bytes >= target * (cuts.size() + 1) && e.live()) {
      cuts.push_back(i);
    }
    bytes += EncodedEntrySize(e, contents.leaf());
  }
  return cuts;
}

Result<std::vector<BwTree::Pending>> BwTree::NewParts(const GenerationGuard& g, const NodeContents& contents,
                                                      const std::vector<std::size_t>& starts, HighKey high,
                                                      std::optional<PageId> right) {
  // Rightmost first, so each part knows its right sibling.
  std::vector<Pending> created(starts.size());
  for (std::size_t j = starts.size(); j-- > 0;) {
    const std::size_t end = j + 1 < starts.size() ? starts[j + 1] : contents.entries.size();
    const std::string_view low = starts[j] == 0 ? contents.low : contents.entries[starts[j]].key;
    auto q = NewNode(g, Slice(contents, starts[j], end, low, high, right));
    if (!q) {
      (void)Settle(g, std::vector<Pending>(created.begin() + static_cast<std::ptrdiff_t>(j) + 1, created.end()), false);
      return tl::unexpected(q.error());
    }
    created[j] = *q;
    right = q->pid;
    high = HighKey::At(low);
  }
  return created;
}

Result<bool> BwTree::Split(Op& op, PageId pid, PageRef head, const NodeContents& contents) {
  const std::vector<std::size_t> cuts = Partition(contents);
  if (cuts.empty()) return false;
  if (pid == root_) {
    LLAMA_RETURN_IF_ERROR(SplitRoot(op, head, contents, cuts));
    return true;
  }
  // The new right parts first; each is in the log before the Split delta that makes it
  // reachable.
  auto parts = NewParts(op.guard, contents, cuts, contents.high, contents.right);
  LLAMA_RETURN_IF_ERROR(parts);
  const std::vector<Pending>& created = *parts;
  const std::string_view separator = contents.entries[cuts[0]].key;
  auto out = Prepend(op.guard, pid, head, BwDelta::KeyAndPage(DeltaTag::kSplit, separator, created[0].pid));
  if (!out || !out->installed) {
    LLAMA_RETURN_IF_ERROR(Settle(op.guard, created, false));
    if (!out && !IsNotFound(out.error())) return tl::unexpected(out.error());
    return true;  // lost the race: whoever changed the node will split it if still needed
  }
  splits_.fetch_add(1, std::memory_order_relaxed);
  // Fold the node down to its own part now (its chain is long and half of it moved).
  auto chain = BaseChain(pid, Slice(contents, 0, cuts[0], contents.low, HighKey::At(separator), created[0].pid));
  LLAMA_RETURN_IF_ERROR(chain);
  auto folded = store_.UpdateR(op.guard, pid, out->head, *chain);
  if (!folded && !IsNotFound(folded.error())) return tl::unexpected(folded.error());
  if (folded && folded->installed) consolidations_.fetch_add(1, std::memory_order_relaxed);
  // Once the Split is in the log, every new part is reachable (each names the next), so
  // their pending records can go. (If the node was merged away meanwhile, its contents
  // were flushed into its left neighbour before its free.)
  LLAMA_RETURN_IF_ERROR(Flush(op.guard, pid));
  LLAMA_RETURN_IF_ERROR(Settle(op.guard, created, true));
  // Post every new part in the parent, left to right.
  PageId left = pid;
  for (std::size_t j = 0; j < cuts.size(); ++j) {
    const std::string_view low = contents.entries[cuts[j]].key;
    LLAMA_RETURN_IF_ERROR(PostIndexEntry(op.guard, left, created[j].pid, low, contents.level));
    left = created[j].pid;
  }
  return true;
}

Status BwTree::SplitRoot(Op& op, PageRef head, const NodeContents& contents, const std::vector<std::size_t>& cuts) {
  // The root keeps its page id: its entries move down into new children (rightmost
  // first, each flushed), then one Update-R turns the root into their parent.
  if (contents.level >= kMaxLevel) {
    return MakeError(ErrorCode::kResourceExhausted, "bwtree: the tree is " + std::to_string(kMaxLevel + 1) +
                                                        " levels tall, its limit; the root cannot split");
  }
  std::vector<std::size_t> starts{0};
  starts.insert(starts.end(), cuts.begin(), cuts.end());
  auto parts = NewParts(op.guard, contents, starts, HighKey::Infinity(), std::nullopt);
  LLAMA_RETURN_IF_ERROR(parts);
  const std::vector<Pending>& created = *parts;
  NodeContents root;
  root.level = static_cast<std::uint8_t>(contents.level + 1);
  for (std::size_t j = 0; j < starts.size(); ++j) {
    root.entries.push_back(Entry{j == 0 ? contents.low : contents.entries[starts[j]].key, {}, created[j].pid, false});
  }
  auto chain = BaseChain(root_, root);
  auto out =
      chain ? store_.UpdateR(op.guard, root_, head, *chain) : Result<UpdateOutcome>(tl::unexpected(chain.error()));
  if (!out || !out->installed) {
    LLAMA_RETURN_IF_ERROR(Settle(op.guard, created, false));
    return out ? OkStatus() : Status(tl::unexpected(out.error()));
  }
  root_splits_.fetch_add(1, std::memory_order_relaxed);
  LLAMA_RETURN_IF_ERROR(Flush(op.guard, root_));
  return Settle(op.guard, created, true);
}

Status BwTree::PostIndexEntry(const GenerationGuard& g, PageId left, PageId right, std::string_view key,
                              std::uint8_t level) {
  // The Split on `left` reaches the log before the parent's entry for `right` can.
  LLAMA_RETURN_IF_ERROR(Flush(g, left));
  Op helper = Helper(g);
  for (int attempt = 0; attempt < kStepAttempts; ++attempt) {
    auto parent = Descend(helper, key, static_cast<std::uint8_t>(level + 1));
    if (!parent) return LetGo(parent.error());
    auto existing = parent->view.Find(key);
    LLAMA_RETURN_IF_ERROR(existing);
    if (*existing) return OkStatus();  // posted already (or a finished merge's tombstone is in the way)
    auto floor = parent->view.FloorLive(key, true);
    LLAMA_RETURN_IF_ERROR(floor);
    if (!*floor || (*floor)->child != left) return OkStatus();  // the parent routes elsewhere now
    // And the split is still pending: `left` still ends at `key` with `right` next. Read
    // after the parent, this rules out posting a node that was posted, merged away and
    // freed meanwhile (its page id would dangle): freeing it takes CASes on this parent
    // (tombstone, erase), which would fail the CAS below.
    auto left_ref = store_.Read(g, left);
    if (!left_ref) return OkIfFreed(left_ref.error());
    auto left_view = NodeView::Of(left_ref->state());
    LLAMA_RETURN_IF_ERROR(left_view);
    if (left_view->removed() || left_view->right() != right || left_view->high() != HighKey::At(key)) {
      return OkStatus();
    }
    auto out = Prepend(g, parent->pid, parent->head, BwDelta::KeyAndPage(DeltaTag::kIndexInsert, key, right));
    if (!out) return LetGo(out.error());
    if (out->installed) {
      index_posts_.fetch_add(1, std::memory_order_relaxed);
      return AfterDelta(helper, parent->pid, parent->view, false);
    }
  }
  return OkStatus();
}

Status BwTree::TryStartMerge(Op& op, PageId pid, std::string_view low, std::uint8_t level) {
  Op helper = Helper(op.guard);
  auto parent = Descend(helper, low, static_cast<std::uint8_t>(level + 1));
  if (!parent) return LetGo(parent.error());
  // Only a live, non-leftmost child whose left neighbour is live under the same parent:
  // the tombstone then pins the two together (a parent never splits between them). A
  // small leftmost child absorbs its right neighbour instead, if the two fit together.
  if (low == parent->view.low()) return AbsorbRightNeighbour(op, pid, *parent);
  auto entry = parent->view.Find(low);
  LLAMA_RETURN_IF_ERROR(entry);
  if (!*entry || !(*entry)->live() || (*entry)->child != pid) return OkStatus();
  auto left = parent->view.Predecessor(low);
  LLAMA_RETURN_IF_ERROR(left);
  if (!*left || !(*left)->live()) return OkStatus();
  auto out = Prepend(op.guard, parent->pid, parent->head, BwDelta::KeyAndPage(DeltaTag::kIndexTombstone, low, pid));
  if (!out) return LetGo(out.error());
  if (!out->installed) return OkStatus();
  merges_started_.fetch_add(1, std::memory_order_relaxed);
  LLAMA_RETURN_IF_ERROR(HelpMerge(op.guard, pid, low, level));
  return AfterDelta(helper, parent->pid, parent->view, false);
}

Status BwTree::AbsorbRightNeighbour(Op& op, PageId pid, const Located& parent) {
  auto ref = store_.Read(op.guard, pid);
  if (!ref) return OkIfFreed(ref.error());
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  if (view->removed() || view->high().infinite) return OkStatus();
  // The right neighbour must be under the same parent (a live entry at this node's high key).
  auto entry = parent.view.Find(view->high().key);
  LLAMA_RETURN_IF_ERROR(entry);
  if (!*entry || !(*entry)->live() || (*entry)->child != *view->right()) return OkStatus();
  auto right_ref = store_.Read(op.guard, *view->right());
  if (!right_ref) return OkIfFreed(right_ref.error());
  auto right = NodeView::Of(right_ref->state());
  LLAMA_RETURN_IF_ERROR(right);
  if (right->removed() || right->level() != view->level()) return OkStatus();
  auto contents = view->Materialize();
  auto right_contents = contents ? right->Materialize() : contents;
  LLAMA_RETURN_IF_ERROR(right_contents);
  // Together well under a split (which comes at node_bytes), so the two do not ping-pong.
  if (EncodedNodeSize(*contents) + EncodedNodeSize(*right_contents) > options_.node_bytes * 3 / 4) return OkStatus();
  return TryStartMerge(op, *view->right(), right->low(), right->level());
}

// The freeze of a node being merged away (HelpMerge's step 1), as FreezeForMerge leaves it.
struct BwTree::MergeFreeze {
  // Once the node is frozen: the nonce its RemoveNode carries, ours or another thread's.
  std::optional<std::uint64_t> nonce;
  // The nonce of our own pending record for the node (0: none), until the freeze settles.
  std::uint64_t listed = 0;
};

// Where step 2 of a merge stands on the removed node's level.
struct BwTree::LeftNeighbour {
  // The neighbour covers the removed node's range already (perhaps split again since),
  // and that is in the log.
  bool absorbed = false;
  // Otherwise the node whose side link is the removed node, which absorbs it (none: give up).
  std::optional<BwTree::Located> node;
};

Result<std::optional<BwTree::Located>> BwTree::FindTombstone(Op& helper, PageId removed, std::string_view low,
                                                             std::uint8_t level) {
  auto parent = Descend(helper, low, static_cast<std::uint8_t>(level + 1));
  if (!parent) {
    if (GivesUp(parent.error())) return std::optional<Located>();
    return tl::unexpected(parent.error());
  }
  auto entry = parent->view.Find(low);
  LLAMA_RETURN_IF_ERROR(entry);
  if (!*entry || (*entry)->live() || (*entry)->child != removed) return std::optional<Located>();
  return std::optional<Located>(std::move(*parent));
}

Status BwTree::HelpMerge(const GenerationGuard& g, PageId removed, std::string_view low, std::uint8_t level) {
  Op helper = Helper(g);
  // 1. Freeze the node: RemoveNode, after the tombstone is in the log, and stamped with
  // the nonce of a pending record that is in the log first (so a crash between the
  // tombstone's erase and the free leaves a page Open frees).
  auto nonce = FreezeForMerge(helper, removed, low, level);
  LLAMA_RETURN_IF_ERROR(nonce);
  if (!*nonce) return OkStatus();
  LLAMA_RETURN_IF_ERROR(Flush(g, removed));
  // 2. The left neighbour absorbs it: a Merge delta carrying its whole contents, after the
  // RemoveNode is in the log.
  auto absorbed = MergeIntoLeftNeighbour(helper, removed, low, level);
  LLAMA_RETURN_IF_ERROR(absorbed);
  if (!*absorbed) return OkStatus();
  // 3. Erase the tombstone, then free the page (its free is logged after the erase).
  return EraseTombstoneAndFree(helper, removed, low, level, **nonce);
}

Result<std::optional<std::uint64_t>> BwTree::FreezeForMerge(Op& helper, PageId removed, std::string_view low,
                                                            std::uint8_t level) {
  MergeFreeze freeze;
  const Status froze = TryFreeze(helper, removed, low, level, freeze);
  // Unless our RemoveNode went on, our record names nothing (another thread froze the
  // node, or nobody did).
  if (freeze.listed != 0 && freeze.nonce != freeze.listed) {
    LLAMA_RETURN_IF_ERROR(DropPending(helper.guard, removed, freeze.listed));
  }
  LLAMA_RETURN_IF_ERROR(froze);
  return freeze.nonce;
}

Status BwTree::TryFreeze(Op& helper, PageId removed, std::string_view low, std::uint8_t level, MergeFreeze& freeze) {
  const GenerationGuard& g = helper.guard;
  for (int attempt = 0; attempt < kStepAttempts && !freeze.nonce; ++attempt) {
    auto ref = store_.Read(g, removed);
    if (!ref) return OkIfFreed(ref.error());
    auto view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(view);
    if (view->removed()) {
      freeze.nonce = view->nonce();
      break;
    }
    auto parent = FindTombstone(helper, removed, low, level);
    LLAMA_RETURN_IF_ERROR(parent);
    if (!*parent) break;  // no merge under way (finished, or a stale reader)
    LLAMA_RETURN_IF_ERROR(Flush(g, (*parent)->pid));
    if (freeze.listed == 0) {
      freeze.listed = NewNonce();
      LLAMA_RETURN_IF_ERROR(AddPending(g, removed, freeze.listed));
    }
    auto out = Prepend(g, removed, *ref, BwDelta::RemoveNode(freeze.listed));
    if (!out) return LetGo(out.error());
    if (out->installed) freeze.nonce = freeze.listed;
  }
  return OkStatus();
}

Result<bool> BwTree::MergeIntoLeftNeighbour(Op& helper, PageId removed, std::string_view low, std::uint8_t level) {
  for (int attempt = 0; attempt < kStepAttempts; ++attempt) {
    auto parent = FindTombstone(helper, removed, low, level);
    LLAMA_RETURN_IF_ERROR(parent);
    if (!*parent) return false;  // finished by another thread
    auto left = (*parent)->view.FloorLive(low, false);
    LLAMA_RETURN_IF_ERROR(left);
    if (!*left) return false;
    auto neighbour = FindLeftNeighbour(helper.guard, (*left)->child, removed, low, level);
    LLAMA_RETURN_IF_ERROR(neighbour);
    if (neighbour->absorbed) return true;
    if (!neighbour->node) return false;
    auto merged = PrependMerge(helper, *neighbour->node, removed);
    LLAMA_RETURN_IF_ERROR(merged);
    if (*merged != Step::kRetry) return *merged == Step::kDone;
  }
  return false;
}

Result<BwTree::LeftNeighbour> BwTree::FindLeftNeighbour(const GenerationGuard& g, PageId first, PageId removed,
                                                        std::string_view low, std::uint8_t level) {
  PageId pid = first;
  for (int step = 0; step < kMaxSideSteps; ++step) {
    auto ref = store_.Read(g, pid);
    if (!ref) {
      LLAMA_RETURN_IF_ERROR(OkIfFreed(ref.error()));
      return LeftNeighbour{};
    }
    auto view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(view);
    if (view->removed() || view->level() != level) return LeftNeighbour{};  // its own merge goes first
    if (view->Covers(low)) {
      LLAMA_RETURN_IF_ERROR(Flush(g, pid));
      return LeftNeighbour{true, std::nullopt};
    }
    if (view->right() == removed && view->high() == HighKey::At(low)) {
      return LeftNeighbour{false, Located{pid, *ref, std::move(*view)}};
    }
    if (!view->high().Excludes(low)) return LeftNeighbour{};
    pid = *view->right();
  }
  return LeftNeighbour{};
}

Result<BwTree::Step> BwTree::PrependMerge(Op& helper, const Located& target, PageId removed) {
  const GenerationGuard& g = helper.guard;
  auto ref = store_.Read(g, removed);
  if (!ref) {
    LLAMA_RETURN_IF_ERROR(OkIfFreed(ref.error()));
    return Step::kGiveUp;
  }
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  auto contents = view->Materialize();
  LLAMA_RETURN_IF_ERROR(contents);
  std::vector<std::byte> image;
  LLAMA_RETURN_IF_ERROR(EncodeNodeImage(*contents, image));
  auto out = Prepend(g, target.pid, target.head, BwDelta::Merge(removed, image));
  if (!out) {
    LLAMA_RETURN_IF_ERROR(LetGo(out.error()));
    return Step::kGiveUp;
  }
  if (!out->installed) return Step::kRetry;
  merges_.fetch_add(1, std::memory_order_relaxed);
  LLAMA_RETURN_IF_ERROR(Flush(g, target.pid));
  LLAMA_RETURN_IF_ERROR(AfterDelta(helper, target.pid, target.view, false));
  // An inner node's first child was leftmost under the removed node and is not any
  // more: if it is small, it can merge now.
  if (!contents->leaf() && !contents->entries.empty()) {
    LLAMA_RETURN_IF_ERROR(MaybeMerge(helper, contents->entries.front().child));
  }
  return Step::kDone;
}

Status BwTree::EraseTombstoneAndFree(Op& helper, PageId removed, std::string_view low, std::uint8_t level,
                                     std::uint64_t nonce) {
  const GenerationGuard& g = helper.guard;
  for (int attempt = 0; attempt < kStepAttempts; ++attempt) {
    auto parent = FindTombstone(helper, removed, low, level);
    LLAMA_RETURN_IF_ERROR(parent);
    if (!*parent) return OkStatus();
    auto out = Prepend(g, (*parent)->pid, (*parent)->head, BwDelta::KeyAndPage(DeltaTag::kIndexErase, low, removed));
    if (!out) return LetGo(out.error());
    if (!out->installed) continue;
    LLAMA_RETURN_IF_ERROR(Flush(g, (*parent)->pid));
    Hook("tombstone erased");
    auto freed = FreePage(g, removed);
    if (!freed && !IsNotFound(freed.error())) return tl::unexpected(freed.error());
    nodes_freed_.fetch_add(1, std::memory_order_relaxed);
    if (nonce != 0) {
      LLAMA_RETURN_IF_ERROR(DropPending(g, removed, nonce));
    }
    LLAMA_RETURN_IF_ERROR(AfterDelta(helper, (*parent)->pid, (*parent)->view, true));
    // The root may be left with one child.
    return (*parent)->pid == root_ ? TryCollapseRoot(g) : OkStatus();
  }
  return OkStatus();
}

Status BwTree::TryCollapseRoot(const GenerationGuard& g) {
  for (int attempt = 0; attempt < kStepAttempts; ++attempt) {
    auto root = store_.Read(g, root_);
    LLAMA_RETURN_IF_ERROR(root);
    auto view = NodeView::Of(root->state());
    LLAMA_RETURN_IF_ERROR(view);
    if (view->leaf()) return OkStatus();
    auto contents = view->Materialize();
    LLAMA_RETURN_IF_ERROR(contents);
    if (contents->entries.size() != 1) return OkStatus();
    const PageId child = contents->entries[0].child;
    auto ref = store_.Read(g, child);
    if (!ref) return OkIfFreed(ref.error());
    auto child_view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(child_view);
    if (child_view->retired()) {
      LLAMA_RETURN_IF_ERROR(HelpCollapse(g, child));
      continue;  // the new root may have one child too
    }
    // The child must be its whole level: a side link left by a split is posted first
    // (then the root has two children), and the Retire below fails if the child splits
    // after this read. With no right sibling nothing can post a new root entry either.
    if (child_view->removed() || child_view->level() + 1 != view->level() || !child_view->high().infinite) {
      return OkStatus();
    }
    // The root becomes the child's contents, which must fit a node: a child whose chain
    // grew past node_bytes (writers racing its consolidation) is split first by whoever
    // consolidates it, and then the root has two children. (Retired, it could no longer
    // split, and its copy might not fit even the largest page.)
    auto child_contents = child_view->Materialize();
    LLAMA_RETURN_IF_ERROR(child_contents);
    if (EncodedNodeSize(*child_contents) > options_.node_bytes) return OkStatus();
    // 1. The pending record, in the log before the Retire that stamps the child with it.
    const std::uint64_t nonce = NewNonce();
    LLAMA_RETURN_IF_ERROR(AddPending(g, child, nonce));
    // 2. Retire the child: from now on no delta lands on it (like a RemoveNode).
    auto out = Prepend(g, child, *ref, BwDelta::Stamp(DeltaTag::kRetire, nonce));
    if (!out || !out->installed) {
      LLAMA_RETURN_IF_ERROR(DropPending(g, child, nonce));
      if (!out) return LetGo(out.error());
      continue;
    }
    // 3. Copy it into the root and free it.
    LLAMA_RETURN_IF_ERROR(HelpCollapse(g, child));
  }
  return OkStatus();
}

Status BwTree::HelpCollapse(const GenerationGuard& g, PageId child) {
  auto ref = store_.Read(g, child);
  if (!ref) return OkIfFreed(ref.error());
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  if (!view->retired()) return OkStatus();
  // The Retire reaches the log before the root's copy: a crash in between leaves the root
  // naming a retired child, which the next traversal (or Open) copies up again.
  LLAMA_RETURN_IF_ERROR(Flush(g, child));
  Hook("child retired");
  // Frozen: this is the child's last state.
  auto contents = view->Materialize();
  LLAMA_RETURN_IF_ERROR(contents);
  if (!contents->low.empty() || !contents->high.infinite) {
    return MakeError(ErrorCode::kCorruption, "bwtree: retired node " + std::to_string(child) + " is not a whole level");
  }
  auto chain = BaseChain(root_, *contents);
  LLAMA_RETURN_IF_ERROR(chain);
  for (int attempt = 0; attempt < kStepAttempts; ++attempt) {
    auto root = store_.Read(g, root_);
    LLAMA_RETURN_IF_ERROR(root);
    auto root_view = NodeView::Of(root->state());
    LLAMA_RETURN_IF_ERROR(root_view);
    if (root_view->level() != view->level() + 1) return OkStatus();  // copied up already
    auto root_contents = root_view->Materialize();
    LLAMA_RETURN_IF_ERROR(root_contents);
    if (root_contents->entries.size() != 1 || root_contents->entries[0].child != child) return OkStatus();
    auto out = store_.UpdateR(g, root_, *root, *chain);
    if (!out) return LetGo(out.error());
    if (!out->installed) continue;
    root_collapses_.fetch_add(1, std::memory_order_relaxed);
    // The copy reaches the log before the child's free, the free before the record's
    // removal. A reader that read the child's id earlier holds a generation, so the id is
    // not reused under it: it finds the child retired (or gone) and starts again.
    LLAMA_RETURN_IF_ERROR(Flush(g, root_));
    Hook("root copied");
    const std::uint64_t nonce = view->nonce();
    auto freed = FreePage(g, child);
    if (!freed && !IsNotFound(freed.error())) return tl::unexpected(freed.error());
    return DropPending(g, child, nonce);
  }
  return OkStatus();
}

}  // namespace llama::bwtree
