// The vector's write path: writer records (one per writer thread, found through a
// thread-local cache), the cut they let the rebuilder take, flow control, and installing
// an entry on its slot's buffer page by CAS. No lock on the way, except to register a
// thread's first write to a vector and to wait in flow control.
#include <algorithm>
#include <thread>

#include "rebuild/vector_impl.h"

namespace llama {

// One writer thread's record. The thread that holds it (in_use) is the only one to touch
// `sequence` and to store into `inflight`; the rebuilder reads `inflight`.
struct VectorImpl::WriterRecord {
  // While a write is between taking its timestamp and installing its entry: a lower bound
  // of that timestamp (0 otherwise). The rebuilder's cut stays at or below it.
  std::atomic<std::uint64_t> inflight{0};
  std::atomic<bool> in_use{true};
  std::uint32_t id = 0;
  std::uint64_t sequence = 0;
};

namespace {

// Per thread: the writer record it holds in each live vector it wrote to. An entry goes
// when the thread exits, or, once its vector is destroyed, when the thread next registers
// with a vector (so a long-lived thread writing to many short-lived vectors keeps only the
// entries of the live ones).
struct ThreadWriterCache {
  struct Held {
    std::uint64_t vector_id;
    std::weak_ptr<const int> vector_alive;
    std::shared_ptr<void> record;
    std::atomic<bool>* in_use;
  };
  std::vector<Held> held;
  ~ThreadWriterCache() {
    for (Held& h : held) h.in_use->store(false, std::memory_order_release);
  }
};
thread_local ThreadWriterCache thread_writers;

}  // namespace

VectorImpl::WriterRecord* VectorImpl::LocalRecord() {
  for (const auto& held : thread_writers.held) {
    if (held.vector_id == id_) return static_cast<WriterRecord*>(held.record.get());
  }
  // The first write of this thread to this vector: drop the entries of destroyed vectors
  // (their records are referenced by nothing else once the vector is gone).
  std::erase_if(thread_writers.held, [](const ThreadWriterCache::Held& h) { return h.vector_alive.expired(); });
  std::lock_guard lock(writers_mu_);
  std::shared_ptr<WriterRecord> record;
  for (const auto& owned : writer_owners_) {
    bool idle = false;
    if (owned->in_use.compare_exchange_strong(idle, true)) {
      record = owned;
      break;
    }
  }
  if (!record) {
    const std::size_t n = writer_owners_.size();
    record = std::make_shared<WriterRecord>();
    record->id = static_cast<std::uint32_t>(n);
    if (n < kMaxWriters) {
      writer_owners_.push_back(record);
      writers_[n].store(record.get(), std::memory_order_seq_cst);
      writer_count_.store(n + 1, std::memory_order_seq_cst);
    } else {
      record.reset();
    }
  }
  // A record shared by two threads would let one clear the other's in-flight bound, and
  // the cut could pass an entry not yet installed: refuse instead.
  if (!record) return nullptr;
  thread_writers.held.push_back({id_, alive_, record, &record->in_use});
  return record.get();
}

std::size_t VectorImpl::ThreadWriterRecords() { return thread_writers.held.size(); }

std::uint64_t VectorImpl::Cut() const {
  std::uint64_t cut = clock_.load(std::memory_order_seq_cst);
  const std::size_t n = writer_count_.load(std::memory_order_seq_cst);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t inflight =
        writers_[i].load(std::memory_order_seq_cst)->inflight.load(std::memory_order_seq_cst);
    if (inflight != 0) cut = std::min(cut, inflight);
  }
  return cut;
}

Status VectorImpl::RefusalReason() const {
  std::lock_guard lock(mu_);
  if (!failed_) return failed_;
  return MakeError(ErrorCode::kAborted, "vector: closed");
}

Result<VectorTicket> VectorImpl::Write(std::vector<VectorOp> ops, VectorWriteOptions o) {
  // Refused before taking a timestamp: the entry's u16 count and u32 value lengths.
  LLAMA_RETURN_IF_ERROR(ValidateOps(ops, max_value_size()));
  if (!accepting_.load(std::memory_order_acquire)) return tl::unexpected(RefusalReason().error());
  WriterRecord* writer = LocalRecord();
  if (writer == nullptr) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "vector: more than " + std::to_string(kMaxWriters) + " threads write at once");
  }
  WriterRecord& me = *writer;
  const std::uint32_t slot = me.id % static_cast<std::uint32_t>(config_.buffers.size());
  const PageId pid = config_.buffers[slot];
  LLAMA_RETURN_IF_ERROR(WaitForBufferRoom(slots_[slot]));

  // Encoded and checked before the write takes its timestamp: a timestamp once taken must
  // become an entry (the timestamps are dense, which recovery's gap check relies on), so
  // everything that may refuse the write comes first. The timestamp is written in after.
  VectorEntry entry;
  entry.thread = me.id;
  entry.sequence = me.sequence;
  entry.timestamp = vector_format::kMinTimestamp;
  entry.ops = std::move(ops);
  auto payload = EncodeForBuffer(entry);
  LLAMA_RETURN_IF_ERROR(payload);
  ++me.sequence;
  VectorTicket ticket{0, slot};
  {
    // The cut: publish a lower bound of the timestamp before taking it, and keep it until
    // the entry is installed (and the write counted), so no cut passes the entry before it
    // is on its buffer page. Cleared before the sync below, which waits for the cut.
    me.inflight.store(clock_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    ticket.timestamp = clock_.fetch_add(1, std::memory_order_seq_cst);
    struct ClearInflight {
      WriterRecord& r;
      ~ClearInflight() { r.inflight.store(0, std::memory_order_seq_cst); }
    } clear{me};
    if (options_.test_hook) options_.test_hook("write timestamped", ticket.timestamp);
    auto installed = InstallEntry(pid, ticket.timestamp, *payload);
    if (!installed) {
      // The timestamp is taken and its entry will never exist: recovery would stop at this
      // gap, so no later write may be acknowledged as synced. Failed before the in-flight
      // bound clears, so every Sync waiting for this write sees the failure.
      Fail(MakeError(installed.error().code(), "vector: the write at timestamp " + std::to_string(ticket.timestamp) +
                                                   " could not be installed: " + installed.error().message()));
      return tl::unexpected(installed.error());
    }
    slots_[slot].live_bytes.fetch_add(BufferedBytes(**installed));
    if (pending_.fetch_add(1) + 1 >= batch_window_.load()) rebuild_cv_.notify_one();
  }
  if (o.sync) {
    LLAMA_RETURN_IF_ERROR(Sync(ticket));
  }
  return ticket;
}

Status VectorImpl::WaitForBufferRoom(Slot& buffer) {
  const auto limit = static_cast<std::int64_t>(options_.max_buffer_bytes);
  if (buffer.live_bytes.load() <= limit) return OkStatus();
  // The rebuilder has fallen this far behind: wake it and wait for it to consume.
  std::unique_lock lock(mu_);
  wake_ = true;
  rebuild_cv_.notify_one();
  visible_cv_.wait(lock, [&] { return buffer.live_bytes.load() <= limit || !failed_ || stop_; });
  return failed_;
}

Result<std::vector<std::byte>> VectorImpl::EncodeForBuffer(const VectorEntry& entry) const {
  auto encoded = EncodeEntry(entry);
  LLAMA_RETURN_IF_ERROR(encoded);
  if (encoded->size() > options_.max_buffer_bytes / kMinWritesPerBuffer) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: a write of " + std::to_string(encoded->size()) +
                                                      " bytes is larger than half of max_buffer_bytes");
  }
  return encoded;
}

Result<DeltaHandle> VectorImpl::InstallEntry(PageId pid, std::uint64_t timestamp, std::vector<std::byte>& payload) {
  // Fails only when the clock is exhausted (kMaxTimestamp) or the store fails: the
  // payload's size was checked against max_buffer_bytes, far below a delta's u32 limit.
  LLAMA_RETURN_IF_ERROR(SetEntryTimestamp(payload, timestamp));
  auto record = DeltaRecord::MakeUpdate(pid, payload);
  LLAMA_RETURN_IF_ERROR(record);
  DeltaHandle delta = Share(std::move(*record));
  LLAMA_RETURN_IF_ERROR(PrependToBuffer(pid, delta));
  return delta;
}

Status VectorImpl::PrependToBuffer(PageId pid, const DeltaHandle& delta) {
  auto guard = store_.EnterGeneration();
  for (;;) {  // lost only to another writer's prepend or the rebuilder's truncation: again
    auto ref = store_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    auto out = store_.UpdateD(guard, pid, *ref, delta);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) return OkStatus();
  }
}

void VectorImpl::WaitForEarlierWrites(std::uint64_t timestamp) const {
  // The rebuilder's cut, reused: once it is above `timestamp`, every write that took a
  // smaller timestamp has its entry on its buffer page (or has failed the vector). What
  // holds it back is only writes between taking their timestamp and their CAS landing,
  // a window of a copy into a delta and a CAS, so this spins, yielding, rather than
  // making every write wake syncers.
  if (Cut() > timestamp) return;
  if (options_.test_hook) options_.test_hook("sync waits", timestamp);
  while (Cut() <= timestamp) std::this_thread::yield();
}

Status VectorImpl::Sync(VectorTicket ticket) {
  if (ticket.slot >= config_.buffers.size() || ticket.timestamp >= clock_.load(std::memory_order_seq_cst))
    return MakeError(ErrorCode::kInvalidArgument, "vector: not a ticket of this vector");
  // Every write ordered before this one, in every slot, is made durable with it, so that
  // recovery (which replays only the gap-free run of timestamps) keeps this write.
  WaitForEarlierWrites(ticket.timestamp);
  if (failed_once_.load(std::memory_order_seq_cst)) {
    // An earlier write may have lost its place (a timestamp without an entry), or the
    // vector stopped: nothing after that gap is promised.
    std::lock_guard lock(mu_);
    return failed_;
  }
  // An entry below the ticket is in its buffer page, or it was consumed by a publication
  // that was logged before the buffer dropped it: FlushBuffers syncs past both.
  return FlushBuffers();
}

}  // namespace llama
