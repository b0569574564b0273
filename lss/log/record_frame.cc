#include "lss/log/record_frame.h"

#include <cstring>
#include <string>

#include "llama/coding.h"
#include "util/checksum.h"
#include "util/compression.h"

namespace llama {

using namespace log_format;

void EncodeSegmentHeader(const SegmentHeader& header, std::byte* dst) {
  EncodeFixed32(dst + kSegMagicOffset, kSegmentMagic);
  EncodeFixed16(dst + kSegVersionOffset, kFormatVersion);
  EncodeFixed16(dst + kSegHeaderSizeOffset, static_cast<std::uint16_t>(kSegmentHeaderSize));
  EncodeFixed32(dst + kSegIdOffset, header.segment_id);
  EncodeFixed32(dst + kSegSizeOffset, header.segment_size);
  EncodeFixed64(dst + kSegStoreIdOffset, header.store_id);
  EncodeFixed64(dst + kSegResumeFromOffset, header.resume_from.raw());
  EncodeFixed64(dst + kSegChecksumOffset, Checksum64(std::span<const std::byte>(dst, kSegChecksumOffset)));
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const std::byte> bytes) {
  auto corrupt = [](const char* why) {
    return MakeError(ErrorCode::kCorruption, std::string("segment header: ") + why);
  };
  if (bytes.size() < kSegmentHeaderSize) return corrupt("shorter than its 40 bytes");
  const std::byte* p = bytes.data();
  if (DecodeFixed32(p + kSegMagicOffset) != kSegmentMagic) return corrupt("bad magic");
  if (DecodeFixed64(p + kSegChecksumOffset) != Checksum64(std::span<const std::byte>(p, kSegChecksumOffset))) {
    return corrupt("checksum mismatch");
  }
  if (DecodeFixed16(p + kSegVersionOffset) != kFormatVersion) return corrupt("unknown version");
  if (DecodeFixed16(p + kSegHeaderSizeOffset) != kSegmentHeaderSize) return corrupt("bad header size");
  SegmentHeader h;
  h.segment_id = DecodeFixed32(p + kSegIdOffset);
  h.segment_size = DecodeFixed32(p + kSegSizeOffset);
  h.store_id = DecodeFixed64(p + kSegStoreIdOffset);
  h.resume_from = LssAddress::FromRaw(DecodeFixed64(p + kSegResumeFromOffset));
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
  EncodeFixed32(dst + kFrameBodyLenOffset, static_cast<std::uint32_t>(body.size()));
  EncodeFixed32(dst + kFrameRawLenOffset, compressed ? raw_len : static_cast<std::uint32_t>(body.size()));
  EncodeFixed32(dst + kFrameSegmentOffset, at.segment());
  EncodeFixed32(dst + kFrameOffsetOffset, at.offset());
  dst[kFrameKindOffset] = static_cast<std::byte>(kind);
  dst[kFrameFlagsOffset] = static_cast<std::byte>(compressed ? kFrameFlagZstd : 0);
  EncodeFixed16(dst + kFrameReserved16Offset, 0);
  EncodeFixed32(dst + kFrameReserved32Offset, 0);
  // A body already in place (a failed-flush marker's zeros) needs no copy; memcpy onto
  // itself would be undefined.
  if (!body.empty() && body.data() != dst + kFrameHeaderSize) {
    std::memcpy(dst + kFrameHeaderSize, body.data(), body.size());
  }
  EncodeFixed64(dst + kFrameChecksumOffset,
                Checksum64(std::span<const std::byte>(dst + 8, kFrameHeaderSize - 8 + body.size())));
}

tl::expected<FrameHeader, FrameError> PeekFrameHeader(std::span<const std::byte> bytes, LssAddress expected_at,
                                                      std::uint32_t max_body_len) {
  using Fail = tl::unexpected<FrameError>;
  if (bytes.size() < kFrameHeaderSize) return Fail(FrameError::kTruncated);
  const std::byte* p = bytes.data();
  FrameHeader h;
  h.body_len = DecodeFixed32(p + kFrameBodyLenOffset);
  h.raw_len = DecodeFixed32(p + kFrameRawLenOffset);
  h.address = LssAddress::Make(DecodeFixed32(p + kFrameSegmentOffset), DecodeFixed32(p + kFrameOffsetOffset));
  const auto kind = std::to_integer<std::uint8_t>(p[kFrameKindOffset]);
  const auto flags = std::to_integer<std::uint8_t>(p[kFrameFlagsOffset]);
  // Any of these on an all-zero or random tail means "not a frame"; a checksum failure
  // would say the same, but these checks come first so hostile lengths are never used.
  if (kind == 0 || kind > kMaxRecordKind || (flags & ~kFrameFlagsKnown) != 0 ||
      DecodeFixed16(p + kFrameReserved16Offset) != 0 || DecodeFixed32(p + kFrameReserved32Offset) != 0) {
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
  const std::uint32_t body_len = DecodeFixed32(bytes.data() + kFrameBodyLenOffset);
  if (body_len > max_body_len) return Fail(FrameError::kBadHeader);
  if (bytes.size() - kFrameHeaderSize < body_len) return Fail(FrameError::kTruncated);
  const std::uint64_t stored = DecodeFixed64(bytes.data() + kFrameChecksumOffset);
  const std::uint64_t actual = Checksum64(bytes.subspan(8, kFrameHeaderSize - 8 + static_cast<std::size_t>(body_len)));
  if (stored != actual) return Fail(FrameError::kChecksumMismatch);
  if (!header) return Fail(header.error());
  return FrameView{*header, bytes.subspan(kFrameHeaderSize, body_len)};
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
