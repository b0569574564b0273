#include "tools/pagedump/store_bundle.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>

#include "llama/coding.h"
#include "lss/file/file_names.h"

namespace llama::pagedump {

namespace {

constexpr std::uint8_t kFirstCheckpointTag = 0x80;
constexpr std::uint8_t kFirstOtherTag = 0xf0;
constexpr std::size_t kOtherNames = 4;

// The other files a bundle can name: leftovers recovery ignores, and a stranger.
std::string OtherName(std::size_t i) {
  switch (i) {
    case 0:
      return TmpFileName(CheckpointFileName(1));
    case 1:
      return TmpFileName(kStoreFileName);
    case 2:
      return OrphanSegmentFileName(1);
    default:
      return "notes.txt";
  }
}

std::string NameOf(std::uint8_t tag) {
  if (tag == 0) return std::string(kStoreFileName);
  if (tag < kFirstCheckpointTag) return SegmentFileName(tag);
  if (tag < kFirstOtherTag) return CheckpointFileName(tag - kFirstCheckpointTag + 1u);
  return OtherName((tag - kFirstOtherTag) % kOtherNames);
}

std::optional<std::uint8_t> TagOf(const std::string& name) {
  for (unsigned tag = 0; tag <= 0xff; ++tag) {
    if (NameOf(static_cast<std::uint8_t>(tag)) == name) return static_cast<std::uint8_t>(tag);
  }
  return std::nullopt;
}

}  // namespace

StoreFiles UnbundleStore(std::span<const std::byte> bundle) {
  StoreFiles files;
  std::size_t at = 0;
  while (at < bundle.size()) {
    const auto tag = std::to_integer<std::uint8_t>(bundle[at++]);
    std::uint32_t length = 0;
    if (bundle.size() - at >= 4) {
      length = DecodeFixed32(bundle.data() + at);
      at += 4;
    } else {
      at = bundle.size();
    }
    const std::size_t n = std::min<std::size_t>(length, bundle.size() - at);
    files[NameOf(tag)].assign(bundle.begin() + static_cast<std::ptrdiff_t>(at),
                              bundle.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return files;
}

Result<std::vector<std::byte>> BundleStore(const StoreFiles& files) {
  std::vector<std::byte> out;
  for (const auto& [name, bytes] : files) {
    const auto tag = TagOf(name);
    if (!tag) return MakeError(ErrorCode::kInvalidArgument, "store bundle: no tag for file " + name);
    out.push_back(static_cast<std::byte>(*tag));
    std::byte length[4];
    EncodeFixed32(length, static_cast<std::uint32_t>(bytes.size()));
    out.insert(out.end(), length, length + 4);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

}  // namespace llama::pagedump
