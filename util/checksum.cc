#include "util/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(LLAMA_HAVE_XXH3_DISPATCH)
// libxxhash's dispatcher (xxh_x86dispatch.h, which cannot be included next to the inlined
// copy): XXH3 with the widest vectors the CPU has, picked once at run time.
extern "C" XXH64_hash_t XXH3_64bits_dispatch(const void* input, size_t len);
#endif

namespace llama {

std::uint64_t Checksum64(std::span<const std::byte> bytes) {
#if defined(LLAMA_HAVE_XXH3_DISPATCH)
  // The inlined copy is built for baseline x86-64 (SSE2). On long inputs (every page
  // record recovery checks) the dispatched AVX2 / AVX-512 loop is several times faster
  // (README, recovery). Short ones stay inline,
  // where the call through the dispatcher costs more than it saves.
  if (bytes.size() >= 1024) return XXH3_64bits_dispatch(bytes.data(), bytes.size());
#endif
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t Checksum64(std::span<const std::byte> a, std::span<const std::byte> b) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, a.data(), a.size());
  XXH3_64bits_update(&state, b.data(), b.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace llama
