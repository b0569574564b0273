// The store's catalog: a durable map from names to page ids, so the layers above the page
// store (a vector, a Bw-tree) find their pages again after a reopen.
//
// The catalog lives in page kCatalogPage (page id 0, llama/store_catalog.h), which every store reserves: its
// state is one base page whose contents are the encoding below (an empty page state means
// an empty catalog). Store::OpenRoot changes it by Update-R and makes the change durable
// before returning. Layout byte by byte: docs/FORMAT.md, "Catalog page".
//
// Ownership: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/status.h"
#include "llama/store_catalog.h"
#include "llama/types.h"

namespace llama {

namespace catalog_format {
inline constexpr std::uint32_t kMagic = 0x54434C4C;  // "LLCT" as little-endian bytes
inline constexpr std::size_t kHeaderSize = 8;        // magic u32, entry count u32
inline constexpr std::size_t kMaxNameLength = 255;
// Per entry: name length u16, name bytes, page id u32.
inline constexpr std::size_t kEntryOverhead = 6;
}  // namespace catalog_format

// InvalidArgument unless 1 <= length <= 255 bytes.
[[nodiscard]] Status ValidateRootName(std::string_view name);

// Entries sorted by name, names unique and valid (the caller keeps them so).
std::vector<std::byte> EncodeCatalog(const std::vector<NamedRoot>& roots);
// Corruption naming what is wrong; never reads out of bounds. Empty bytes: no entries.
Result<std::vector<NamedRoot>> DecodeCatalog(std::span<const std::byte> bytes);

}  // namespace llama
