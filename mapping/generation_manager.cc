#include "llama/generation_manager.h"

#include <algorithm>
#include <cassert>
#include <thread>

namespace llama {

namespace {

// A small per-thread number that spreads threads over reader slots and retire shards.
std::uint32_t ThreadOrdinal() {
  static std::atomic<std::uint32_t> next{0};
  thread_local const std::uint32_t ordinal = next.fetch_add(1, std::memory_order_relaxed);
  return ordinal;
}

}  // namespace

GenerationGuard::GenerationGuard(GenerationGuard&& other) noexcept
    : manager_(other.manager_), slot_(other.slot_), generation_(other.generation_) {
  other.manager_ = nullptr;
}

GenerationGuard& GenerationGuard::operator=(GenerationGuard&& other) noexcept {
  if (this != &other) {
    Release();
    manager_ = other.manager_;
    slot_ = other.slot_;
    generation_ = other.generation_;
    other.manager_ = nullptr;
  }
  return *this;
}

GenerationGuard::~GenerationGuard() { Release(); }

void GenerationGuard::Release() {
  if (manager_ != nullptr) manager_->Leave(slot_);
  manager_ = nullptr;
}

GenerationManager::GenerationManager(Options options)
    : options_(options), slots_(new ReaderSlot[std::max<std::size_t>(1, options.reader_slots)]) {
  for (RetireShard& shard : shards_) shard.next_reclaim_at = options_.retire_batch;
}

GenerationManager::~GenerationManager() {
  assert(active_readers() == 0);
  for (RetireShard& shard : shards_) ReclaimShard(shard, kIdle);
}

GenerationGuard GenerationManager::Enter() {
  const std::size_t n = std::max<std::size_t>(1, options_.reader_slots);
  const std::size_t start = ThreadOrdinal() % n;
  for (std::size_t tries = 0;; ++tries) {
    const std::size_t i = (start + tries) % n;
    std::uint64_t expected = kIdle;
    // seq_cst: the slot store must be ordered before every mapping-table load the reader
    // makes under this guard (those loads are seq_cst too), and against the reclaimer's
    // scan of the slots. See the proof sketch in docs/DESIGN.md, "Generations".
    const std::uint64_t g = global_.load(std::memory_order_seq_cst);
    if (slots_[i].generation.compare_exchange_strong(expected, g, std::memory_order_seq_cst)) {
      return GenerationGuard(this, static_cast<std::uint32_t>(i), g);
    }
    if (tries % n == n - 1) {  // every slot busy: wait for one
      slot_waits_.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  }
}

void GenerationManager::Leave(std::uint32_t slot) {
  // release: everything the reader did under the guard happens before a reclaimer that
  // observes the slot idle frees anything.
  slots_[slot].generation.store(kIdle, std::memory_order_release);
}

std::uint64_t GenerationManager::oldest_active_generation() const {
  std::uint64_t oldest = global_.load(std::memory_order_seq_cst);
  const std::size_t n = std::max<std::size_t>(1, options_.reader_slots);
  for (std::size_t i = 0; i < n; ++i) {
    oldest = std::min(oldest, slots_[i].generation.load(std::memory_order_seq_cst));
  }
  return oldest;
}

std::size_t GenerationManager::active_readers() const {
  std::size_t active = 0;
  const std::size_t n = std::max<std::size_t>(1, options_.reader_slots);
  for (std::size_t i = 0; i < n; ++i) {
    if (slots_[i].generation.load(std::memory_order_acquire) != kIdle) ++active;
  }
  return active;
}

void GenerationManager::Retire(Reclaimer reclaim, void* context, std::uintptr_t object) {
  // Read after the unlinking CAS: any reader that could still hold `object` entered at a
  // generation <= g, so it blocks reclamation until it leaves.
  const std::uint64_t g = global_.load(std::memory_order_seq_cst);
  RetireShard& shard = shards_[ThreadOrdinal() % kShards];
  // Counted before the item is visible to a reclaimer, whose decrement then always comes
  // after this increment: retired_pending() never dips below zero (wrapping around).
  pending_.fetch_add(1, std::memory_order_relaxed);
  bool reclaim_now;
  {
    std::lock_guard lock(shard.mu);
    shard.items.push_back(Retired{g, reclaim, context, object});
    reclaim_now = shard.items.size() >= shard.next_reclaim_at;
  }
  if (reclaim_now) {
    global_.fetch_add(1, std::memory_order_seq_cst);
    ReclaimShard(shard, oldest_active_generation());
  }
}

std::size_t GenerationManager::TryReclaim() {
  global_.fetch_add(1, std::memory_order_seq_cst);
  const std::uint64_t safe_below = oldest_active_generation();
  std::size_t reclaimed = 0;
  for (RetireShard& shard : shards_) reclaimed += ReclaimShard(shard, safe_below);
  return reclaimed;
}

std::size_t GenerationManager::ReclaimShard(RetireShard& shard, std::uint64_t safe_below) {
  std::vector<Retired> ready;
  {
    std::lock_guard lock(shard.mu);
    auto blocked = std::partition(shard.items.begin(), shard.items.end(),
                                  [&](const Retired& r) { return r.generation >= safe_below; });
    ready.assign(std::make_move_iterator(blocked), std::make_move_iterator(shard.items.end()));
    shard.items.erase(blocked, shard.items.end());
    // The next pass comes after max(batch, half the backlog) more retirements. While a
    // stalled reader holds items the backlog grows by half each pass, so rescans stay
    // amortized O(1) per retirement; once readers move on, the backlog halves each pass
    // back down to one batch.
    const std::size_t backlog = shard.items.size();
    shard.next_reclaim_at = backlog + std::max(options_.retire_batch, backlog / 2);
  }
  // Reclaimers run outside the shard lock: they may retire or allocate in turn.
  for (const Retired& r : ready) r.reclaim(r.context, r.object);
  pending_.fetch_sub(ready.size(), std::memory_order_relaxed);
  reclaimed_.fetch_add(ready.size(), std::memory_order_relaxed);
  return ready.size();
}

}  // namespace llama
