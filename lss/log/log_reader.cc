#include "lss/log/log_reader.h"

#include <algorithm>

#include "util/byte_io.h"

namespace llama {

using namespace log_format;

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

Result<LogScanner> LogScanner::Open(SegmentSet& segments, LssAddress start, std::uint32_t max_body_len) {
  LogScanner scanner(segments, max_body_len);
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
    }
  }
  scanner.segment_ = start.segment();
  scanner.offset_ = start.offset();
  if (!scanner.headers_.contains(start.segment())) {
    // The start segment was never made durable (e.g. a checkpoint taken before the writer
    // created it): the log may go on in a segment that resumes from the start.
    if (!scanner.FollowResume(start)) {
      scanner.Stop(ScanStop::Reason::kMissingSegment,
                   "segment " + std::to_string(start.segment()) + " is missing or damaged");
    }
  } else {
    LLAMA_RETURN_IF_ERROR(scanner.LoadSegment(start.segment()));
  }
  return scanner;
}

Status LogScanner::ReadSegment(std::uint32_t id, std::vector<std::byte>& out) {
  auto file = segments_->Get(id);
  LLAMA_RETURN_IF_ERROR(file);
  auto size = (*file)->Size();
  LLAMA_RETURN_IF_ERROR(size);
  out.resize(std::min<std::uint64_t>(*size, segments_->segment_size()));
  auto n = (*file)->ReadAt(0, out);
  LLAMA_RETURN_IF_ERROR(n);
  out.resize(*n);
  return OkStatus();
}

Status LogScanner::LoadSegment(std::uint32_t id) {
  LLAMA_RETURN_IF_ERROR(ReadSegment(id, data_));
  segment_ = id;
  visited_.push_back(id);
  return OkStatus();
}

void LogScanner::FindRecords(std::span<const std::byte> bytes, std::uint32_t segment, std::size_t from) {
  // Every offset is a candidate: a frame names its own segment and offset, and its
  // checksum covers them, so only a frame written at this very place passes.
  for (std::size_t o = from; o + kFrameHeaderSize <= bytes.size();) {
    // The segment and offset fields of a frame that would start here (inside `bytes`).
    std::uint32_t frame_segment = 0, frame_offset = 0;
    ByteReader fields(bytes.subspan(o + kFrameSegmentOffset));
    static_assert(kFrameOffsetOffset == kFrameSegmentOffset + 4);
    (void)(fields.U32(&frame_segment) && fields.U32(&frame_offset));
    if (frame_segment == 0) {
      // A frame's segment field is never 0: skip a zeroed stretch (a preallocated tail)
      // to the first frame start whose segment field could hold a nonzero byte.
      const std::byte* p = bytes.data() + o;
      const auto* first = std::find_if(p + kFrameSegmentOffset, bytes.data() + bytes.size(),
                                       [](std::byte b) { return b != std::byte{0}; });
      const auto nonzero = static_cast<std::size_t>(first - bytes.data());
      o = std::max(o + 1, nonzero < kFrameSegmentOffset + 3 ? o + 1 : nonzero - kFrameSegmentOffset - 3);
      continue;
    }
    if (frame_segment != segment || frame_offset != o) {
      ++o;
      continue;
    }
    const LssAddress at = LssAddress::Make(segment, static_cast<std::uint32_t>(o));
    auto frame = DecodeFrame(bytes.subspan(o), at, max_body_len_);
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
  std::vector<std::byte> other;
  for (std::uint32_t id : *ids) {
    if (id < stop.segment()) continue;
    if (std::find(foreign_.begin(), foreign_.end(), id) != foreign_.end()) continue;
    const bool loaded = id == segment_ && !visited_.empty() && visited_.back() == id;
    if (!loaded) {
      LLAMA_RETURN_IF_ERROR(ReadSegment(id, other));
    }
    const std::size_t from = id == stop.segment() ? std::size_t{stop.offset()} + 1 : kSegmentHeaderSize;
    FindRecords(loaded ? std::span<const std::byte>(data_) : std::span<const std::byte>(other), id, from);
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

bool LogScanner::FollowResume(LssAddress torn_at) {
  for (const auto& [id, header] : headers_) {
    if (header.resume_from == torn_at) {
      if (!LoadSegment(id)) return false;
      offset_ = kSegmentHeaderSize;
      return true;
    }
  }
  return false;
}

Result<std::optional<LogRecord>> LogScanner::Next() {
  while (!stopped_) {
    const LssAddress here = LssAddress::Make(segment_, offset_);
    std::span<const std::byte> rest;
    if (offset_ <= data_.size()) rest = std::span<const std::byte>(data_).subspan(offset_);
    auto frame = DecodeFrame(rest, here, max_body_len_);
    if (!frame) {
      // Not a record: the end of the log, unless a later segment resumes from here.
      const bool zeros = std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; });
      const ScanStop::Reason reason = zeros ? ScanStop::Reason::kEndOfLog : ScanStop::Reason::kDamagedRecord;
      std::string detail = zeros ? "no record past this point" : std::string(FrameErrorName(frame.error()));
      if (FollowResume(here)) continue;
      Stop(reason, std::move(detail));
      break;
    }
    auto body = FrameBody(*frame);
    if (!body) {
      if (FollowResume(here)) continue;
      Stop(ScanStop::Reason::kDamagedRecord, body.error().message());
      break;
    }
    LogRecord record{here, frame->header, std::move(*body)};
    offset_ += static_cast<std::uint32_t>(frame->header.framed_size());
    if (record.header.kind == RecordKind::kSegmentEnd) {
      std::uint32_t next = 0;  // 0 (no segment) for a body of any other size
      if (record.body.size() == kSegmentEndBodySize) (void)ByteReader(record.body).U32(&next);
      if (next > segment_ && headers_.contains(next)) {
        LLAMA_RETURN_IF_ERROR(LoadSegment(next));
        offset_ = kSegmentHeaderSize;
      } else {
        // The successor was never made durable: the log ends at this SegmentEnd (or
        // continues in a segment resuming from here).
        offset_ -= static_cast<std::uint32_t>(frame->header.framed_size());
        if (FollowResume(here)) {
          continue;
        }
        if (auto bad = bad_headers_.find(next); bad != bad_headers_.end()) {
          Stop(ScanStop::Reason::kMissingSegment, "segment " + std::to_string(next) + " is damaged: " + bad->second);
        } else {
          Stop(ScanStop::Reason::kEndOfLog,
               "the log ends with a segment end (segment " + std::to_string(next) + " never written)");
        }
        if (next > segment_ && next <= LssAddress::kMaxSegment) {
          stop_.lost_from = LssAddress::Make(next, kSegmentHeaderSize);
        }
        break;
      }
    }
    return std::optional<LogRecord>(std::move(record));
  }
  if (!looked_past_) {
    looked_past_ = true;
    LLAMA_RETURN_IF_ERROR(LookPastStop());
  }
  return std::optional<LogRecord>();
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
