// Generations (epoch-based reclamation) for everything a CAS unlinks.
//
// The rule that makes a pointer safe to follow: a reader enters a generation
// (GenerationGuard) before it loads anything from the mapping table, and may follow
// every pointer it loaded until it leaves. A writer that unlinks an object with a CAS
// retires it at the current generation; the object is reclaimed (memory freed, page id
// made reusable) only once every reader still inside a generation entered after the
// retirement, i.e. min(active generations) > retired generation. A stalled reader
// therefore delays reclamation of what it might see and never causes a use after free.
//
// Readers announce themselves in a fixed array of cache-line-sized slots (no thread
// registration, no per-thread state to clean up at thread exit, nested guards simply use
// a second slot). Entering claims an idle slot with one CAS; leaving is one store. If all
// slots are busy, Enter waits (yielding) until one frees: size the array (Options) for
// the number of guards that may be alive at once.
//
// Retired objects wait in sharded lists (a mutex each, so writers on different threads
// do not contend). A shard that reaches its threshold advances the generation and
// reclaims what is safe; the threshold backs off while a stalled reader holds items.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace llama {

class GenerationManager;

// Proof that the holder is inside a generation. Move-only; leaving happens at
// destruction. Hold it for as long as you follow pointers read under it, no longer.
class [[nodiscard]] GenerationGuard {
 public:
  GenerationGuard(GenerationGuard&& other) noexcept;
  GenerationGuard& operator=(GenerationGuard&& other) noexcept;
  GenerationGuard(const GenerationGuard&) = delete;
  GenerationGuard& operator=(const GenerationGuard&) = delete;
  ~GenerationGuard();

  std::uint64_t generation() const { return generation_; }
  const GenerationManager* manager() const { return manager_; }

 private:
  friend class GenerationManager;
  GenerationGuard(GenerationManager* manager, std::uint32_t slot, std::uint64_t generation)
      : manager_(manager), slot_(slot), generation_(generation) {}
  void Release();

  GenerationManager* manager_;
  std::uint32_t slot_;
  std::uint64_t generation_;
};

class GenerationManager {
 public:
  struct Options {
    std::size_t reader_slots = 512;  // guards that may be alive at once
    std::size_t retire_batch = 64;   // retirements per shard between reclaim passes
  };
  // Called once a retired object can no longer be seen: frees it, recycles it, ...
  using Reclaimer = void (*)(void* context, std::uintptr_t object);

  GenerationManager() : GenerationManager(Options{}) {}
  explicit GenerationManager(Options options);
  // Reclaims everything still retired. No guard may be alive.
  ~GenerationManager();
  GenerationManager(const GenerationManager&) = delete;
  GenerationManager& operator=(const GenerationManager&) = delete;

  GenerationGuard Enter();

  // Retires `object` at the current generation. Call after the CAS that unlinked it.
  void Retire(Reclaimer reclaim, void* context, std::uintptr_t object);

  // Advances the generation and reclaims, in every shard, what no reader can see.
  // Returns the number of objects reclaimed.
  std::size_t TryReclaim();

  std::uint64_t current_generation() const { return global_.load(std::memory_order_seq_cst); }
  // The oldest generation a reader is in, or the current one when none is.
  std::uint64_t oldest_active_generation() const;
  std::size_t retired_pending() const { return pending_.load(std::memory_order_relaxed); }
  std::uint64_t reclaimed_total() const { return reclaimed_.load(std::memory_order_relaxed); }
  std::size_t active_readers() const;
  // How many times Enter found every reader slot busy and had to yield. Non-zero means
  // more guards were alive at once than Options::reader_slots; tests also use it to know
  // that a second Enter really is waiting.
  std::uint64_t slot_waits() const { return slot_waits_.load(std::memory_order_relaxed); }

 private:
  friend class GenerationGuard;
  static constexpr std::uint64_t kIdle = ~std::uint64_t{0};
  static constexpr std::size_t kShards = 16;

  struct alignas(64) ReaderSlot {
    std::atomic<std::uint64_t> generation{kIdle};
  };
  struct Retired {
    std::uint64_t generation;
    Reclaimer reclaim;
    void* context;
    std::uintptr_t object;
  };
  struct alignas(64) RetireShard {
    std::mutex mu;
    std::vector<Retired> items;
    std::size_t next_reclaim_at = 0;
  };

  void Leave(std::uint32_t slot);
  std::size_t ReclaimShard(RetireShard& shard, std::uint64_t safe_below);

  const Options options_;
  std::unique_ptr<ReaderSlot[]> slots_;
  std::atomic<std::uint64_t> global_{1};
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  std::atomic<std::uint64_t> slot_waits_{0};
  RetireShard shards_[kShards];
};

}  // namespace llama
