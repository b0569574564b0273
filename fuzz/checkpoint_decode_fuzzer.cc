// libFuzzer target: DecodeCheckpoint on arbitrary bytes. It must never read out of bounds,
// never attempt a huge allocation (hostile counts), and whatever it accepts must be the
// canonical encoding: EncodeCheckpoint of the result reproduces the input byte for byte.
// Seed corpus: fuzz/corpus/checkpoint_decode/.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "lss/recovery/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto decoded = llama::DecodeCheckpoint(input);
  if (!decoded) {
    if (decoded.error().code() != llama::ErrorCode::kCorruption) {
      std::fprintf(stderr, "DecodeCheckpoint: not a Corruption error: %s\n", decoded.error().ToString().c_str());
      std::abort();
    }
    return 0;
  }
  if (!llama::ValidateCheckpoint(*decoded)) {
    std::fprintf(stderr, "DecodeCheckpoint accepted a checkpoint ValidateCheckpoint refuses\n");
    std::abort();
  }
  const std::vector<std::byte> encoded = llama::EncodeCheckpoint(*decoded);
  if (encoded.size() != size || (size != 0 && std::memcmp(encoded.data(), data, size) != 0)) {
    std::fprintf(stderr, "EncodeCheckpoint(DecodeCheckpoint(x)) != x (%zu vs %zu bytes)\n", encoded.size(), size);
    std::abort();
  }
  return 0;
}
