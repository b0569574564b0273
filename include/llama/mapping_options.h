// MappingOptions: how a mapping table is sized (mapping/mapping_table.h, internal), public
// so StoreOptions can carry it. MappingTable::Options is this struct.
//
// Ownership: a plain value, copied into the table it configures.
#pragma once

#include <cstdint>

#include "llama/generation_manager.h"

namespace llama {

// Page ids are 32 bits: a mapping table never hands out more ids than this.
inline constexpr std::uint64_t kMaxPageIds = std::uint64_t{1} << 32;

struct MappingOptions {
  GenerationManager::Options generations;
  // Page ids handed out are below this (at most 2^32): a cap on the table's size.
  std::uint64_t id_limit = kMaxPageIds;
};

}  // namespace llama
