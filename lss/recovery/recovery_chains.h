// RecoveredChains: what recovery rebuilds for every page from a checkpoint and the log
// records scanned after it: the list of log records the page's durable state spans,
// newest first (docs/FORMAT.md, "Checkpoint and scan combined").
//
// The recovery plan applies these rules (lss/recovery/recovery_plan.h), for Store::Open and
// for the offline reader (lss/recovery/store_image.h, pagedump) alike.
//
// Ownership: a plain value; it owns its lists.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"
#include "lss/log/log_reader.h"
#include "lss/recovery/checkpoint.h"

namespace llama {

class RecoveredChains {
 public:
  // Starts from the lists a checkpoint names.
  void Seed(const CheckpointData& checkpoint);
  // Applies one record met by the scan (records arrive in address order). A PageState
  // whose header does not decode is Corruption, as it makes Store::Open fail.
  Status Apply(const LogRecordView& record);
  // Drops pages whose list ended up empty.
  void Finish();

  // Page id -> records, newest first. Ordered by page id.
  const std::map<PageId, std::vector<PageDiskRecord>>& chains() const { return chains_; }

 private:
  std::map<PageId, std::vector<PageDiskRecord>> chains_;
};

}  // namespace llama
