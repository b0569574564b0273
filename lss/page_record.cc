#include "lss/page_record.h"

#include <string>

#include "deltas/delta_format.h"
#include "util/coding.h"

namespace llama {

using namespace page_record_format;

std::size_t PageRecordSize(std::span<const DeltaHandle> deltas, const BasePage* base) {
  std::size_t size = kHeaderSize;
  for (const DeltaHandle& d : deltas) size += d->len();
  if (base != nullptr) size += base->Encoded().size();
  return size;
}

Status EncodePageRecord(PageId pid, LssAddress prior, std::span<const DeltaHandle> deltas,
                        const BasePage* base, std::vector<std::byte>& out) {
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

Result<PageRecord> DecodePageRecord(std::span<const std::byte> body) {
  auto corrupt = [](std::string why) {
    return MakeError(ErrorCode::kCorruption, "page record: " + std::move(why));
  };
  if (body.size() < kHeaderSize) return corrupt("shorter than its header");
  const std::byte* h = body.data();
  PageRecord rec;
  rec.pid = DecodeFixed32(h + kPidOffset);
  const auto flags = std::to_integer<std::uint8_t>(h[kFlagsOffset]);
  if ((flags & ~kHasBase) != 0 || h[kFlagsOffset + 1] != std::byte{0} ||
      h[kFlagsOffset + 2] != std::byte{0} || h[kFlagsOffset + 3] != std::byte{0}) {
    return corrupt("unknown flags");
  }
  rec.prior = LssAddress::FromRaw(DecodeFixed64(h + kPriorOffset));
  if (!rec.prior.is_null() && !rec.prior.is_valid()) return corrupt("prior address out of range");
  const bool has_base = (flags & kHasBase) != 0;
  if (has_base && !rec.prior.is_null()) return corrupt("a base page and a prior");
  const std::uint32_t count = DecodeFixed32(h + kDeltaCountOffset);
  const std::uint32_t base_len = DecodeFixed32(h + kBaseLenOffset);
  if (has_base != (base_len != 0)) return corrupt("base flag and base length disagree");
  if (base_len > body.size() - kHeaderSize) return corrupt("base length past the end");
  std::span<const std::byte> rest = body.subspan(kHeaderSize, body.size() - kHeaderSize - base_len);
  // Each delta is at least a header long, so a hostile count cannot make us allocate much.
  if (count > rest.size() / delta_format::kHeaderSize) return corrupt("delta count past the end");
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
