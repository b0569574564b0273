// BasePage: a fixed-size page image of 4, 8, 16, 32 or 64 KiB at the bottom of a page
// state. The access method owns the meaning of its contents; LLAMA only sizes, encodes
// and decodes it.
//
// Layout (docs/FORMAT.md, "Base page"): a 16-byte header, then `used` content bytes.
// page_size is the page's logical size, its capacity; in memory the page holds only its
// header and contents (16 + used bytes, reallocated when SetContents needs more), which
// is also its encoded image, so encoding never copies and a half-empty 64 KiB page costs
// what it holds, not 64 KiB.
//
// Ownership: a BasePage is mutable while one party owns it; a page node holds it through
// a BasePageHandle and from then on it is immutable (consolidation builds a new page).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "llama/status.h"
#include "llama/types.h"

namespace llama {

namespace base_page_format {
// Fields are written and read in order (util/byte_io.h); docs/FORMAT.md lays out every
// one. Only the offsets code seeks to directly are named here.
inline constexpr std::uint32_t kMagic = 0x50424C4C;  // "LLBP" as little-endian bytes
inline constexpr std::size_t kFlagsOffset = 5;
inline constexpr std::size_t kReservedOffset = 6;
inline constexpr std::size_t kPidOffset = 8;
inline constexpr std::size_t kUsedOffset = 12;
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint32_t kMinSizeLog2 = 12;  // 4 KiB
inline constexpr std::uint32_t kMaxSizeLog2 = 16;  // 64 KiB
static_assert(kUsedOffset + 4 == kHeaderSize);
static_assert(kReservedOffset + 2 == kPidOffset);
}  // namespace base_page_format

class BasePage {
 public:
  static constexpr std::uint32_t kMinPageSize = 1u << base_page_format::kMinSizeLog2;
  static constexpr std::uint32_t kMaxPageSize = 1u << base_page_format::kMaxSizeLog2;

  static bool IsValidPageSize(std::uint64_t page_size);
  // The smallest valid page size whose capacity holds `contents` bytes; nullopt when even
  // 64 KiB does not.
  static std::optional<std::uint32_t> SmallestSizeFor(std::size_t contents);

  // An empty page. InvalidArgument unless page_size is 4, 8, 16, 32 or 64 KiB.
  static Result<BasePage> Create(PageId pid, std::uint32_t page_size);
  // A page holding `contents`; InvalidArgument when they do not fit.
  static Result<BasePage> Create(PageId pid, std::uint32_t page_size, std::span<const std::byte> contents);
  // Validates and copies an encoded image (Corruption on any inconsistency).
  static Result<BasePage> Decode(std::span<const std::byte> image);

  BasePage(BasePage&&) noexcept = default;
  BasePage& operator=(BasePage&&) noexcept = default;

  std::uint32_t page_size() const { return page_size_; }
  PageId pid() const;
  std::uint32_t capacity() const { return page_size_ - static_cast<std::uint32_t>(base_page_format::kHeaderSize); }
  std::uint32_t used() const;
  std::span<const std::byte> contents() const;
  // Replaces the contents; InvalidArgument when they exceed capacity().
  Status SetContents(std::span<const std::byte> contents);
  // The on-disk image: header plus contents, no padding.
  std::span<const std::byte> Encoded() const;
  // Bytes of memory the page holds: the object and its buffer (what a memory budget
  // counts).
  std::size_t memory_bytes() const { return sizeof(BasePage) + allocated_; }

 private:
  BasePage(std::unique_ptr<std::byte[]> data, std::uint32_t page_size, std::size_t allocated)
      : data_(std::move(data)), page_size_(page_size), allocated_(allocated) {}

  std::unique_ptr<std::byte[]> data_;  // header and contents
  std::uint32_t page_size_;
  std::size_t allocated_;  // bytes in data_: at least kHeaderSize + used()
};

using BasePageHandle = std::shared_ptr<const BasePage>;

inline BasePageHandle Share(BasePage page) { return std::make_shared<const BasePage>(std::move(page)); }

}  // namespace llama
