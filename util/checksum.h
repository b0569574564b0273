// XXH3-64 checksums (Debian's libxxhash) for every record and file llama-store writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace llama {

std::uint64_t Checksum64(std::span<const std::byte> bytes);
// The checksum of the concatenation a + b, without copying.
std::uint64_t Checksum64(std::span<const std::byte> a, std::span<const std::byte> b);

}  // namespace llama
