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
  struct WriterRecord;
  struct Slot {
    // Bytes of entries not yet consumed, as the store sizes them. Signed: the rebuilder may
    // subtract an entry before its writer has added it.
    std::atomic<std::int64_t> live_bytes{0};
  };
  VectorImpl(Store& store, VectorOptions options);
  Status Recover(std::string_view name);
  Status Create();
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
  const std::uint64_t id_;  // distinguishes this object in thread-local caches
  // Expires with this object: a thread's cache drops its entry for a destroyed vector the
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
  std::condition_variable visible_cv_;  // wakes WaitVisible and flow-controlled writers
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
