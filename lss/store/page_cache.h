// PageCache: which pages are resident in memory, roughly how many bytes each holds, and
// in what order they were last used, so the store can keep memory near its budget by
// evicting the coldest pages.
//
// Pages are spread over shards by id; each shard keeps a Boost.Intrusive list in LRU
// order (front: most recent) and a map from id to entry, under its own mutex, so
// operations on different pages rarely contend. The byte counts are estimates (record
// and page sizes plus a per-node overhead), summed in one atomic.
//
// Ownership: entries are owned by their shard's map; the list links them intrusively.
// The cache knows nothing of page states: the store tells it what changed.
#pragma once

#include <array>
#include <atomic>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "llama/page_state.h"
#include "llama/types.h"

namespace llama {

class PageCache {
 public:
  // Estimated bytes a chain keeps in memory.
  static std::uint64_t ChainBytes(const PageNode* head);
  static constexpr std::uint64_t kNodeOverhead = sizeof(PageNode) + 32;

  // Records that `pid` was used and now holds `bytes` (replacing the old estimate).
  void Set(PageId pid, std::uint64_t bytes);
  // Records that `pid` was used and grew by `bytes`.
  void Grow(PageId pid, std::uint64_t bytes);
  // The page left memory (evicted or freed).
  void Remove(PageId pid);
  // Up to `n` of the least recently used pages, coldest first, taken round robin over
  // the shards. They stay in the cache until Remove.
  std::vector<PageId> Coldest(std::size_t n);
  // Moves `pid` to the most recent end (e.g. after a failed eviction).
  void Refresh(PageId pid);

  std::uint64_t resident_bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t resident_pages() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct Entry : public boost::intrusive::list_base_hook<> {
    PageId pid = 0;
    std::uint64_t bytes = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<PageId, std::unique_ptr<Entry>> entries;
    boost::intrusive::list<Entry> lru;  // front: most recently used
  };
  Shard& ShardOf(PageId pid) { return shards_[pid % kShards]; }
  Entry& Upsert(Shard& shard, PageId pid);

  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::size_t> next_shard_{0};
};

}  // namespace llama
