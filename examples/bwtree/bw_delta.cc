#include "examples/bwtree/bw_delta.h"

#include <string>

#include "llama/coding.h"

namespace llama::bwtree {

namespace {

Error Corrupt(const std::string& why) { return Error(ErrorCode::kCorruption, "bwtree delta: " + why); }

std::vector<std::byte> Start(DeltaTag tag, std::size_t reserve) {
  std::vector<std::byte> out;
  out.reserve(reserve);
  out.push_back(static_cast<std::byte>(tag));
  return out;
}

void AppendBytes(std::vector<std::byte>& out, std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

void Append16(std::vector<std::byte>& out, std::uint16_t v) {
  out.resize(out.size() + 2);
  EncodeFixed16(out.data() + out.size() - 2, v);
}

void Append32(std::vector<std::byte>& out, std::uint32_t v) {
  out.resize(out.size() + 4);
  EncodeFixed32(out.data() + out.size() - 4, v);
}

}  // namespace

std::vector<std::byte> BwDelta::Insert(std::string_view key, std::string_view value) {
  auto out = Start(DeltaTag::kInsert, 7 + key.size() + value.size());
  Append16(out, static_cast<std::uint16_t>(key.size()));
  Append32(out, static_cast<std::uint32_t>(value.size()));
  AppendBytes(out, key);
  AppendBytes(out, value);
  return out;
}

std::vector<std::byte> BwDelta::Delete(std::string_view key) {
  auto out = Start(DeltaTag::kDelete, 3 + key.size());
  Append16(out, static_cast<std::uint16_t>(key.size()));
  AppendBytes(out, key);
  return out;
}

std::vector<std::byte> BwDelta::KeyAndPage(DeltaTag tag, std::string_view key, PageId pid) {
  auto out = Start(tag, 7 + key.size());
  Append32(out, pid);
  Append16(out, static_cast<std::uint16_t>(key.size()));
  AppendBytes(out, key);
  return out;
}

std::vector<std::byte> BwDelta::RemoveNode(std::uint64_t nonce) {
  if (nonce == 0) return Start(DeltaTag::kRemoveNode, 1);
  return Stamp(DeltaTag::kRemoveNode, nonce);
}

std::vector<std::byte> BwDelta::Stamp(DeltaTag tag, std::uint64_t nonce) {
  auto out = Start(tag, 9);
  out.resize(9);
  EncodeFixed64(out.data() + 1, nonce);
  return out;
}

std::vector<std::byte> BwDelta::Merge(PageId removed, std::span<const std::byte> image) {
  auto out = Start(DeltaTag::kMerge, 5 + image.size());
  Append32(out, removed);
  out.insert(out.end(), image.begin(), image.end());
  return out;
}

Result<BwDelta> BwDelta::Decode(std::span<const std::byte> payload) {
  if (payload.empty()) return tl::unexpected(Corrupt("empty payload"));
  BwDelta d;
  const auto tag = std::to_integer<std::uint8_t>(payload[0]);
  const std::span<const std::byte> body = payload.subspan(1);
  auto key_at = [&](std::size_t len_at, std::size_t key_start, std::size_t extra) -> Status {
    if (body.size() < key_start) return tl::unexpected(Corrupt("truncated header"));
    const std::size_t key_len = DecodeFixed16(body.data() + len_at);
    if (body.size() - key_start < key_len + extra) return tl::unexpected(Corrupt("lengths past the end"));
    if (body.size() - key_start != key_len + extra) return tl::unexpected(Corrupt("trailing bytes"));
    d.key = AsStringView(body.subspan(key_start, key_len));
    return OkStatus();
  };
  switch (tag) {
    case static_cast<std::uint8_t>(DeltaTag::kInsert): {
      d.tag = DeltaTag::kInsert;
      if (body.size() < 6) return tl::unexpected(Corrupt("truncated insert"));
      const std::size_t value_len = DecodeFixed32(body.data() + 2);
      if (value_len > body.size()) return tl::unexpected(Corrupt("value length past the end"));
      LLAMA_RETURN_IF_ERROR(key_at(0, 6, value_len));
      d.value = AsStringView(body.subspan(6 + d.key.size(), value_len));
      return d;
    }
    case static_cast<std::uint8_t>(DeltaTag::kDelete):
      d.tag = DeltaTag::kDelete;
      LLAMA_RETURN_IF_ERROR(key_at(0, 2, 0));
      return d;
    case static_cast<std::uint8_t>(DeltaTag::kSplit):
    case static_cast<std::uint8_t>(DeltaTag::kIndexInsert):
    case static_cast<std::uint8_t>(DeltaTag::kIndexTombstone):
    case static_cast<std::uint8_t>(DeltaTag::kIndexErase):
      d.tag = static_cast<DeltaTag>(tag);
      LLAMA_RETURN_IF_ERROR(key_at(4, 6, 0));
      d.pid = DecodeFixed32(body.data());
      return d;
    case static_cast<std::uint8_t>(DeltaTag::kRemoveNode):
      d.tag = DeltaTag::kRemoveNode;
      if (body.empty()) return d;
      [[fallthrough]];
    case static_cast<std::uint8_t>(DeltaTag::kBirth):
    case static_cast<std::uint8_t>(DeltaTag::kRetire):
      d.tag = static_cast<DeltaTag>(tag);
      if (body.size() != 8) return tl::unexpected(Corrupt("a nonce of " + std::to_string(body.size()) + " bytes"));
      d.nonce = DecodeFixed64(body.data());
      if (d.nonce == 0) return tl::unexpected(Corrupt("a zero nonce"));
      return d;
    case static_cast<std::uint8_t>(DeltaTag::kMerge):
      d.tag = DeltaTag::kMerge;
      if (body.size() < 4) return tl::unexpected(Corrupt("truncated merge"));
      d.pid = DecodeFixed32(body.data());
      d.image = body.subspan(4);
      return d;
    default:
      return tl::unexpected(Corrupt("unknown tag " + std::to_string(tag)));
  }
}

}  // namespace llama::bwtree
