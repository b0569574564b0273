// ReclaimLedger: stands in for the objects a GenerationManager retires. Objects are small
// integers and the ledger counts how often each was reclaimed, so a test sees exactly
// which ones a reclaim pass freed, and that none was freed twice.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "llama/generation_manager.h"

namespace llama::testing {

class ReclaimLedger {
 public:
  explicit ReclaimLedger(std::size_t objects = 1024) : times_reclaimed_(objects) {}

  // A GenerationManager::Reclaimer; `context` is the ledger.
  static void Reclaim(void* context, std::uintptr_t object) {
    static_cast<ReclaimLedger*>(context)->times_reclaimed_.at(object).fetch_add(1, std::memory_order_relaxed);
  }
  void Retire(GenerationManager& generations, std::uintptr_t object) {
    generations.Retire(&ReclaimLedger::Reclaim, this, object);
  }

  int times_reclaimed(std::uintptr_t object) const {
    return times_reclaimed_.at(object).load(std::memory_order_relaxed);
  }
  // The objects reclaimed so far in increasing order, each listed once per reclamation.
  std::vector<std::uintptr_t> Reclaimed() const {
    std::vector<std::uintptr_t> out;
    for (std::uintptr_t object = 0; object < times_reclaimed_.size(); ++object) {
      out.insert(out.end(), static_cast<std::size_t>(times_reclaimed(object)), object);
    }
    return out;
  }

 private:
  std::vector<std::atomic<int>> times_reclaimed_;
};

// The objects first, first + 1, ..., last - 1.
inline std::vector<std::uintptr_t> Objects(std::uintptr_t first, std::uintptr_t last) {
  std::vector<std::uintptr_t> out;
  for (std::uintptr_t object = first; object < last; ++object) out.push_back(object);
  return out;
}

}  // namespace llama::testing
