#include "llama/base_page.h"

#include <bit>
#include <cassert>
#include <cstring>
#include <string>

#include "llama/coding.h"
#include "util/byte_io.h"

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
  auto data = std::make_unique_for_overwrite<std::byte[]>(kHeaderSize);
  ByteWriter w(std::span<std::byte>(data.get(), kHeaderSize));
  // The header's fields in their order: magic, size code, flags, reserved, pid, used.
  w.U32(kMagic).U8(static_cast<std::uint8_t>(std::countr_zero(page_size))).U8(0).U16(0).U32(pid).U32(0);
  assert(w.ok() && w.size() == kHeaderSize);
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
  ByteReader r(image);
  std::uint32_t magic = 0, pid = 0, used = 0;
  std::uint8_t log2 = 0, flags = 0;
  std::uint16_t reserved = 0;
  if (!r.U32(&magic) || !r.U8(&log2) || !r.U8(&flags) || !r.U16(&reserved) || !r.U32(&pid) || !r.U32(&used)) {
    return corrupt("image shorter than the 16-byte header");
  }
  if (magic != kMagic) return corrupt("bad magic");
  if (log2 < kMinSizeLog2 || log2 > kMaxSizeLog2) {
    return corrupt("page size code " + std::to_string(log2) + " is not 12..16");
  }
  if (flags != 0 || reserved != 0) return corrupt("reserved header bytes are not zero");
  const std::uint32_t page_size = 1u << log2;
  if (used > page_size - kHeaderSize) return corrupt("used length exceeds the page capacity");
  if (r.remaining() != used) return corrupt("image size does not match used length");
  auto data = std::make_unique_for_overwrite<std::byte[]>(image.size());
  std::memcpy(data.get(), image.data(), image.size());
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
