#include "util/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace llama {

std::uint64_t Checksum64(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::uint64_t Checksum64(std::span<const std::byte> a, std::span<const std::byte> b) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, a.data(), a.size());
  XXH3_64bits_update(&state, b.data(), b.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace llama
