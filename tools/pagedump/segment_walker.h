// WalkSegment: reads one segment file's bytes record by record, the way an inspector
// must: it keeps going past a damaged record whose header still says how long it is (so
// one flipped bit does not hide the rest of the segment), and says for every record what
// is wrong with it. The recovery scan (LogScanner) stops at the first bad record instead;
// pagedump shows both.
//
// Ownership: plain values; nothing refers to the bytes walked once it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "llama/types.h"
#include "lss/log/page_record.h"
#include "lss/log/record_frame.h"

namespace llama::pagedump {

struct WalkedRecord {
  LssAddress address;
  std::optional<FrameHeader> frame;  // when the frame header is readable
  std::uint64_t stored_checksum = 0;
  bool checksum_ok = false;
  std::string problem;  // "" when the record is valid, body included
  // Decoded from a valid frame's body:
  std::optional<PageRecordHeader> page;       // PageState (header decodes)
  std::optional<PageId> freed_pid;            // FreePage
  std::optional<std::uint32_t> next_segment;  // SegmentEnd

  std::uint32_t framed_size() const { return frame ? static_cast<std::uint32_t>(frame->framed_size()) : 0; }
};

enum class SegmentEnd : std::uint8_t {
  kSegmentEnd,  // a SegmentEnd record names the next segment
  kCleanEnd,    // the end of the file, or zeros to it, at a record boundary
  kDamaged,     // bytes that are not a record and do not say how long they are
};
std::string_view SegmentEndName(SegmentEnd end);

struct SegmentWalk {
  std::uint32_t segment = 0;
  std::vector<WalkedRecord> records;
  SegmentEnd end = SegmentEnd::kCleanEnd;
  std::uint32_t end_offset = 0;  // where the walk stopped (the SegmentEnd's own offset)
  std::string end_detail;
};

// Walks `data` (the segment file's first bytes, up to the segment size) from offset 40.
// max_body_len is the store's segment size, as the store reads with.
SegmentWalk WalkSegment(std::span<const std::byte> data, std::uint32_t segment, std::uint32_t max_body_len);

}  // namespace llama::pagedump
