// llama::Vector: a huge, durable, concurrently written sequence stored in a llama Store,
// read through immutable snapshots.
//
//   auto vec = *Vector::Open(*store, "events");
//   auto t = *vec->append("hello");              // a ticket: the write's place in the order
//   vec->sync(t);                                // durable (group commit)
//   vec->wait_visible(t);                        // a published snapshot holds it
//   VectorSnapshot snap = vec->snapshot();       // immutable; snap.at(0) == "hello"
//
// Write path. Each write (one operation, or a batch of several, all or nothing) becomes an
// entry: the operations, a timestamp from one atomic clock (unique, so it orders every
// write: a call that returned before another began has the smaller one), the writer
// thread's id and its per-thread sequence. The entry is encoded as an Update-delta payload
// and prepended by CAS to the writer slot's buffer page: no lock. Writers are never blocked
// by a rebuild (only, as flow control, when a buffer holds more than max_buffer_bytes that
// the rebuilder has not consumed yet).
//
// The rebuilder (one background thread): Sleeping until the batch window fills (or
// max_delay passes, or a reader waits), RotatingBuffers (choosing the cut: a timestamp
// below which every entry is already in its buffer), CollectingEntries, SortingEntries,
// PublishingSnapshot (replaying the batch onto the tree with RrbBuilder, writing the new
// pages, logging the publication, then swapping in the new snapshot in one atomic step).
// An operation whose index is past the end at its turn is rejected (with the rest of its
// batch): counted in metrics, reported by wait_visible, never applied.
//
// Durability. An entry is durable once its buffer page is flushed and synced (sync(ticket)
// or WriteOptions::sync). A publication is an Update delta on the meta page naming the
// root, size and watermark (the cut); it is logged after the tree pages it names. Buffers
// drop consumed entries only after the publication covering them is logged, and tree pages
// are freed only after a publication that no longer needs them, so every prefix of the log
// holds a publication plus every entry after its watermark: recovery replays those in
// timestamp order, as the rebuilder did.
//
// Ownership: the Vector owns its rebuilder thread, writer records and publications; the
// Store owns every page. The Store must outlive the Vector, and snapshots must be
// released before the Vector is destroyed.
#pragma once

#include <atomic>
#include <condition_variable>
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
#include "llama/vector_snapshot.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"

namespace llama {

struct VectorOptions {
  // Fixed when the vector is created (a reopen uses what was stored).
  std::uint32_t branching = 32;
  // Elements a leaf holds at most; 0: as many as fit its page (leaves filled to the page,
  // so a read touches fewer, fuller pages). Leaves are always bounded by bytes too.
  std::uint32_t leaf_max_elements = 0;
  std::uint32_t leaf_page_size = 4096;
  std::uint32_t writer_slots = 8;  // buffer pages; writer threads share them round robin
  // Adaptive batching: the rebuilder starts a rebuild once this many writes are pending.
  std::uint64_t initial_batch_window = 128;
  std::uint64_t min_batch_window = 16;
  std::uint64_t max_batch_window = 1 << 16;
  // ... or once the oldest pending write has waited this long.
  std::uint32_t max_delay_us = 2000;
  // Flow control: a writer waits while its buffer holds more unconsumed bytes than this.
  // Keep it well below the store's largest log record (min(flush buffer, segment)): a
  // buffer page's whole state must fit one record.
  std::uint64_t max_buffer_bytes = 256 << 10;
};

struct VectorWriteOptions {
  bool sync = false;  // return only once the write is durable
};

struct VectorTicket {
  std::uint64_t timestamp = 0;
  std::uint32_t slot = 0;
};

// All-or-nothing: every operation applies, in order, or none does.
class VectorWriteBatch {
 public:
  void append(std::string_view v) { ops_.push_back({VectorOpCode::kAppend, 0, std::string(v)}); }
  void prepend(std::string_view v) { ops_.push_back({VectorOpCode::kPrepend, 0, std::string(v)}); }
  void insert(std::uint64_t i, std::string_view v) { ops_.push_back({VectorOpCode::kInsert, i, std::string(v)}); }
  void erase(std::uint64_t i) { ops_.push_back({VectorOpCode::kErase, i, {}}); }
  void update(std::uint64_t i, std::string_view v) { ops_.push_back({VectorOpCode::kUpdate, i, std::string(v)}); }
  const std::vector<VectorOp>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<VectorOp> ops_;
};

struct VectorMetrics {
  RebuildPhase phase = RebuildPhase::kSleeping;
  std::uint64_t last_batch_size = 0;      // entries in the last rebuild
  std::uint64_t total_batch_entries = 0;  // entries in every rebuild so far
  std::uint64_t rebuild_count = 0;
  std::uint64_t batch_window = 0;
  std::uint64_t snapshot_generation = 0;
  std::uint64_t size = 0;                       // elements in the newest snapshot
  std::uint64_t retired_snapshots_waiting = 0;  // replaced snapshots a reader still holds
  std::uint64_t pages_pending_free = 0;         // dropped tree pages waiting for those readers
  std::uint64_t pages_reclaimed = 0;
  std::uint64_t pages_written = 0;  // tree pages written by rebuilds
  std::uint64_t entries_written = 0;
  std::uint64_t rejected_entries = 0;
  std::uint64_t replayed_at_open = 0;  // entries recovery replayed
};

class Vector {
 public:
  // Opens (creating on first use) the vector `name` in `store`. Recovery happens here:
  // the last logged publication plus every durable entry after its watermark.
  static Result<std::unique_ptr<Vector>> Open(Store& store, std::string_view name, VectorOptions options = {});
  ~Vector();
  Vector(const Vector&) = delete;
  Vector& operator=(const Vector&) = delete;

  // Publishes every write made so far, stops the rebuilder and flushes the buffers.
  // Idempotent. Snapshots must be released first.
  Status Close();

  Result<VectorTicket> append(std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> prepend(std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> insert(std::uint64_t i, std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> erase(std::uint64_t i, VectorWriteOptions o = {});
  Result<VectorTicket> update(std::uint64_t i, std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> write(const VectorWriteBatch& batch, VectorWriteOptions o = {});

  // Durable: returns once the write (and every write of its slot before it) is synced.
  Status sync(VectorTicket ticket);
  // Returns once a published snapshot contains the write: OK, or InvalidArgument saying
  // why it was rejected (an index past the end at its turn). Rejections are remembered
  // for the newest 65536 rejected writes.
  Status wait_visible(VectorTicket ticket);

  VectorSnapshot snapshot() const;
  VectorMetrics metrics() const;
  const VectorConfig& config() const { return config_; }
  PageId meta_page() const { return meta_; }
  std::size_t max_value_size() const { return RrbBuilder::MaxValueSize(config_); }
  // Diagnostics: how many writer records the calling thread holds (one per live vector it
  // wrote to, plus destroyed ones not yet dropped; see LocalRecord).
  static std::size_t ThreadWriterRecords();
  // Tests: with `hold`, returns once the rebuilder is parked between rebuilds, where it
  // stays until released (or Close): writes pile up as behind a slow rebuild, so a test can
  // script a batch's size. Mind flow control: a writer whose buffer fills up
  // (max_buffer_bytes) waits for the rebuilder. Released, the rebuilder goes straight on to
  // a rebuild of everything written meanwhile.
  void HoldRebuilderForTesting(bool hold);

 private:
  struct WriterRecord;
  struct Slot {
    // Bytes of entries not yet consumed, as the store sizes them. Signed: the rebuilder may
    // subtract an entry before its writer has added it.
    std::atomic<std::int64_t> live_bytes{0};
  };
  Vector(Store& store, VectorOptions options);
  Status Recover(std::string_view name);
  Status Create();
  Result<VectorTicket> Write(std::vector<VectorOp> ops, VectorWriteOptions o);
  // This thread's writer record; null when kMaxWriters threads already hold one.
  WriterRecord* LocalRecord();
  // The error a write gets once the vector stopped accepting them (failed or closed).
  Status RefusalReason() const;
  std::uint64_t Cut() const;

  struct Batch {
    std::vector<VectorEntry> entries;
    std::uint64_t cut = 0;
  };
  Result<Batch> Collect(std::uint64_t from, std::uint64_t cut, std::uint64_t* max_timestamp);
  // Replays `batch`, writes and logs the publication, swaps it in, frees what no reader
  // needs, truncates the buffers.
  Status RebuildAndPublish(Batch batch);
  Status Publish(const VectorPublication& publication);
  Status TruncateBuffers(std::uint64_t cut);
  std::vector<PageId> Reclaimable();
  void RebuilderLoop();
  void Fail(const Status& s);

  Store& store_;
  const VectorOptions options_;
  VectorConfig config_;
  PageId meta_ = 0;
  const std::uint64_t id_;  // distinguishes this Vector object in thread-local caches
  // Expires with this object: a thread's cache drops its entry for a destroyed Vector the
  // next time that thread first writes to another one.
  const std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);

  // Writers.
  std::atomic<std::uint64_t> clock_{1};
  static constexpr std::size_t kMaxWriters = 4096;
  static_assert(kMaxWriters - 1 <= UINT32_MAX, "a writer's id is an entry's u32 thread field");
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
  std::condition_variable visible_cv_;  // wakes wait_visible and flow-controlled writers
  bool stop_ = false;
  // False once the vector failed or began closing: what the write path checks, without
  // taking mu_.
  std::atomic<bool> accepting_{true};
  bool wake_ = false;
  bool hold_ = false;    // HoldRebuilderForTesting
  bool parked_ = false;  // the rebuilder waits while hold_
  Status failed_ = OkStatus();
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
