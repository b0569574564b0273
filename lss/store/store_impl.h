// StoreImpl: everything behind llama::Store (include/llama/store.h), which forwards each
// call here, as LevelDB's DB does to DBImpl. Internal: only the store's own files, its
// tests and tools include it.
//
// The implementation is split by concern, one file each:
//   store.cc              the public Store, forwarding here
//   store_impl.cc         opening (options, Env), closing, stats, record limits
//   store_recovery.cc     Recover: the directory's identity, then the recovery plan
//                         (lss/recovery/recovery_plan.h) carried out
//   store_pages.cc        page operations: Read and read-back, updates, Flush, Evict,
//                         PartialSwap, Free
//   store_maintenance.cc  checkpoints, the maintenance thread (evictor, clean trigger)
//   store_catalog.cc      the catalog of named roots
//   store_cleaner.cc      the segment cleaner
// and the per-page record lists are a class of their own (disk_chains.h).
//
// Ownership: the impl owns its Env (unless lent through StoreOptions::env), the
// SegmentSet, the LogWriter (its buffers and I/O thread), the MappingTable (every page
// state) and the maintenance thread. It lives exactly as long as the Store that owns it;
// the maintenance thread holds a raw pointer to it and is joined by Close().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "llama/store.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_writer.h"
#include "lss/log/record_frame.h"
#include "lss/recovery/checkpoint.h"
#include "lss/recovery/recovery_plan.h"
#include "lss/store/catalog.h"
#include "lss/store/disk_chains.h"
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
  // `delta` by reference: Store::UpdateD's forward passes its parameter on, no move.
  Result<UpdateOutcome> UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle&& delta,
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
  // ---- Tuning: named limits, each with why it is what it is ----

  // Tries of a Flush before it reports kBusy. A try is lost only to a change that takes
  // the read head off the chain (a consolidation, an eviction, another flush), never to
  // writers that only prepend (MarkFlushPoint copies their deltas over the mark), so 64
  // losses in a row mean the page is being replaced continuously: let the caller decide.
  static constexpr int kFlushAttempts = 64;
  // Tries of an Evict or a PartialSwap before kBusy: each try flushes first, so a page
  // that still changed 16 times in a row is hot, and the evictor does better with a
  // colder one.
  static constexpr int kEvictAttempts = 16;
  static constexpr int kPartialSwapAttempts = 16;
  // Tries of the cleaner's move of one page before kBusy (the page is then skipped and
  // its segment waits for a later pass). As for a flush, only a flush or replacement of
  // the page restarts a try; new deltas on top do not.
  static constexpr int kRelocateAttempts = 64;
  // Records followed from one page's newest record before the chain on disk is taken to
  // loop (Corruption). Far above any real chain, which max_disk_chain keeps short.
  static constexpr int kMaxDiskChainHops = 1 << 16;
  // The log writer's minimums: two buffers, so writers fill one while the other is
  // written, of at least 4 KiB (LogWriter::Open refuses less; checked here first so the
  // error names the store's options).
  static constexpr std::uint32_t kMinFlushBuffers = 2;
  static constexpr std::uint32_t kMinFlushBufferSize = 4096;
  // Checkpoint files kept. Recovery falls back to the previous one when the newest does
  // not decode, so two; a cleaned segment is deleted only once every kept checkpoint was
  // written after the cleaning.
  static constexpr std::size_t kCheckpointsKept = 2;
  // The evictor works down to budget * (1 - 1/kEvictSlackDivisor) (90%), so it runs in
  // batches rather than once per page that crosses the budget.
  static constexpr std::uint64_t kEvictSlackDivisor = 10;
  // One evictor round: at most kEvictPasses passes over the kEvictBatch coldest pages,
  // so one round is bounded and the maintenance thread gets back to its other work.
  static constexpr int kEvictPasses = 8;
  static constexpr std::size_t kEvictBatch = 32;
  // Writers evict inline once resident bytes pass this many times the budget (the
  // background evictor has fallen behind): memory stays bounded whatever the write rate.
  static constexpr std::uint64_t kInlineEvictFactor = 2;
  // The background cleaner looks at the space about this often (a scan of the segment
  // list and the live bytes), not every maintenance round.
  static constexpr std::uint32_t kCleanCheckIntervalMs = 1000;
  // A log of at most this many segments is never cleaned in the background: the
  // writer's segment and those waiting for their checkpoints make up most of it.
  static constexpr std::size_t kMinSegmentsToClean = 4;
  // Segments one background cleaner run takes on (Clean's max_segments).
  static constexpr std::size_t kSegmentsPerClean = 4;

  StoreImpl(std::string dir, StoreOptions options);

  // ---- Recovery (store_recovery.cc): the RecoveryPlan carried out, in this order ----
  Status Recover();
  // Reads STORE, or creates the store when the directory has none (and may).
  Status OpenIdentity();
  Status CreateStore();
  // Refuses a plan this store may not open (corruption in the default mode, a failure,
  // segment ids exhausted); otherwise fills the recovery report from it.
  Status AcceptPlan(const RecoveryPlan& plan);
  // Makes the scanned segments durable: the new log builds on them.
  Status SyncScannedSegments(const RecoveryPlan& plan);
  // The log writer's options, from the store's.
  LogWriter::Options WriterOptions() const;
  // Renames the plan's orphans to orphan-segment-* (never over an earlier one).
  Status SetAsideOrphans(const RecoveryPlan& plan);
  // Installs every page's durable state in the mapping table and the disk chains.
  Status RestorePages(const RecoveryPlan& plan);
  // Opens the log writer in the plan's next segment, resuming from its stop.
  Status StartWriter(const RecoveryPlan& plan);

  // The full state of a page whose newest record is at `address`: every delta (newest
  // first) and the base, if any, following prior pointers.
  struct DiskState {
    std::vector<DeltaHandle> deltas;
    BasePageHandle base;
  };
  Result<DiskState> ReadDiskState(LssAddress address);
  // The state a flush point stands for, newest delta first, when all of it is still in
  // memory below `point` (null: none of it, or part of it is on disk only).
  static std::optional<DiskState> FlushedStateInMemory(const PageNode* point);
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

  // Where each page's durable state lives and the live bytes per segment (disk_chains.h).
  // A flush adds its record before committing its reservation, so a checkpoint taken at
  // written position P sees every record below P.
  DiskChains disk_chains_;

  // ---- The catalog (store_catalog.cc) ----
  std::mutex catalog_mu_;  // one catalog change at a time
  // The catalog's entries and, in *head, the state they were read from.
  Result<std::vector<NamedRoot>> ReadCatalog(const GenerationGuard& guard, PageRef* head);
  // A new root page with an empty 4 KiB base page, flushed (durable once synced); freed
  // again when a step fails.
  Result<PageId> NewRootPage(const GenerationGuard& guard);
  // Installs `roots` as the catalog page if it is still `head` (false: it changed).
  Result<bool> InstallCatalog(const GenerationGuard& guard, PageRef head, const std::vector<NamedRoot>& roots);

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
  // Sealed segments worth cleaning, best first, at most `max_segments` (LFS cost-benefit).
  Result<std::vector<std::uint32_t>> PickSegmentsToClean(std::size_t max_segments);
  // Moves every page with a record in `segment`; false when one was skipped (kBusy).
  Result<bool> CleanSegment(std::uint32_t segment, CleanResult& result);
  Status RelocatePage(PageId pid, std::uint32_t segment, CleanResult& result);
  // The page's state as the disk chain `chain` holds it, encoded for the log tail.
  Result<EncodedBody> EncodeRelocation(PageId pid, const DiskChains::Chain& chain);
  // Tells the page in `expected` that its flushed state at `from` now lives at `to` (a new
  // address for a page on disk, a moved flush mark or a Relocation delta for one in
  // memory), retrying on new heads as long as the flush point holds.
  Result<UpdateOutcome> InstallRelocation(const GenerationGuard& guard, PageId pid, PageRef expected, LssAddress from,
                                          LssAddress to);
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
