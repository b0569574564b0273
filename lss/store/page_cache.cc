#include "lss/store/page_cache.h"

#include <algorithm>

namespace llama {

std::uint64_t PageCache::ChainBytes(const PageNode* head) {
  std::uint64_t bytes = 0;
  for (const PageNode& node : PageState(head)) {
    bytes += kNodeOverhead + (node.is_base() ? node.base()->memory_bytes() : node.delta()->len());
  }
  return bytes;
}

PageCache::Entry& PageCache::Upsert(Shard& shard, PageId pid) {
  auto [it, inserted] = shard.entries.try_emplace(pid);
  if (inserted) {
    it->second = std::make_unique<Entry>();
    it->second->pid = pid;
  } else {
    shard.lru.erase(shard.lru.iterator_to(*it->second));
  }
  shard.lru.push_front(*it->second);
  return *it->second;
}

void PageCache::Set(PageId pid, std::uint64_t bytes) {
  Shard& shard = ShardOf(pid);
  std::lock_guard lock(shard.mu);
  Entry& e = Upsert(shard, pid);
  bytes_.fetch_add(bytes - e.bytes, std::memory_order_relaxed);  // wraps correctly
  e.bytes = bytes;
}

void PageCache::Grow(PageId pid, std::uint64_t bytes) {
  Shard& shard = ShardOf(pid);
  std::lock_guard lock(shard.mu);
  Entry& e = Upsert(shard, pid);
  e.bytes += bytes;
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

void PageCache::Remove(PageId pid) {
  Shard& shard = ShardOf(pid);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(pid);
  if (it == shard.entries.end()) return;
  shard.lru.erase(shard.lru.iterator_to(*it->second));
  bytes_.fetch_sub(it->second->bytes, std::memory_order_relaxed);
  shard.entries.erase(it);
}

void PageCache::Refresh(PageId pid) {
  Shard& shard = ShardOf(pid);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(pid);
  if (it == shard.entries.end()) return;
  shard.lru.erase(shard.lru.iterator_to(*it->second));
  shard.lru.push_front(*it->second);
}

std::vector<PageId> PageCache::Coldest(std::size_t n) {
  std::vector<PageId> out;
  const std::size_t start = next_shard_.fetch_add(1, std::memory_order_relaxed);
  // Take a few from the cold end of each shard in turn, so no shard is starved.
  const std::size_t per_shard = std::max<std::size_t>(1, n / kShards);
  for (std::size_t i = 0; i < kShards && out.size() < n; ++i) {
    Shard& shard = shards_[(start + i) % kShards];
    std::lock_guard lock(shard.mu);
    std::size_t taken = 0;
    for (auto it = shard.lru.rbegin(); it != shard.lru.rend() && taken < per_shard && out.size() < n; ++it, ++taken) {
      out.push_back(it->pid);
    }
  }
  return out;
}

std::uint64_t PageCache::resident_pages() const {
  std::uint64_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    n += shard.entries.size();
  }
  return n;
}

}  // namespace llama
