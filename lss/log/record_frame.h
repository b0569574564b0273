// Encoding and decoding of the frame around every log record, and of the header at the
// start of every segment file (layout: lss/log/log_format.h, docs/FORMAT.md). Decoding
// takes untrusted bytes and either yields a checked frame or says what is wrong; it never
// reads outside its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"
#include "lss/log/log_format.h"

namespace llama {

struct FrameHeader {
  std::uint32_t body_len = 0;  // bytes stored after the frame header
  std::uint32_t raw_len = 0;   // body bytes once decompressed (== body_len if not)
  LssAddress address;          // where the frame says it lives
  log_format::RecordKind kind = log_format::RecordKind::kPageState;
  bool compressed = false;

  std::size_t framed_size() const { return log_format::kFrameHeaderSize + body_len; }
};

enum class FrameError : std::uint8_t {
  kTruncated,         // fewer bytes than the frame header or its body need
  kChecksumMismatch,  // torn, zeroed, random or flipped bytes
  kWrongAddress,      // a valid frame from another segment or offset (stale bytes)
  kBadHeader,         // unknown kind or flags, nonzero reserved bytes, bad lengths
};
std::string_view FrameErrorName(FrameError error);

struct FrameView {
  FrameHeader header;
  std::span<const std::byte> body;  // as stored (compressed if header.compressed)
};

// Writes header + body to `dst` (which must hold FramedSize(body.size()) bytes).
// `raw_len` is the body's decompressed size when `compressed`.
void EncodeFrame(std::byte* dst, log_format::RecordKind kind, LssAddress at, std::span<const std::byte> body,
                 bool compressed, std::uint32_t raw_len);
inline std::size_t FramedSize(std::size_t body_len) { return log_format::kFrameHeaderSize + body_len; }

// Reads just the header from `bytes` (which may hold more than one frame). The header is
// validated except for the checksum, which needs the body: use DecodeFrame for that.
tl::expected<FrameHeader, FrameError> PeekFrameHeader(std::span<const std::byte> bytes, LssAddress expected_at,
                                                      std::uint32_t max_body_len);
// Validates a whole frame at the start of `bytes` that claims to live at `expected_at`.
tl::expected<FrameView, FrameError> DecodeFrame(std::span<const std::byte> bytes, LssAddress expected_at,
                                                std::uint32_t max_body_len);

// The frame's body, decompressed if it was stored compressed.
Result<std::vector<std::byte>> FrameBody(const FrameView& frame);

// Compresses `body` at `level` (0: never) when that makes it smaller; the result's
// `compressed` says which bytes to frame.
struct EncodedBody {
  std::vector<std::byte> bytes;
  bool compressed = false;
  std::uint32_t raw_len = 0;
};
EncodedBody MaybeCompress(std::span<const std::byte> body, int level);

// The header at the start of every segment file. A scan (recovery, pagedump) takes a file
// as part of the log only when its header names the file's own id and the store's id and
// segment size (LogScanner::Open), so a file copied from another store, or renamed, is
// never replayed.
struct SegmentHeader {
  std::uint32_t segment_id = 0;    // the segment half of every address in the file
  std::uint32_t segment_size = 0;  // the store's segment size (STORE file)
  std::uint64_t store_id = 0;      // the store's id (STORE file)
  LssAddress resume_from;          // non-null: this segment continues the log from there
};

void EncodeSegmentHeader(const SegmentHeader& header, std::byte* dst);  // 40 bytes
Result<SegmentHeader> DecodeSegmentHeader(std::span<const std::byte> bytes);

}  // namespace llama
