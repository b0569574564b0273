#include "lss/log/record_frame.h"

#include <cassert>
#include <string>

#include "util/byte_io.h"
#include "util/checksum.h"
#include "util/compression.h"

namespace llama {

using namespace log_format;

void EncodeSegmentHeader(const SegmentHeader& header, std::byte* dst) {
  ByteWriter w(std::span<std::byte>(dst, kSegmentHeaderSize));
  w.U32(kSegmentMagic).U16(kFormatVersion).U16(static_cast<std::uint16_t>(kSegmentHeaderSize));
  w.U32(header.segment_id).U32(header.segment_size).U64(header.store_id).U64(header.resume_from.raw());
  // The checksum covers every field before it.
  w.U64(Checksum64(w.written()));
  assert(w.ok() && w.size() == kSegmentHeaderSize);
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const std::byte> bytes) {
  auto corrupt = [](const char* why) {
    return MakeError(ErrorCode::kCorruption, std::string("segment header: ") + why);
  };
  ByteReader r(bytes);
  std::uint32_t magic = 0;
  std::uint16_t version = 0, header_size = 0;
  std::uint64_t resume_from = 0, checksum = 0;
  SegmentHeader h;
  if (!r.U32(&magic) || !r.U16(&version) || !r.U16(&header_size) || !r.U32(&h.segment_id) || !r.U32(&h.segment_size) ||
      !r.U64(&h.store_id) || !r.U64(&resume_from) || !r.U64(&checksum)) {
    return corrupt("shorter than its 40 bytes");
  }
  if (magic != kSegmentMagic) return corrupt("bad magic");
  if (checksum != Checksum64(bytes.first(kSegChecksumOffset))) return corrupt("checksum mismatch");
  if (version != kFormatVersion) return corrupt("unknown version");
  if (header_size != kSegmentHeaderSize) return corrupt("bad header size");
  h.resume_from = LssAddress::FromRaw(resume_from);
  if (!h.resume_from.is_null() && !h.resume_from.is_valid()) return corrupt("bad resume address");
  if (h.segment_id == 0 || h.segment_id > LssAddress::kMaxSegment) return corrupt("bad segment id");
  if (h.segment_size < kMinSegmentSize || h.segment_size > kMaxSegmentSize) {
    return corrupt("segment size out of range");
  }
  return h;
}

std::string_view FrameErrorName(FrameError error) {
  switch (error) {
    case FrameError::kTruncated:
      return "truncated frame";
    case FrameError::kChecksumMismatch:
      return "checksum mismatch";
    case FrameError::kWrongAddress:
      return "frame belongs to another segment or offset";
    case FrameError::kBadHeader:
      return "malformed frame header";
  }
  return "unknown frame error";
}

void EncodeFrame(std::byte* dst, RecordKind kind, LssAddress at, std::span<const std::byte> body, bool compressed,
                 std::uint32_t raw_len) {
  ByteWriter w(std::span<std::byte>(dst, FramedSize(body.size())));
  w.Skip(8);  // the checksum, written last: it covers everything after it
  const auto body_len = static_cast<std::uint32_t>(body.size());
  w.U32(body_len).U32(compressed ? raw_len : body_len).U32(at.segment()).U32(at.offset());
  w.U8(static_cast<std::uint8_t>(kind)).U8(compressed ? kFrameFlagZstd : 0).U16(0).U32(0);
  // A body already in place (a failed-flush marker's zeros) needs no copy; memcpy onto
  // itself would be undefined.
  if (body.data() == dst + kFrameHeaderSize) {
    w.Skip(body.size());
  } else {
    w.Bytes(body);
  }
  assert(w.ok());
  ByteWriter(std::span<std::byte>(dst, 8)).U64(Checksum64(w.written().subspan(8)));
}

tl::expected<FrameHeader, FrameError> PeekFrameHeader(std::span<const std::byte> bytes, LssAddress expected_at,
                                                      std::uint32_t max_body_len) {
  using Fail = tl::unexpected<FrameError>;
  ByteReader r(bytes);
  FrameHeader h;
  std::uint32_t segment = 0, offset = 0, reserved32 = 0;
  std::uint8_t kind = 0, flags = 0;
  std::uint16_t reserved16 = 0;
  if (!r.Skip(8) || !r.U32(&h.body_len) || !r.U32(&h.raw_len) || !r.U32(&segment) || !r.U32(&offset) || !r.U8(&kind) ||
      !r.U8(&flags) || !r.U16(&reserved16) || !r.U32(&reserved32)) {
    return Fail(FrameError::kTruncated);
  }
  h.address = LssAddress::Make(segment, offset);
  // Any of these on an all-zero or random tail means "not a frame"; a checksum failure
  // would say the same, but these checks come first so hostile lengths are never used.
  if (kind == 0 || kind > kMaxRecordKind || (flags & ~kFrameFlagsKnown) != 0 || reserved16 != 0 || reserved32 != 0) {
    return Fail(FrameError::kBadHeader);
  }
  h.kind = static_cast<RecordKind>(kind);
  h.compressed = (flags & kFrameFlagZstd) != 0;
  if (h.body_len > max_body_len || h.raw_len > max_body_len || (!h.compressed && h.raw_len != h.body_len)) {
    return Fail(FrameError::kBadHeader);
  }
  if (h.address != expected_at) return Fail(FrameError::kWrongAddress);
  return h;
}

tl::expected<FrameView, FrameError> DecodeFrame(std::span<const std::byte> bytes, LssAddress expected_at,
                                                std::uint32_t max_body_len) {
  using Fail = tl::unexpected<FrameError>;
  auto header = PeekFrameHeader(bytes, expected_at, max_body_len);
  // A frame at the wrong address may still be a checksum failure; report the checksum
  // (the stronger statement) whenever the bytes are there to compute it.
  if (!header && header.error() != FrameError::kWrongAddress) return Fail(header.error());
  ByteReader r(bytes);
  std::uint64_t stored = 0;
  std::uint32_t body_len = 0;
  (void)r.U64(&stored);    // the header is there: PeekFrameHeader read it
  ByteReader covered = r;  // the checksum covers the rest of the header and the body
  (void)r.U32(&body_len);
  if (body_len > max_body_len) return Fail(FrameError::kBadHeader);
  std::span<const std::byte> checked;
  if (!covered.Bytes(kFrameHeaderSize - 8 + std::size_t{body_len}, &checked)) return Fail(FrameError::kTruncated);
  if (stored != Checksum64(checked)) return Fail(FrameError::kChecksumMismatch);
  if (!header) return Fail(header.error());
  return FrameView{*header, checked.subspan(kFrameHeaderSize - 8)};
}

Result<std::vector<std::byte>> FrameBody(const FrameView& frame) {
  if (!frame.header.compressed) return std::vector<std::byte>(frame.body.begin(), frame.body.end());
  return Decompress(frame.body, frame.header.raw_len);
}

EncodedBody MaybeCompress(std::span<const std::byte> body, int level) {
  EncodedBody out;
  out.raw_len = static_cast<std::uint32_t>(body.size());
  if (level > 0 && body.size() >= 256) {
    out.bytes = CompressIfSmaller(body, level);
    out.compressed = !out.bytes.empty();
  }
  if (!out.compressed) out.bytes.assign(body.begin(), body.end());
  return out;
}

}  // namespace llama
