// The four delta kinds and how the packed bits spell them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace llama {

enum class DeltaKind : std::uint8_t {
  kUpdate,       // U: an access-method change; payload opaque to LLAMA
  kFlush,        // F alone: the state below was written to the LSS at the payload's address
  kPartialSwap,  // P: the state below (up to Last Flushed Ptr) is on disk, maybe evicted
  kRelocation,   // Re: part of the page's state moved from one LSS address to another
};

std::string_view DeltaKindName(DeltaKind kind);

// The kind a packed-bits byte spells, or nullopt when it spells none: more than one of
// U, P, Re set, or none of them and F clear. Reserved bits are checked elsewhere.
std::optional<DeltaKind> DeltaKindFromBits(std::uint8_t packed_bits);

// The kind bit(s) a freshly made record of `kind` carries.
std::uint8_t DeltaKindBits(DeltaKind kind);

}  // namespace llama
