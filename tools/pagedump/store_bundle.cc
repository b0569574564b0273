#include "tools/pagedump/store_bundle.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>

#include "lss/log/log_format.h"
#include "lss/recovery/checkpoint.h"
#include "util/byte_io.h"

namespace llama::pagedump {

namespace {

constexpr std::uint8_t kFirstCheckpointTag = 0x80;
constexpr std::uint8_t kFirstOtherTag = 0xf0;
constexpr std::array<const char*, 4> kOtherNames = {"CHECKPOINT-0000000000000001.tmp", "STORE.tmp",
                                                    "orphan-segment-00000001", "notes.txt"};

std::string NameOf(std::uint8_t tag) {
  if (tag == 0) return "STORE";
  if (tag < kFirstCheckpointTag) return log_format::SegmentFileName(tag);
  if (tag < kFirstOtherTag) return CheckpointFileName(tag - kFirstCheckpointTag + 1u);
  return kOtherNames[(tag - kFirstOtherTag) % kOtherNames.size()];
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
