// Internal to lss/: what PosixEnv and UringEnv share. Errno -> Error mapping, the guarded
// file descriptor every File holds, and the directory operations (plain syscalls for both
// backends: io_uring gains nothing on mkdir, rename, unlink, readdir or a directory fsync).
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"
#include "llama/status.h"

namespace llama::lss_internal {

// ENOSPC, EDQUOT -> kNoSpace; ENOENT -> kNotFound; EEXIST -> kInvalidArgument; else kIOError.
ErrorCode ErrorCodeFromErrno(int err);
// Error(ErrorCodeFromErrno(err), "<what>: <strerror(err)>"), e.g.
// "pwrite /data/seg-1 at 4096: No space left on device".
Error ErrnoError(int err, std::string_view what);
// "<op> <path> at <offset>"
std::string DescribeAt(std::string_view op, const std::string& path, std::uint64_t offset);

// open(2) with O_CLOEXEC and the flags of `mode` (kCreateNew: O_CREAT | O_EXCL, 0644).
Result<int> OpenFd(const std::string& path, OpenMode mode);
Result<std::uint64_t> FdSize(int fd, const std::string& path);
Status FdTruncate(int fd, const std::string& path, std::uint64_t size);
// pwrite(2) of every request whole (short writes continued, EINTR / EAGAIN retried).
Status FdWriteAll(int fd, const std::string& path, std::span<const WriteRequest> batch);
// fdatasync(2), retried on EINTR.
Status FdSyncData(int fd, const std::string& path);
// fallocate(fd, 0, 0, size); EOPNOTSUPP / ENOSYS are kUnsupported.
Status FdAllocate(int fd, const std::string& path, std::uint64_t size);

// A descriptor that can be closed while other threads use it: every operation holds a
// shared lock for its duration, Close takes the exclusive lock, so no operation ever runs
// on a closed (and possibly reused) descriptor number. After Close every call fails with
// kAborted.
class GuardedFd {
 public:
  GuardedFd(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  GuardedFd(const GuardedFd&) = delete;
  GuardedFd& operator=(const GuardedFd&) = delete;
  ~GuardedFd();

  const std::string& path() const { return path_; }

  // Runs fn(fd) under the shared lock; kAborted("<op> <path>: file is closed") if closed.
  template <typename R, typename Fn>
  R With(std::string_view op, Fn&& fn) {
    std::shared_lock lock(mu_);
    if (fd_ < 0) return ClosedError(op);
    return fn(fd_);
  }

  Status Close();

 private:
  tl::unexpected<Error> ClosedError(std::string_view op) const;

  std::shared_mutex mu_;
  int fd_;
  const std::string path_;
};

// The descriptor half of File, shared by both real backends: Size, Truncate, Close and
// path work the same way whatever does the reads and writes.
class FdFile : public File {
 public:
  FdFile(int fd, std::string path) : fd_(fd, std::move(path)) {}
  Result<std::uint64_t> Size() override {
    return fd_.With<Result<std::uint64_t>>("fstat", [&](int fd) { return FdSize(fd, path()); });
  }
  Status Truncate(std::uint64_t size) override {
    return fd_.With<Status>("ftruncate", [&](int fd) { return FdTruncate(fd, path(), size); });
  }
  Status Allocate(std::uint64_t size) override {
    return fd_.With<Status>("fallocate", [&](int fd) { return FdAllocate(fd, path(), size); });
  }
  Status Close() override { return fd_.Close(); }
  const std::string& path() const override { return fd_.path(); }

 protected:
  GuardedFd fd_;
};

// The directory half of Env, shared by both real backends.
class SyscallDirEnv : public Env {
 public:
  Status CreateDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status DeleteFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;
};

// NewPosixEnv() whose fallback_reason() says why io_uring was not used (OpenEnv(kAuto)).
std::unique_ptr<Env> NewPosixEnvWithFallbackReason(std::string reason);

}  // namespace llama::lss_internal
