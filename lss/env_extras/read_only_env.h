// ReadOnlyEnv: an Env that can only read. It wraps another Env (which must outlive it),
// opens every file read-only (a request for read-write is served read-only, so readers
// such as SegmentSet and LogScanner work unchanged) and refuses every call that would
// change the directory: creating files, writing, syncing, truncating, renaming, deleting
// (kUnsupported, "read-only: ..."). Offline inspection (pagedump, lss/recovery/store_image.h) goes
// through it, so it cannot change a store even by mistake.
//
// ReadOnlyEnvBase and ReadOnlyFileBase are those refusals, for any Env that only reads
// (ReadOnlyEnv, pagedump's MemoryEnv): a subclass supplies the reads.
//
// Ownership: the files it returns own their wrapped file; they do not need the ReadOnlyEnv
// to outlive them, but the wrapped Env must.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"

namespace llama {

// An Env that refuses to create a file and every change to a directory (kUnsupported,
// "read-only: refusing to <what> <path>"), and serves any other open, kReadWrite
// included, by OpenForReading.
class ReadOnlyEnvBase : public Env {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) final;
  Status CreateDir(const std::string& path) final;
  Status SyncDir(const std::string& path) final;
  Status DeleteFile(const std::string& path) final;
  Status RenameFile(const std::string& from, const std::string& to) final;

 protected:
  // An existing file, opened to be read only.
  virtual Result<std::unique_ptr<File>> OpenForReading(const std::string& path) = 0;
};

// A File that refuses every write (WriteAt, Sync, Truncate, Allocate) the same way.
class ReadOnlyFileBase : public File {
 public:
  using File::WriteAt;
  Status WriteAt(std::span<const WriteRequest> batch) final;
  Status Sync() final;
  Status Truncate(std::uint64_t size) final;
  Status Allocate(std::uint64_t size) final;
};

class ReadOnlyEnv final : public ReadOnlyEnvBase {
 public:
  explicit ReadOnlyEnv(Env& base) : base_(base) {}

  std::string_view backend_name() const override { return base_.backend_name(); }
  std::string fallback_reason() const override { return base_.fallback_reason(); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_.ListDir(path); }
  Result<bool> FileExists(const std::string& path) override { return base_.FileExists(path); }

 private:
  Result<std::unique_ptr<File>> OpenForReading(const std::string& path) override;

  Env& base_;
};

}  // namespace llama
