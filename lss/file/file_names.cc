#include "lss/file/file_names.h"

#include <cinttypes>
#include <cstdio>

namespace llama {

namespace {

constexpr std::string_view kSegmentPrefix = "segment-";
constexpr std::size_t kSegmentDigits = 8;
constexpr std::string_view kCheckpointPrefix = "CHECKPOINT-";
constexpr std::size_t kCheckpointDigits = 16;
constexpr std::string_view kOrphanPrefix = "orphan-";

// `digits` lower-case hex digits exactly: the value, or nullopt.
std::optional<std::uint64_t> ParseHex(std::string_view text, std::size_t digits) {
  if (text.size() != digits) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    std::uint64_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;  // upper case too: one name per number
    }
    value = value * 16 + digit;
  }
  return value;
}

// A decimal copy number n >= 1 without leading zeros.
bool IsCopyNumber(std::string_view text) {
  if (text.empty() || text.front() == '0' || text.size() > 9) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string SegmentFileName(std::uint32_t segment_id) {
  char digits[kSegmentDigits + 1];
  std::snprintf(digits, sizeof digits, "%08" PRIx32, segment_id);
  return std::string(kSegmentPrefix) + digits;
}

std::uint32_t ParseSegmentFileName(std::string_view name) {
  if (!name.starts_with(kSegmentPrefix)) return 0;
  const auto id = ParseHex(name.substr(kSegmentPrefix.size()), kSegmentDigits);
  return id ? static_cast<std::uint32_t>(*id) : 0;
}

std::string CheckpointFileName(std::uint64_t sequence) {
  char digits[kCheckpointDigits + 1];
  std::snprintf(digits, sizeof digits, "%016" PRIx64, sequence);
  return std::string(kCheckpointPrefix) + digits;
}

std::optional<std::uint64_t> ParseCheckpointFileName(std::string_view name) {
  if (!name.starts_with(kCheckpointPrefix)) return std::nullopt;
  return ParseHex(name.substr(kCheckpointPrefix.size()), kCheckpointDigits);
}

bool LooksLikeCheckpointFileName(std::string_view name) { return name.starts_with(kCheckpointPrefix); }

std::string TmpFileName(std::string_view name) { return std::string(name) + std::string(kTmpFileSuffix); }

std::string_view NameBeforeTmp(std::string_view name) {
  if (name.size() <= kTmpFileSuffix.size() || !name.ends_with(kTmpFileSuffix)) return {};
  return name.substr(0, name.size() - kTmpFileSuffix.size());
}

std::string OrphanSegmentFileName(std::uint32_t segment_id, int copy) {
  std::string name = std::string(kOrphanPrefix) + SegmentFileName(segment_id);
  if (copy > 0) name += "." + std::to_string(copy);
  return name;
}

std::optional<std::uint32_t> ParseOrphanSegmentFileName(std::string_view name) {
  if (!name.starts_with(kOrphanPrefix)) return std::nullopt;
  name.remove_prefix(kOrphanPrefix.size());
  const std::size_t segment_name_size = kSegmentPrefix.size() + kSegmentDigits;
  if (name.size() > segment_name_size) {
    if (name[segment_name_size] != '.' || !IsCopyNumber(name.substr(segment_name_size + 1))) return std::nullopt;
    name = name.substr(0, segment_name_size);
  }
  const std::uint32_t id = ParseSegmentFileName(name);
  if (id == 0) return std::nullopt;
  return id;
}

ParsedFileName ParseFileName(std::string_view name) {
  if (name == kStoreFileName) return {StoreFileType::kIdentity, 0};
  if (std::uint32_t id = ParseSegmentFileName(name); id != 0) return {StoreFileType::kSegment, id};
  if (auto seq = ParseCheckpointFileName(name)) return {StoreFileType::kCheckpoint, *seq};
  if (auto id = ParseOrphanSegmentFileName(name)) return {StoreFileType::kOrphanSegment, *id};
  if (const std::string_view before = NameBeforeTmp(name); !before.empty()) {
    if (before == kStoreFileName) return {StoreFileType::kIdentityTmp, 0};
    if (auto seq = ParseCheckpointFileName(before)) return {StoreFileType::kCheckpointTmp, *seq};
  }
  return {StoreFileType::kOther, 0};
}

std::string PathIn(std::string_view dir, std::string_view name) {
  std::string path(dir);
  if (!path.empty() && path.back() != '/') path += '/';
  path += name;
  return path;
}

}  // namespace llama
