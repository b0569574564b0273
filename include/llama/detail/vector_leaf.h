// Internal to llama-store; public only because VectorSnapshot's inline read path reads a
// leaf through it. Not part of the API: it may change in any release.
//
// LeafLayout: the bytes of a vector leaf page that was already checked (Parse and Validate
// in rebuild/vector_format.h, whose LeafView adds those checks on top of this), read
// without checks. The layout (docs/FORMAT.md, "Vector pages and deltas"): magic u32,
// count u32, count + 1 offsets u32 (from the start of the values), then the values.
//
// Ownership: a view. The bytes belong to whoever handed them in (a pinned base page, or a
// page read under a generation guard) and must outlive the LeafLayout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "llama/coding.h"

namespace llama::detail {

inline constexpr std::size_t kLeafHeaderSize = 8;  // magic, count

class LeafLayout {
 public:
  LeafLayout() = default;
  // `contents`: a leaf of `count` elements whose offsets were all checked.
  LeafLayout(std::span<const std::byte> contents, std::uint32_t count) : contents_(contents), count_(count) {}

  std::uint32_t size() const { return count_; }
  std::span<const std::byte> contents() const { return contents_; }
  // The count + 1 little-endian u32 offsets (value i spans [offset i, offset i+1) of the
  // values, which follow the offsets).
  const std::byte* offsets() const { return contents_.data() + kLeafHeaderSize; }
  // Element i < size(): no checks.
  std::string_view GetUnchecked(std::uint32_t i) const {
    const std::byte* offsets = this->offsets();
    const std::uint32_t from = DecodeFixed32(offsets + 4 * std::size_t{i});
    const std::uint32_t to = DecodeFixed32(offsets + 4 * (std::size_t{i} + 1));
    const std::byte* values = offsets + 4 * (std::size_t{count_} + 1);
    return std::string_view(reinterpret_cast<const char*>(values + from), to - from);
  }
  // For a random read of element i < size(): fetches where the value would be if the
  // leaf's values were all one size, while its offsets load. For fixed-size values (the
  // common case) the two cache misses of the read then overlap instead of following one
  // another. Only a hint.
  void PrefetchValue(std::uint32_t i) const {
    const std::size_t values_at = kLeafHeaderSize + 4 * (std::size_t{count_} + 1);
    __builtin_prefetch(contents_.data() + values_at + (contents_.size() - values_at) * i / count_);
  }

 protected:
  std::span<const std::byte> contents_;
  std::uint32_t count_ = 0;
};

}  // namespace llama::detail
