// zstd compression of record bodies (Debian's libzstd).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "llama/status.h"

namespace llama {

// Compresses `input` at `level`. Returns nullopt-like empty result when compression does
// not pay (the output would not be smaller than `input`).
std::vector<std::byte> CompressIfSmaller(std::span<const std::byte> input, int level);

// Decompresses into exactly `expected_size` bytes; Corruption if the frame is damaged or
// decodes to any other size. Never writes past `expected_size`.
Result<std::vector<std::byte>> Decompress(std::span<const std::byte> input, std::size_t expected_size);

}  // namespace llama
