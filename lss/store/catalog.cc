#include "lss/store/catalog.h"

#include <algorithm>

#include "util/byte_io.h"

namespace llama {

Status ValidateRootName(std::string_view name) {
  if (name.empty() || name.size() > catalog_format::kMaxNameLength) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "catalog: a root name must be 1 to 255 bytes, got " + std::to_string(name.size()));
  }
  return OkStatus();
}

std::vector<std::byte> EncodeCatalog(const std::vector<NamedRoot>& roots) {
  std::vector<std::byte> out;
  ByteWriter w(out);
  w.U32(catalog_format::kMagic).U32(static_cast<std::uint32_t>(roots.size()));
  for (const NamedRoot& root : roots) {
    w.U16(static_cast<std::uint16_t>(root.name.size())).Bytes(root.name).U32(root.pid);
  }
  return out;
}

Result<std::vector<NamedRoot>> DecodeCatalog(std::span<const std::byte> bytes) {
  std::vector<NamedRoot> roots;
  if (bytes.empty()) return roots;
  auto corrupt = [](const std::string& what) { return MakeError(ErrorCode::kCorruption, "catalog: " + what); };
  ByteReader r(bytes);
  std::uint32_t magic = 0, count = 0;
  if (!r.U32(&magic) || !r.U32(&count)) return corrupt("shorter than its header");
  if (magic != catalog_format::kMagic) return corrupt("bad magic");
  for (std::uint32_t i = 0; i < count; ++i) {
    if (r.remaining() < catalog_format::kEntryOverhead) return corrupt("entry " + std::to_string(i) + " truncated");
    std::uint16_t len = 0;
    (void)r.U16(&len);  // present: the entry overhead was checked above
    NamedRoot root;
    if (len == 0 || len > catalog_format::kMaxNameLength || !r.String(len, &root.name) || !r.U32(&root.pid)) {
      return corrupt("entry " + std::to_string(i) + " has a bad name length");
    }
    if (!roots.empty() && !(roots.back().name < root.name)) return corrupt("names not strictly sorted");
    roots.push_back(std::move(root));
  }
  if (r.remaining() != 0) return corrupt("trailing bytes after the last entry");
  return roots;
}

}  // namespace llama
