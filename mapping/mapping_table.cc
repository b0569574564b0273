#include "mapping/mapping_table.h"

#include <algorithm>
#include <cassert>
#include <new>
#include <string>

namespace llama {

namespace {

Error PageNotFound(PageId pid) {
  return Error(ErrorCode::kNotFound, "page " + std::to_string(pid) + " is not allocated");
}

}  // namespace

MappingTable::MappingTable(Options options)
    : id_limit_(std::min(options.id_limit, kMaxPages)), generations_(options.generations) {}

MappingTable::~MappingTable() {
  // Reclaim the retired first: id reclaimers touch the directory and the free list.
  generations_.TryReclaim();
  for (auto& top : top_) {
    Mid* mid = top.load(std::memory_order_relaxed);
    if (mid == nullptr) continue;
    for (auto& leaf_ptr : mid->leaves) {
      Leaf* leaf = leaf_ptr.load(std::memory_order_relaxed);
      if (leaf == nullptr) continue;
      for (auto& slot : leaf->slots) {
        const PageRef ref(slot.load(std::memory_order_relaxed));
        if (!PageRef::IsUnallocated(ref.raw()) && ref.in_memory()) {
          FreeChain(const_cast<PageNode*>(ref.node()));
        }
      }
      delete leaf;
    }
    delete mid;
  }
}

std::atomic<std::uint64_t>* MappingTable::FindSlot(PageId pid) const {
  const Mid* mid = top_[pid >> (kLeafBits + kMidBits)].load(std::memory_order_acquire);
  if (mid == nullptr) return nullptr;
  Leaf* leaf = mid->leaves[(pid >> kLeafBits) & ((1u << kMidBits) - 1)].load(std::memory_order_acquire);
  if (leaf == nullptr) return nullptr;
  return &leaf->slots[pid & ((1u << kLeafBits) - 1)];
}

Result<std::atomic<std::uint64_t>*> MappingTable::EnsureSlot(PageId pid) {
  auto& top = top_[pid >> (kLeafBits + kMidBits)];
  Mid* mid = top.load(std::memory_order_acquire);
  if (mid == nullptr) {
    Mid* fresh = new (std::nothrow) Mid();
    if (fresh == nullptr) {
      return MakeError(ErrorCode::kResourceExhausted, "out of memory growing the mapping table");
    }
    if (top.compare_exchange_strong(mid, fresh, std::memory_order_acq_rel)) {
      mid = fresh;
      directory_bytes_.fetch_add(sizeof(Mid), std::memory_order_relaxed);
    } else {
      delete fresh;  // another thread grew this level first; `mid` now holds its pointer
    }
  }
  auto& leaf_ptr = mid->leaves[(pid >> kLeafBits) & ((1u << kMidBits) - 1)];
  Leaf* leaf = leaf_ptr.load(std::memory_order_acquire);
  if (leaf == nullptr) {
    Leaf* fresh = new (std::nothrow) Leaf();
    if (fresh == nullptr) {
      return MakeError(ErrorCode::kResourceExhausted, "out of memory growing the mapping table");
    }
    if (leaf_ptr.compare_exchange_strong(leaf, fresh, std::memory_order_acq_rel)) {
      leaf = fresh;
      directory_bytes_.fetch_add(sizeof(Leaf), std::memory_order_relaxed);
    } else {
      delete fresh;
    }
  }
  return &leaf->slots[pid & ((1u << kLeafBits) - 1)];
}

std::uint64_t MappingTable::high_water() const { return std::min(next_id_.load(std::memory_order_relaxed), kMaxPages); }

Result<PageId> MappingTable::Allocate() {
  PageId pid = 0;
  bool recycled = false;
  if (free_count_.load(std::memory_order_acquire) > 0) {
    std::lock_guard lock(free_mu_);
    if (!free_ids_.empty()) {
      pid = free_ids_.back();
      free_ids_.pop_back();
      free_count_.store(free_ids_.size(), std::memory_order_release);
      recycled = true;
    }
  }
  if (!recycled) {
    std::uint64_t id = next_id_.load(std::memory_order_relaxed);
    do {
      if (id >= id_limit_) {
        return MakeError(ErrorCode::kResourceExhausted, "all " + std::to_string(id_limit_) + " page ids are in use");
      }
    } while (!next_id_.compare_exchange_weak(id, id + 1, std::memory_order_relaxed));
    pid = static_cast<PageId>(id);
  }
  auto slot = EnsureSlot(pid);
  if (!slot) {
    // Give the id back so it is not lost.
    std::lock_guard lock(free_mu_);
    free_ids_.push_back(pid);
    free_count_.store(free_ids_.size(), std::memory_order_release);
    return tl::unexpected(slot.error());
  }
  // The slot is free (never used, or reclaimed); only the allocator writes a free slot.
  assert((*slot)->load() == PageRef::kFreeWord);
  (*slot)->store(PageRef::kEmptyWord, std::memory_order_seq_cst);
  pages_in_use_.fetch_add(1, std::memory_order_relaxed);
  return pid;
}

Status MappingTable::Restore(PageId pid, LssAddress on_disk) {
  if (!on_disk.is_valid()) return MakeError(ErrorCode::kInvalidArgument, "restore to an invalid address");
  if (pid >= id_limit_) return MakeError(ErrorCode::kResourceExhausted, "restored page id past the id limit");
  auto slot = EnsureSlot(pid);
  LLAMA_RETURN_IF_ERROR(slot);
  if ((*slot)->load() != PageRef::kFreeWord) {
    return MakeError(ErrorCode::kInvalidArgument, "page " + std::to_string(pid) + " restored twice");
  }
  (*slot)->store(PageRef::OnDisk(on_disk).raw(), std::memory_order_seq_cst);
  pages_in_use_.fetch_add(1, std::memory_order_relaxed);
  if (pid >= next_id_.load()) next_id_.store(std::uint64_t{pid} + 1);
  return OkStatus();
}

Status MappingTable::Reserve(PageId pid) {
  if (pid >= id_limit_) return MakeError(ErrorCode::kResourceExhausted, "reserved page id past the id limit");
  auto slot = EnsureSlot(pid);
  LLAMA_RETURN_IF_ERROR(slot);
  if ((*slot)->load() != PageRef::kFreeWord) {
    return MakeError(ErrorCode::kInvalidArgument, "page " + std::to_string(pid) + " is already allocated");
  }
  (*slot)->store(PageRef::kEmptyWord, std::memory_order_seq_cst);
  pages_in_use_.fetch_add(1, std::memory_order_relaxed);
  if (pid >= next_id_.load()) next_id_.store(std::uint64_t{pid} + 1);
  return OkStatus();
}

void MappingTable::FinishRestore() {
  std::lock_guard lock(free_mu_);
  free_ids_.clear();
  // Highest first, so the lowest free id is handed out first (pop_back).
  for (std::uint64_t id = next_id_.load(); id-- > 0;) {
    const std::atomic<std::uint64_t>* slot = FindSlot(static_cast<PageId>(id));
    if (slot == nullptr || slot->load() == PageRef::kFreeWord) free_ids_.push_back(static_cast<PageId>(id));
  }
  free_count_.store(free_ids_.size(), std::memory_order_release);
}

Result<PageRef> MappingTable::Read(const GenerationGuard& guard, PageId pid) const {
  assert(guard.manager() == &generations_);
  (void)guard;
  const std::atomic<std::uint64_t>* slot = FindSlot(pid);
  if (slot == nullptr) return tl::unexpected(PageNotFound(pid));
  // seq_cst pairs with the guard's slot claim (see GenerationManager::Enter).
  const std::uint64_t raw = slot->load(std::memory_order_seq_cst);
  if (PageRef::IsUnallocated(raw)) return tl::unexpected(PageNotFound(pid));
  return PageRef(raw);
}

Result<UpdateOutcome> MappingTable::Install(PageId pid, PageRef expected, std::uint64_t desired) {
  std::atomic<std::uint64_t>* slot = FindSlot(pid);
  if (slot == nullptr) return tl::unexpected(PageNotFound(pid));
  std::uint64_t actual = expected.raw();
  if (slot->compare_exchange_strong(actual, desired, std::memory_order_seq_cst)) {
    return UpdateOutcome{true, PageRef(desired)};
  }
  if (PageRef::IsUnallocated(actual)) return tl::unexpected(PageNotFound(pid));
  return UpdateOutcome{false, PageRef(actual)};
}

Result<UpdateOutcome> MappingTable::UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected,
                                            DeltaHandle delta, const PageNode* last_flushed) {
  assert(guard.manager() == &generations_);
  (void)guard;
  if (delta == nullptr) return MakeError(ErrorCode::kInvalidArgument, "Update-D needs a delta");
  if (delta->pid() != pid) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "delta for page " + std::to_string(delta->pid()) + " prepended to page " + std::to_string(pid));
  }
  if (PageRef::IsUnallocated(expected.raw())) {
    return MakeError(ErrorCode::kInvalidArgument, "Update-D expected state is not a page state");
  }
  if (last_flushed != nullptr) {
    if (delta->kind() != DeltaKind::kPartialSwap) {
      return MakeError(ErrorCode::kInvalidArgument, "only a PartialSwap delta has a last-flushed edge");
    }
    if (!IsOnSpine(expected.node(), last_flushed)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "PartialSwap last-flushed node is not on the chain below it (DAG rule)");
    }
  }
  auto* node = new PageNode(PageNode::Kind::kDelta, std::move(delta), nullptr);
  // Borrowed until the CAS publishes the node; owned by it from then on.
  node->LinkBelow(const_cast<PageNode*>(expected.node()), expected.address());
  node->last_flushed_ = last_flushed;
  auto outcome = Install(pid, expected, PageRef::InMemory(node).raw());
  if (!outcome || !outcome->installed) {
    node->next_ = nullptr;  // not published: it never owned `expected`
    delete node;
  }
  return outcome;
}

Result<UpdateOutcome> MappingTable::UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected,
                                            OwnedChain& state) {
  assert(guard.manager() == &generations_);
  (void)guard;
  if (state == nullptr) return MakeError(ErrorCode::kInvalidArgument, "Update-R needs a state");
  if (PageRef::IsUnallocated(expected.raw())) {
    return MakeError(ErrorCode::kInvalidArgument, "Update-R expected state is not a page state");
  }
  auto outcome = Install(pid, expected, PageRef::InMemory(state.get()).raw());
  if (outcome && outcome->installed) {
    (void)state.release();  // the slot owns it now
    RetireState(expected);
  }
  return outcome;
}

Result<UpdateOutcome> MappingTable::UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected,
                                            LssAddress on_disk) {
  assert(guard.manager() == &generations_);
  (void)guard;
  if (!on_disk.is_valid()) {
    return MakeError(ErrorCode::kInvalidArgument, "Update-R to an invalid LSS address");
  }
  if (PageRef::IsUnallocated(expected.raw())) {
    return MakeError(ErrorCode::kInvalidArgument, "Update-R expected state is not a page state");
  }
  auto outcome = Install(pid, expected, PageRef::OnDisk(on_disk).raw());
  if (outcome && outcome->installed) RetireState(expected);
  return outcome;
}

Result<UpdateOutcome> MappingTable::MarkFlushed(const GenerationGuard& guard, PageId pid, PageRef expected,
                                                LssAddress flushed_to, const PageNode* point) {
  assert(guard.manager() == &generations_);
  (void)guard;
  if (!flushed_to.is_valid()) {
    return MakeError(ErrorCode::kInvalidArgument, "a flush mark needs a valid LSS address");
  }
  if (PageRef::IsUnallocated(expected.raw()) || !expected.in_memory()) {
    return MakeError(ErrorCode::kInvalidArgument, "only a state in memory can be marked flushed");
  }
  if (point == nullptr) point = expected.node();
  if (point != expected.node() && !CanMarkBelow(expected.node(), point)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the flushed node is not under the head with only unflushed Update deltas above it");
  }
  // The path from the head down to `point`, copied bottom-up; the copy of `point` carries
  // the mark and takes over the chain below it. `path` stays empty (no allocation) in the
  // common case, a mark on the head itself.
  std::vector<const PageNode*> path;
  for (const PageNode* n = expected.node(); n != point; n = n->next()) path.push_back(n);
  PageNode* top = PageNode::FlushedCopy(*point, flushed_to);
  for (auto it = path.rbegin(); it != path.rend(); ++it) top = PageNode::CopyOver(**it, top);
  auto outcome = Install(pid, expected, PageRef::InMemory(top).raw());
  const std::size_t copied = path.size() + 1;
  if (outcome && outcome->installed) {
    // The copies own the chain below `point` now: the old nodes go alone.
    const PageNode* old = expected.node();
    for (std::size_t i = 0; i < copied; ++i, old = old->next()) {
      generations_.Retire(&MappingTable::ReclaimNode, this, reinterpret_cast<std::uintptr_t>(old));
    }
  } else {
    // Not published: the copies never owned the chain below (deleting a node frees only it).
    for (std::size_t i = 0; i < copied; ++i) {
      PageNode* below = top->next_;
      delete top;
      top = below;
    }
  }
  return outcome;
}

Status MappingTable::Free(const GenerationGuard& guard, PageId pid) {
  assert(guard.manager() == &generations_);
  (void)guard;
  std::atomic<std::uint64_t>* slot = FindSlot(pid);
  if (slot == nullptr) return tl::unexpected(PageNotFound(pid));
  std::uint64_t current = slot->load(std::memory_order_seq_cst);
  do {
    if (PageRef::IsUnallocated(current)) return tl::unexpected(PageNotFound(pid));
  } while (!slot->compare_exchange_weak(current, PageRef::kRetiredWord, std::memory_order_seq_cst));
  RetireState(PageRef(current));
  pages_in_use_.fetch_sub(1, std::memory_order_relaxed);
  generations_.Retire(&MappingTable::ReclaimPageId, this, pid);
  return OkStatus();
}

void MappingTable::RetireState(PageRef old_state) {
  if (!old_state.in_memory()) return;
  generations_.Retire(&MappingTable::ReclaimChain, this, reinterpret_cast<std::uintptr_t>(old_state.node()));
}

void MappingTable::ReclaimChain(void* /*context*/, std::uintptr_t head) {
  FreeChain(reinterpret_cast<PageNode*>(head));
}

void MappingTable::ReclaimNode(void* /*context*/, std::uintptr_t node) { delete reinterpret_cast<PageNode*>(node); }

void MappingTable::ReclaimPageId(void* context, std::uintptr_t pid) {
  auto* table = static_cast<MappingTable*>(context);
  const auto id = static_cast<PageId>(pid);
  table->FindSlot(id)->store(PageRef::kFreeWord, std::memory_order_seq_cst);
  std::lock_guard lock(table->free_mu_);
  table->free_ids_.push_back(id);
  table->free_count_.store(table->free_ids_.size(), std::memory_order_release);
}

}  // namespace llama
