// DiskChains: where each page's durable state lives in the log, and how many live bytes
// every segment holds because of it (the store's counterpart of LevelDB's VersionSet).
//
// Per page, the list of log records its durable state spans, newest (highest address)
// first: chain[0] is the record a read-back starts at, the rest are older records its
// state still reaches through prior pointers. A record's bytes are live while some
// page's list names it; the live bytes per segment are their sum, which the cleaner
// scores segments by and Store::stats() reports.
//
// Who changes it: recovery loads it (Load), a flush adds its record before committing its
// reservation (Add), so a checkpoint taken at written position P sees every record below
// P (Snapshot); Free erases a page (Erase); the cleaner splices a moved record in
// (SpliceMoved) and forgets a segment once its file is deleted (ForgetSegment).
//
// Thread safety: every member takes the one internal mutex; nothing returned borrows
// from the object (lists are copied out). Ownership: the StoreImpl owns it for its whole
// life.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "llama/types.h"
#include "lss/recovery/checkpoint.h"

namespace llama {

class DiskChains {
 public:
  using Chain = std::vector<PageDiskRecord>;

  // Replaces everything by `chains` (recovery, before the store is shared); empty lists
  // are skipped.
  void Load(const std::map<PageId, Chain>& chains);

  // A flush wrote `record` for `pid`. Two flushes of one page may get here in either
  // order: the list stays sorted newest first, and a whole record (`replaces_chain`:
  // prior null, it holds the page's whole state) drops only what is older than it.
  // `still_allocated` is called under the mutex first: a Free that won the page's slot
  // erases its list under the same mutex, so a record added after that would bring the
  // freed page back in the next checkpoint; false skips the add.
  template <typename StillAllocated>
  void Add(PageId pid, PageDiskRecord record, bool replaces_chain, StillAllocated&& still_allocated) {
    std::lock_guard lock(mu_);
    if (!still_allocated()) return;
    AddLocked(pid, record, replaces_chain);
  }
  // The page was freed: its records are dead.
  void Erase(PageId pid);
  // The cleaner moved the page's state, as it was from `snapshot_head` down, into
  // `moved`. Records flushed since the snapshot stay in front; `snapshot_head` and older
  // are replaced by `moved`. If a whole flush replaced the list meanwhile (no
  // `snapshot_head` in it), `moved` is already dead and the list stays.
  void SpliceMoved(PageId pid, const PageDiskRecord& snapshot_head, const PageDiskRecord& moved);
  // The segment's file was deleted: drop its (zero) live-byte entry.
  void ForgetSegment(std::uint32_t segment);

  // A copy of the page's list (nullopt: no durable state).
  std::optional<Chain> Find(PageId pid) const;
  // The page's newest record, if any.
  std::optional<PageDiskRecord> Newest(PageId pid) const;
  // Records in the page's list (0: none).
  std::size_t Length(PageId pid) const;
  // Pages with at least one record in `segment`.
  std::vector<PageId> PagesIn(std::uint32_t segment) const;
  std::size_t page_count() const;

  // Every page's list, sorted by page id, for a checkpoint; `*newest_end` is raised to the
  // end of the newest record any list names (what the log must make durable first).
  std::vector<CheckpointPage> Snapshot(LssAddress* newest_end) const;

  // Live bytes in all segments, in one segment, and per segment.
  std::uint64_t live_bytes() const;
  std::uint64_t LiveBytesIn(std::uint32_t segment) const;
  std::map<std::uint32_t, std::uint64_t> LiveBytesBySegment() const;

 private:
  void AddLocked(PageId pid, PageDiskRecord record, bool replaces_chain);
  // Subtracts the records [from, end) of a list from the live bytes.
  void Unaccount(Chain::const_iterator from, Chain::const_iterator end);

  mutable std::mutex mu_;
  std::unordered_map<PageId, Chain> chains_;
  std::map<std::uint32_t, std::uint64_t> live_bytes_;
};

}  // namespace llama
