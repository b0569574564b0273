// BwTree's pending page: how crashes leak no pages.
//
// A page can be durable while nothing durable names it: a new node between its flush and
// the flush of the Split (or root push-down) that names it, a merged node between the
// erase of its tombstone and its Free, a collapsed root child between the root's copy of
// it and its Free. A crash there would leave the page allocated for ever. So before such
// a page can be stamped in the log (a Birth delta on the new node, the nonce in a
// RemoveNode, a Retire delta), a record (page id, nonce) goes into the tree's pending page
// (catalog root "bwtree-pending:<name>"), flushed; the record is dropped once the change
// is over (the page linked, or freed). Open settles every record left: a page that still
// carries the record's stamp and that the tree does not reach is garbage, and is freed.
// The nonce is what makes this safe when the stamp itself never reached the log: then the
// id may be free, or another's by now, and it does not carry the nonce.
//
// The pending page is a leaf node image (so NodeView reads it): its keys are 12 bytes, the
// page id then the nonce, both big-endian; values are empty. Insert and Delete deltas add
// and drop records.
#include <thread>

#include "examples/bwtree/bw_delta.h"
#include "examples/bwtree/bwtree.h"

namespace llama::bwtree {

namespace {

// Deltas on the pending page before the thread that added one folds it.
constexpr std::uint32_t kPendingConsolidateAfter = 16;
// Lost CAS races on the pending page before giving up (it is short and seldom busy).
constexpr int kPendingAttempts = 1 << 16;

std::string RecordKey(PageId pid, std::uint64_t nonce) {
  std::string key(12, '\0');
  for (int i = 0; i < 4; ++i) key[static_cast<std::size_t>(i)] = static_cast<char>((pid >> (24 - 8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) key[static_cast<std::size_t>(4 + i)] = static_cast<char>((nonce >> (56 - 8 * i)) & 0xff);
  return key;
}

bool IsNotFound(const Error& e) { return e.code() == ErrorCode::kNotFound; }

}  // namespace

std::uint64_t BwTree::NewNonce() {
  for (;;) {
    // splitmix64 over a per-tree random seed: distinct within a tree, unpredictable across
    // the tree's incarnations; 0 means "no nonce".
    std::uint64_t z = nonce_seed_ + nonce_next_.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    if (z != 0) return z;
  }
}

Status BwTree::AddPending(const GenerationGuard& g, PageId pid, std::uint64_t nonce) {
  LLAMA_RETURN_IF_ERROR(ChangePending(g, BwDelta::Insert(RecordKey(pid, nonce), {})));
  // In the log before the stamp it licenses.
  for (int attempt = 0;; ++attempt) {
    auto pos = store_.Flush(g, pending_);
    if (pos) return OkStatus();
    if (pos.error().code() != ErrorCode::kBusy || attempt >= 16) return tl::unexpected(pos.error());
  }
}

Status BwTree::DropPending(const GenerationGuard& g, PageId pid, std::uint64_t nonce) {
  return ChangePending(g, BwDelta::Delete(RecordKey(pid, nonce)));
}

Status BwTree::ChangePending(const GenerationGuard& g, const std::vector<std::byte>& payload) {
  for (int attempt = 0; attempt < kPendingAttempts; ++attempt) {
    if (attempt % 64 == 63) std::this_thread::yield();
    auto ref = store_.Read(g, pending_);
    LLAMA_RETURN_IF_ERROR(ref);
    auto view = NodeView::Of(ref->state());
    LLAMA_RETURN_IF_ERROR(view);
    auto out = Prepend(g, pending_, *ref, payload);
    LLAMA_RETURN_IF_ERROR(out);
    if (!out->installed) continue;
    if (view->delta_count() + 1 < kPendingConsolidateAfter) return OkStatus();
    // Fold it (a lost race leaves that to the next thread).
    auto folded = NodeView::Of(out->head.state());
    auto contents = folded ? folded->Materialize() : Result<NodeContents>(tl::unexpected(folded.error()));
    auto chain = contents ? BaseChain(pending_, *contents) : Result<OwnedChain>(tl::unexpected(contents.error()));
    LLAMA_RETURN_IF_ERROR(chain);
    auto replaced = store_.UpdateR(g, pending_, out->head, *chain);
    LLAMA_RETURN_IF_ERROR(replaced);
    return OkStatus();
  }
  return MakeError(ErrorCode::kBusy, "bwtree: the pending page kept changing");
}

Result<std::vector<BwTree::Pending>> BwTree::PendingRecords(const GenerationGuard& g) {
  return PendingRecordsOf(store_, g, pending_);
}

Result<std::vector<BwTree::Pending>> BwTree::PendingRecordsOf(Store& store, const GenerationGuard& g, PageId pending) {
  auto ref = store.Read(g, pending);
  LLAMA_RETURN_IF_ERROR(ref);
  auto view = NodeView::Of(ref->state());
  LLAMA_RETURN_IF_ERROR(view);
  auto contents = view->Materialize();
  LLAMA_RETURN_IF_ERROR(contents);
  std::vector<Pending> records;
  for (const Entry& e : contents->entries) {
    if (e.key.size() != 12) return MakeError(ErrorCode::kCorruption, "bwtree: a pending record's key is not 12 bytes");
    Pending p;
    for (int i = 0; i < 4; ++i) p.pid = (p.pid << 8) | static_cast<std::uint8_t>(e.key[static_cast<std::size_t>(i)]);
    for (int i = 4; i < 12; ++i)
      p.nonce = (p.nonce << 8) | static_cast<std::uint8_t>(e.key[static_cast<std::size_t>(i)]);
    records.push_back(p);
  }
  return records;
}

Status BwTree::ReclaimPending() {
  auto g = store_.EnterGeneration();
  auto records = PendingRecords(g);
  LLAMA_RETURN_IF_ERROR(records);
  for (const Pending& record : *records) {
    auto done = ResolvePending(g, record);
    LLAMA_RETURN_IF_ERROR(done);
    if (*done) {
      LLAMA_RETURN_IF_ERROR(DropPending(g, record.pid, record.nonce));
    }
  }
  // Not needed for safety (settling again after another crash gives the same result).
  auto pos = records->empty() ? Result<LssAddress>(LssAddress()) : store_.Flush(g, pending_);
  return pos ? OkStatus() : Status(tl::unexpected(pos.error()));
}

Result<bool> BwTree::ResolvePending(const GenerationGuard& g, Pending record) {
  for (int pass = 0; pass < 2; ++pass) {
    auto ref = store_.Read(g, record.pid);
    if (!ref) {
      if (IsNotFound(ref.error())) return true;  // freed: the change finished
      return tl::unexpected(ref.error());
    }
    // Not a node carrying this record's stamp: the stamp never reached the log (the page
    // is as it was before the change, or is free and someone else's by now).
    auto view = NodeView::Of(ref->state());
    if (!view || view->nonce() != record.nonce) return true;
    auto reachable = Reachable(g, record.pid, *view);
    LLAMA_RETURN_IF_ERROR(reachable);
    if (!view->removed()) {
      // A new node: linked (and perhaps in use) or not.
      if (*reachable || view->delta_count() > 0) return true;
    } else if (*reachable) {
      // A merge or collapse under way: finish it (which frees the page and drops the
      // record); if it cannot finish now, keep the record for whoever does later.
      if (pass > 0) return false;
      Status helped =
          view->retired() ? HelpCollapse(g, record.pid) : HelpMerge(g, record.pid, view->low(), view->level());
      LLAMA_RETURN_IF_ERROR(helped);
      continue;
    }
    // Stamped and unreachable: the change that made it garbage is in the log, its free is
    // not.
    if (auto s = FreePage(g, record.pid); !s && !IsNotFound(s.error())) return tl::unexpected(s.error());
    orphans_freed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

Result<bool> BwTree::Reachable(const GenerationGuard& g, PageId pid, const NodeView& view) {
  Op op(g);
  if (view.retired()) {
    // A retired node is only ever the root's only child.
    auto root = store_.Read(g, root_);
    LLAMA_RETURN_IF_ERROR(root);
    auto root_view = NodeView::Of(root->state());
    LLAMA_RETURN_IF_ERROR(root_view);
    if (root_view->level() != view.level() + 1) return false;
    auto entry = root_view->Find(view.low());
    LLAMA_RETURN_IF_ERROR(entry);
    return *entry && (*entry)->child == pid;
  }
  // A removed node is reachable while its parent has its tombstone; any other node when
  // a descent for its low key at its level ends at it.
  const std::uint8_t level = view.removed() ? static_cast<std::uint8_t>(view.level() + 1) : view.level();
  auto at = Descend(op, view.low(), level);
  if (!at) {
    // No such level: the tree is lower than the page (a push-down that did not reach the log).
    if (IsNotFound(at.error())) return false;
    return tl::unexpected(at.error());
  }
  if (!view.removed()) return at->pid == pid;
  auto entry = at->view.Find(view.low());
  LLAMA_RETURN_IF_ERROR(entry);
  return *entry && (*entry)->child == pid;
}

}  // namespace llama::bwtree
