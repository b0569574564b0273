// The on-disk layout of the log: segment files, their header, and the frame around every
// record. docs/FORMAT.md documents every byte; these constants are the source of truth.
//
//   segment file "segment-<id as 8 hex digits>" (lss/file/file_names.h):
//     | segment header (40 bytes) | frame | frame | ... | SegmentEnd frame | (unused) |
//
//   segment header:
//     | magic u32 | version u16 | header size u16 | segment id u32 | segment size u32 |
//     | store id u64 | resume from u64 | checksum u64 (XXH3 of bytes 0..31) |
//
// The log is a chain of segments: a SegmentEnd record names the next segment. After a
// crash, recovery stops at the torn tail and continues the log in a new segment whose
// header says where it resumes ("resume from" = the LSS address of the torn tail), so no
// byte of the old log is ever overwritten.
//
//   frame:
//     | checksum u64 | body length u32 | raw length u32 | segment u32 | offset u32 |
//     | kind u8 | flags u8 | reserved u16 | reserved u32 | body [body length] |
//
// The checksum (XXH3-64) covers frame bytes 8..31 and the body. A frame names the segment
// and the offset it was written at, so bytes left from another segment or another place
// never pass for a record here, and a torn, zeroed or random tail fails the checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace llama::log_format {

// Segment header.
inline constexpr std::uint32_t kSegmentMagic = 0x47534C4C;  // "LLSG" as little-endian bytes
inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::size_t kSegMagicOffset = 0;
inline constexpr std::size_t kSegVersionOffset = 4;
inline constexpr std::size_t kSegHeaderSizeOffset = 6;
inline constexpr std::size_t kSegIdOffset = 8;
inline constexpr std::size_t kSegSizeOffset = 12;
inline constexpr std::size_t kSegStoreIdOffset = 16;
inline constexpr std::size_t kSegResumeFromOffset = 24;
inline constexpr std::size_t kSegChecksumOffset = 32;
inline constexpr std::size_t kSegmentHeaderSize = 40;
static_assert(kSegChecksumOffset + 8 == kSegmentHeaderSize);

// Frame.
inline constexpr std::size_t kFrameChecksumOffset = 0;
inline constexpr std::size_t kFrameBodyLenOffset = 8;
inline constexpr std::size_t kFrameRawLenOffset = 12;
inline constexpr std::size_t kFrameSegmentOffset = 16;
inline constexpr std::size_t kFrameOffsetOffset = 20;
inline constexpr std::size_t kFrameKindOffset = 24;
inline constexpr std::size_t kFrameFlagsOffset = 25;
inline constexpr std::size_t kFrameReserved16Offset = 26;
inline constexpr std::size_t kFrameReserved32Offset = 28;
inline constexpr std::size_t kFrameHeaderSize = 32;
static_assert(kFrameReserved32Offset + 4 == kFrameHeaderSize);
inline constexpr std::uint8_t kFrameFlagZstd = 0x01;
inline constexpr std::uint8_t kFrameFlagsKnown = kFrameFlagZstd;

enum class RecordKind : std::uint8_t {
  kPageState = 1,    // a page's state, or its newest part (lss/log/page_record.h)
  kFreePage = 2,     // body: pid u32. The page was freed.
  kFailedFlush = 3,  // a flush whose flush-mark CAS was lost; body ignored, skipped
  kSegmentEnd = 4,   // body: next segment id u32. The log continues there.
  kApplication = 5,  // opaque to the page store: records of the layers above
  kSyncPoint = 6,    // body: durable position u64. Everything before it was synced.
};
inline constexpr std::uint8_t kMaxRecordKind = 6;

// SegmentEnd: a frame with a 4-byte body. Every segment keeps room for one at its end.
inline constexpr std::size_t kSegmentEndBodySize = 4;
inline constexpr std::size_t kSegmentEndRecordSize = kFrameHeaderSize + kSegmentEndBodySize;

// SyncPoint: a frame with an 8-byte body, the LSS position a completed group commit made
// durable (everything in the log before it). Written by the log writer ahead of the next
// record after a sync; recovery uses it to tell damage from a torn tail.
inline constexpr std::size_t kSyncPointBodySize = 8;
inline constexpr std::size_t kSyncPointRecordSize = kFrameHeaderSize + kSyncPointBodySize;

// Limits on configuration.
inline constexpr std::uint32_t kMinSegmentSize = 64 * 1024;
inline constexpr std::uint32_t kMaxSegmentSize = 1u << 30;  // 1 GiB; offsets are u32

}  // namespace llama::log_format
