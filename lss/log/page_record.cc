#include "lss/log/page_record.h"

#include <string>

#include "llama/delta_format.h"
#include "util/byte_io.h"

namespace llama {

using namespace page_record_format;

std::size_t PageRecordSize(std::span<const DeltaHandle> deltas, const BasePage* base) {
  std::size_t size = kHeaderSize;
  for (const DeltaHandle& d : deltas) size += d->len();
  if (base != nullptr) size += base->Encoded().size();
  return size;
}

Status EncodePageRecord(PageId pid, LssAddress prior, std::span<const DeltaHandle> deltas, const BasePage* base,
                        std::vector<std::byte>& out) {
  if (base != nullptr && !prior.is_null()) {
    return MakeError(ErrorCode::kInvalidArgument, "page record: a base page and a prior");
  }
  if (base != nullptr && base->pid() != pid) {
    return MakeError(ErrorCode::kInvalidArgument, "page record: base page of another page");
  }
  const std::size_t start = out.size();
  const auto base_image = base ? base->Encoded() : std::span<const std::byte>();
  ByteWriter w(out);
  w.U32(pid).U8(base != nullptr ? kHasBase : 0).Zeros(3).U64(prior.raw());
  w.U32(static_cast<std::uint32_t>(deltas.size())).U32(static_cast<std::uint32_t>(base_image.size()));
  for (const DeltaHandle& d : deltas) {
    if (d->pid() != pid) {
      out.resize(start);
      return MakeError(ErrorCode::kInvalidArgument, "page record: delta of another page");
    }
    w.Bytes(d->bytes());
  }
  w.Bytes(base_image);
  return OkStatus();
}

namespace {
tl::unexpected<Error> CorruptPageRecord(std::string why) {
  return MakeError(ErrorCode::kCorruption, "page record: " + std::move(why));
}
}  // namespace

Result<PageRecordHeader> DecodePageRecordHeader(std::span<const std::byte> body) {
  ByteReader r(body);
  PageRecordHeader out;
  std::uint8_t flags = 0;
  std::span<const std::byte> reserved;
  std::uint64_t prior = 0;
  if (!r.U32(&out.pid) || !r.U8(&flags) || !r.Bytes(3, &reserved) || !r.U64(&prior) || !r.U32(&out.delta_count) ||
      !r.U32(&out.base_len)) {
    return CorruptPageRecord("shorter than its header");
  }
  if ((flags & ~kHasBase) != 0 || reserved[0] != std::byte{0} || reserved[1] != std::byte{0} ||
      reserved[2] != std::byte{0}) {
    return CorruptPageRecord("unknown flags");
  }
  out.prior = LssAddress::FromRaw(prior);
  if (!out.prior.is_null() && !out.prior.is_valid()) return CorruptPageRecord("prior address out of range");
  out.has_base = (flags & kHasBase) != 0;
  if (out.has_base && !out.prior.is_null()) return CorruptPageRecord("a base page and a prior");
  if (out.has_base != (out.base_len != 0)) return CorruptPageRecord("base flag and base length disagree");
  if (out.base_len > r.remaining()) return CorruptPageRecord("base length past the end");
  // Each delta is at least a header long, so a hostile count cannot make us allocate much.
  if (out.delta_count > (r.remaining() - out.base_len) / delta_format::kHeaderSize) {
    return CorruptPageRecord("delta count past the end");
  }
  return out;
}

Result<PageRecord> DecodePageRecord(std::span<const std::byte> body) {
  auto corrupt = [](std::string why) { return CorruptPageRecord(std::move(why)); };
  auto header = DecodePageRecordHeader(body);
  LLAMA_RETURN_IF_ERROR(header);
  PageRecord rec;
  rec.pid = header->pid;
  rec.prior = header->prior;
  const std::uint32_t count = header->delta_count;
  // Between the header and the base (both checked to be there), the deltas.
  ByteReader deltas(body.subspan(kHeaderSize, body.size() - kHeaderSize - header->base_len));
  rec.deltas.reserve(count);
  static_assert(delta_format::kLenOffset == 0, "a delta starts with its length");
  for (std::uint32_t i = 0; i < count; ++i) {
    if (deltas.remaining() < delta_format::kHeaderSize) return corrupt("delta " + std::to_string(i) + " truncated");
    std::uint32_t len = 0;
    (void)ByteReader(deltas).U32(&len);  // a look ahead: the delta's bytes start with it
    std::span<const std::byte> bytes;
    if (len < delta_format::kHeaderSize || !deltas.Bytes(len, &bytes)) {
      return corrupt("delta " + std::to_string(i) + " length out of range");
    }
    auto delta = DeltaRecord::Decode(bytes);
    if (!delta) return corrupt("delta " + std::to_string(i) + ": " + delta.error().message());
    if (delta->pid() != rec.pid) return corrupt("delta " + std::to_string(i) + " of another page");
    rec.deltas.push_back(Share(std::move(*delta)));
  }
  if (deltas.remaining() != 0) return corrupt("bytes between the deltas and the base");
  if (header->has_base) {
    auto base = BasePage::Decode(body.last(header->base_len));
    if (!base) return corrupt(base.error().message());
    if (base->pid() != rec.pid) return corrupt("base page of another page");
    rec.base = Share(std::move(*base));
  }
  return rec;
}

}  // namespace llama
