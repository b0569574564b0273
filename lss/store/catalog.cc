#include "lss/store/catalog.h"

#include <algorithm>

#include "llama/coding.h"

namespace llama {

Status ValidateRootName(std::string_view name) {
  if (name.empty() || name.size() > catalog_format::kMaxNameLength) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "catalog: a root name must be 1 to 255 bytes, got " + std::to_string(name.size()));
  }
  return OkStatus();
}

std::vector<std::byte> EncodeCatalog(const std::vector<NamedRoot>& roots) {
  std::vector<std::byte> out(catalog_format::kHeaderSize);
  EncodeFixed32(out.data(), catalog_format::kMagic);
  EncodeFixed32(out.data() + 4, static_cast<std::uint32_t>(roots.size()));
  for (const NamedRoot& root : roots) {
    const std::size_t at = out.size();
    out.resize(at + catalog_format::kEntryOverhead + root.name.size());
    EncodeFixed16(out.data() + at, static_cast<std::uint16_t>(root.name.size()));
    std::copy_n(reinterpret_cast<const std::byte*>(root.name.data()), root.name.size(), out.data() + at + 2);
    EncodeFixed32(out.data() + at + 2 + root.name.size(), root.pid);
  }
  return out;
}

Result<std::vector<NamedRoot>> DecodeCatalog(std::span<const std::byte> bytes) {
  std::vector<NamedRoot> roots;
  if (bytes.empty()) return roots;
  auto corrupt = [](const std::string& what) { return MakeError(ErrorCode::kCorruption, "catalog: " + what); };
  if (bytes.size() < catalog_format::kHeaderSize) return corrupt("shorter than its header");
  if (DecodeFixed32(bytes.data()) != catalog_format::kMagic) return corrupt("bad magic");
  const std::uint32_t count = DecodeFixed32(bytes.data() + 4);
  std::size_t at = catalog_format::kHeaderSize;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (bytes.size() - at < catalog_format::kEntryOverhead) return corrupt("entry " + std::to_string(i) + " truncated");
    const std::size_t len = DecodeFixed16(bytes.data() + at);
    if (len == 0 || len > catalog_format::kMaxNameLength || bytes.size() - at - catalog_format::kEntryOverhead < len) {
      return corrupt("entry " + std::to_string(i) + " has a bad name length");
    }
    NamedRoot root;
    root.name.assign(reinterpret_cast<const char*>(bytes.data() + at + 2), len);
    root.pid = DecodeFixed32(bytes.data() + at + 2 + len);
    if (!roots.empty() && !(roots.back().name < root.name)) return corrupt("names not strictly sorted");
    roots.push_back(std::move(root));
    at += catalog_format::kEntryOverhead + len;
  }
  if (at != bytes.size()) return corrupt("trailing bytes after the last entry");
  return roots;
}

}  // namespace llama
