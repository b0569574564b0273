#include "util/compression.h"

#include <zstd.h>

#include <string>

namespace llama {

std::vector<std::byte> CompressIfSmaller(std::span<const std::byte> input, int level) {
  std::vector<std::byte> out(ZSTD_compressBound(input.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), level);
  if (ZSTD_isError(n) || n >= input.size()) return {};
  out.resize(n);
  return out;
}

Result<std::vector<std::byte>> Decompress(std::span<const std::byte> input, std::size_t expected_size) {
  // The frame header may claim any content size; trust only our own bound.
  std::vector<std::byte> out(expected_size);
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) {
    return MakeError(ErrorCode::kCorruption, std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  if (n != expected_size) {
    return MakeError(ErrorCode::kCorruption,
                     "zstd: decompressed " + std::to_string(n) + " bytes, expected " + std::to_string(expected_size));
  }
  return out;
}

}  // namespace llama
