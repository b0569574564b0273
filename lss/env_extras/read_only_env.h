// ReadOnlyEnv: an Env that can only read. It wraps another Env (which must outlive it),
// opens every file read-only (a request for read-write is served read-only, so readers
// such as SegmentSet and LogScanner work unchanged) and refuses every call that would
// change the directory: creating files, writing, syncing, truncating, renaming, deleting
// (kUnsupported, "read-only: ..."). Offline inspection (pagedump, lss/recovery/store_image.h) goes
// through it, so it cannot change a store even by mistake.
//
// Ownership: the files it returns own their wrapped file; they do not need the ReadOnlyEnv
// to outlive them, but the wrapped Env must.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"

namespace llama {

class ReadOnlyEnv final : public Env {
 public:
  explicit ReadOnlyEnv(Env& base) : base_(base) {}

  std::string_view backend_name() const override { return base_.backend_name(); }
  std::string fallback_reason() const override { return base_.fallback_reason(); }

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  Status CreateDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status DeleteFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;

 private:
  Env& base_;
};

}  // namespace llama
