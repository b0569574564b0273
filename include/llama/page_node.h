// PageNode: one node of an in-memory page state. A page state is a chain of delta nodes
// over an optional base node:
//
//     Delta(N) -> Delta(N-1) -> ... -> Delta(0) -> Base        (all in memory)
//     Delta(N) -> ... -> Delta(k) ~> LSS address               (rest of the state on disk)
//
// A PartialSwap node has a second, non-owning edge, last_flushed(), to the node that was
// the head when the state was flushed. That edge makes the chain a DAG.
//
// Flush state lives in the nodes, not in front of them: flushed_to() on a node says that
// the state from that node down is written in the LSS at that address (a flush point).
// Flushing a page does not prepend anything: it installs, by CAS, a copy of the head that
// shares the head's record or base page and the chain below and carries the address
// (MappingTable::MarkFlushed). A consolidated, flushed page is therefore one base node in
// its slot, and reading it costs one load from the slot to the node, whose bytes() are
// the page's contents.
//
// Ownership and lifetime:
// - A node owns the node below it (next()). The head of a published chain is owned by
//   its mapping-table slot; freeing a head frees the chain below it (FreeChain, iterative,
//   so chains of any length free without recursion).
// - A head replaced by a flush-marked copy is retired alone (MappingTable::MarkFlushed):
//   the copy owns the chain below from the CAS on, and the old head is freed without it.
//   When the mark goes below the head (writers prepended during the flush), every node
//   from the head down to the marked one is copied and retired alone the same way.
//   The generation rule keeps that safe for readers still walking from the old head: a
//   reader that loaded the old head entered a generation no later than the old head's
//   retirement, and every node below it stays reachable from the slot until a later CAS
//   unlinks it, which retires it in that generation or a later one. So the reader pins
//   the old head and everything below it for as long as its guard lives.
// - The DAG rule: last_flushed() points at a node on this node's own spine (reachable by
//   next()), or is null when the flushed part is no longer in memory. So the second edge
//   never keeps anything alive by itself, and it is safe to follow exactly as long as the
//   node itself is. PrependPartialSwap enforces the rule. (A flush-marked copy of a head
//   shares the head's spine, so an edge into that spine stays on the copy's spine.)
// - A published node is immutable. Readers may follow any edge from a head they read out
//   of the mapping table for as long as they stay in the generation they read it in: the
//   chain is retired, not freed, when a CAS unlinks it (include/llama/generation_manager.h).
// - Delta records and base pages are shared through handles, so consolidation, eviction
//   or a flush can copy nodes without copying payload bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "llama/base_page.h"
#include "llama/delta_record.h"
#include "llama/status.h"
#include "llama/types.h"

namespace llama {

class MappingTable;

class PageNode {
 public:
  enum class Kind : std::uint8_t { kDelta, kBase };

  PageNode(const PageNode&) = delete;
  PageNode& operator=(const PageNode&) = delete;
  ~PageNode();

  Kind kind() const { return kind_; }
  bool is_delta() const { return kind_ == Kind::kDelta; }
  bool is_base() const { return kind_ == Kind::kBase; }

  // The delta record (delta nodes only; null on a base node).
  const DeltaRecord* delta() const { return delta_.get(); }
  const DeltaHandle& delta_handle() const { return delta_; }
  // The base page (base nodes only; null on a delta node).
  const BasePage* base() const { return base_.get(); }
  const BasePageHandle& base_handle() const { return base_; }

  // The bytes a reader reads in place, kept in the node so that reaching them costs no
  // hop through the record or page object: a base node's contents, a delta node's
  // payload. Valid as long as the node is (for a reader: while it stays in the generation
  // it read the chain in); the record and page behind them are immutable once shared.
  std::span<const std::byte> bytes() const { return bytes_; }
  // A delta node's kind, kept in the node for the same reason (meaningless on a base).
  DeltaKind delta_kind() const { return delta_kind_; }

  // The prior state in memory, or null at the bottom of the in-memory chain.
  const PageNode* next() const { return next_; }
  // Where the prior state is on disk, when it is not in memory (null address otherwise).
  LssAddress prior_on_disk() const { return prior_on_disk_; }
  // PartialSwap nodes: the node that was the head when the state was flushed, if still
  // in memory. Always on this node's spine (the DAG rule).
  const PageNode* last_flushed() const { return last_flushed_; }

  // Where the state from this node down (this node included) is written in the LSS, or
  // null when it is not known to be: set on the head a flush or a read-back installs.
  LssAddress flushed_to() const { return flushed_to_; }
  bool is_flush_point() const { return !flushed_to_.is_null(); }

  // Nodes from this one down to the bottom of the in-memory chain, this one included.
  std::uint32_t chain_length() const { return chain_length_; }
  // The bottom node of the in-memory chain (this node when nothing is below it). Owned by
  // the same chain, so safe to follow as long as this node is. Known at link time: O(1).
  const PageNode* bottom() const { return bottom_; }
  // True when the state continues on disk below the in-memory chain (its bottom node has
  // a prior_on_disk): a reader must fetch the rest. Known at link time, so O(1).
  bool reaches_disk() const { return reaches_disk_; }

  // Live PageNodes in this process: the measure the churn tests bound.
  static std::int64_t live_count() { return live_count_.load(std::memory_order_relaxed); }

 private:
  friend class PageChainBuilder;
  friend class MappingTable;

  PageNode(Kind kind, DeltaHandle delta, BasePageHandle base);
  // A copy of `head` carrying `flushed_to`: same record or page, same chain below (which
  // the copy owns once it is published in place of `head`), same DAG edge.
  static PageNode* FlushedCopy(const PageNode& head, LssAddress flushed_to);
  // A copy of `node` (a delta node with no DAG edge) over `below` instead of its own next,
  // which it owns once published.
  static PageNode* CopyOver(const PageNode& node, PageNode* below);
  // Points this (not yet published) node at `below`, which it will own once published.
  void LinkBelow(PageNode* below, LssAddress prior_on_disk);

  Kind kind_;
  DeltaKind delta_kind_ = DeltaKind::kUpdate;
  std::uint32_t chain_length_ = 1;
  bool reaches_disk_ = false;
  const PageNode* bottom_ = this;
  DeltaHandle delta_;
  BasePageHandle base_;
  std::span<const std::byte> bytes_;
  PageNode* next_ = nullptr;
  const PageNode* last_flushed_ = nullptr;
  LssAddress prior_on_disk_;
  LssAddress flushed_to_;

  static inline std::atomic<std::int64_t> live_count_{0};
};

// Frees `head` and every node below it, iteratively.
void FreeChain(PageNode* head);

struct ChainDeleter {
  void operator()(PageNode* head) const { FreeChain(head); }
};
// A chain owned by one party (not yet published, or unlinked and being torn down).
using OwnedChain = std::unique_ptr<PageNode, ChainDeleter>;

// Building chains that are not yet published (for Update-R, consolidation, eviction).
class PageChainBuilder {
 public:
  // A chain of one base node.
  static OwnedChain Base(BasePageHandle page);
  // A delta node over an owned chain (`below` may be null: a page made only of deltas).
  static OwnedChain Prepend(DeltaHandle delta, OwnedChain below);
  // A delta node whose prior state is on disk at `prior` (and nothing below in memory).
  static OwnedChain OverDisk(DeltaHandle delta, LssAddress prior);
  // A PartialSwap node over `below`; `last_flushed` must be null or a node of `below`'s
  // spine (InvalidArgument otherwise), and `delta` must be a PartialSwap record.
  static Result<OwnedChain> PrependPartialSwap(DeltaHandle delta, OwnedChain below, const PageNode* last_flushed);
  // Marks the head of an unpublished chain as a flush point: the state from it down is
  // in the LSS at `flushed_to` (a page read back from disk, say). `chain` must not be null.
  static void MarkFlushed(OwnedChain& chain, LssAddress flushed_to);
};

// True when `node` is `head` or reachable from it by next(): the DAG rule's check.
bool IsOnSpine(const PageNode* head, const PageNode* node);

// True when `point` can still take a flush mark under `head`: it is `head`, or it lies
// below `head` with only Update deltas above it that carry no flush mark and no DAG edge,
// and it is not a flush point itself. Those are the nodes a writer prepends after a
// flusher read the page; a flush encoded from `point` still covers exactly the state from
// `point` down, so it can mark `point` without starting over (MappingTable::MarkFlushed).
bool CanMarkBelow(const PageNode* head, const PageNode* point);

}  // namespace llama
