// Identifiers and addresses shared by every layer.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>

namespace llama {

// A logical page id: the index of a slot in the mapping table. Every 32-bit value is a
// valid id (2^32 pages); the table allocates them and recycles freed ones.
using PageId = std::uint32_t;

// An address in the log-structured store: the segment a record lives in (high 32 bits)
// and the byte offset of the record inside that segment (low 32 bits). Segments are at
// most 4 GiB, and a store has up to 2^31 - 1 of them, so a store is not capped at 4 GiB
// (the reference crate's mistake). Segment 0 does not exist, so the all-zero address is
// "none". The top bit is always clear, which lets the mapping table tag the address in a
// 64-bit word (include/llama/page_ref.h).
class LssAddress {
 public:
  static constexpr std::uint32_t kMaxSegment = (1u << 31) - 1;

  constexpr LssAddress() = default;
  static constexpr LssAddress FromRaw(std::uint64_t raw) { return LssAddress(raw); }
  static constexpr LssAddress Make(std::uint32_t segment, std::uint32_t offset) {
    return LssAddress((static_cast<std::uint64_t>(segment) << 32) | offset);
  }

  constexpr std::uint64_t raw() const { return raw_; }
  constexpr std::uint32_t segment() const { return static_cast<std::uint32_t>(raw_ >> 32); }
  constexpr std::uint32_t offset() const { return static_cast<std::uint32_t>(raw_); }
  constexpr bool is_null() const { return raw_ == 0; }
  // A non-null address whose segment is in range.
  constexpr bool is_valid() const { return segment() != 0 && segment() <= kMaxSegment; }

  friend constexpr auto operator<=>(LssAddress, LssAddress) = default;

 private:
  explicit constexpr LssAddress(std::uint64_t raw) : raw_(raw) {}
  std::uint64_t raw_ = 0;
};

}  // namespace llama
