#include "lss/log/log_reader.h"

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "util/byte_io.h"
#include "util/compression.h"

namespace llama {

using namespace log_format;

// Reads one file's bytes [from, limit) in chunks on `readers` threads, up to
// `chunks_ahead` chunks ahead of the consumer, which takes them in order. The threads
// serve the scanner for its life; Start points them at the next segment.
class SegmentStream {
 public:
  SegmentStream(std::size_t chunk_size, std::size_t chunks_ahead, std::size_t readers)
      : chunk_size_(chunk_size), slots_(chunks_ahead + 1) {
    for (std::size_t i = 0; i < readers; ++i) threads_.emplace_back([this] { Run(); });
  }
  SegmentStream(const SegmentStream&) = delete;
  SegmentStream& operator=(const SegmentStream&) = delete;
  ~SegmentStream() {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    reader_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Streams [from, limit) of `file` from here on; the chunks of the file before are
  // abandoned (reads of them that are under way finish first, unseen).
  void Start(std::shared_ptr<File> file, std::uint64_t from, std::uint64_t limit) {
    {
      std::unique_lock lock(mu_);
      ++job_;
      // No more reads of the old range; those under way write into the slots.
      end_ = 0;
      idle_cv_.wait(lock, [&] { return in_flight_ == 0; });
      file_ = std::move(file);
      from_ = from;
      limit_ = std::max(from, limit);
      issued_ = taken_ = released_ = 0;
      end_ = (limit_ - from_ + chunk_size_ - 1) / chunk_size_;
      for (Slot& slot : slots_) slot.ready = false;
    }
    reader_cv_.notify_all();
  }

  // The next chunk, in order; empty at the end of the range. The bytes stay valid until
  // the next call of Next or Start (the consumer is then done with them).
  Result<std::span<const std::byte>> Next() {
    std::unique_lock lock(mu_);
    released_ = taken_;
    reader_cv_.notify_all();
    auto ready = [&] {
      const Slot& slot = slots_[taken_ % slots_.size()];
      return slot.ready && slot.index == taken_;
    };
    consumer_cv_.wait(lock, [&] { return taken_ >= end_ || ready(); });
    if (taken_ >= end_) return std::span<const std::byte>();
    Slot& slot = slots_[taken_++ % slots_.size()];
    if (slot.error) return tl::unexpected(*slot.error);
    return std::span<const std::byte>(slot.bytes.get(), slot.size);
  }

 private:
  struct Slot {
    std::unique_ptr<std::byte[]> bytes;  // chunk_size_ bytes, allocated on first use
    std::uint64_t index = 0;             // the chunk it holds, once ready
    bool ready = false;
    std::size_t size = 0;
    std::optional<Error> error;
  };

  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      // The consumer may hold chunk released_: the ring has room for the chunks after it.
      reader_cv_.wait(lock, [&] { return shutdown_ || (issued_ < end_ && issued_ < released_ + slots_.size()); });
      if (shutdown_) return;
      const std::uint64_t job = job_;
      const std::uint64_t index = issued_++;
      const std::uint64_t offset = from_ + index * chunk_size_;
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size_, limit_ - offset));
      std::shared_ptr<File> file = file_;
      Slot& slot = slots_[index % slots_.size()];
      slot.ready = false;
      ++in_flight_;
      lock.unlock();
      if (!slot.bytes) slot.bytes.reset(new std::byte[chunk_size_]);
      Result<std::size_t> n = file->ReadAt(offset, std::span<std::byte>(slot.bytes.get(), want));
      lock.lock();
      if (--in_flight_ == 0) idle_cv_.notify_all();
      if (job != job_) continue;  // abandoned by Start
      slot.index = index;
      slot.size = n ? *n : 0;
      slot.error = n ? std::nullopt : std::optional<Error>(n.error());
      slot.ready = true;
      // A short read is the end of the file (it may be shorter than its size said).
      if (!n || *n < want) end_ = std::min(end_, index + 1);
      consumer_cv_.notify_one();
    }
  }

  const std::size_t chunk_size_;
  std::vector<Slot> slots_;  // chunk i in slot i % size; one more than chunks ahead
  std::mutex mu_;
  std::condition_variable reader_cv_;
  std::condition_variable consumer_cv_;
  std::condition_variable idle_cv_;
  std::shared_ptr<File> file_;
  std::uint64_t job_ = 0;
  std::uint64_t from_ = 0;
  std::uint64_t limit_ = 0;
  std::uint64_t end_ = 0;        // chunks in the range (fewer once a read came up short)
  std::uint64_t issued_ = 0;     // chunks whose read began
  std::uint64_t taken_ = 0;      // chunks handed to the consumer
  std::uint64_t released_ = 0;   // chunks the consumer is done with
  std::uint64_t in_flight_ = 0;  // reads under way
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

Result<LogRecord> ReadRecordAt(SegmentSet& segments, LssAddress at, std::uint32_t max_body_len) {
  auto file = segments.Get(at.segment());
  LLAMA_RETURN_IF_ERROR(file);
  std::vector<std::byte> buf(kFrameHeaderSize);
  auto n = (*file)->ReadAt(at.offset(), buf);
  LLAMA_RETURN_IF_ERROR(n);
  auto corrupt = [&](std::string_view why) {
    return MakeError(ErrorCode::kCorruption, "record at segment " + std::to_string(at.segment()) + " offset " +
                                                 std::to_string(at.offset()) + ": " + std::string(why));
  };
  auto header = PeekFrameHeader(std::span<const std::byte>(buf.data(), *n), at, max_body_len);
  if (!header) return corrupt(FrameErrorName(header.error()));
  buf.resize(header->framed_size());
  auto m = (*file)->ReadAt(at.offset() + kFrameHeaderSize, std::span<std::byte>(buf).subspan(kFrameHeaderSize));
  LLAMA_RETURN_IF_ERROR(m);
  if (*m != header->body_len) return corrupt("truncated");
  auto frame = DecodeFrame(buf, at, max_body_len);
  if (!frame) return corrupt(FrameErrorName(frame.error()));
  auto body = FrameBody(*frame);
  if (!body) return corrupt(body.error().message());
  return LogRecord{at, frame->header, std::move(*body)};
}

std::string_view ScanStopReasonName(ScanStop::Reason reason) {
  switch (reason) {
    case ScanStop::Reason::kEndOfLog:
      return "end of log";
    case ScanStop::Reason::kDamagedRecord:
      return "damaged or torn record";
    case ScanStop::Reason::kMissingSegment:
      return "missing next segment";
  }
  return "unknown";
}

LogScanner::LogScanner(SegmentSet& segments, std::uint32_t max_body_len, ScanOptions options)
    : segments_(&segments),
      max_body_len_(max_body_len),
      stream_(std::make_unique<SegmentStream>(std::max<std::size_t>(options.chunk_size, 4096),
                                              std::max<std::size_t>(options.chunks_ahead, 1),
                                              std::max<std::size_t>(options.readers, 1))) {}
LogScanner::LogScanner(LogScanner&&) noexcept = default;
LogScanner& LogScanner::operator=(LogScanner&&) noexcept = default;
LogScanner::~LogScanner() = default;

Result<LogScanner> LogScanner::Open(SegmentSet& segments, LssAddress start, std::uint32_t max_body_len,
                                    ScanOptions options) {
  LogScanner scanner(segments, max_body_len, options);
  auto ids = segments.ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  for (std::uint32_t id : *ids) {
    auto file = segments.Get(id);
    LLAMA_RETURN_IF_ERROR(file);
    std::byte buf[kSegmentHeaderSize];
    auto n = (*file)->ReadAt(0, buf);
    LLAMA_RETURN_IF_ERROR(n);
    auto h = DecodeSegmentHeader(std::span<const std::byte>(buf, *n));
    if (h && h->segment_id == id && h->store_id == segments.store_id() && h->segment_size == segments.segment_size()) {
      scanner.headers_[id] = *h;
    } else {
      scanner.bad_headers_[id] = h ? "header names another segment or store" : h.error().message();
      if (h) scanner.foreign_.push_back(id);
      if (h && h->store_id == segments.store_id() && h->segment_id != id) scanner.misnamed_[id] = h->segment_id;
    }
  }
  scanner.segment_ = start.segment();
  scanner.offset_ = start.offset();
  if (!scanner.headers_.contains(start.segment())) {
    // The start segment was never made durable (e.g. a checkpoint taken before the writer
    // created it): the log may go on in a segment that resumes from the start.
    auto resumed = scanner.FollowResume(start);
    LLAMA_RETURN_IF_ERROR(resumed);
    if (!*resumed) {
      scanner.Stop(ScanStop::Reason::kMissingSegment,
                   "segment " + std::to_string(start.segment()) + " is missing or damaged");
    }
  } else {
    LLAMA_RETURN_IF_ERROR(scanner.LoadSegment(start.segment(), start.offset()));
  }
  return scanner;
}

Status LogScanner::StartStream(std::uint32_t id, std::uint64_t from) {
  auto file = segments_->Get(id);
  LLAMA_RETURN_IF_ERROR(file);
  auto size = (*file)->Size();
  LLAMA_RETURN_IF_ERROR(size);
  stream_->Start(*file, from, std::min<std::uint64_t>(*size, segments_->segment_size()));
  chunk_ = {};
  chunk_base_ = from;
  stream_end_ = false;
  carry_.clear();
  carry_base_ = from;
  behind_.clear();
  return OkStatus();
}

Status LogScanner::LoadSegment(std::uint32_t id, std::uint32_t from) {
  LLAMA_RETURN_IF_ERROR(StartStream(id, from));
  segment_ = id;
  offset_ = from;
  visited_.push_back(id);
  visited_ends_.push_back(LssAddress::Make(id, from));
  return OkStatus();
}

Status LogScanner::NextChunk() {
  // Keep the last bytes before the next chunk (the search past the stop may step back a
  // few bytes from where it found a nonzero byte), before the stream may reuse them.
  behind_.insert(behind_.end(), chunk_.end() - static_cast<std::ptrdiff_t>(std::min(chunk_.size(), kLookBehind)),
                 chunk_.end());
  if (behind_.size() > kLookBehind) behind_.erase(behind_.begin(), behind_.end() - kLookBehind);
  auto chunk = stream_->Next();
  LLAMA_RETURN_IF_ERROR(chunk);
  chunk_base_ += chunk_.size();
  chunk_ = *chunk;
  stream_end_ = chunk_.empty();
  return OkStatus();
}

Result<std::span<const std::byte>> LogScanner::Window(std::uint64_t at, std::size_t n) {
  if (at >= chunk_base_) {
    while (at >= chunk_base_ + chunk_.size() && !stream_end_) LLAMA_RETURN_IF_ERROR(NextChunk());
    const std::uint64_t chunk_end = chunk_base_ + chunk_.size();
    if (at >= chunk_end) return std::span<const std::byte>();  // past the end of the file
    if (at + n <= chunk_end) return chunk_.subspan(at - chunk_base_, n);
    // Straddles the end of the chunk: gathered into the carry.
    carry_.assign(chunk_.begin() + static_cast<std::ptrdiff_t>(at - chunk_base_), chunk_.end());
    carry_base_ = at;
  } else if (at < carry_base_ || at > carry_base_ + carry_.size() || carry_base_ + carry_.size() < chunk_base_) {
    // Not in the carry: in the bytes kept from before this chunk.
    assert(at + behind_.size() >= chunk_base_);
    carry_.assign(behind_.end() - static_cast<std::ptrdiff_t>(chunk_base_ - at), behind_.end());
    carry_base_ = at;
  }
  // The carry holds [carry_base_, its end), and its end lies in the current chunk.
  while (carry_base_ + carry_.size() < at + n) {
    const std::uint64_t carry_end = carry_base_ + carry_.size();
    const std::uint64_t chunk_end = chunk_base_ + chunk_.size();
    if (carry_end >= chunk_end) {
      if (stream_end_) break;
      LLAMA_RETURN_IF_ERROR(NextChunk());
      continue;
    }
    const std::uint64_t take = std::min(at + n, chunk_end) - carry_end;
    const auto* from = chunk_.data() + (carry_end - chunk_base_);
    carry_.insert(carry_.end(), from, from + take);
  }
  const std::uint64_t have = carry_base_ + carry_.size() - at;
  return std::span<const std::byte>(carry_).subspan(at - carry_base_, std::min<std::uint64_t>(n, have));
}

namespace {

// The index of the first nonzero byte of `bytes` (its size if none).
std::size_t FirstNonZero(std::span<const std::byte> bytes) {
  static constexpr std::byte kZeros[4096] = {};
  std::size_t i = 0;
  while (bytes.size() - i >= sizeof(kZeros) && std::memcmp(bytes.data() + i, kZeros, sizeof(kZeros)) == 0) {
    i += sizeof(kZeros);
  }
  const auto* end = bytes.data() + bytes.size();
  return static_cast<std::size_t>(std::find_if(bytes.data() + i, end, [](std::byte b) { return b != std::byte{0}; }) -
                                  bytes.data());
}

}  // namespace

Result<std::uint64_t> LogScanner::NextNonZero(std::uint64_t at) {
  if (at < chunk_base_) {
    auto before = Window(at, chunk_base_ - at);  // from the carry: nothing is read
    LLAMA_RETURN_IF_ERROR(before);
    if (const std::size_t i = FirstNonZero(*before); i < before->size()) return at + i;
    at = chunk_base_;
  }
  for (;;) {
    const std::uint64_t chunk_end = chunk_base_ + chunk_.size();
    if (at < chunk_end) {
      if (const std::size_t i = FirstNonZero(chunk_.subspan(at - chunk_base_)); at + i < chunk_end) return at + i;
    }
    if (stream_end_) return std::max(at, chunk_end);
    at = std::max(at, chunk_end);
    LLAMA_RETURN_IF_ERROR(NextChunk());
  }
}

Result<bool> LogScanner::RestIsZero(std::uint64_t at) {
  auto nonzero = NextNonZero(at);
  LLAMA_RETURN_IF_ERROR(nonzero);
  return stream_end_ && *nonzero >= chunk_base_;
}

Status LogScanner::FindRecords(std::uint32_t segment, std::uint64_t from) {
  // Every offset is a candidate: a frame names its own segment and offset, and its
  // checksum covers them, so only a frame written at this very place passes.
  for (std::uint64_t o = from;;) {
    auto head = Window(o, kFrameHeaderSize);
    LLAMA_RETURN_IF_ERROR(head);
    if (head->size() < kFrameHeaderSize) return OkStatus();
    // The segment, offset and length fields of a frame that would start here.
    std::uint32_t frame_segment = 0, frame_offset = 0, body_len = 0;
    static_assert(kFrameOffsetOffset == kFrameSegmentOffset + 4);
    (void)ByteReader(head->subspan(8)).U32(&body_len);
    (void)(ByteReader(head->subspan(kFrameSegmentOffset)).U32(&frame_segment) &&
           ByteReader(head->subspan(kFrameOffsetOffset)).U32(&frame_offset));
    if (frame_segment == 0) {
      // A frame's segment field is never 0: skip a zeroed stretch (a preallocated tail)
      // to the first frame start whose segment field could hold a nonzero byte.
      auto nonzero = NextNonZero(o + kFrameSegmentOffset);
      LLAMA_RETURN_IF_ERROR(nonzero);
      o = std::max(o + 1, *nonzero - kFrameSegmentOffset - 3);
      continue;
    }
    if (frame_segment != segment || frame_offset != o || body_len > max_body_len_) {
      ++o;
      continue;
    }
    const LssAddress at = LssAddress::Make(segment, static_cast<std::uint32_t>(o));
    auto whole = Window(o, FramedSize(body_len));
    LLAMA_RETURN_IF_ERROR(whole);
    auto frame = DecodeFrame(*whole, at, max_body_len_);
    if (!frame) {
      ++o;
      continue;
    }
    if (stop_.records_past++ == 0) stop_.first_record_past = at;
    std::uint64_t durable_raw = 0;
    if (frame->header.kind == RecordKind::kSyncPoint && frame->body.size() == kSyncPointBodySize &&
        ByteReader(frame->body).U64(&durable_raw)) {
      const LssAddress durable = LssAddress::FromRaw(durable_raw);
      // A SyncPoint is written after the sync it names, so never before that position.
      if (durable.is_valid() && durable <= at && durable > stop_.durable_through) {
        stop_.durable_through = durable;
        stop_.sync_point_at = at;
      }
    }
    o += frame->header.framed_size();
  }
}

Status LogScanner::LookPastStop() {
  const LssAddress stop = stop_.position;
  auto ids = segments_->ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  for (std::uint32_t id : *ids) {
    if (id < stop.segment()) continue;
    if (std::find(foreign_.begin(), foreign_.end(), id) != foreign_.end()) continue;
    // Zeros from the stop on hold no frame (a frame's segment field is never 0).
    if (id == stop.segment() && stop_rest_zero_) continue;
    const std::uint64_t from = id == stop.segment() ? std::uint64_t{stop.offset()} + 1 : kSegmentHeaderSize;
    LLAMA_RETURN_IF_ERROR(StartStream(id, from));
    LLAMA_RETURN_IF_ERROR(FindRecords(id, from));
  }
  return OkStatus();
}

std::string ScanStop::CorruptionMessage() const {
  auto at = [](LssAddress a) {
    return "segment " + std::to_string(a.segment()) + " offset " + std::to_string(a.offset());
  };
  std::string out =
      "log corruption at " + at(position) + ": " + std::string(ScanStopReasonName(reason)) + ": " + detail;
  if (lost_from != position) out += " (the log lost everything from " + at(lost_from) + ")";
  if (!corruption()) return out;
  return out + "; the SyncPoint record at " + at(sync_point_at) + " says the log was synced through " +
         at(durable_through) + ", so this is damage to synced data, not a torn tail; " + std::to_string(records_past) +
         " valid records (the first at " + at(first_record_past) + ") follow it";
}

void LogScanner::Stop(ScanStop::Reason reason, std::string detail) {
  stopped_ = true;
  stop_ = ScanStop();
  stop_.position = LssAddress::Make(segment_, offset_);
  stop_.reason = reason;
  stop_.detail = std::move(detail);
  stop_.lost_from = stop_.position;
}

Result<bool> LogScanner::FollowResume(LssAddress torn_at) {
  for (const auto& [id, header] : headers_) {
    if (header.resume_from == torn_at) {
      LLAMA_RETURN_IF_ERROR(LoadSegment(id, kSegmentHeaderSize));
      return true;
    }
  }
  return false;
}

Result<std::span<const std::byte>> LogScanner::FrameBytesAt(std::uint32_t offset) {
  // The frame header, then the whole frame its length field names (the checks are
  // DecodeFrame's, on the same bytes as if the whole segment were in memory).
  auto head = Window(offset, kFrameHeaderSize);
  LLAMA_RETURN_IF_ERROR(head);
  std::uint32_t body_len = 0;
  if (ByteReader(head->subspan(std::min<std::size_t>(head->size(), 8))).U32(&body_len) && body_len <= max_body_len_ &&
      head->size() == kFrameHeaderSize) {
    return Window(offset, FramedSize(body_len));
  }
  return head;
}

std::optional<std::string> LogScanner::BodyOf(const FrameView& frame, std::span<const std::byte>* body) {
  if (!frame.header.compressed) {
    *body = frame.body;
    return std::nullopt;
  }
  auto raw = Decompress(frame.body, frame.header.raw_len);
  if (!raw) return raw.error().message();
  body_ = std::move(*raw);
  *body = body_;
  return std::nullopt;
}

Result<bool> LogScanner::StopAtDamage(LssAddress here, bool framed, std::string damage) {
  // Not a record: the end of the log, unless a later segment resumes from here.
  auto resumed = FollowResume(here);
  LLAMA_RETURN_IF_ERROR(resumed);
  if (*resumed) return true;
  if (!framed) {
    auto zeros = RestIsZero(offset_);
    LLAMA_RETURN_IF_ERROR(zeros);
    if (*zeros) {
      Stop(ScanStop::Reason::kEndOfLog, "no record past this point");
      stop_rest_zero_ = true;
      return false;
    }
  }
  Stop(ScanStop::Reason::kDamagedRecord, std::move(damage));
  return false;
}

void LogScanner::NoteSyncPoint(LssAddress here, std::span<const std::byte> body) {
  std::uint64_t durable_raw = 0;
  // As in FindRecords: a SyncPoint names a position at or before itself.
  if (body.size() == kSyncPointBodySize && ByteReader(body).U64(&durable_raw)) {
    const LssAddress durable = LssAddress::FromRaw(durable_raw);
    if (durable.is_valid() && durable <= here && durable > synced_through_) synced_through_ = durable;
  }
}

Result<LogScanner::SegmentEndStep> LogScanner::FollowSegmentEnd(LogRecordView& record) {
  std::uint32_t next = 0;  // 0 (no segment) for a body of any other size
  if (record.body.size() == kSegmentEndBodySize) (void)ByteReader(record.body).U32(&next);
  if (next > segment_ && headers_.contains(next)) {
    visited_ends_.back() = LssAddress::Make(segment_, offset_);
    // The body points into this segment's chunks, which the next segment reuses.
    body_.assign(record.body.begin(), record.body.end());
    record.body = body_;
    LLAMA_RETURN_IF_ERROR(LoadSegment(next, kSegmentHeaderSize));
    return SegmentEndStep::kFollowed;
  }
  // The successor was never made durable: the log ends at this SegmentEnd (or continues
  // in a segment resuming from here).
  offset_ = record.address.offset();
  auto resumed = FollowResume(record.address);
  LLAMA_RETURN_IF_ERROR(resumed);
  if (*resumed) return SegmentEndStep::kResumed;
  if (auto bad = bad_headers_.find(next); bad != bad_headers_.end()) {
    Stop(ScanStop::Reason::kMissingSegment, "segment " + std::to_string(next) + " is damaged: " + bad->second);
  } else {
    Stop(ScanStop::Reason::kEndOfLog,
         "the log ends with a segment end (segment " + std::to_string(next) + " never written)");
  }
  if (next > segment_ && next <= LssAddress::kMaxSegment) stop_.lost_from = LssAddress::Make(next, kSegmentHeaderSize);
  return SegmentEndStep::kStopped;
}

Result<std::optional<LogRecordView>> LogScanner::NextView() {
  while (!stopped_) {
    const LssAddress here = LssAddress::Make(segment_, offset_);
    auto bytes = FrameBytesAt(offset_);
    LLAMA_RETURN_IF_ERROR(bytes);
    auto frame = DecodeFrame(*bytes, here, max_body_len_);
    std::span<const std::byte> body;
    std::optional<std::string> damage = frame ? BodyOf(*frame, &body) : std::string(FrameErrorName(frame.error()));
    if (damage) {
      auto resumed = StopAtDamage(here, frame.has_value(), std::move(*damage));
      LLAMA_RETURN_IF_ERROR(resumed);
      if (*resumed) continue;
      break;
    }
    LogRecordView record{here, frame->header, body};
    offset_ += static_cast<std::uint32_t>(frame->header.framed_size());
    if (record.header.kind == RecordKind::kSyncPoint) NoteSyncPoint(here, body);
    if (record.header.kind == RecordKind::kSegmentEnd) {
      auto step = FollowSegmentEnd(record);
      LLAMA_RETURN_IF_ERROR(step);
      if (*step == SegmentEndStep::kFollowed) return std::optional<LogRecordView>(record);
      if (*step == SegmentEndStep::kResumed) continue;
      break;
    }
    visited_ends_.back() = LssAddress::Make(segment_, offset_);
    return std::optional<LogRecordView>(record);
  }
  if (!looked_past_) {
    looked_past_ = true;
    LLAMA_RETURN_IF_ERROR(LookPastStop());
  }
  return std::optional<LogRecordView>();
}

Result<std::optional<LogRecord>> LogScanner::Next() {
  auto view = NextView();
  LLAMA_RETURN_IF_ERROR(view);
  if (!view->has_value()) return std::optional<LogRecord>();
  return std::optional<LogRecord>((*view)->ToRecord());
}

std::vector<std::uint32_t> LogScanner::SegmentsNotKnownSynced() const {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < visited_.size(); ++i) {
    // A segment the scan took nothing but the header from is synced whatever D says: a
    // sync that reached a SegmentEnd names the next segment's first record as durable
    // without having synced that segment's header (docs/DESIGN.md, "Damage or torn tail").
    const LssAddress end = visited_ends_[i];
    if (synced_through_.is_null() || end > synced_through_ || end.offset() <= kSegmentHeaderSize) {
      out.push_back(visited_[i]);
    }
  }
  return out;
}

std::vector<std::uint32_t> LogScanner::UnvisitedSegments() const {
  std::vector<std::uint32_t> out;
  for (const auto& [id, h] : headers_) {
    if (std::find(visited_.begin(), visited_.end(), id) == visited_.end()) out.push_back(id);
  }
  for (const auto& [id, why] : bad_headers_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace llama
