#include "lss/store/disk_chains.h"

#include <algorithm>

namespace llama {

void DiskChains::Load(const std::map<PageId, Chain>& chains) {
  std::lock_guard lock(mu_);
  chains_.clear();
  live_bytes_.clear();
  for (const auto& [pid, chain] : chains) {
    if (chain.empty()) continue;
    chains_.emplace(pid, chain);
    for (const PageDiskRecord& r : chain) live_bytes_[r.address.segment()] += r.length;
  }
}

void DiskChains::AddLocked(PageId pid, PageDiskRecord record, bool replaces_chain) {
  Chain& chain = chains_[pid];
  auto older =
      std::find_if(chain.begin(), chain.end(), [&](const PageDiskRecord& r) { return r.address < record.address; });
  if (replaces_chain) {
    Unaccount(older, chain.end());
    older = chain.erase(older, chain.end());
  }
  chain.insert(older, record);
  live_bytes_[record.address.segment()] += record.length;
}

void DiskChains::Unaccount(Chain::const_iterator from, Chain::const_iterator end) {
  for (auto r = from; r != end; ++r) live_bytes_[r->address.segment()] -= r->length;
}

void DiskChains::Erase(PageId pid) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(pid);
  if (it == chains_.end()) return;
  Unaccount(it->second.begin(), it->second.end());
  chains_.erase(it);
}

void DiskChains::SpliceMoved(PageId pid, const PageDiskRecord& snapshot_head, const PageDiskRecord& moved) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(pid);
  if (it == chains_.end()) return;  // freed meanwhile: nothing of it is live
  Chain& current = it->second;
  auto at = std::find(current.begin(), current.end(), snapshot_head);
  if (at == current.end()) return;  // a whole flush replaced the list: `moved` is dead
  Unaccount(at, current.end());
  current.erase(at, current.end());
  current.push_back(moved);
  live_bytes_[moved.address.segment()] += moved.length;
}

void DiskChains::ForgetSegment(std::uint32_t segment) {
  std::lock_guard lock(mu_);
  live_bytes_.erase(segment);
}

std::optional<DiskChains::Chain> DiskChains::Find(PageId pid) const {
  std::lock_guard lock(mu_);
  auto it = chains_.find(pid);
  if (it == chains_.end()) return std::nullopt;
  return it->second;
}

std::optional<PageDiskRecord> DiskChains::Newest(PageId pid) const {
  std::lock_guard lock(mu_);
  auto it = chains_.find(pid);
  if (it == chains_.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

std::size_t DiskChains::Length(PageId pid) const {
  std::lock_guard lock(mu_);
  auto it = chains_.find(pid);
  return it == chains_.end() ? 0 : it->second.size();
}

std::vector<PageId> DiskChains::PagesIn(std::uint32_t segment) const {
  std::vector<PageId> pids;
  std::lock_guard lock(mu_);
  for (const auto& [pid, chain] : chains_) {
    if (std::any_of(chain.begin(), chain.end(),
                    [&](const PageDiskRecord& r) { return r.address.segment() == segment; })) {
      pids.push_back(pid);
    }
  }
  return pids;
}

std::size_t DiskChains::page_count() const {
  std::lock_guard lock(mu_);
  return chains_.size();
}

std::vector<CheckpointPage> DiskChains::Snapshot(LssAddress* newest_end) const {
  std::vector<CheckpointPage> pages;
  {
    std::lock_guard lock(mu_);
    pages.reserve(chains_.size());
    for (const auto& [pid, chain] : chains_) {
      if (chain.empty()) continue;
      pages.push_back(CheckpointPage{pid, chain});
      *newest_end = std::max(*newest_end, chain.front().end());
    }
  }
  std::sort(pages.begin(), pages.end(), [](const CheckpointPage& a, const CheckpointPage& b) { return a.pid < b.pid; });
  return pages;
}

std::uint64_t DiskChains::live_bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  for (const auto& [segment, bytes] : live_bytes_) total += bytes;
  return total;
}

std::uint64_t DiskChains::LiveBytesIn(std::uint32_t segment) const {
  std::lock_guard lock(mu_);
  auto it = live_bytes_.find(segment);
  return it == live_bytes_.end() ? 0 : it->second;
}

std::map<std::uint32_t, std::uint64_t> DiskChains::LiveBytesBySegment() const {
  std::lock_guard lock(mu_);
  return live_bytes_;
}

}  // namespace llama
