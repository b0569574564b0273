// StoreImpl: everything behind llama::Store (include/llama/store.h), which forwards each
// call here, as LevelDB's DB does to DBImpl. Internal: only the store's own files, its
// tests and tools include it.
//
// Files: store.cc (the public Store, forwarding here, and the implementation),
// store_cleaner.cc (the segment cleaner).
//
// Ownership: the impl owns its Env (unless lent through StoreOptions::env), the
// SegmentSet, the LogWriter (its buffers and I/O thread), the MappingTable (every page
// state) and the maintenance thread. It lives exactly as long as the Store that owns it;
// the maintenance thread holds a raw pointer to it and is joined by Close().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "llama/store.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_writer.h"
#include "lss/log/record_frame.h"
#include "lss/recovery/checkpoint.h"
#include "lss/store/catalog.h"
#include "lss/store/page_cache.h"
#include "mapping/mapping_table.h"

namespace llama {

class StoreImpl {
 public:
  using CleanResult = Store::CleanResult;

  // Validates the options, opens (or takes) the Env and recovers the directory; starts
  // the maintenance thread when the options ask for background work.
  static Result<std::unique_ptr<StoreImpl>> Open(const std::string& dir, StoreOptions options);
  ~StoreImpl();
  StoreImpl(const StoreImpl&) = delete;
  StoreImpl& operator=(const StoreImpl&) = delete;

  // The operations of llama::Store; include/llama/store.h says what each does.
  Status Close();
  Result<PageId> Allocate() { return table_.Allocate(); }
  Result<LssAddress> Free(const GenerationGuard& guard, PageId pid);
  Result<PageRef> Read(const GenerationGuard& guard, PageId pid);
  Result<BasePageHandle> PinBase(const GenerationGuard& guard, PageId pid);
  Result<UpdateOutcome> UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle delta,
                                const PageNode* last_flushed);
  Result<UpdateOutcome> UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected, OwnedChain& state);
  Result<LssAddress> Flush(const GenerationGuard& guard, PageId pid);
  Status Evict(const GenerationGuard& guard, PageId pid);
  Status PartialSwap(const GenerationGuard& guard, PageId pid);
  Status Sync(LssAddress position) { return writer_->Sync(position); }
  Status SyncAll();
  Status FlushAll();
  Status Checkpoint();
  Result<CleanResult> Clean(std::size_t max_segments);
  Result<PageId> OpenRoot(std::string_view name);
  Result<std::vector<NamedRoot>> Roots();

  StoreStats stats() const;
  const StoreOptions& options() const { return options_; }
  std::uint32_t max_record_size() const;
  const RecoveryReport& recovery() const { return recovery_; }
  std::uint64_t store_id() const { return store_id_; }
  MappingTable& mapping() { return table_; }
  GenerationGuard EnterGeneration() { return table_.EnterGeneration(); }

 private:
  StoreImpl(std::string dir, StoreOptions options);
  Status Recover();
  // The full state of a page whose newest record is at `address`: every delta (newest
  // first) and the base, if any, following prior pointers.
  struct DiskState {
    std::vector<DeltaHandle> deltas;
    BasePageHandle base;
  };
  Result<DiskState> ReadDiskState(LssAddress address);
  // The whole state of a page that is on disk, or partly on disk after a PartialSwap, as
  // a new chain to install in place of `ref` (read under the caller's guard).
  Result<OwnedChain> ReadBack(PageId pid, PageRef ref);
  // A page state split at its newest flush point (a flush-marked node, a PartialSwap
  // delta, or the bottom's on-disk prior): the Update deltas above it (newest first), the
  // base page if the walk reached one (never flushed), the LSS address of the flushed
  // state (through any Relocation deltas), null if none, and the flush-point node, null
  // if the flush point is not a node. `at` borrows from the state (same generation rule).
  struct UnflushedPart {
    std::vector<DeltaHandle> fresh;
    BasePageHandle base;
    LssAddress flushed;
    const PageNode* at = nullptr;
  };
  static UnflushedPart SplitAtFlushPoint(PageState state);
  // What a flush of `part` writes: its encoded record, and whether that record is whole
  // (Prior 0: it replaces the page's on-disk chain).
  struct FlushRecord {
    EncodedBody encoded;
    bool whole = false;
  };
  Result<FlushRecord> EncodeFlushRecord(PageId pid, UnflushedPart part);
  // Installs the flush mark at `point` (the node the reserved record starts at) from
  // `head` on, retrying lost CASes while writers only prepend above it. False when
  // `point` left the chain (the reservation is then dropped).
  Result<bool> MarkFlushPoint(const GenerationGuard& guard, PageId pid, PageRef head, const PageNode* point,
                              LssAddress at);
  void TestHook(std::string_view step, PageId pid) const {
    if (options_.test_hook) options_.test_hook(step, pid);
  }
  // Nothing new to write: a position that covers the page's newest flush point `at`. Its
  // record may be another thread's flush whose mark is installed but whose disk-chain
  // entry is not added yet; Sync(at + 1) waits for that record's whole buffer, where the
  // end of the page's previous record would acknowledge too early.
  LssAddress CoveringPosition(PageId pid, LssAddress at);
  void AddToDiskChain(const GenerationGuard& guard, PageId pid, PageDiskRecord record, bool replaces_chain);
  void EraseDiskChain(PageId pid);
  std::uint32_t max_body_len() const;
  Status CheckRecordFits(PageId pid, std::size_t body_size) const;

  const std::string dir_;
  StoreOptions options_;
  // What each checkpoint records of how this store does its I/O.
  CheckpointSettings WriterSettings() const;
  std::unique_ptr<Env> owned_env_;
  Env* env_ = nullptr;
  std::uint64_t store_id_ = 0;
  std::uint32_t segment_size_ = 0;
  std::unique_ptr<SegmentSet> segments_;
  std::unique_ptr<LogWriter> writer_;
  MappingTable table_;
  RecoveryReport recovery_;
  bool closed_ = false;

  // Where each page's durable state lives (newest record first), and the live bytes per
  // segment they add up to. Updated by a flush before its reservation is committed, so a
  // checkpoint taken at written position P sees every record below P.
  mutable std::mutex disk_mu_;
  std::unordered_map<PageId, std::vector<PageDiskRecord>> disk_chains_;
  std::map<std::uint32_t, std::uint64_t> live_bytes_;

  std::mutex catalog_mu_;  // one catalog change at a time
  Result<std::vector<NamedRoot>> ReadCatalog(const GenerationGuard& guard, PageRef* head);

  std::mutex checkpoint_mu_;
  std::uint64_t checkpoint_sequence_ = 0;

  // Cleaned segments waiting to be deleted: deletable once every retained checkpoint is
  // newer than `checkpoint_sequence` and no reader is in a generation <= `generation`.
  struct PendingDeletion {
    std::uint32_t segment;
    std::uint64_t checkpoint_sequence;
    std::uint64_t generation;
  };
  std::mutex clean_mu_;                             // one cleaner at a time
  std::vector<PendingDeletion> pending_deletions_;  // guarded by checkpoint_mu_
  Status RelocatePage(PageId pid, std::uint32_t segment, CleanResult& result);
  // Tells the page in `expected` that its flushed state at `from` now lives at `to` (a new
  // address for a page on disk, a moved flush mark or a Relocation delta for one in
  // memory), retrying on new heads as long as the flush point holds.
  Result<UpdateOutcome> InstallRelocation(const GenerationGuard& guard, PageId pid, PageRef expected, LssAddress from,
                                          LssAddress to);
  // After a relocation: the page's disk chain from `snapshot_head` down becomes `moved`.
  void SpliceMovedRecord(PageId pid, const PageDiskRecord& snapshot_head, const PageDiskRecord& moved);
  // With checkpoint_mu_ held, after a checkpoint: deletes what is no longer referenced.
  Status DeleteCleanedSegments(std::vector<std::uint32_t>* deleted);
  // Checkpoint(), then deletion of cleaned segments that nothing needs any more.
  Status CheckpointAndDelete(std::vector<std::uint32_t>* deleted);

  std::atomic<std::uint64_t> flushes_{0}, evictions_{0}, reads_from_disk_{0}, checkpoints_{0}, cleaner_runs_{0};

  // Memory budget and background maintenance.
  PageCache cache_;
  bool tracking() const { return options_.memory_budget != 0; }
  void MaintenanceLoop();
  void EvictToBudget();
  // After a page grew: writers help evict when the background evictor falls behind
  // (resident bytes past twice the budget), which bounds memory whatever the write rate.
  void AfterGrowth();
  void CleanIfSpaceGrew();
  std::thread maintenance_;
  mutable std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stop_maintenance_ = false;
  std::string maintenance_error_;  // guarded by maintenance_mu_
};

}  // namespace llama
