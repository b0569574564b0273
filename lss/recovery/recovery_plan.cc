#include "lss/recovery/recovery_plan.h"

#include <algorithm>

#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "lss/recovery/checkpoint.h"

namespace llama {

namespace {

// Loads the newest checkpoint and seeds the plan with it.
Status StartFromCheckpoint(SegmentSet& segments, RecoveryPlan& plan) {
  auto loaded = LoadNewestCheckpoint(segments.env(), segments.dir(), segments.store_id());
  LLAMA_RETURN_IF_ERROR(loaded);
  plan.damaged_checkpoints = std::move(loaded->damaged);
  plan.scan_start = LssAddress::Make(1, log_format::kSegmentHeaderSize);
  if (loaded->checkpoint) {
    plan.checkpoint_sequence = loaded->checkpoint->sequence;
    plan.scan_start = loaded->checkpoint->scan_start;
    plan.pages.Seed(*loaded->checkpoint);
  }
  return OkStatus();
}

// Scans the log from the scan start, applying every record to the pages' chains; a record
// that breaks the rules ends the scan as a failure.
Status ScanLog(SegmentSet& segments, RecoveryPlan& plan) {
  plan.scanned = true;
  auto scanner = LogScanner::Open(segments, plan.scan_start, segments.segment_size());
  LLAMA_RETURN_IF_ERROR(scanner);
  for (;;) {
    auto next = scanner->NextView();
    LLAMA_RETURN_IF_ERROR(next);
    if (!next->has_value()) break;
    ++plan.records_scanned;
    if (Status applied = plan.pages.Apply(**next); !applied) {
      plan.failure = applied.error();
      break;
    }
  }
  // A segment file that holds another segment of this store (files renamed or swapped):
  // recovery must not guess which log it is, and reads through the file would fail later.
  if (const auto& misnamed = scanner->misnamed_segments(); !misnamed.empty()) {
    const auto& [file, names] = *misnamed.begin();
    plan.failure = Error(ErrorCode::kCorruption, "segment file " + PathIn(segments.dir(), SegmentFileName(file)) +
                                                     " holds segment " + std::to_string(names) +
                                                     "'s header (segment files renamed or swapped?)");
  }
  plan.stop = scanner->stop();
  plan.visited_segments = scanner->visited_segments();
  plan.segments_to_sync = scanner->SegmentsNotKnownSynced();
  for (std::uint32_t id : scanner->UnvisitedSegments()) {
    if (id >= plan.scan_start.segment()) plan.orphans.push_back(id);  // below: older log, still referenced
  }
  if (!plan.failure) {
    plan.resume_from = plan.stop.position;
    if (plan.stop.corruption()) plan.corruption = plan.stop.CorruptionMessage();
  }
  return OkStatus();
}

// Every segment a page's durable state needs must be there (and not set aside).
std::optional<Error> FindMissingSegment(const RecoveryPlan& plan) {
  std::vector<std::uint32_t> kept;
  std::set_difference(plan.segment_files.begin(), plan.segment_files.end(), plan.orphans.begin(), plan.orphans.end(),
                      std::back_inserter(kept));
  for (const auto& [pid, chain] : plan.pages.chains()) {
    for (const PageDiskRecord& r : chain) {
      if (!std::binary_search(kept.begin(), kept.end(), r.address.segment())) {
        return Error(ErrorCode::kCorruption, "segment " + std::to_string(r.address.segment()) + " holding page " +
                                                 std::to_string(pid) + " is missing");
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Result<RecoveryPlan> RecoveryPlan::Make(SegmentSet& segments) {
  RecoveryPlan plan;
  LLAMA_RETURN_IF_ERROR(StartFromCheckpoint(segments, plan));
  auto ids = segments.ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  plan.segment_files = std::move(*ids);
  if (!plan.segment_files.empty() || plan.checkpoint_sequence) {
    LLAMA_RETURN_IF_ERROR(ScanLog(segments, plan));
    std::sort(plan.orphans.begin(), plan.orphans.end());
  }
  plan.pages.Finish();
  if (!plan.failure) plan.failure = FindMissingSegment(plan);

  std::uint64_t last = plan.segment_files.empty() ? 0 : plan.segment_files.back();
  if (plan.checkpoint_sequence) last = std::max<std::uint64_t>(last, plan.scan_start.segment());
  plan.next_segment = last + 1;
  return plan;
}

}  // namespace llama
