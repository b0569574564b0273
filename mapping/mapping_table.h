// MappingTable: LLAMA's page-id -> page-state indirection, changed only by CAS.
//
// Slots live in a three-level radix directory (8 + 12 + 12 bits of the page id). Levels
// are allocated on first use and never moved, so the table grows to 2^32 ids without
// stopping readers or writers, and its memory follows the ids in use (freed ids are
// reused, lowest-recent first) rather than the maximum.
//
// Ownership: a slot that holds an in-memory state owns its chain. A CAS that unlinks a
// chain (Update-R, swap-out, Free) hands it to the GenerationManager, which frees it once
// no reader can see it; a freed id becomes allocatable again the same way. Update-D does
// not unlink anything: the old head becomes the new node's prior state. MarkFlushed
// unlinks the head alone: its copy takes over the chain below, and the old head is
// retired by itself (freed without that chain; include/llama/page_node.h says why readers still
// walking from it stay safe).
//
// The generation rule: every call that reads or changes a slot takes the caller's
// GenerationGuard, and a PageRef (and every node reached from it) is safe to follow while
// that guard lives. An `expected` PageRef must come from a Read under the same guard:
// that is what rules out ABA on the head pointer (the old head cannot be freed and its
// address reused while the guard pins it).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "llama/generation_manager.h"
#include "llama/mapping_options.h"
#include "llama/page_node.h"
#include "llama/page_ref.h"  // PageRef, UpdateOutcome
#include "llama/status.h"

namespace llama {

class MappingTable {
 public:
  static constexpr std::uint64_t kMaxPages = kMaxPageIds;

  // Public as llama::MappingOptions (include/llama/mapping_options.h), so StoreOptions
  // can carry it without this header.
  using Options = MappingOptions;

  MappingTable() : MappingTable(Options{}) {}
  explicit MappingTable(Options options);
  // Frees every installed chain and everything retired. No guard may be alive.
  ~MappingTable();
  MappingTable(const MappingTable&) = delete;
  MappingTable& operator=(const MappingTable&) = delete;

  GenerationGuard EnterGeneration() { return generations_.Enter(); }
  GenerationManager& generations() { return generations_; }

  // A fresh page id with no state (PageRef::Empty). ResourceExhausted past 2^32 ids.
  Result<PageId> Allocate();
  // Unlinks the page's state and retires both it and the id. NotFound if not allocated.
  Status Free(const GenerationGuard& guard, PageId pid);
  // The page's current state. NotFound if the id is not allocated.
  Result<PageRef> Read(const GenerationGuard& guard, PageId pid) const;

  // Update-D: prepends `delta` if the head is still `expected`. The delta's PID must be
  // `pid`. For a PartialSwap delta, `last_flushed` may name the node on `expected`'s spine
  // that was flushed (the DAG edge); for other kinds it must be null.
  Result<UpdateOutcome> UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle delta,
                                const PageNode* last_flushed = nullptr);
  // Update-R: replaces the whole state with `state` if the head is still `expected`.
  // On success the table owns `state` (it is left null) and the old chain is retired; on
  // a lost race `state` stays with the caller. `state` must share no node with the old
  // chain (share records and pages through their handles instead).
  Result<UpdateOutcome> UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected, OwnedChain& state);
  // Marks the state flushed: replaces the head, if it is still `expected`, by a copy that
  // carries `flushed_to` (PageNode::flushed_to) and shares the head's record or page and
  // the chain below. The old head is retired alone. Nothing is prepended, so readers pay
  // nothing for the mark.
  //
  // `point` (default: the head) is the node the flushed state starts at. When writers
  // have prepended Update deltas above it since the flusher read the page
  // (CanMarkBelow), the nodes from the head down to `point` are copied, the copy of
  // `point` carries the mark, and those old nodes are retired alone; the chain below
  // `point` is shared. So a flush of a page that writers keep changing lands with one CAS
  // instead of encoding the page again after every write.
  //
  // InvalidArgument when `expected` is not in memory, `flushed_to` is not a valid
  // address, or `point` cannot take the mark under `expected` (CanMarkBelow).
  Result<UpdateOutcome> MarkFlushed(const GenerationGuard& guard, PageId pid, PageRef expected, LssAddress flushed_to,
                                    const PageNode* point = nullptr);
  // Update-R to an on-disk address: swaps the page out and retires its in-memory chain.
  Result<UpdateOutcome> UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected, LssAddress on_disk);

  // Recovery only, before any other use: makes `pid` allocated with its state on disk.
  Status Restore(PageId pid, LssAddress on_disk);
  // Recovery only, before FinishRestore: makes `pid` allocated with no state (Empty), so
  // no Allocate hands it out (the store reserves its catalog page this way).
  Status Reserve(PageId pid);
  // Recovery only, after the last Restore: new ids continue past the highest restored
  // one, and the ids below it that were not restored become allocatable.
  void FinishRestore();

  std::uint64_t pages_in_use() const { return pages_in_use_.load(std::memory_order_relaxed); }
  // One past the highest id ever handed out.
  std::uint64_t high_water() const;
  // Bytes of directory levels allocated so far.
  std::uint64_t directory_bytes() const { return directory_bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr unsigned kLeafBits = 12;
  static constexpr unsigned kMidBits = 12;
  static constexpr unsigned kTopBits = 8;
  static_assert(kLeafBits + kMidBits + kTopBits == 32);

  struct Leaf {
    std::atomic<std::uint64_t> slots[1u << kLeafBits] = {};
  };
  struct Mid {
    std::atomic<Leaf*> leaves[1u << kMidBits] = {};
  };

  std::atomic<std::uint64_t>* FindSlot(PageId pid) const;
  Result<std::atomic<std::uint64_t>*> EnsureSlot(PageId pid);
  Result<UpdateOutcome> Install(PageId pid, PageRef expected, std::uint64_t desired);
  void RetireState(PageRef old_state);
  static void ReclaimChain(void* context, std::uintptr_t head);
  static void ReclaimNode(void* context, std::uintptr_t node);
  static void ReclaimPageId(void* context, std::uintptr_t pid);

  const std::uint64_t id_limit_;
  GenerationManager generations_;
  std::atomic<Mid*> top_[1u << kTopBits] = {};
  std::atomic<std::uint64_t> next_id_{0};
  std::atomic<std::uint64_t> pages_in_use_{0};
  std::atomic<std::uint64_t> directory_bytes_{0};

  // Reclaimed ids, reused before new ones. A plain locked vector: the lock is taken only
  // when ids are being recycled (free_count_ > 0), never on the read or update paths.
  std::mutex free_mu_;
  std::vector<PageId> free_ids_;
  std::atomic<std::size_t> free_count_{0};
};

}  // namespace llama
