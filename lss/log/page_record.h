// The body of a PageState log record: a page's state, or the newest part of it.
//
//   | pid u32 | flags u8 | reserved u8[3] | prior u64 | delta count u32 | base length u32 |
//   | delta records, newest first (each self-delimited by its Len) | base page image |
//
// flags bit 0: the record carries a base page. `prior` is the LSS address of the record
// holding the older part of the state (0 when this record is complete on its own). A
// record with a base has no prior. docs/FORMAT.md, "PageState record".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "llama/base_page.h"
#include "llama/delta_record.h"
#include "llama/status.h"
#include "llama/types.h"

namespace llama {

namespace page_record_format {
// Fields are written and read in order (util/byte_io.h); docs/FORMAT.md lays out every
// one. Only the offsets code seeks to directly are named here.
inline constexpr std::size_t kPidOffset = 0;
inline constexpr std::size_t kFlagsOffset = 4;
inline constexpr std::size_t kDeltaCountOffset = 16;
inline constexpr std::size_t kBaseLenOffset = 20;
inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::uint8_t kHasBase = 0x01;
static_assert(kBaseLenOffset + 4 == kHeaderSize);
}  // namespace page_record_format

struct PageRecord {
  PageId pid = 0;
  LssAddress prior;                 // older part of the state, or null
  std::vector<DeltaHandle> deltas;  // newest first
  BasePageHandle base;              // null when the record has no base
};

// The fixed header of a PageState body, validated on its own (recovery needs only this;
// the deltas and the base are checked when the page is read).
struct PageRecordHeader {
  PageId pid = 0;
  LssAddress prior;
  bool has_base = false;
  std::uint32_t delta_count = 0;
  std::uint32_t base_len = 0;
};
Result<PageRecordHeader> DecodePageRecordHeader(std::span<const std::byte> body);

// Bytes of the body EncodePageRecord would produce.
std::size_t PageRecordSize(std::span<const DeltaHandle> deltas, const BasePage* base);
// Appends the encoded body to `out`. InvalidArgument if a base is given with a prior, or a
// delta or the base belongs to another page.
Status EncodePageRecord(PageId pid, LssAddress prior, std::span<const DeltaHandle> deltas, const BasePage* base,
                        std::vector<std::byte>& out);
// Validates every field, delta and page image (Corruption otherwise).
Result<PageRecord> DecodePageRecord(std::span<const std::byte> body);

}  // namespace llama
