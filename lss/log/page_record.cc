#include "lss/log/page_record.h"

#include <string>

#include "llama/coding.h"
#include "llama/delta_format.h"

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
  out.resize(start + kHeaderSize);
  std::byte* h = out.data() + start;
  EncodeFixed32(h + kPidOffset, pid);
  h[kFlagsOffset] = static_cast<std::byte>(base != nullptr ? kHasBase : 0);
  h[kFlagsOffset + 1] = h[kFlagsOffset + 2] = h[kFlagsOffset + 3] = std::byte{0};
  EncodeFixed64(h + kPriorOffset, prior.raw());
  EncodeFixed32(h + kDeltaCountOffset, static_cast<std::uint32_t>(deltas.size()));
  const auto base_image = base ? base->Encoded() : std::span<const std::byte>();
  EncodeFixed32(h + kBaseLenOffset, static_cast<std::uint32_t>(base_image.size()));
  for (const DeltaHandle& d : deltas) {
    if (d->pid() != pid) {
      out.resize(start);
      return MakeError(ErrorCode::kInvalidArgument, "page record: delta of another page");
    }
    out.insert(out.end(), d->bytes().begin(), d->bytes().end());
  }
  out.insert(out.end(), base_image.begin(), base_image.end());
  return OkStatus();
}

namespace {
tl::unexpected<Error> CorruptPageRecord(std::string why) {
  return MakeError(ErrorCode::kCorruption, "page record: " + std::move(why));
}
}  // namespace

Result<PageRecordHeader> DecodePageRecordHeader(std::span<const std::byte> body) {
  if (body.size() < kHeaderSize) return CorruptPageRecord("shorter than its header");
  const std::byte* h = body.data();
  PageRecordHeader out;
  out.pid = DecodeFixed32(h + kPidOffset);
  const auto flags = std::to_integer<std::uint8_t>(h[kFlagsOffset]);
  if ((flags & ~kHasBase) != 0 || h[kFlagsOffset + 1] != std::byte{0} || h[kFlagsOffset + 2] != std::byte{0} ||
      h[kFlagsOffset + 3] != std::byte{0}) {
    return CorruptPageRecord("unknown flags");
  }
  out.prior = LssAddress::FromRaw(DecodeFixed64(h + kPriorOffset));
  if (!out.prior.is_null() && !out.prior.is_valid()) return CorruptPageRecord("prior address out of range");
  out.has_base = (flags & kHasBase) != 0;
  if (out.has_base && !out.prior.is_null()) return CorruptPageRecord("a base page and a prior");
  out.delta_count = DecodeFixed32(h + kDeltaCountOffset);
  out.base_len = DecodeFixed32(h + kBaseLenOffset);
  if (out.has_base != (out.base_len != 0)) return CorruptPageRecord("base flag and base length disagree");
  if (out.base_len > body.size() - kHeaderSize) return CorruptPageRecord("base length past the end");
  // Each delta is at least a header long, so a hostile count cannot make us allocate much.
  if (out.delta_count > (body.size() - kHeaderSize - out.base_len) / delta_format::kHeaderSize) {
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
  const bool has_base = header->has_base;
  const std::uint32_t count = header->delta_count;
  const std::uint32_t base_len = header->base_len;
  std::span<const std::byte> rest = body.subspan(kHeaderSize, body.size() - kHeaderSize - base_len);
  rec.deltas.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    if (rest.size() < delta_format::kHeaderSize) return corrupt("delta " + std::to_string(i) + " truncated");
    const std::uint32_t len = DecodeFixed32(rest.data() + delta_format::kLenOffset);
    if (len < delta_format::kHeaderSize || len > rest.size()) {
      return corrupt("delta " + std::to_string(i) + " length out of range");
    }
    auto delta = DeltaRecord::Decode(rest.first(len));
    if (!delta) return corrupt("delta " + std::to_string(i) + ": " + delta.error().message());
    if (delta->pid() != rec.pid) return corrupt("delta " + std::to_string(i) + " of another page");
    rec.deltas.push_back(Share(std::move(*delta)));
    rest = rest.subspan(len);
  }
  if (!rest.empty()) return corrupt("bytes between the deltas and the base");
  if (has_base) {
    auto base = BasePage::Decode(body.subspan(body.size() - base_len));
    if (!base) return corrupt(base.error().message());
    if (base->pid() != rec.pid) return corrupt("base page of another page");
    rec.base = Share(std::move(*base));
  }
  return rec;
}

}  // namespace llama
