// AnalyzeStore: one pass over a store image (lss/recovery/store_image.h) that reads every record
// of every segment file, checks every checksum and every pointer of the pages recovery
// would rebuild, and adds up what the summary shows. The summary and --verify both
// render its result.
//
// What counts as damage and what is only a note is documented in docs/PAGEDUMP.md
// ("What --verify checks"); the rules live in store_analysis.cc.
//
// Ownership: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "llama/status.h"
#include "lss/recovery/store_image.h"
#include "tools/pagedump/segment_walker.h"

namespace llama::pagedump {

struct Finding {
  std::string where;  // "segment 3 offset 4096", "STORE", "CHECKPOINT-...", "page 7", ...
  std::string what;
};

struct SegmentSummary {
  std::uint32_t id = 0;
  std::uint64_t file_size = 0;
  // Bytes the log used: up to the end of the SegmentEnd, or of the last record before the
  // zeros (a preallocated or crashed segment); the whole file when it ends in damage.
  std::uint64_t data_bytes = 0;
  std::string header_problem;
  LssAddress resume_from;
  std::uint64_t records = 0;
  std::uint64_t damaged_records = 0;
  std::uint64_t live_bytes = 0;  // bytes of records the recovered pages' state spans
  SegmentEnd end = SegmentEnd::kCleanEnd;
  std::uint32_t end_offset = 0;
  std::string end_detail;
};

struct KindCount {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // framed
};

struct StoreAnalysis {
  std::vector<SegmentSummary> segments;
  std::map<std::string, KindCount> records_by_kind;  // by kind name; "damaged" for bad frames
  std::uint64_t log_bytes = 0;                       // sum of the segments' data_bytes
  std::uint64_t live_bytes = 0;
  std::vector<Finding> damage;
  std::vector<Finding> notes;
};

// Called after each segment: bytes read so far, bytes in all, the segment just read.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total, std::uint32_t segment)>;

// Errors are I/O failures only; damage is in the result.
Result<StoreAnalysis> AnalyzeStore(StoreImage& image, const ProgressFn& progress = {});

std::string AddressText(LssAddress address);  // "3:4096", "-" for none
std::string RecordKindName(log_format::RecordKind kind);

}  // namespace llama::pagedump
