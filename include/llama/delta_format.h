// The delta record wire format: a 33-byte little-endian header, then the payload.
//
//   | Len u32 | LSS Off u32 | PID u32 | Packed Bits u8 | Prior State Ptr u64 | Last Flushed Ptr u64 | PLen u32 |
//   Payload |
//     0         4           8         12               13                    21                       29         33
//
// docs/FORMAT.md documents every field and the rules a valid record obeys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llama::delta_format {

inline constexpr std::size_t kLenOffset = 0;
inline constexpr std::size_t kLssOffOffset = 4;
inline constexpr std::size_t kPidOffset = 8;
inline constexpr std::size_t kPackedBitsOffset = 12;
inline constexpr std::size_t kPriorStateOffset = 13;
inline constexpr std::size_t kLastFlushedOffset = 21;
inline constexpr std::size_t kPayloadLenOffset = 29;
inline constexpr std::size_t kHeaderSize = 33;

static_assert(kLssOffOffset == kLenOffset + 4);
static_assert(kPidOffset == kLssOffOffset + 4);
static_assert(kPackedBitsOffset == kPidOffset + 4);
static_assert(kPriorStateOffset == kPackedBitsOffset + 1);
static_assert(kLastFlushedOffset == kPriorStateOffset + 8);
static_assert(kPayloadLenOffset == kLastFlushedOffset + 8);
static_assert(kHeaderSize == kPayloadLenOffset + 4);

// Packed bits (byte 12).
inline constexpr std::uint8_t kFlushedBit = 0x80;      // F: flushed / durable; alone: a Flush delta
inline constexpr std::uint8_t kPartialSwapBit = 0x40;  // P: PartialSwap delta
inline constexpr std::uint8_t kUpdateBit = 0x20;       // U: Update delta
inline constexpr std::uint8_t kFailedFlushBit = 0x10;  // E: a Flush whose install failed
inline constexpr std::uint8_t kConsolidateBit = 0x08;  // R: eligible for consolidation
inline constexpr std::uint8_t kRelocationBit = 0x04;   // Re: Relocation delta
inline constexpr std::uint8_t kReservedMask = 0x03;    // must be zero
inline constexpr std::uint8_t kKindMask = kPartialSwapBit | kUpdateBit | kRelocationBit;

// Fixed payload sizes of the kinds whose payload LLAMA interprets.
inline constexpr std::uint32_t kFlushPayloadSize = 8;        // flushed-to LssAddress
inline constexpr std::uint32_t kRelocationPayloadSize = 16;  // from LssAddress, to LssAddress

// Len is a u32, so a record is at most 4 GiB - 1 bytes long.
inline constexpr std::uint64_t kMaxRecordSize = 0xFFFF'FFFFull;
inline constexpr std::uint64_t kMaxPayloadSize = kMaxRecordSize - kHeaderSize;

}  // namespace llama::delta_format
