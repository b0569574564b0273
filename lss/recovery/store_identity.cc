#include "lss/recovery/store_identity.h"

#include <array>

#include "llama/coding.h"
#include "lss/file/file_names.h"
#include "util/checksum.h"

namespace llama {

namespace {
constexpr std::uint32_t kMagic = 0x54534C4C;  // "LLST"
constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kSize = 32;
constexpr std::size_t kChecksumOffset = 24;
}  // namespace

Result<std::optional<StoreIdentity>> ReadStoreIdentity(Env& env, const std::string& dir) {
  const std::string path = PathIn(dir, kStoreFileName);
  auto file = env.OpenFile(path, OpenMode::kReadOnly);
  if (!file) {
    if (file.error().code() == ErrorCode::kNotFound) return std::optional<StoreIdentity>();
    return tl::unexpected(file.error());
  }
  std::array<std::byte, kSize + 1> buf{};
  auto n = (*file)->ReadAt(0, buf);
  LLAMA_RETURN_IF_ERROR(n);
  auto corrupt = [&](const char* why) { return MakeError(ErrorCode::kCorruption, path + ": " + why); };
  if (*n != kSize) return corrupt("not 32 bytes long");
  const std::byte* p = buf.data();
  if (DecodeFixed32(p) != kMagic) return corrupt("not a llama-store STORE file (bad magic)");
  if (DecodeFixed64(p + kChecksumOffset) != Checksum64(std::span<const std::byte>(p, kChecksumOffset))) {
    return corrupt("checksum mismatch");
  }
  if (DecodeFixed16(p + 4) != kVersion) return corrupt("unknown format version");
  if (DecodeFixed16(p + 6) != 0 || DecodeFixed32(p + 20) != 0) return corrupt("reserved bytes are not zero");
  StoreIdentity id;
  id.store_id = DecodeFixed64(p + 8);
  id.segment_size = DecodeFixed32(p + 16);
  return std::optional<StoreIdentity>(id);
}

Status WriteStoreIdentity(Env& env, const std::string& dir, const StoreIdentity& identity) {
  std::array<std::byte, kSize> buf{};
  std::byte* p = buf.data();
  EncodeFixed32(p, kMagic);
  EncodeFixed16(p + 4, kVersion);
  EncodeFixed64(p + 8, identity.store_id);
  EncodeFixed32(p + 16, identity.segment_size);
  EncodeFixed64(p + kChecksumOffset, Checksum64(std::span<const std::byte>(p, kChecksumOffset)));
  return WriteFileAtomically(env, dir, std::string(kStoreFileName), buf);
}

}  // namespace llama
