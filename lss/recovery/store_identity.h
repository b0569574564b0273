// The STORE file: a store directory's identity, written once when the store is created.
//
//   | magic u32 "LLST" | version u16 | reserved u16 | store id u64 | segment size u32 |
//   | reserved u32 | checksum u64 (XXH3 of bytes 0..23) |                      32 bytes
//
// Segments and checkpoints carry the store id, so files from another store are never
// taken for this one's. docs/FORMAT.md, "STORE file"; its name: lss/file/file_names.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "llama/env.h"
#include "llama/status.h"

namespace llama {

struct StoreIdentity {
  std::uint64_t store_id = 0;
  std::uint32_t segment_size = 0;
};

// Reads DIR/STORE: nullopt if it does not exist, Corruption if it does not decode.
Result<std::optional<StoreIdentity>> ReadStoreIdentity(Env& env, const std::string& dir);
// Writes DIR/STORE durably (tmp, sync, rename, directory sync).
Status WriteStoreIdentity(Env& env, const std::string& dir, const StoreIdentity& identity);

}  // namespace llama
