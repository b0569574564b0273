#include "lss/recovery/store_identity.h"

#include <array>
#include <cassert>

#include "lss/file/file_names.h"
#include "util/byte_io.h"
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
  const std::span<const std::byte> bytes = std::span<const std::byte>(buf).first(kSize);
  ByteReader r(bytes);
  std::uint32_t magic = 0, reserved32 = 0;
  std::uint16_t version = 0, reserved16 = 0;
  std::uint64_t checksum = 0;
  StoreIdentity id;
  if (!r.U32(&magic) || !r.U16(&version) || !r.U16(&reserved16) || !r.U64(&id.store_id) || !r.U32(&id.segment_size) ||
      !r.U32(&reserved32) || !r.U64(&checksum)) {
    return corrupt("not 32 bytes long");  // not reached: the length was checked above
  }
  if (magic != kMagic) return corrupt("not a llama-store STORE file (bad magic)");
  if (checksum != Checksum64(bytes.first(kChecksumOffset))) return corrupt("checksum mismatch");
  if (version != kVersion) return corrupt("unknown format version");
  if (reserved16 != 0 || reserved32 != 0) return corrupt("reserved bytes are not zero");
  return std::optional<StoreIdentity>(id);
}

Status WriteStoreIdentity(Env& env, const std::string& dir, const StoreIdentity& identity) {
  std::array<std::byte, kSize> buf{};
  ByteWriter w{std::span<std::byte>(buf)};
  w.U32(kMagic)
      .U16(kVersion)
      .U16(0)  // reserved
      .U64(identity.store_id)
      .U32(identity.segment_size)
      .U32(0);  // reserved
  const std::uint64_t checksum = Checksum64(w.written());
  w.U64(checksum);
  assert(w.ok() && w.size() == kSize);
  return WriteFileAtomically(env, dir, std::string(kStoreFileName), buf);
}

}  // namespace llama
