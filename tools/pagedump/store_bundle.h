// A store bundle: a whole store directory as one byte string, the input format of
// fuzz/pagedump_fuzzer.cc (libFuzzer hands a target one buffer; a store is several
// files). Its seed corpus, fuzz/corpus/pagedump/, holds bundles of real stores.
//
//   | tag u8 | length u32 | bytes [length] | tag u8 | length u32 | ... |
//
//   tag 0x00          STORE
//   tag 0x01..0x7f    segment-<tag as 8 hex digits>
//   tag 0x80..0xef    CHECKPOINT-<tag - 0x7f as 16 hex digits>
//   tag 0xf0..0xff    one of a few other names (leftover .tmp files, orphans, junk)
//
// Unbundling accepts any bytes: a length past the end is cut to what is there, a name
// met twice keeps its last bytes. Bundling refuses names it cannot spell.
//
// Ownership: plain values.
#pragma once

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "llama/status.h"

namespace llama::pagedump {

using StoreFiles = std::map<std::string, std::vector<std::byte>>;

StoreFiles UnbundleStore(std::span<const std::byte> bundle);
// InvalidArgument naming a file the format has no tag for.
Result<std::vector<std::byte>> BundleStore(const StoreFiles& files);

}  // namespace llama::pagedump
