// Helpers for the delta tests: spell raw record bytes field by field (so a test can
// write any header, valid or not, without going through DeltaRecord), and compare bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llama/coding.h"
#include "llama/types.h"

namespace llama::delta_test {

using Bytes = std::vector<std::byte>;

// Packed bits spelled out here rather than taken from include/llama/delta_format.h, so the tests
// pin the documented values instead of echoing the constants.
inline constexpr std::uint8_t kF = 0x80;
inline constexpr std::uint8_t kP = 0x40;
inline constexpr std::uint8_t kU = 0x20;
inline constexpr std::uint8_t kE = 0x10;
inline constexpr std::uint8_t kR = 0x08;
inline constexpr std::uint8_t kRe = 0x04;

// One record's header fields, set by chained setters. Len and PLen default to the values
// that match the payload.
struct RawDelta {
  std::optional<std::uint32_t> len;
  std::uint32_t lss_off = 0;
  std::uint32_t pid = 0;
  std::uint8_t bits = 0;
  std::uint64_t prior = 0;
  std::uint64_t last_flushed = 0;
  std::optional<std::uint32_t> plen;
  Bytes payload;
  std::size_t extra_bytes = 0;  // zero bytes appended after the payload

  RawDelta& LssOff(std::uint32_t v) { return lss_off = v, *this; }
  RawDelta& Pid(std::uint32_t v) { return pid = v, *this; }
  RawDelta& Bits(std::uint8_t v) { return bits = v, *this; }
  RawDelta& Prior(std::uint64_t v) { return prior = v, *this; }
  RawDelta& LastFlushed(std::uint64_t v) { return last_flushed = v, *this; }
  RawDelta& Payload(Bytes v) { return payload = std::move(v), *this; }
};

inline Bytes Encode(const RawDelta& d) {
  Bytes out(33 + d.payload.size() + d.extra_bytes);
  EncodeFixed32(out.data() + 0, d.len.value_or(static_cast<std::uint32_t>(out.size())));
  EncodeFixed32(out.data() + 4, d.lss_off);
  EncodeFixed32(out.data() + 8, d.pid);
  out[12] = static_cast<std::byte>(d.bits);
  EncodeFixed64(out.data() + 13, d.prior);
  EncodeFixed64(out.data() + 21, d.last_flushed);
  EncodeFixed32(out.data() + 29, d.plen.value_or(static_cast<std::uint32_t>(d.payload.size())));
  for (std::size_t i = 0; i < d.payload.size(); ++i) out[33 + i] = d.payload[i];
  return out;
}

inline Bytes ToBytes(std::string_view s) {
  const auto b = AsBytes(s);
  return Bytes(b.begin(), b.end());
}

inline Bytes ToBytes(std::span<const std::byte> b) { return Bytes(b.begin(), b.end()); }

inline Bytes Fixed64Bytes(std::uint64_t v) {
  Bytes out(8);
  EncodeFixed64(out.data(), v);
  return out;
}

inline Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// `n` bytes of a position-dependent pattern, so a shifted or truncated copy differs.
inline Bytes Pattern(std::size_t n, std::uint32_t salt = 0) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((i * 131 + salt * 7 + (i >> 8)) & 0xFF);
  }
  return out;
}

inline std::string Hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i != 0) out += ' ';
    const auto v = std::to_integer<unsigned>(bytes[i]);
    out += kDigits[v >> 4];
    out += kDigits[v & 0xF];
  }
  return out;
}

// Parses hex as written in docs/FORMAT.md: pairs of hex digits; spaces, newlines and
// anything from '|' or '#' to the end of a line are ignored.
inline Bytes FromHex(std::string_view text) {
  Bytes out;
  int high = -1;
  bool comment = false;
  for (const char c : text) {
    if (c == '\n') comment = false;
    if (comment) continue;
    if (c == '|' || c == '#') {
      comment = true;
      continue;
    }
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

inline bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Valid addresses of several shapes, and raw values that are not valid addresses.
inline constexpr LssAddress kAddrA = LssAddress::Make(1, 0x40);
inline constexpr LssAddress kAddrB = LssAddress::Make(2, 0x1000);
inline constexpr LssAddress kAddrMax = LssAddress::Make(LssAddress::kMaxSegment, 0xFFFFFFFF);
inline constexpr std::uint64_t kRawSegmentZero = 0x0000'0000'0000'0040ull;  // segment 0
inline constexpr std::uint64_t kRawTopBit = 0x8000'0001'0000'0040ull;       // segment 2^31 + 1
inline constexpr std::uint64_t kRawAllOnes = ~0ull;

}  // namespace llama::delta_test
