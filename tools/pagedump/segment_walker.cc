#include "tools/pagedump/segment_walker.h"

#include <algorithm>

#include "lss/log/log_format.h"
#include "util/byte_io.h"

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

// The body's one u32 field, when the body is exactly that.
std::optional<std::uint32_t> OnlyU32(const std::vector<std::byte>& body) {
  ByteReader reader(body);
  std::uint32_t value = 0;
  if (!reader.U32(&value) || reader.remaining() != 0) return std::nullopt;
  return value;
}

void DecodeBody(WalkedRecord& record, const std::vector<std::byte>& body) {
  switch (record.frame->kind) {
    case RecordKind::kPageState: {
      if (auto header = DecodePageRecordHeader(body)) record.page = *header;
      if (auto full = DecodePageRecord(body); !full) record.problem = full.error().message();
      break;
    }
    case RecordKind::kFreePage:
      record.freed_pid = OnlyU32(body);
      if (!record.freed_pid) {
        record.problem = "FreePage body of " + std::to_string(body.size()) + " bytes, not 4 (recovery ignores it)";
      }
      break;
    case RecordKind::kSegmentEnd:
      static_assert(log_format::kSegmentEndBodySize == 4);
      record.next_segment = OnlyU32(body);
      if (!record.next_segment) {
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
  walk.end_offset = static_cast<std::uint32_t>(log_format::kSegmentHeaderSize);
  ByteReader reader(data);
  if (!reader.Skip(log_format::kSegmentHeaderSize)) {
    walk.end = SegmentEnd::kDamaged;
    walk.end_detail = "the file is shorter than a segment header";
    return walk;
  }
  for (;;) {
    walk.end_offset = static_cast<std::uint32_t>(reader.position());
    const std::span<const std::byte> rest = reader.rest();
    if (rest.empty()) {
      walk.end = SegmentEnd::kCleanEnd;
      walk.end_detail = "end of file";
      return walk;
    }
    if (std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; })) {
      walk.end = SegmentEnd::kCleanEnd;
      walk.end_detail = "zeros to the end of the file";
      return walk;
    }
    const LssAddress here = LssAddress::Make(segment, walk.end_offset);
    WalkedRecord record;
    record.address = here;
    (void)ByteReader(rest).U64(&record.stored_checksum);  // stays 0 when fewer than 8 bytes are left
    auto peeked = PeekFrameHeader(rest, here, max_body_len);
    if (peeked) record.frame = *peeked;
    auto frame = DecodeFrame(rest, here, max_body_len);
    if (!frame) {
      record.problem = std::string(FrameErrorName(frame.error()));
      // The header still says how long the record is: go on after it, so one damaged
      // record does not hide the rest. Otherwise nothing after it can be found.
      walk.records.push_back(std::move(record));
      if (peeked && reader.Skip(peeked->framed_size())) continue;
      walk.end = SegmentEnd::kDamaged;
      walk.end_detail = walk.records.back().problem;
      return walk;
    }
    record.checksum_ok = true;
    auto body = FrameBody(*frame);
    if (!body) {
      record.problem = body.error().message();
    } else {
      DecodeBody(record, *body);
    }
    (void)reader.Skip(frame->header.framed_size());  // DecodeFrame found it all there
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
