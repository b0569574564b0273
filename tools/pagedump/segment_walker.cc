#include "tools/pagedump/segment_walker.h"

#include <algorithm>

#include "llama/coding.h"
#include "lss/log/log_format.h"

namespace llama::pagedump {

using log_format::RecordKind;

std::string_view SegmentEndName(SegmentEnd end) {
  switch (end) {
    case SegmentEnd::kSegmentEnd:
      return "segment end";
    case SegmentEnd::kCleanEnd:
      return "clean end";
    case SegmentEnd::kDamaged:
      return "damaged";
  }
  return "unknown";
}

namespace {

void DecodeBody(WalkedRecord& record, const std::vector<std::byte>& body) {
  switch (record.frame->kind) {
    case RecordKind::kPageState: {
      if (auto header = DecodePageRecordHeader(body)) record.page = *header;
      if (auto full = DecodePageRecord(body); !full) record.problem = full.error().message();
      break;
    }
    case RecordKind::kFreePage:
      if (body.size() == 4) {
        record.freed_pid = DecodeFixed32(body.data());
      } else {
        record.problem = "FreePage body of " + std::to_string(body.size()) + " bytes, not 4 (recovery ignores it)";
      }
      break;
    case RecordKind::kSegmentEnd:
      if (body.size() == log_format::kSegmentEndBodySize) {
        record.next_segment = DecodeFixed32(body.data());
      } else {
        record.problem = "SegmentEnd body of " + std::to_string(body.size()) + " bytes, not 4";
      }
      break;
    case RecordKind::kSyncPoint:
      if (body.size() != log_format::kSyncPointBodySize) {
        record.problem = "SyncPoint body of " + std::to_string(body.size()) + " bytes, not 8";
      }
      break;
    case RecordKind::kFailedFlush:
    case RecordKind::kApplication:
      break;
  }
}

}  // namespace

SegmentWalk WalkSegment(std::span<const std::byte> data, std::uint32_t segment, std::uint32_t max_body_len) {
  SegmentWalk walk;
  walk.segment = segment;
  std::size_t offset = log_format::kSegmentHeaderSize;
  for (;;) {
    walk.end_offset = static_cast<std::uint32_t>(offset);
    const std::span<const std::byte> rest = offset <= data.size() ? data.subspan(offset) : data.subspan(data.size());
    if (rest.empty()) {
      walk.end = data.size() < log_format::kSegmentHeaderSize ? SegmentEnd::kDamaged : SegmentEnd::kCleanEnd;
      walk.end_detail =
          data.size() < log_format::kSegmentHeaderSize ? "the file is shorter than a segment header" : "end of file";
      return walk;
    }
    if (std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; })) {
      walk.end = SegmentEnd::kCleanEnd;
      walk.end_detail = "zeros to the end of the file";
      return walk;
    }
    const LssAddress here = LssAddress::Make(segment, static_cast<std::uint32_t>(offset));
    WalkedRecord record;
    record.address = here;
    if (rest.size() >= 8) record.stored_checksum = DecodeFixed64(rest.data());
    auto peeked = PeekFrameHeader(rest, here, max_body_len);
    if (peeked) record.frame = *peeked;
    auto frame = DecodeFrame(rest, here, max_body_len);
    if (!frame) {
      record.problem = std::string(FrameErrorName(frame.error()));
      // The header still says how long the record is: go on after it, so one damaged
      // record does not hide the rest. Otherwise nothing after it can be found.
      const bool skippable = peeked && peeked->framed_size() <= rest.size();
      walk.records.push_back(std::move(record));
      if (!skippable) {
        walk.end = SegmentEnd::kDamaged;
        walk.end_detail = walk.records.back().problem;
        return walk;
      }
      offset += peeked->framed_size();
      continue;
    }
    record.checksum_ok = true;
    auto body = FrameBody(*frame);
    if (!body) {
      record.problem = body.error().message();
    } else {
      DecodeBody(record, *body);
    }
    offset += frame->header.framed_size();
    const bool ends = record.next_segment.has_value();
    walk.records.push_back(std::move(record));
    if (ends) {
      walk.end = SegmentEnd::kSegmentEnd;
      walk.end_offset = walk.records.back().address.offset();
      walk.end_detail = "the log continues in segment " + std::to_string(*walk.records.back().next_segment);
      return walk;
    }
  }
}

}  // namespace llama::pagedump
