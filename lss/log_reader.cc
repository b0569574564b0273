#include "lss/log_reader.h"

#include <algorithm>

#include "util/coding.h"

namespace llama {

using namespace log_format;

Result<LogRecord> ReadRecordAt(SegmentSet& segments, LssAddress at, std::uint32_t max_body_len) {
  auto file = segments.Get(at.segment());
  if (!file) return tl::unexpected(file.error());
  std::vector<std::byte> buf(kFrameHeaderSize);
  auto n = (*file)->ReadAt(at.offset(), buf);
  if (!n) return tl::unexpected(n.error());
  auto corrupt = [&](std::string_view why) {
    return MakeError(ErrorCode::kCorruption, "record at segment " + std::to_string(at.segment()) +
                                                 " offset " + std::to_string(at.offset()) + ": " +
                                                 std::string(why));
  };
  auto header = PeekFrameHeader(std::span<const std::byte>(buf.data(), *n), at, max_body_len);
  if (!header) return corrupt(FrameErrorName(header.error()));
  buf.resize(header->framed_size());
  auto m = (*file)->ReadAt(at.offset() + kFrameHeaderSize,
                           std::span<std::byte>(buf).subspan(kFrameHeaderSize));
  if (!m) return tl::unexpected(m.error());
  if (*m != header->body_len) return corrupt("truncated");
  auto frame = DecodeFrame(buf, at, max_body_len);
  if (!frame) return corrupt(FrameErrorName(frame.error()));
  auto body = FrameBody(*frame);
  if (!body) return corrupt(body.error().message());
  return LogRecord{at, frame->header, std::move(*body)};
}

std::string_view ScanStopReasonName(ScanStop::Reason reason) {
  switch (reason) {
    case ScanStop::Reason::kEndOfLog: return "end of log";
    case ScanStop::Reason::kDamagedRecord: return "damaged or torn record";
    case ScanStop::Reason::kMissingSegment: return "missing next segment";
  }
  return "unknown";
}

Result<LogScanner> LogScanner::Open(SegmentSet& segments, LssAddress start,
                                    std::uint32_t max_body_len) {
  LogScanner scanner(segments, max_body_len);
  auto ids = segments.ListIds();
  if (!ids) return tl::unexpected(ids.error());
  for (std::uint32_t id : *ids) {
    auto file = segments.Get(id);
    if (!file) return tl::unexpected(file.error());
    std::byte buf[kSegmentHeaderSize];
    auto n = (*file)->ReadAt(0, buf);
    if (!n) return tl::unexpected(n.error());
    auto h = DecodeSegmentHeader(std::span<const std::byte>(buf, *n));
    if (h && h->segment_id == id && h->store_id == segments.store_id() &&
        h->segment_size == segments.segment_size()) {
      scanner.headers_[id] = *h;
    } else {
      scanner.bad_headers_[id] = h ? "header names another segment or store" : h.error().message();
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
  } else if (auto s = scanner.LoadSegment(start.segment()); !s) {
    return tl::unexpected(s.error());
  }
  return scanner;
}

Status LogScanner::LoadSegment(std::uint32_t id) {
  auto file = segments_->Get(id);
  if (!file) return tl::unexpected(file.error());
  auto size = (*file)->Size();
  if (!size) return tl::unexpected(size.error());
  data_.resize(std::min<std::uint64_t>(*size, segments_->segment_size()));
  auto n = (*file)->ReadAt(0, data_);
  if (!n) return tl::unexpected(n.error());
  data_.resize(*n);
  segment_ = id;
  visited_.push_back(id);
  return OkStatus();
}

void LogScanner::Stop(ScanStop::Reason reason, std::string detail) {
  stopped_ = true;
  stop_ = ScanStop{LssAddress::Make(segment_, offset_), reason, std::move(detail)};
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
    auto frame = DecodeFrame(rest, here, segments_->segment_size());
    if (!frame) {
      // Not a record: the end of the log, unless a later segment resumes from here.
      const bool zeros = std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; });
      const ScanStop::Reason reason = zeros ? ScanStop::Reason::kEndOfLog : ScanStop::Reason::kDamagedRecord;
      std::string detail = zeros ? "no record past this point"
                                 : std::string(FrameErrorName(frame.error()));
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
      const std::uint32_t next = record.body.size() == kSegmentEndBodySize ? DecodeFixed32(record.body.data()) : 0;
      if (next > segment_ && headers_.contains(next)) {
        if (auto s = LoadSegment(next); !s) return tl::unexpected(s.error());
        offset_ = kSegmentHeaderSize;
      } else {
        // The successor was never made durable: the log ends at this SegmentEnd (or
        // continues in a segment resuming from here).
        offset_ -= static_cast<std::uint32_t>(frame->header.framed_size());
        if (FollowResume(here)) {
          continue;
        }
        if (auto bad = bad_headers_.find(next); bad != bad_headers_.end()) {
          Stop(ScanStop::Reason::kMissingSegment,
               "segment " + std::to_string(next) + " is damaged: " + bad->second);
        } else {
          Stop(ScanStop::Reason::kEndOfLog,
               "the log ends with a segment end (segment " + std::to_string(next) + " never written)");
        }
        break;
      }
    }
    return std::optional<LogRecord>(std::move(record));
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
