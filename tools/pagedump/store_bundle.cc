#include "tools/pagedump/store_bundle.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>

#include "lss/file/file_names.h"
#include "util/byte_io.h"

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
  ByteReader reader(bundle);
  std::uint8_t tag = 0;
  while (reader.U8(&tag)) {
    std::uint32_t length = 0;
    std::span<const std::byte> bytes;
    // A length cut short leaves the file empty and ends the bundle; a length past the end
    // takes what is there.
    if (reader.U32(&length)) (void)reader.Bytes(std::min<std::size_t>(length, reader.remaining()), &bytes);
    files[NameOf(tag)].assign(bytes.begin(), bytes.end());
  }
  return files;
}

Result<std::vector<std::byte>> BundleStore(const StoreFiles& files) {
  std::vector<std::byte> out;
  ByteWriter writer(out);
  for (const auto& [name, bytes] : files) {
    const auto tag = TagOf(name);
    if (!tag) return MakeError(ErrorCode::kInvalidArgument, "store bundle: no tag for file " + name);
    writer.U8(*tag).U32(static_cast<std::uint32_t>(bytes.size())).Bytes(bytes);
  }
  return out;
}

}  // namespace llama::pagedump
