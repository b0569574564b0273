#include "lss/log/log_writer.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <string>

#include "util/byte_io.h"

namespace llama {

using namespace log_format;

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

// ---- Reservation ----

LogWriter::Reservation& LogWriter::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Abandon();
    writer_ = std::exchange(other.writer_, nullptr);
    index_ = other.index_;
    data_ = other.data_;
    size_ = other.size_;
    address_ = other.address_;
  }
  return *this;
}

LogWriter::Reservation::~Reservation() { Abandon(); }

void LogWriter::Reservation::Abandon() {
  LogWriter* writer = std::exchange(writer_, nullptr);
  if (writer == nullptr) return;
  // Abandoned (e.g. the flush lost its CAS): fill the space with a failed-flush marker,
  // which recovery skips, so the buffer has no hole and can be written out.
  std::memset(data_, 0, size_);
  EncodeFrame(data_, RecordKind::kFailedFlush, address_,
              std::span<const std::byte>(data_ + kFrameHeaderSize, size_ - kFrameHeaderSize), false, 0);
  writer->stat_abandoned_.fetch_add(1, std::memory_order_relaxed);
  writer->ReleaseWriter(index_);
}

// ---- LogWriter ----

LogWriter::LogWriter(SegmentSet& segments, Options options)
    : segments_(segments),
      options_(options),
      max_record_size_(std::min<std::uint32_t>(
          options.buffer_size,
          segments.segment_size() - static_cast<std::uint32_t>(kSegmentHeaderSize + kSegmentEndRecordSize))) {
  for (std::uint32_t i = 0; i < options_.buffer_count; ++i) {
    auto b = std::make_unique<Buffer>();
    // Room for a SegmentEnd record past the reservable bytes.
    b->data = std::make_unique<std::byte[]>(options_.buffer_size + kSegmentEndRecordSize);
    ring_.push_back(std::move(b));
  }
}

Result<std::unique_ptr<LogWriter>> LogWriter::Open(SegmentSet& segments, std::uint32_t first_segment,
                                                   LssAddress resume_from, Options options) {
  if (options.buffer_count < 2) {
    return MakeError(ErrorCode::kInvalidArgument, "log writer: need at least 2 flush buffers");
  }
  if (options.max_syncs_in_flight < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "log writer: max_syncs_in_flight must be at least 1");
  }
  if (options.buffer_size < 4096) {
    return MakeError(ErrorCode::kInvalidArgument, "log writer: flush buffers under 4 KiB");
  }
  if (segments.segment_size() < kMinSegmentSize || segments.segment_size() > kMaxSegmentSize) {
    return MakeError(ErrorCode::kInvalidArgument, "log writer: segment size out of range");
  }
  if (first_segment == 0 || first_segment > LssAddress::kMaxSegment) {
    return MakeError(ErrorCode::kInvalidArgument, "log writer: bad first segment id");
  }
  std::unique_ptr<LogWriter> w(new LogWriter(segments, options));
  w->first_segment_ = first_segment;
  w->resume_from_ = resume_from;
  const LssAddress start = LssAddress::Make(first_segment, kSegmentHeaderSize);
  w->written_.store(start.raw());
  w->durable_.store(start.raw());
  w->sync_point_.store(start.raw());
  w->OpenBuffer(0, first_segment, kSegmentHeaderSize);
  w->io_thread_ = std::thread([raw = w.get()] { raw->IoLoop(); });
  return w;
}

LogWriter::~LogWriter() { (void)Close(); }

std::uint32_t LogWriter::usable_end() const {
  return segments_.segment_size() - static_cast<std::uint32_t>(kSegmentEndRecordSize);
}

void LogWriter::OpenBuffer(std::uint64_t index, std::uint32_t segment, std::uint32_t base) {
  Buffer& b = BufferAt(index);
  {
    // The ring is full until the buffer is written out: write what is queued (this thread
    // may be the caller the queued buffers are waiting for), else wait for whoever writes.
    std::unique_lock lock(io_mu_);
    while (b.busy && !error_) {
      WriteQueued(lock, true);
      if (b.busy && !error_) state_cv_.wait(lock, [&] { return !b.busy || error_ || CanWriteQueued(); });
    }
    b.busy = true;  // on failure too: nothing will be written, but the ring moves on
    b.done = false;
  }
  assert((b.state.load() & kWritersMask) == 0 && "a buffer is reopened only once every writer left");
  b.segment.store(segment, kRelaxed);
  b.base.store(base, kRelaxed);
  b.limit.store(std::min(options_.buffer_size, usable_end() - base), kRelaxed);
  b.final_size = 0;
  b.next_segment = 0;
  b.state.store(RoundBits(index), std::memory_order_release);
  current_.store(index, std::memory_order_release);
  current_.notify_all();
}

Status LogWriter::AppendSyncPoint() {
  // A group commit finished since the last SyncPoint: the next record carries the news
  // (docs/DESIGN.md, "Damage or torn tail"). One thread wins the exchange.
  const std::uint64_t durable = durable_.load(std::memory_order_acquire);
  std::uint64_t marked = sync_point_.load(kRelaxed);
  if (durable <= marked || !sync_point_.compare_exchange_strong(marked, durable, kRelaxed)) return OkStatus();
  auto r = ReserveSpace(kSyncPointRecordSize);
  LLAMA_RETURN_IF_ERROR(r);
  std::byte body[kSyncPointBodySize];
  ByteWriter(body).U64(durable);
  EncodeFrame(r->bytes().data(), RecordKind::kSyncPoint, r->address(), body, false, 0);
  Commit(std::move(*r));
  stat_sync_points_.fetch_add(1, kRelaxed);
  return OkStatus();
}

Result<LogWriter::Reservation> LogWriter::Reserve(std::size_t framed_size) {
  LLAMA_RETURN_IF_ERROR(AppendSyncPoint());
  return ReserveSpace(framed_size);
}

Result<LogWriter::Reservation> LogWriter::ReserveSpace(std::size_t framed_size) {
  if (framed_size < kFrameHeaderSize || framed_size > max_record_size_) {
    return MakeError(ErrorCode::kInvalidArgument, "log record of " + std::to_string(framed_size) + " bytes (limit " +
                                                      std::to_string(max_record_size_) + ")");
  }
  const auto n = static_cast<std::uint32_t>(framed_size);
  for (;;) {
    if (failed_.load(std::memory_order_acquire) || closed_.load(std::memory_order_acquire)) {
      LLAMA_RETURN_IF_ERROR(health());
      return MakeError(ErrorCode::kAborted, "log writer is closed");
    }
    const std::uint64_t index = current_.load(std::memory_order_acquire);
    Buffer& b = BufferAt(index);
    std::uint64_t s = b.state.load(std::memory_order_acquire);
    if ((s >> kRoundShift) != (index & 0xFFFF) || (s & kSealed)) {
      // The sealer is opening the next buffer, which may wait for a write-out: sleep
      // until it publishes (spinning here starved it with many writers on few cores).
      current_.wait(index, std::memory_order_acquire);
      continue;
    }
    const auto used = static_cast<std::uint32_t>(s & kUsedMask);
    if (used + n > b.limit.load(kRelaxed)) {
      if (b.state.compare_exchange_weak(s, (s | kSealed) + kOneWriter, std::memory_order_acq_rel)) {
        SealAndAdvance(index, used, n, false);
      }
      continue;
    }
    if (b.state.compare_exchange_weak(s, s + n + kOneWriter, std::memory_order_acq_rel)) {
      Reservation r;
      r.writer_ = this;
      r.index_ = index;
      r.data_ = b.data.get() + used;
      r.size_ = n;
      r.address_ = LssAddress::Make(b.segment.load(kRelaxed), b.base.load(kRelaxed) + used);
      stat_records_.fetch_add(1, kRelaxed);
      stat_bytes_appended_.fetch_add(n, kRelaxed);
      return r;
    }
  }
}

void LogWriter::Commit(Reservation reservation) {
  LogWriter* writer = std::exchange(reservation.writer_, nullptr);
  assert(writer == this);
  writer->ReleaseWriter(reservation.index_);
}

Result<LogWriter::Appended> LogWriter::Append(RecordKind kind, std::span<const std::byte> body, bool compressed,
                                              std::uint32_t raw_len) {
  auto r = Reserve(FramedSize(body.size()));
  LLAMA_RETURN_IF_ERROR(r);
  EncodeFrame(r->bytes().data(), kind, r->address(), body, compressed, raw_len);
  Appended out{r->address(), r->end(), static_cast<std::uint32_t>(r->bytes().size())};
  Commit(std::move(*r));
  return out;
}

void LogWriter::SealAndAdvance(std::uint64_t index, std::uint32_t used, std::size_t needed, bool end_segment) {
  Buffer& b = BufferAt(index);
  const std::uint32_t segment = b.segment.load(kRelaxed);
  const std::uint32_t pos = b.base.load(kRelaxed) + used;
  const bool ends = end_segment || (needed > 0 && pos + needed > usable_end());
  b.final_size = used;
  std::uint32_t next_segment = segment;
  std::uint32_t next_base = pos;
  if (ends) {
    if (segment >= LssAddress::kMaxSegment) {
      Fail(Error(ErrorCode::kResourceExhausted, "log: out of segment ids"));
    } else {
      next_segment = segment + 1;
      next_base = kSegmentHeaderSize;
      std::byte body[kSegmentEndBodySize];
      ByteWriter(body).U32(next_segment);
      EncodeFrame(b.data.get() + used, RecordKind::kSegmentEnd, LssAddress::Make(segment, pos), body, false, 0);
      b.final_size = used + static_cast<std::uint32_t>(kSegmentEndRecordSize);
      b.next_segment = next_segment;
    }
  }
  OpenBuffer(index + 1, next_segment, next_base);
  ReleaseWriter(index);
}

void LogWriter::ReleaseWriter(std::uint64_t index) {
  Buffer& b = BufferAt(index);
  const std::uint64_t old = b.state.fetch_sub(kOneWriter, std::memory_order_acq_rel);
  assert((old & kWritersMask) != 0 && (old >> kRoundShift) == (index & 0xFFFF));
  const std::uint64_t s = old - kOneWriter;
  if ((s & kSealed) && (s & kWritersMask) == 0) {
    std::lock_guard lock(io_mu_);
    io_queue_.push_back(index);
    // A caller waiting for its position writes the buffer itself (leader/follower): waking
    // the I/O thread would cost a futex call here and a context switch there.
    if (callers_writing_ > 0) {
      state_cv_.notify_all();
    } else {
      io_cv_.notify_one();
    }
  }
}

void LogWriter::SealCurrent(std::optional<LssAddress> upto, bool end_segment) {
  for (;;) {
    const std::uint64_t index = current_.load(std::memory_order_acquire);
    Buffer& b = BufferAt(index);
    std::uint64_t s = b.state.load(std::memory_order_acquire);
    if ((s >> kRoundShift) != (index & 0xFFFF)) continue;  // being reopened
    if (s & kSealed) {
      if (!end_segment) return;  // the buffer holding `upto` is sealed already
      std::this_thread::yield();
      continue;
    }
    const auto used = static_cast<std::uint32_t>(s & kUsedMask);
    if (!end_segment) {
      if (used == 0) return;
      const LssAddress start = LssAddress::Make(b.segment.load(kRelaxed), b.base.load(kRelaxed));
      if (upto && *upto <= start) return;
    }
    if (b.state.compare_exchange_weak(s, (s | kSealed) + kOneWriter, std::memory_order_acq_rel)) {
      SealAndAdvance(index, used, 0, end_segment);
      return;
    }
  }
}

LssAddress LogWriter::tail() const {
  const std::uint64_t index = current_.load(std::memory_order_acquire);
  const Buffer& b = *ring_[index % ring_.size()];
  const std::uint64_t s = b.state.load(std::memory_order_acquire);
  return LssAddress::Make(b.segment.load(kRelaxed), b.base.load(kRelaxed) + static_cast<std::uint32_t>(s & kUsedMask));
}

void LogWriter::IoLoop() {
  std::unique_lock lock(io_mu_);
  for (;;) {
    io_cv_.wait(lock, [&] { return stop_io_ || CanWriteQueued(); });
    if (stop_io_ && !CanWriteQueued()) break;  // a caller writing now drains the rest
    WriteQueued(lock, false);
  }
}

void LogWriter::WriteQueued(std::unique_lock<std::mutex>& lock, bool by_caller) {
  // One thread writes at a time (segment files are created by the first write into them),
  // taking the whole queue; it loops while more arrives, so nothing is left queued with
  // nobody writing.
  while (CanWriteQueued()) {
    writing_ = true;
    std::vector<std::uint64_t> batch(io_queue_.begin(), io_queue_.end());
    io_queue_.clear();
    const bool skip = error_.has_value();
    lock.unlock();
    std::sort(batch.begin(), batch.end());
    Status status = skip ? Status() : WriteBuffers(batch);
    if (by_caller) stat_caller_writes_.fetch_add(1, kRelaxed);
    lock.lock();
    writing_ = false;
    if (!status && !error_) {
      error_ = status.error();
      failed_.store(true, std::memory_order_release);
    }
    for (std::uint64_t index : batch) BufferAt(index).done = true;
    RetireWrittenPrefix();
    state_cv_.notify_all();
  }
}

void LogWriter::RetireWrittenPrefix() {
  // Advance the written position over the contiguous prefix of written buffers.
  while (BufferAt(next_to_retire_).busy && BufferAt(next_to_retire_).done) {
    Buffer& b = BufferAt(next_to_retire_);
    if (!error_) {
      const LssAddress end = b.next_segment != 0
                                 ? LssAddress::Make(b.next_segment, kSegmentHeaderSize)
                                 : LssAddress::Make(b.segment.load(kRelaxed), b.base.load(kRelaxed) + b.final_size);
      written_.store(end.raw(), std::memory_order_release);
    }
    b.busy = false;
    b.done = false;
    ++next_to_retire_;
  }
}

Status LogWriter::WriteBuffers(const std::vector<std::uint64_t>& indexes) {
  // Group the buffers by segment: one batched WriteAt per segment file.
  std::size_t i = 0;
  while (i < indexes.size()) {
    const std::uint32_t segment = BufferAt(indexes[i]).segment.load(kRelaxed);
    std::vector<WriteRequest> requests;
    std::uint64_t bytes = 0;
    for (; i < indexes.size() && BufferAt(indexes[i]).segment.load(kRelaxed) == segment; ++i) {
      Buffer& b = BufferAt(indexes[i]);
      if (b.final_size == 0) continue;
      requests.push_back({b.base.load(kRelaxed), std::span<const std::byte>(b.data.get(), b.final_size)});
      bytes += b.final_size;
    }
    if (requests.empty()) continue;
    auto file = segments_.Get(segment);
    if (!file && file.error().code() == ErrorCode::kNotFound) {
      file = segments_.Create(segment, segment == first_segment_ ? resume_from_ : LssAddress());
      if (file) {
        stat_segments_created_.fetch_add(1, kRelaxed);
        stat_bytes_written_.fetch_add(kSegmentHeaderSize, kRelaxed);
        std::lock_guard lock(io_mu_);
        dir_dirty_ = true;
      }
    }
    LLAMA_RETURN_IF_ERROR(file);
    LLAMA_RETURN_IF_ERROR((*file)->WriteAt(requests));
    stat_write_calls_.fetch_add(1, kRelaxed);
    stat_bytes_written_.fetch_add(bytes, kRelaxed);
    stat_buffers_written_.fetch_add(requests.size(), kRelaxed);
    std::lock_guard lock(io_mu_);
    unsynced_segments_.insert(segment);
  }
  return OkStatus();
}

void LogWriter::Fail(const Error& error) {
  std::lock_guard lock(io_mu_);
  if (!error_) error_ = error;
  failed_.store(true, std::memory_order_release);
  state_cv_.notify_all();
  round_slot_cv_.notify_all();
}

Status LogWriter::health() const {
  if (!failed_.load(std::memory_order_acquire)) return OkStatus();
  std::lock_guard lock(io_mu_);
  if (error_) return tl::unexpected(*error_);
  return OkStatus();
}

Status LogWriter::WaitWritten(LssAddress upto) {
  if (written_.load(std::memory_order_acquire) >= upto.raw()) return OkStatus();
  std::unique_lock lock(io_mu_);
  // While this caller waits, sealed buffers are queued for it rather than for the I/O
  // thread; what it leaves queued goes back to the I/O thread.
  ++callers_writing_;
  struct Leave {
    LogWriter& w;
    ~Leave() {
      if (--w.callers_writing_ == 0 && w.CanWriteQueued()) w.io_cv_.notify_one();
    }
  } leave{*this};
  for (;;) {
    if (written_.load(std::memory_order_acquire) >= upto.raw()) return OkStatus();
    if (error_) return tl::unexpected(*error_);
    if (upto > tail() && !closed_.load()) {
      return MakeError(ErrorCode::kInvalidArgument, "log position past the tail");
    }
    lock.unlock();
    SealCurrent(upto, false);
    lock.lock();
    WriteQueued(lock, true);
    if (written_.load(std::memory_order_acquire) >= upto.raw() || error_) continue;
    // Another writer holds a buffer before `upto` (copying into it, or writing it out).
    stat_waits_.fetch_add(1, kRelaxed);
    state_cv_.wait_for(lock, std::chrono::milliseconds(10), [&] {
      return written_.load(std::memory_order_acquire) >= upto.raw() || error_.has_value() || CanWriteQueued();
    });
  }
}

Status LogWriter::Sync(LssAddress upto) {
  stat_sync_requests_.fetch_add(1, kRelaxed);
  if (durable_.load(std::memory_order_acquire) >= upto.raw()) return OkStatus();
  // Written first: a caller writes its own records (and whatever else is sealed) while an
  // earlier group commit is still in the disk, so the next one only syncs.
  LLAMA_RETURN_IF_ERROR(WaitWritten(upto));
  std::unique_lock lock(io_mu_);
  bool queued = false;
  for (;;) {
    if (durable_.load(std::memory_order_acquire) >= upto.raw()) return OkStatus();
    if (error_) return tl::unexpected(*error_);
    // Rounds are kept in the order they began, with rising targets: the first whose
    // target reaches `upto` is the one to follow.
    std::shared_ptr<SyncRound> covering;
    for (const auto& round : rounds_) {
      if (round->target >= upto.raw()) {
        covering = round;
        break;
      }
    }
    if (!covering && rounds_.size() < options_.max_syncs_in_flight) {
      LeadSyncRound(lock);
      continue;  // durable now, or an earlier round is still syncing
    }
    if (!queued) {
      queued = true;
      stat_waits_.fetch_add(1, kRelaxed);
      if (options_.test_hook) {
        lock.unlock();
        options_.test_hook("sync queued");
        lock.lock();
        continue;
      }
    }
    // Sleep until the round that covers `upto` is published (only its own followers
    // wake), or until a round ends and frees a slot to lead one.
    if (covering) {
      covering->published.wait(lock, [&] { return covering->popped; });
    } else {
      round_slot_cv_.wait(lock, [&] { return rounds_.size() < options_.max_syncs_in_flight || error_; });
    }
  }
}

void LogWriter::LeadSyncRound(std::unique_lock<std::mutex>& lock) {
  // Everything written so far, its followers' records with the leader's, in the segments
  // written since the last round began: what earlier rounds took is theirs to sync, and
  // this round's position is published only after theirs.
  auto round = std::make_shared<SyncRound>();
  round->target = written_.load(std::memory_order_acquire);
  rounds_.push_back(round);
  std::set<std::uint32_t> segments;
  segments.swap(unsynced_segments_);
  const bool dir_dirty = std::exchange(dir_dirty_, false);
  lock.unlock();
  if (options_.test_hook) options_.test_hook("sync leading");
  const Status status = SyncFiles(segments, dir_dirty);
  if (options_.test_hook) options_.test_hook("sync done");
  lock.lock();
  if (!status && !error_) {
    error_ = status.error();
    failed_.store(true, std::memory_order_release);
    state_cv_.notify_all();
  }
  round->done = true;
  PublishFinishedRounds();
}

void LogWriter::PublishFinishedRounds() {
  // A round's fdatasync covers only what was written before it began, so a round that
  // finished before an earlier one waits for it.
  bool freed = false;
  while (!rounds_.empty() && rounds_.front()->done) {
    std::shared_ptr<SyncRound> first = std::move(rounds_.front());
    rounds_.pop_front();
    if (!error_) {
      durable_.store(std::max(durable_.load(kRelaxed), first->target), std::memory_order_release);
      stat_syncs_.fetch_add(1, kRelaxed);
    }
    first->popped = true;
    first->published.notify_all();
    freed = true;
  }
  if (freed) round_slot_cv_.notify_all();
}

Status LogWriter::SyncFiles(const std::set<std::uint32_t>& segments, bool dir_dirty) {
  if (dir_dirty) {
    stat_fdatasyncs_.fetch_add(1, kRelaxed);
    LLAMA_RETURN_IF_ERROR(segments_.env().SyncDir(segments_.dir()));
  }
  for (std::uint32_t segment : segments) {
    auto file = segments_.Get(segment);
    LLAMA_RETURN_IF_ERROR(file);
    stat_fdatasyncs_.fetch_add(1, kRelaxed);
    LLAMA_RETURN_IF_ERROR((*file)->Sync());
  }
  return OkStatus();
}

LogWriter::Stats LogWriter::stats() const {
  const auto load = [](const std::atomic<std::uint64_t>& counter) { return counter.load(kRelaxed); };
  // Designated: the compiler checks the fields' order.
  return Stats{.records = load(stat_records_),
               .bytes_appended = load(stat_bytes_appended_),
               .bytes_written = load(stat_bytes_written_),
               .buffers_written = load(stat_buffers_written_),
               .syncs = load(stat_syncs_),
               .segments_created = load(stat_segments_created_),
               .abandoned = load(stat_abandoned_),
               .sync_points = load(stat_sync_points_),
               .sync_requests = load(stat_sync_requests_),
               .fdatasyncs = load(stat_fdatasyncs_),
               .write_calls = load(stat_write_calls_),
               .caller_writes = load(stat_caller_writes_),
               .waits = load(stat_waits_)};
}

Status LogWriter::Close() {
  if (closed_.load()) return health();
  // The last group commit's position, made durable by the closing sync: a log closed
  // cleanly is vouched for up to its last acknowledged record.
  if (!failed_.load()) (void)AppendSyncPoint();
  if (closed_.exchange(true)) return health();
  Status result = OkStatus();
  if (!failed_.load()) {
    SealCurrent(std::nullopt, true);
    const Buffer& cur = BufferAt(current_.load(std::memory_order_acquire));
    const LssAddress end = LssAddress::Make(cur.segment.load(kRelaxed), cur.base.load(kRelaxed));
    result = Sync(end);
  } else {
    result = health();
  }
  {
    std::lock_guard lock(io_mu_);
    stop_io_ = true;
    io_cv_.notify_all();
  }
  if (io_thread_.joinable()) io_thread_.join();
  return result;
}

}  // namespace llama
