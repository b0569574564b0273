// SegmentSet: the open segment files of one store directory, shared by the log writer,
// the readers and the cleaner.
//
// Ownership: the set owns the File handles; callers get shared_ptrs, so a segment
// deleted by the cleaner stays readable by a reader that already holds its handle. The
// Env must outlive the set.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llama/env.h"
#include "lss/log/record_frame.h"

namespace llama {

class SegmentSet {
 public:
  SegmentSet(Env& env, std::string dir, std::uint64_t store_id, std::uint32_t segment_size)
      : env_(env), dir_(std::move(dir)), store_id_(store_id), segment_size_(segment_size) {}

  Env& env() { return env_; }
  const std::string& dir() const { return dir_; }
  std::uint64_t store_id() const { return store_id_; }
  std::uint32_t segment_size() const { return segment_size_; }
  std::string PathOf(std::uint32_t segment_id) const;
  // Create preallocates each new file to the segment size (fallocate), so that syncing
  // its records does not also commit a growing file size. Off by default.
  void set_preallocate(bool on) { preallocate_ = on; }

  // The file of an existing segment (opened read-write on first use).
  Result<std::shared_ptr<File>> Get(std::uint32_t segment_id);
  // Creates the segment file and writes its header (not synced: the writer syncs the
  // file and the directory before it acknowledges anything in it).
  Result<std::shared_ptr<File>> Create(std::uint32_t segment_id, LssAddress resume_from = {});
  // Closes and deletes a segment file (the caller syncs the directory).
  Status Delete(std::uint32_t segment_id);
  // Forgets an open handle without deleting (e.g. before recovery deletes orphans).
  void Forget(std::uint32_t segment_id);
  // Ids of the segment files in the directory, ascending.
  Result<std::vector<std::uint32_t>> ListIds();

 private:
  Env& env_;
  const std::string dir_;
  const std::uint64_t store_id_;
  const std::uint32_t segment_size_;
  bool preallocate_ = false;
  std::mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<File>> open_;
};

}  // namespace llama
