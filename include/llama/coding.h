// Little-endian fixed-width integer coding for every byte llama-store puts on disk.
// Decoding is one unaligned load on a little-endian host (memcpy, which compilers turn into
// a single mov; g++ 12 does not fuse the portable byte-by-byte form) and byte-by-byte
// shifts elsewhere, so it is correct on any host.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace llama {

inline void EncodeFixed32(std::byte* dst, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void EncodeFixed64(std::byte* dst, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void EncodeFixed16(std::byte* dst, std::uint16_t v) {
  dst[0] = static_cast<std::byte>(v);
  dst[1] = static_cast<std::byte>(v >> 8);
}
inline std::uint16_t DecodeFixed16(const std::byte* src) {
  return static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(src[0]) |
                                    (std::to_integer<std::uint16_t>(src[1]) << 8));
}
inline std::uint32_t DecodeFixed32(const std::byte* src) {
  std::uint32_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, src, sizeof v);
    return v;
  }
  for (int i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(src[i]) << (8 * i);
  return v;
}
inline std::uint64_t DecodeFixed64(const std::byte* src) {
  std::uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, src, sizeof v);
    return v;
  }
  for (int i = 0; i < 8; ++i) v |= std::to_integer<std::uint64_t>(src[i]) << (8 * i);
  return v;
}

// Views of text as bytes and back, for payloads given as strings.
inline std::span<const std::byte> AsBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::string_view AsStringView(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace llama
