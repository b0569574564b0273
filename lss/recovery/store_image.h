// StoreImage: an offline, read-only view of a store directory: its identity, its segment
// and checkpoint files, and the pages recovery would rebuild from them, without opening
// the store (Store::Open recovers, which renames files and writes a new segment).
//
// What recovery would do is the RecoveryPlan Store::Open makes and carries out: the two
// cannot differ. Everything is read through the Env it is given; pagedump passes a ReadOnlyEnv
// (lss/env_extras/read_only_env.h), so nothing can be written. Damage is data, not an error: a
// corrupt STORE file, a bad segment header, a damaged checkpoint, a torn log are all
// described by the fields below. Errors are I/O failures, a directory that is not a
// store, or damage so complete that nothing can be read (no identity anywhere).
//
// Ownership: the image owns its SegmentSet (open read-only files); the Env must outlive
// it. Movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "llama/env.h"
#include "llama/status.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/log/record_frame.h"
#include "lss/recovery/checkpoint.h"
#include "lss/recovery/recovery_chains.h"
#include "lss/recovery/recovery_plan.h"
#include "lss/recovery/store_identity.h"

namespace llama {

struct StoreImageOptions {
  // Stores whose segments are larger are refused (InvalidArgument): bounds what one read
  // of a segment or one record may allocate (the fuzzer keeps this small).
  std::uint32_t max_segment_size = log_format::kMaxSegmentSize;
};

struct SegmentFileInfo {
  std::uint32_t id = 0;
  std::uint64_t file_size = 0;
  std::optional<SegmentHeader> header;  // when it decodes
  std::string header_problem;           // "" when the header decodes and belongs here
};

struct CheckpointFileInfo {
  std::string name;
  std::uint64_t file_size = 0;
  std::optional<std::uint64_t> sequence;  // from the name; nullopt for a .tmp leftover
  std::optional<CheckpointData> data;     // when it decodes
  std::string problem;                    // why it is not usable ("" when it is)
};

// What recovery would do with the files as they are: the plan Store::Open would carry out
// (lss/recovery/recovery_plan.h, the same code), and whether it would open the store.
struct RecoveryView : RecoveryPlan {
  // Why Store::Open would refuse the store ("" when it would open it): the plan's failure,
  // or its corruption (which RecoveryMode::kTruncateAtCorruption would open, cutting the
  // log there).
  std::string open_failure;
};

class StoreImage {
 public:
  // NotFound when `dir` does not exist or holds no STORE file ("... is not a
  // llama-store"); Corruption when STORE is damaged and no segment header can stand in
  // for it; InvalidArgument for a segment size above options.max_segment_size.
  static Result<StoreImage> Open(Env& env, const std::string& dir, StoreImageOptions options = {});

  StoreImage(StoreImage&&) = default;

  const std::string& dir() const { return dir_; }
  const StoreIdentity& identity() const { return identity_; }
  // "" when STORE decoded; otherwise what is wrong with it and where the identity came from.
  const std::string& identity_problem() const { return identity_problem_; }
  const std::vector<SegmentFileInfo>& segment_files() const { return segment_files_; }
  const SegmentFileInfo* segment_file(std::uint32_t id) const;
  const std::vector<CheckpointFileInfo>& checkpoint_files() const { return checkpoint_files_; }
  // Names of other entries: orphan segments set aside by recovery, tmp files, anything else.
  const std::vector<std::string>& other_files() const { return other_files_; }
  const RecoveryView& recovery() const { return recovery_; }

  // The bytes of a segment file, at most the segment size of them.
  Result<std::vector<std::byte>> ReadSegmentBytes(std::uint32_t id);
  // One record, checked (ReadRecordAt).
  Result<LogRecord> ReadRecord(LssAddress at);

 private:
  StoreImage(Env& env, std::string dir) : env_(&env), dir_(std::move(dir)) {}
  Status LoadIdentity(const std::vector<std::string>& names, const StoreImageOptions& options);
  Status LoadSegmentFiles();
  Status LoadCheckpointFiles(const std::vector<std::string>& names);
  Status Recover();

  Env* env_;
  std::string dir_;
  StoreIdentity identity_;
  std::string identity_problem_;
  std::unique_ptr<SegmentSet> segments_;
  std::vector<SegmentFileInfo> segment_files_;
  std::vector<CheckpointFileInfo> checkpoint_files_;
  std::vector<std::string> other_files_;
  RecoveryView recovery_;
};

}  // namespace llama
