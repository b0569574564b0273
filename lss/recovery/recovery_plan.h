// RecoveryPlan: what recovery decides from a store directory as it is, written once for
// both of its users. Store::Open carries the plan out (lss/store/store_recovery.cc: it
// syncs the scanned segments, sets the orphans aside, restores the pages, and resumes the
// log); StoreImage (lss/recovery/store_image.h, pagedump) only shows it.
//
// Making a plan reads and never writes: the newest checkpoint that decodes (falling back
// to older ones), a scan of the log from its scan start to the first position without a
// valid record, and past that stop for evidence that it is damage rather than a torn tail
// (docs/DESIGN.md, "Damage or torn tail"). From these it decides each page's durable
// records (RecoveredChains), which segment files the log never reached (to set aside),
// where the log resumes, and whether Store::Open may open the store at all.
//
// Ownership: a plain value; it borrows nothing from the SegmentSet it was made from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_reader.h"
#include "lss/recovery/recovery_chains.h"

namespace llama {

struct RecoveryPlan {
  // Makes the plan for the directory of `segments` (its Env, store id and segment size).
  // Errors are I/O failures only: damage is part of the plan (corruption, failure).
  static Result<RecoveryPlan> Make(SegmentSet& segments);

  // The checkpoint recovery starts from (nullopt: none, the scan starts at the log's
  // beginning), and the newer checkpoint files it skipped, each with why.
  std::optional<std::uint64_t> checkpoint_sequence;
  std::vector<std::string> damaged_checkpoints;

  // The scan. `scanned` is false when there is nothing to scan (no segment file and no
  // checkpoint: a new store); then `stop` and the segment lists are empty.
  LssAddress scan_start;
  bool scanned = false;
  std::uint64_t records_scanned = 0;
  ScanStop stop;
  std::vector<std::uint32_t> visited_segments;  // in scan order
  // The visited segments whose part on the chain is not known to be durable: past the
  // last position a SyncPoint on the chain says was synced. Store::Open fsyncs them
  // before it builds on them (docs/DESIGN.md, "Checkpoints and recovery").
  std::vector<std::uint32_t> segments_to_sync;

  // Segment files present, ascending, and those of them at or past the scan start that the
  // log does not reach: they hold nothing durable and are set aside (renamed orphan-*,
  // never deleted) so that no later scan takes them for the log.
  std::vector<std::uint32_t> segment_files;
  std::vector<std::uint32_t> orphans;

  // Every page's durable records, newest first (finished: no empty lists).
  RecoveredChains pages;

  // Where the log goes on: the stop (null for a new log), in a new segment above every
  // segment file and above the checkpoint's scan start (that segment may never have been
  // created; and a lower id, after orphans were set aside, would be out of address
  // order). Above LssAddress::kMaxSegment when the ids ran out.
  LssAddress resume_from;
  std::uint64_t next_segment = 1;

  // Damage before a position a sync made durable (the stop's CorruptionMessage(); "" when
  // the log is intact or only torn): Store::Open refuses it unless told to cut the log
  // there (RecoveryMode::kTruncateAtCorruption).
  std::string corruption;
  // What makes the store unopenable in any mode: a segment file whose header names another
  // segment of this store (renamed or swapped files; checked for every segment file, below
  // the scan start too), a record that breaks the recovery rules (the scan stops there), or
  // a segment a page's durable state needs that is missing.
  std::optional<Error> failure;
};

}  // namespace llama
