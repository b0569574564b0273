#include "llama/base_page.h"

#include <bit>
#include <cstring>
#include <string>

#include "llama/coding.h"

namespace llama {

using namespace base_page_format;

std::optional<std::uint32_t> BasePage::SmallestSizeFor(std::size_t contents) {
  for (std::uint32_t size = kMinPageSize; size <= kMaxPageSize; size *= 2) {
    if (contents <= size - base_page_format::kHeaderSize) return size;
  }
  return std::nullopt;
}

bool BasePage::IsValidPageSize(std::uint64_t page_size) {
  return page_size >= kMinPageSize && page_size <= kMaxPageSize && std::has_single_bit(page_size);
}

Result<BasePage> BasePage::Create(PageId pid, std::uint32_t page_size) {
  if (!IsValidPageSize(page_size)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "base page size " + std::to_string(page_size) + " is not one of 4, 8, 16, 32 or 64 KiB");
  }
  auto data = std::make_unique<std::byte[]>(kHeaderSize);  // zero-filled: used = 0
  std::byte* p = data.get();
  EncodeFixed32(p + kMagicOffset, kMagic);
  p[kSizeLog2Offset] = static_cast<std::byte>(std::countr_zero(page_size));
  EncodeFixed32(p + kPidOffset, pid);
  return BasePage(std::move(data), page_size, kHeaderSize);
}

Result<BasePage> BasePage::Create(PageId pid, std::uint32_t page_size, std::span<const std::byte> contents) {
  auto page = Create(pid, page_size);
  if (!page) return page;
  LLAMA_RETURN_IF_ERROR(page->SetContents(contents));
  return page;
}

Result<BasePage> BasePage::Decode(std::span<const std::byte> image) {
  auto corrupt = [](std::string why) { return MakeError(ErrorCode::kCorruption, "base page: " + std::move(why)); };
  if (image.size() < kHeaderSize) return corrupt("image shorter than the 16-byte header");
  const std::byte* p = image.data();
  if (DecodeFixed32(p + kMagicOffset) != kMagic) return corrupt("bad magic");
  const auto log2 = std::to_integer<std::uint32_t>(p[kSizeLog2Offset]);
  if (log2 < kMinSizeLog2 || log2 > kMaxSizeLog2) {
    return corrupt("page size code " + std::to_string(log2) + " is not 12..16");
  }
  if (p[kFlagsOffset] != std::byte{0} || DecodeFixed16(p + kReservedOffset) != 0) {
    return corrupt("reserved header bytes are not zero");
  }
  const std::uint32_t page_size = 1u << log2;
  const std::uint64_t used = DecodeFixed32(p + kUsedOffset);
  if (used > page_size - kHeaderSize) return corrupt("used length exceeds the page capacity");
  if (kHeaderSize + used != image.size()) return corrupt("image size does not match used length");
  auto data = std::make_unique_for_overwrite<std::byte[]>(image.size());
  std::memcpy(data.get(), p, image.size());
  return BasePage(std::move(data), page_size, image.size());
}

PageId BasePage::pid() const { return DecodeFixed32(data_.get() + kPidOffset); }

std::uint32_t BasePage::used() const { return DecodeFixed32(data_.get() + kUsedOffset); }

std::span<const std::byte> BasePage::contents() const { return {data_.get() + kHeaderSize, used()}; }

Status BasePage::SetContents(std::span<const std::byte> contents) {
  if (contents.size() > capacity()) {
    return MakeError(ErrorCode::kInvalidArgument, "base page: " + std::to_string(contents.size()) +
                                                      " bytes do not fit a page of capacity " +
                                                      std::to_string(capacity()));
  }
  const std::size_t need = kHeaderSize + contents.size();
  if (need > allocated_) {  // grow to exactly what the contents need; the header moves along
    auto data = std::make_unique_for_overwrite<std::byte[]>(need);
    std::memcpy(data.get(), data_.get(), kHeaderSize);
    data_ = std::move(data);
    allocated_ = need;
  }
  if (!contents.empty()) std::memcpy(data_.get() + kHeaderSize, contents.data(), contents.size());
  EncodeFixed32(data_.get() + kUsedOffset, static_cast<std::uint32_t>(contents.size()));
  return OkStatus();
}

std::span<const std::byte> BasePage::Encoded() const { return {data_.get(), kHeaderSize + used()}; }

}  // namespace llama
