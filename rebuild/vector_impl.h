// VectorImpl: everything behind llama::Vector (include/llama/vector.h), which forwards to
// it, as LevelDB's DB forwards to DBImpl. Internal: only rebuild/ and tests include it.
// The design (writes, the cut, the rebuilder, durability and recovery) is described in
// include/llama/vector.h and docs/DESIGN.md, "The durable vector".
//
// Ownership and lifetime: a VectorImpl is owned by its Vector and lives until the Vector is
// destroyed. It owns its rebuilder thread (started by Open, joined by Close), the writer
// records (shared with the thread-local caches of the threads that wrote, which release
// them when the thread exits) and its publications (shared with snapshots, which must be
// released before the Vector is destroyed). The Store owns every page and must outlive
// the VectorImpl.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "llama/rebuild_phase.h"
#include "llama/store.h"
#include "llama/vector_options.h"
#include "llama/vector_snapshot.h"
#include "llama/vector_write_batch.h"
#include "rebuild/published_tree.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"

namespace llama {

class VectorImpl {
 public:
  // Checks `options`, opens (creating on first use) the vector `name` in `store`,
  // recovers it and starts the rebuilder.
  static Result<std::unique_ptr<VectorImpl>> Open(Store& store, std::string_view name, VectorOptions options);
  ~VectorImpl();
  VectorImpl(const VectorImpl&) = delete;
  VectorImpl& operator=(const VectorImpl&) = delete;

  // The operations behind Vector's (same contracts, include/llama/vector.h).
  Status Close();
  // One entry: `ops` all applied or none.
  Result<VectorTicket> Write(std::vector<VectorOp> ops, VectorWriteOptions o);
  Status Sync(VectorTicket ticket);
  Status WaitVisible(VectorTicket ticket);
  VectorSnapshot Snapshot() const;
  VectorMetrics metrics() const;
  const VectorConfig& config() const { return config_; }
  PageId meta_page() const { return meta_; }
  std::size_t max_value_size() const { return RrbBuilder::MaxValueSize(config_); }
  static std::size_t ThreadWriterRecords();
  void HoldRebuilderForTesting(bool hold);

 private:
  // ---- Constants. Each says why it has its value.

  // Threads holding a writer record at once. A writer's id is an entry's u32 thread field;
  // a record table of this size is 32 KiB per vector, and the cut reads every registered
  // record, so it stays small. One more thread is refused (ResourceExhausted) rather than
  // sharing a record: two threads on one record could let the cut pass an entry not yet
  // installed.
  static constexpr std::size_t kMaxWriters = 4096;
  static_assert(kMaxWriters - 1 <= UINT32_MAX, "a writer's id is an entry's u32 thread field");
  // Bytes flow control counts per entry on top of its delta record: an allowance for what
  // the store adds to each delta (its node in memory, its framing in a flushed record), so
  // that many tiny writes also count against max_buffer_bytes.
  static constexpr std::int64_t kBufferedEntryOverhead = 64;
  // The smallest max_buffer_bytes accepted: the smallest page. A smaller buffer would hold
  // less than a page of entries, so nearly every write would wait for the rebuilder.
  static constexpr std::uint64_t kMinBufferBytes = 4096;
  // The largest write (its encoded entry) is max_buffer_bytes / kMinWritesPerBuffer. Flow
  // control checks a buffer only before a write goes in, so a buffer page can hold the
  // limit plus the writes admitted at that moment: capping each write keeps any one of
  // them small against the limit that bounds the page's state (one log record).
  static constexpr std::uint64_t kMinWritesPerBuffer = 2;
  // The batch window grows or shrinks by this factor per rebuild (AdaptBatchWindow):
  // geometric steps reach a new write rate in a few rebuilds.
  static constexpr std::uint64_t kBatchWindowStep = 2;
  // Rejected writes whose reason WaitVisible can still report (docs and vector.h say so):
  // older rejections are forgotten, so a writer that never asks does not grow memory.
  static constexpr std::size_t kRememberedRejections = 65536;
  // Publications above the meta page's base after which Publish consolidates the chain to
  // the base and the newest publication (the only one recovery reads): keeps the meta
  // page's state and its flushed record short, while most publications stay one delta.
  static constexpr std::size_t kMetaChainConsolidateAt = 8;

  struct WriterRecord;
  struct Slot {
    // Bytes of entries not yet consumed, as the store sizes them. Signed: the rebuilder may
    // subtract an entry before its writer has added it.
    std::atomic<std::int64_t> live_bytes{0};
  };
  struct Batch {
    std::vector<VectorEntry> entries;
    std::uint64_t cut = 0;
  };
  struct Rejection {
    std::uint64_t timestamp;
    std::string why;
  };

  VectorImpl(Store& store, VectorOptions options);
  static Status CheckOptions(const VectorOptions& options);
  static tl::unexpected<Error> Corrupt(const std::string& what);

  // ---- Recovery and creation (vector_recovery.cc).
  Status Recover(std::string_view name);
  // The configuration (into config_) and the newest publication on the meta page; creates
  // the vector when the meta page is new.
  Result<VectorPublication> LoadMeta();
  Status Create();
  // Sorts `entries` (collected at or above the watermark `from`) by timestamp and keeps
  // the run from `from` without a gap; Corruption when two share a timestamp.
  static Status KeepGapFreeRun(std::uint64_t from, std::vector<VectorEntry>* entries);
  Status WriteMetaBase(const VectorConfig& config);

  // ---- Buffer pages (vector_buffers.cc).
  // The contents of a buffer page's base: just the magic, so the page is recognizable.
  static std::vector<std::byte> BufferBaseContents();
  // What an entry adds to its buffer's live bytes (flow control).
  static std::int64_t BufferedBytes(const DeltaRecord& delta);
  // Allocates, installs and flushes an empty buffer page for each of config->buffers.
  Status CreateBuffers(VectorConfig* config);
  // The entries with timestamps in [from, cut) on every buffer page; `max_timestamp`, when
  // not null, is raised to the largest timestamp seen on any of them.
  Result<Batch> Collect(std::uint64_t from, std::uint64_t cut, std::uint64_t* max_timestamp);
  // Drops the entries below `cut` from every buffer page (a publication covering them is
  // logged) and flushes the pages that changed.
  Status TruncateBuffers(std::uint64_t cut);
  Status TruncateBuffer(const GenerationGuard& guard, std::size_t slot, std::uint64_t cut);

  // ---- The write path (vector_write.cc).
  // This thread's writer record; null when kMaxWriters threads already hold one.
  WriterRecord* LocalRecord();
  // Flow control: waits while the slot's buffer holds more than max_buffer_bytes the
  // rebuilder has not consumed. An error when the vector failed meanwhile.
  Status WaitForBufferRoom(Slot& buffer);
  // The entry's payload; InvalidArgument when it is larger than a write may be.
  Result<std::vector<std::byte>> EncodeForBuffer(const VectorEntry& entry) const;
  // Writes `timestamp` into the payload and prepends it to buffer page `pid` as an Update
  // delta. Fails only when the clock is exhausted or the store fails.
  Result<DeltaHandle> InstallEntry(PageId pid, std::uint64_t timestamp, std::vector<std::byte>& payload);
  Status PrependToBuffer(PageId pid, const DeltaHandle& delta);
  // Returns once every write with a timestamp up to `timestamp` is on its buffer page (or
  // failed the vector): once the cut is above it.
  void WaitForEarlierWrites(std::uint64_t timestamp) const;
  // The error a write gets once the vector stopped accepting them (failed or closed).
  Status RefusalReason() const;
  // The rebuilder's cut: the clock lowered to every writer's in-flight bound.
  std::uint64_t Cut() const;

  // ---- The rebuilder (vector_rebuilder.cc).
  void RebuilderLoop();
  // Sleeps until there is work (or a stop, or a hold, which it waits out). Sets
  // `*stopping`; false when the vector failed and the rebuilder must exit.
  bool WaitForWork(bool* stopping);
  // Collects the entries below `cut` and publishes them (or, with none, moves past them).
  Status RebuildTo(std::uint64_t cut);
  // Replays `batch`, writes and logs the publication, swaps it in, frees what no reader
  // needs, truncates the buffers.
  Status RebuildAndPublish(Batch batch);
  std::shared_ptr<const PublishedTree> Current() const;
  // Replays the entries (sorted) onto `tree` and writes the new pages; entries rejected
  // as invalid at their turn go to `rejected`.
  Result<RrbBuilder::Written> Replay(const RrbBuilder::Tree& tree, const std::vector<VectorEntry>& entries,
                                     std::vector<Rejection>* rejected);
  // Notes the pages publication `generation` created and dropped (pending_free_).
  void TrackPages(const RrbBuilder::Written& written, std::uint64_t generation);
  // Dropped pages no held publication can reach, removed from pending_free_.
  std::vector<PageId> Reclaimable();
  // Logs `publication` on the meta page and flushes it (published_position_raw_).
  Status Publish(const VectorPublication& publication);
  // Makes `next` the current publication and retires `previous`.
  void SwapIn(std::shared_ptr<const PublishedTree> next, std::shared_ptr<const PublishedTree> previous);
  Status FreePages(const std::vector<PageId>& pages);
  // Under mu_: the new watermark, rejections, metrics and the batch window; wakes waiters.
  void RecordRebuild(const Batch& batch, std::uint64_t generation, const RrbBuilder::Written& written,
                     std::vector<Rejection> rejected, std::size_t reclaimed);
  // The adaptive batch window after a batch of `entries` (mu_ held).
  void AdaptBatchWindow(std::uint64_t entries);
  // Advances the watermark to `cut` under mu_ and wakes waiters.
  void AdvanceWatermark(std::uint64_t cut);
  void Fail(const Status& s);

  // ---- Lifecycle (vector_impl.cc).
  // Flushes every buffer page and syncs past them and the newest publication: one store
  // Sync (one fdatasync for the group). Sync's and Close's; the published position is read
  // after the flushes, so an entry a flush no longer finds (consumed, then dropped from
  // its buffer) is covered by the publication logged before it was dropped.
  Status FlushBuffers();

  Store& store_;
  const VectorOptions options_;
  VectorConfig config_;
  PageId meta_ = 0;
  const std::uint64_t id_;  // distinguishes this object in thread-local caches
  // Expires with this object: a thread's cache drops its entry for a destroyed vector the
  // next time that thread first writes to another one.
  const std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);

  // Writers.
  std::atomic<std::uint64_t> clock_{1};
  std::unique_ptr<std::atomic<WriterRecord*>[]> writers_;
  std::atomic<std::size_t> writer_count_{0};
  std::vector<std::shared_ptr<WriterRecord>> writer_owners_;  // guarded by writers_mu_
  std::mutex writers_mu_;                                     // only to register a new writer thread
  std::unique_ptr<Slot[]> slots_;
  std::atomic<std::uint64_t> pending_{0};
  std::atomic<std::uint64_t> published_position_raw_{0};

  // Publication state. current_ is swapped under current_mu_ (readers copy it there).
  mutable std::mutex current_mu_;
  std::shared_ptr<const PublishedTree> current_;

  // The rebuilder's own state (its thread only, after Open).
  struct Retired {
    std::weak_ptr<const PublishedTree> snapshot;
    std::uint64_t generation;
  };
  std::deque<Retired> retired_;
  struct PendingFree {
    PageId pid;
    std::uint64_t created;  // generation that first published it (0: unknown)
    std::uint64_t dropped;  // generation that no longer has it
  };
  std::vector<PendingFree> pending_free_;
  std::unordered_map<PageId, std::uint64_t> created_in_;
  std::uint64_t consumed_ = 1;  // the watermark: entries below it are published

  // Waiting, metrics, lifecycle; guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable rebuild_cv_;  // wakes the rebuilder
  std::condition_variable visible_cv_;  // wakes WaitVisible and flow-controlled writers
  bool stop_ = false;
  // False once the vector failed or began closing: what the write path checks, without
  // taking mu_.
  std::atomic<bool> accepting_{true};
  bool wake_ = false;
  bool hold_ = false;    // HoldRebuilderForTesting
  bool parked_ = false;  // the rebuilder waits while hold_
  // The first fatal error (OK until then). Return copies of it: LLAMA_RETURN_IF_ERROR on
  // it would move its error out.
  Status failed_ = OkStatus();
  // Set with failed_: what Sync checks, without taking mu_, once its earlier writes are in.
  std::atomic<bool> failed_once_{false};
  std::uint64_t watermark_ = 1;
  std::atomic<std::uint64_t> batch_window_;
  bool rebuilder_exited_ = false;
  std::map<std::uint64_t, std::string> rejected_;
  VectorMetrics metrics_;
  std::atomic<RebuildPhase> phase_{RebuildPhase::kSleeping};
  std::thread rebuilder_;
  bool closed_ = false;
};

}  // namespace llama
