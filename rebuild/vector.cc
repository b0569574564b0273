#include "llama/vector.h"

#include <algorithm>
#include <chrono>

#include "llama/coding.h"
#include "lss/log/log_format.h"
#include "rebuild/tree_page.h"
#include "rebuild/vector_impl.h"

namespace llama {

namespace {

std::atomic<std::uint64_t> next_vector_id{1};

tl::unexpected<Error> Corrupt(const std::string& what) { return MakeError(ErrorCode::kCorruption, "vector: " + what); }

// The contents of a buffer page's base: just the magic, so the page is recognizable.
std::vector<std::byte> BufferBaseContents() {
  std::vector<std::byte> out(4);
  EncodeFixed32(out.data(), vector_format::kBufferMagic);
  return out;
}

// What an entry adds to its buffer page's state as the store sizes it (the record and its
// node), so flow control keeps the state below the store's record limit.
std::int64_t BufferedBytes(const DeltaRecord& delta) { return static_cast<std::int64_t>(delta.bytes().size()) + 64; }

}  // namespace

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

VectorImpl::VectorImpl(Store& store, VectorOptions options)
    : store_(store),
      options_(options),
      id_(next_vector_id.fetch_add(1)),
      writers_(new std::atomic<WriterRecord*>[kMaxWriters]),
      batch_window_(std::clamp(options.initial_batch_window, options.min_batch_window, options.max_batch_window)) {
  for (std::size_t i = 0; i < kMaxWriters; ++i) writers_[i].store(nullptr);
}

Result<std::unique_ptr<VectorImpl>> VectorImpl::Open(Store& store, std::string_view name, VectorOptions options) {
  if (options.min_batch_window < 1 || options.min_batch_window > options.max_batch_window) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: need 1 <= min_batch_window <= max_batch_window");
  }
  if (options.writer_slots < 1 || options.writer_slots > vector_format::kMaxSlots) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "vector: writer_slots must be 1.." + std::to_string(vector_format::kMaxSlots));
  }
  // A buffer page's state must fit one log record, and none is larger than 1 GiB (the
  // largest segment). The bound also keeps the int64 flow-control limit positive.
  if (options.max_buffer_bytes < 4096 || options.max_buffer_bytes > log_format::kMaxSegmentSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "vector: max_buffer_bytes must be 4 KiB..1 GiB (a buffer page's state must "
                     "fit one log record)");
  }
  std::unique_ptr<VectorImpl> v(new VectorImpl(store, options));
  LLAMA_RETURN_IF_ERROR(v->Recover(name));
  v->rebuilder_ = std::thread([raw = v.get()] { raw->RebuilderLoop(); });
  return v;
}

VectorImpl::~VectorImpl() { (void)Close(); }

Status VectorImpl::Create() {
  VectorConfig config;
  config.branching = options_.branching;
  config.leaf_max_elements =
      options_.leaf_max_elements != 0 ? options_.leaf_max_elements : MaxLeafElements(options_.leaf_page_size);
  config.leaf_page_size = options_.leaf_page_size;
  config.buffers.assign(options_.writer_slots, 0);
  if (auto s = ValidateVectorConfig(config); !s) return s;
  auto guard = store_.EnterGeneration();
  for (PageId& pid : config.buffers) {
    auto allocated = store_.Allocate();
    LLAMA_RETURN_IF_ERROR(allocated);
    pid = *allocated;
    auto page = BasePage::Create(pid, BasePage::kMinPageSize, BufferBaseContents());
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto installed = store_.UpdateR(guard, pid, PageRef::Empty(), chain);
    LLAMA_RETURN_IF_ERROR(installed);
    LLAMA_RETURN_IF_ERROR(store_.Flush(guard, pid));
  }
  auto encoded = EncodeMeta(config);
  LLAMA_RETURN_IF_ERROR(encoded);
  const std::vector<std::byte>& contents = *encoded;
  for (;;) {
    auto ref = store_.Read(guard, meta_);
    LLAMA_RETURN_IF_ERROR(ref);
    // The buffer list is at most kMaxSlots ids, so some page size always holds it
    // (static_assert in vector_format.h).
    auto page =
        BasePage::Create(meta_, BasePage::SmallestSizeFor(contents.size()).value_or(BasePage::kMaxPageSize), contents);
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto installed = store_.UpdateR(guard, meta_, *ref, chain);
    LLAMA_RETURN_IF_ERROR(installed);
    if (installed->installed) break;
  }
  auto pos = store_.Flush(guard, meta_);
  LLAMA_RETURN_IF_ERROR(pos);
  if (auto s = store_.Sync(*pos); !s) return s;
  config_ = std::move(config);
  return OkStatus();
}

Status VectorImpl::Recover(std::string_view name) {
  auto meta = store_.OpenRoot("vector:" + std::string(name));
  LLAMA_RETURN_IF_ERROR(meta);
  meta_ = *meta;
  VectorPublication publication;
  publication.watermark = 1;
  {
    auto guard = store_.EnterGeneration();
    auto ref = store_.Read(guard, meta_);
    LLAMA_RETURN_IF_ERROR(ref);
    const BasePage* base = ref->state().base();
    if (base == nullptr) return Corrupt("meta page " + std::to_string(meta_) + " has no base page");
    if (base->used() == 0) {
      if (auto s = Create(); !s) return s;
    } else {
      auto config = DecodeMeta(base->contents());
      LLAMA_RETURN_IF_ERROR(config);
      config_ = std::move(*config);
      for (const PageNode& node : ref->state()) {  // newest first: the first publication wins
        if (!node.is_delta() || !node.delta()->view().is_update()) continue;
        auto payload = node.delta()->view().payload();
        if (VectorPayloadTag(payload) != vector_format::kPublicationTag) continue;
        auto decoded = DecodePublication(payload);
        LLAMA_RETURN_IF_ERROR(decoded);
        publication = std::move(*decoded);
        break;
      }
    }
  }
  slots_ = std::make_unique<Slot[]>(config_.buffers.size());
  consumed_ = std::max<std::uint64_t>(publication.watermark, 1);
  current_ = std::make_shared<const PublishedTree>(
      publication.generation, consumed_, RrbBuilder::Tree{publication.root, publication.height, publication.size},
      &store_, &config_);
  for (PageId pid : publication.pending_free) pending_free_.push_back({pid, 0, publication.generation});

  std::uint64_t max_timestamp = 0;
  auto batch = Collect(consumed_, UINT64_MAX, &max_timestamp);
  LLAMA_RETURN_IF_ERROR(batch);
  clock_.store(std::max(consumed_, max_timestamp + 1));
  batch->cut = clock_.load();
  metrics_.replayed_at_open = batch->entries.size();
  watermark_ = consumed_;
  if (!batch->entries.empty() || !pending_free_.empty()) {
    if (auto s = RebuildAndPublish(std::move(*batch)); !s) return s;
  }
  return OkStatus();
}

Result<VectorImpl::Batch> VectorImpl::Collect(std::uint64_t from, std::uint64_t cut, std::uint64_t* max_timestamp) {
  Batch batch;
  batch.cut = cut;
  auto guard = store_.EnterGeneration();
  for (PageId pid : config_.buffers) {
    auto ref = store_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    for (const PageNode& node : ref->state()) {
      if (!node.is_delta() || !node.delta()->view().is_update()) continue;
      auto payload = node.delta()->view().payload();
      const std::string where = "buffer page " + std::to_string(pid) + ": ";
      // Every entry's timestamp is checked, not only those of the batch: recovery sets the
      // clock past the largest, which must not wrap.
      auto ts = EntryTimestamp(payload);
      if (!ts) return Corrupt(where + ts.error().message());
      if (max_timestamp != nullptr) *max_timestamp = std::max(*max_timestamp, *ts);
      if (*ts < from || *ts >= cut) continue;
      auto entry = DecodeEntry(payload);
      if (!entry) return Corrupt(where + entry.error().message());
      // Write refused such a value for this vector's leaves: a longer one is damage, not
      // a write to reject at replay.
      if (auto s = ValidateOps(entry->ops, max_value_size()); !s) {
        return Corrupt(where + s.error().message());
      }
      batch.entries.push_back(std::move(*entry));
    }
  }
  return batch;
}

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
  Slot& buffer = slots_[slot];
  const auto limit = static_cast<std::int64_t>(options_.max_buffer_bytes);
  if (buffer.live_bytes.load() > limit) {
    // Flow control: the rebuilder has fallen this far behind; wait for it to consume.
    std::unique_lock lock(mu_);
    wake_ = true;
    rebuild_cv_.notify_one();
    visible_cv_.wait(lock, [&] { return buffer.live_bytes.load() <= limit || !failed_ || stop_; });
    LLAMA_RETURN_IF_ERROR(failed_);
  }

  VectorEntry entry;
  entry.thread = me.id;
  entry.sequence = me.sequence++;
  entry.ops = std::move(ops);
  me.inflight.store(clock_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  entry.timestamp = clock_.fetch_add(1, std::memory_order_seq_cst);
  struct ClearInflight {
    WriterRecord& r;
    ~ClearInflight() { r.inflight.store(0, std::memory_order_seq_cst); }
  } clear{me};
  auto encoded = EncodeEntry(entry);
  LLAMA_RETURN_IF_ERROR(encoded);
  const std::vector<std::byte>& payload = *encoded;
  if (payload.size() > options_.max_buffer_bytes / 2) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: a write of " + std::to_string(payload.size()) +
                                                      " bytes is larger than half of max_buffer_bytes");
  }
  auto record = DeltaRecord::MakeUpdate(pid, payload);
  LLAMA_RETURN_IF_ERROR(record);
  DeltaHandle delta = Share(std::move(*record));
  auto guard = store_.EnterGeneration();
  for (;;) {
    auto ref = store_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    auto out = store_.UpdateD(guard, pid, *ref, delta);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) break;
  }
  buffer.live_bytes.fetch_add(BufferedBytes(*delta));
  const VectorTicket ticket{entry.timestamp, slot};
  if (pending_.fetch_add(1) + 1 >= batch_window_.load()) rebuild_cv_.notify_one();
  if (o.sync) {
    LLAMA_RETURN_IF_ERROR(Sync(ticket));
  }
  return ticket;
}

Status VectorImpl::Sync(VectorTicket ticket) {
  if (ticket.slot >= config_.buffers.size())
    return MakeError(ErrorCode::kInvalidArgument, "vector: not a ticket of this vector");
  auto guard = store_.EnterGeneration();
  // The entry is in its buffer page, or it was consumed by a publication that is logged
  // before the buffer dropped it: syncing past both covers it either way.
  auto pos = store_.Flush(guard, config_.buffers[ticket.slot]);
  LLAMA_RETURN_IF_ERROR(pos);
  const LssAddress published = LssAddress::FromRaw(published_position_raw_.load());
  return store_.Sync(std::max(*pos, published));
}

Status VectorImpl::WaitVisible(VectorTicket ticket) {
  std::unique_lock lock(mu_);
  wake_ = true;
  rebuild_cv_.notify_one();
  visible_cv_.wait(lock, [&] { return watermark_ > ticket.timestamp || !failed_ || rebuilder_exited_; });
  if (!failed_) return failed_;
  if (watermark_ <= ticket.timestamp)
    return MakeError(ErrorCode::kAborted, "vector: closed before the write was published");
  if (auto it = rejected_.find(ticket.timestamp); it != rejected_.end()) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: write rejected: " + it->second);
  }
  return OkStatus();
}

void VectorImpl::HoldRebuilderForTesting(bool hold) {
  std::unique_lock lock(mu_);
  hold_ = hold;
  rebuild_cv_.notify_one();
  if (hold) visible_cv_.wait(lock, [&] { return parked_ || rebuilder_exited_ || stop_; });
}

VectorSnapshot VectorImpl::Snapshot() const {
  std::lock_guard lock(current_mu_);
  return VectorSnapshot(current_);
}

VectorMetrics VectorImpl::metrics() const {
  std::lock_guard lock(mu_);
  VectorMetrics m = metrics_;
  m.phase = phase_.load();
  m.batch_window = batch_window_.load();
  return m;
}

std::vector<PageId> VectorImpl::Reclaimable() {
  std::vector<std::uint64_t> live;
  {
    std::lock_guard lock(current_mu_);
    live.push_back(current_->generation);
  }
  std::erase_if(retired_, [](const Retired& r) { return r.snapshot.expired(); });
  for (const Retired& r : retired_) live.push_back(r.generation);
  std::vector<PageId> out;
  std::erase_if(pending_free_, [&](const PendingFree& p) {
    // A page is visible to the snapshots of generations [created, dropped).
    for (std::uint64_t g : live) {
      if (g >= p.created && g < p.dropped) return false;
    }
    out.push_back(p.pid);
    return true;
  });
  return out;
}

Status VectorImpl::Publish(const VectorPublication& publication) {
  auto encoded = EncodePublication(publication);
  LLAMA_RETURN_IF_ERROR(encoded);
  auto record = DeltaRecord::MakeUpdate(meta_, *encoded);
  LLAMA_RETURN_IF_ERROR(record);
  DeltaHandle delta = Share(std::move(*record));
  auto guard = store_.EnterGeneration();
  for (;;) {
    auto ref = store_.Read(guard, meta_);
    LLAMA_RETURN_IF_ERROR(ref);
    Result<UpdateOutcome> out = UpdateOutcome{false, *ref};
    if (ref->state().chain_length() > 8) {
      // Only the newest publication matters (it carries the pages still to free), so the
      // chain is consolidated to the configuration and that one delta.
      const BasePage* base = ref->state().base();
      if (base == nullptr) return Corrupt("meta page has no base page");
      auto copy = BasePage::Create(meta_, base->page_size(), base->contents());
      LLAMA_RETURN_IF_ERROR(copy);
      OwnedChain chain = PageChainBuilder::Prepend(delta, PageChainBuilder::Base(Share(std::move(*copy))));
      out = store_.UpdateR(guard, meta_, *ref, chain);
    } else {
      out = store_.UpdateD(guard, meta_, *ref, delta);
    }
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) break;
  }
  auto pos = store_.Flush(guard, meta_);
  LLAMA_RETURN_IF_ERROR(pos);
  published_position_raw_.store(pos->raw());
  return OkStatus();
}

Status VectorImpl::TruncateBuffers(std::uint64_t cut) {
  auto guard = store_.EnterGeneration();
  for (std::size_t slot = 0; slot < config_.buffers.size(); ++slot) {
    const PageId pid = config_.buffers[slot];
    for (;;) {
      auto ref = store_.Read(guard, pid);
      LLAMA_RETURN_IF_ERROR(ref);
      std::vector<DeltaHandle> kept;  // newest first
      std::int64_t dropped_bytes = 0;
      bool consumed_any = false;
      // Walk the spine: nodes share their records through handles, so the new chain can
      // keep the same records.
      for (const PageNode* node = ref->state().head(); node != nullptr; node = node->next()) {
        if (!node->is_delta() || !node->delta()->view().is_update()) continue;
        auto ts = EntryTimestamp(node->delta()->view().payload());
        if (!ts) return Corrupt("buffer page " + std::to_string(pid) + ": " + ts.error().message());
        if (*ts >= cut) {
          kept.push_back(node->delta_handle());
        } else {
          consumed_any = true;
          dropped_bytes += BufferedBytes(*node->delta());
        }
      }
      if (!consumed_any) break;
      auto page = BasePage::Create(pid, BasePage::kMinPageSize, BufferBaseContents());
      LLAMA_RETURN_IF_ERROR(page);
      OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
      for (auto it = kept.rbegin(); it != kept.rend(); ++it) chain = PageChainBuilder::Prepend(*it, std::move(chain));
      auto out = store_.UpdateR(guard, pid, *ref, chain);
      LLAMA_RETURN_IF_ERROR(out);
      if (!out->installed) continue;  // a writer prepended meanwhile: again
      slots_[slot].live_bytes.fetch_sub(dropped_bytes);
      LLAMA_RETURN_IF_ERROR(store_.Flush(guard, pid));
      break;
    }
  }
  return OkStatus();
}

Status VectorImpl::RebuildAndPublish(Batch batch) {
  phase_.store(RebuildPhase::kSortingEntries);
  std::sort(batch.entries.begin(), batch.entries.end(),
            [](const VectorEntry& a, const VectorEntry& b) { return a.timestamp < b.timestamp; });
  phase_.store(RebuildPhase::kPublishingSnapshot);
  std::shared_ptr<const PublishedTree> previous;
  {
    std::lock_guard lock(current_mu_);
    previous = current_;
  }
  RrbBuilder builder(store_, config_, previous->tree());
  std::vector<std::pair<std::uint64_t, std::string>> rejected;
  for (const VectorEntry& entry : batch.entries) {
    auto s = builder.Apply(entry);
    if (s) continue;
    if (s.error().code() != ErrorCode::kInvalidArgument) return s;
    rejected.emplace_back(entry.timestamp, s.error().message());
  }
  auto written = builder.Materialize();
  LLAMA_RETURN_IF_ERROR(written);
  const std::uint64_t generation = previous->generation + 1;
  for (PageId pid : written->created) created_in_[pid] = generation;
  for (PageId pid : written->dropped) {
    auto it = created_in_.find(pid);
    pending_free_.push_back({pid, it == created_in_.end() ? 0 : it->second, generation});
    if (it != created_in_.end()) created_in_.erase(it);
  }
  // Pages no snapshot can reach any more: freed once this publication is logged.
  std::vector<PageId> reclaim = Reclaimable();

  VectorPublication publication;
  publication.generation = generation;
  publication.root = written->tree.root;
  publication.height = written->tree.height;
  publication.size = written->tree.size;
  publication.watermark = batch.cut;
  for (const PendingFree& p : pending_free_) publication.pending_free.push_back(p.pid);
  if (auto s = Publish(publication); !s) return s;

  auto next = std::make_shared<const PublishedTree>(generation, batch.cut, written->tree, &store_, &config_);
  {
    std::lock_guard lock(current_mu_);
    current_ = next;
  }
  retired_.push_back({previous, previous->generation});
  previous.reset();
  {
    auto guard = store_.EnterGeneration();
    for (PageId pid : reclaim) {
      LLAMA_RETURN_IF_ERROR(store_.Free(guard, pid));
    }
  }
  consumed_ = batch.cut;
  if (auto s = TruncateBuffers(batch.cut); !s) return s;

  std::lock_guard lock(mu_);
  for (auto& [ts, why] : rejected) rejected_.emplace(ts, std::move(why));
  while (rejected_.size() > 65536) rejected_.erase(rejected_.begin());
  watermark_ = batch.cut;
  metrics_.last_batch_size = batch.entries.size();
  metrics_.total_batch_entries += batch.entries.size();
  metrics_.rebuild_count += 1;
  metrics_.snapshot_generation = generation;
  metrics_.size = written->tree.size;
  metrics_.rejected_entries += rejected.size();
  metrics_.pages_written += written->created.size();
  metrics_.pages_reclaimed += reclaim.size();
  metrics_.pages_pending_free = pending_free_.size();
  metrics_.retired_snapshots_waiting = 0;
  for (const Retired& r : retired_) metrics_.retired_snapshots_waiting += r.snapshot.expired() ? 0 : 1;
  // Adaptive window: the batch is the write pressure one rebuild saw.
  std::uint64_t window = batch_window_.load();
  if (batch.entries.size() > window) {
    window = std::min(window * 2, options_.max_batch_window);
  } else if (batch.entries.size() < window / 2) {
    window = std::max(window / 2, options_.min_batch_window);
  }
  batch_window_.store(window);
  visible_cv_.notify_all();
  return OkStatus();
}

Status VectorImpl::RefusalReason() const {
  std::lock_guard lock(mu_);
  if (!failed_) return failed_;
  return MakeError(ErrorCode::kAborted, "vector: closed");
}

void VectorImpl::Fail(const Status& s) {
  std::lock_guard lock(mu_);
  accepting_.store(false, std::memory_order_release);
  if (failed_) failed_ = s;
  visible_cv_.notify_all();
}

void VectorImpl::RebuilderLoop() {
  struct Exit {
    VectorImpl& v;
    ~Exit() {
      std::lock_guard lock(v.mu_);
      v.rebuilder_exited_ = true;
      v.phase_.store(RebuildPhase::kSleeping);
      v.visible_cv_.notify_all();
    }
  } on_exit{*this};
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      phase_.store(RebuildPhase::kSleeping);
      rebuild_cv_.wait_for(lock, std::chrono::microseconds(options_.max_delay_us), [&] {
        return stop_ || wake_ || hold_ ||
               static_cast<std::int64_t>(pending_.load()) >= static_cast<std::int64_t>(batch_window_.load());
      });
      for (parked_ = hold_ && !stop_; parked_; parked_ = hold_ && !stop_) {
        visible_cv_.notify_all();  // HoldRebuilderForTesting waits for this
        rebuild_cv_.wait(lock);
      }
      stopping = stop_;
      wake_ = false;
      if (!failed_) return;
    }
    phase_.store(RebuildPhase::kRotatingBuffers);
    const std::uint64_t cut = Cut();
    if (cut > consumed_) {
      phase_.store(RebuildPhase::kCollectingEntries);
      auto batch = Collect(consumed_, cut, nullptr);
      if (!batch) {
        Fail(tl::unexpected(batch.error()));
        return;
      }
      const std::uint64_t taken = batch->entries.size();
      if (taken > 0) {
        if (auto s = RebuildAndPublish(std::move(*batch)); !s) {
          Fail(s);
          return;
        }
        pending_.fetch_sub(taken);
      } else {
        // Timestamps taken by writes that failed: nothing to publish, move past them.
        consumed_ = cut;
        std::lock_guard lock(mu_);
        watermark_ = cut;
        visible_cv_.notify_all();
      }
    }
    if (stopping && Cut() <= consumed_) {
      phase_.store(RebuildPhase::kSleeping);
      return;
    }
  }
}

Status VectorImpl::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return failed_;
    closed_ = true;
    stop_ = true;
    accepting_.store(false, std::memory_order_release);
    rebuild_cv_.notify_one();
  }
  if (rebuilder_.joinable()) rebuilder_.join();
  {
    std::lock_guard lock(mu_);
    visible_cv_.notify_all();
    if (!failed_) return failed_;
  }
  auto guard = store_.EnterGeneration();
  LssAddress last;
  for (PageId pid : config_.buffers) {
    auto pos = store_.Flush(guard, pid);
    LLAMA_RETURN_IF_ERROR(pos);
    last = std::max(last, *pos);
  }
  last = std::max(last, LssAddress::FromRaw(published_position_raw_.load()));
  return store_.Sync(last);
}

// ---- Vector: forwards to VectorImpl.

Vector::Vector(std::unique_ptr<VectorImpl> impl) : impl_(std::move(impl)) {}
Vector::~Vector() = default;

Result<std::unique_ptr<Vector>> Vector::Open(Store& store, std::string_view name, VectorOptions options) {
  auto impl = VectorImpl::Open(store, name, options);
  LLAMA_RETURN_IF_ERROR(impl);
  return std::unique_ptr<Vector>(new Vector(std::move(*impl)));
}

Status Vector::Close() { return impl_->Close(); }

Result<VectorTicket> Vector::append(std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kAppend, 0, std::string(v)}}, o);
}
Result<VectorTicket> Vector::prepend(std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kPrepend, 0, std::string(v)}}, o);
}
Result<VectorTicket> Vector::insert(std::uint64_t i, std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kInsert, i, std::string(v)}}, o);
}
Result<VectorTicket> Vector::erase(std::uint64_t i, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kErase, i, {}}}, o);
}
Result<VectorTicket> Vector::update(std::uint64_t i, std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kUpdate, i, std::string(v)}}, o);
}
Result<VectorTicket> Vector::write(const VectorWriteBatch& batch, VectorWriteOptions o) {
  return impl_->Write(batch.ops(), o);
}

Status Vector::sync(VectorTicket ticket) { return impl_->Sync(ticket); }
Status Vector::wait_visible(VectorTicket ticket) { return impl_->WaitVisible(ticket); }
VectorSnapshot Vector::snapshot() const { return impl_->Snapshot(); }
VectorMetrics Vector::metrics() const { return impl_->metrics(); }
const VectorConfig& Vector::config() const { return impl_->config(); }
PageId Vector::meta_page() const { return impl_->meta_page(); }
std::size_t Vector::max_value_size() const { return impl_->max_value_size(); }
std::size_t Vector::ThreadWriterRecords() { return VectorImpl::ThreadWriterRecords(); }
void Vector::HoldRebuilderForTesting(bool hold) { impl_->HoldRebuilderForTesting(hold); }

}  // namespace llama
