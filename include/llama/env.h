// The file layer under the log-structured store: one interface (Env + File) with a real
// implementation per I/O backend and a fault-injecting wrapper for tests.
//
//   PosixEnv           pwrite / pread / fdatasync                    (lss/file/posix_env.cc)
//   UringEnv           io_uring via liburing, batched submissions    (lss/file/uring_env.cc)
//   FaultInjectionEnv  wraps either; drops unsynced data on command  (lss/env_extras/fault_injection_env.h)
//
// OpenEnv(kAuto) tries io_uring and falls back to POSIX when the kernel or a seccomp
// profile refuses it (EPERM, ENOSYS, EINVAL); Env::backend_name() says which one is in
// use and Env::fallback_reason() why.
//
// Every call returns a Status or Result. Errno values map to ErrorCode: ENOSPC and EDQUOT
// to kNoSpace, ENOENT to kNotFound, EEXIST to kInvalidArgument, the rest to kIOError; the
// message names the operation, the path and strerror.
//
// Ownership: an Env outlives every File it opened. A File is used by one thread at a time
// unless its implementation says otherwise (all three here allow concurrent WriteAt /
// ReadAt / Sync on one File from several threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/status.h"

namespace llama {

// One write of a batch: `data` goes to `offset`.
struct WriteRequest {
  std::uint64_t offset;
  std::span<const std::byte> data;
};

class File {
 public:
  virtual ~File() = default;

  // Writes every request of the batch completely (short writes and EAGAIN are resubmitted
  // until done). The io_uring backend submits the whole batch at once, so the requests of
  // one batch must not overlap (their order is unspecified). On error, some requests may
  // have been written in part.
  [[nodiscard]] virtual Status WriteAt(std::span<const WriteRequest> batch) = 0;
  [[nodiscard]] Status WriteAt(std::uint64_t offset, std::span<const std::byte> data) {
    const WriteRequest one{offset, data};
    return WriteAt(std::span<const WriteRequest>(&one, 1));
  }
  // Reads up to out.size() bytes at `offset`; returns how many were read (fewer only at
  // the end of the file).
  [[nodiscard]] virtual Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) = 0;
  // fdatasync: returns once every byte written before the call is durable. An error
  // means nothing about what is durable: callers must not assume success (see lss docs).
  [[nodiscard]] virtual Status Sync() = 0;
  [[nodiscard]] virtual Result<std::uint64_t> Size() = 0;
  // ftruncate: cuts (or zero-extends) the file to `size` bytes, e.g. to drop a torn tail.
  // Durable after the next Sync. Implementations that cannot truncate return kUnsupported.
  [[nodiscard]] virtual Status Truncate(std::uint64_t size) {
    (void)size;
    return MakeError(ErrorCode::kUnsupported, "truncate " + path() + ": not supported");
  }
  // fallocate: reserves disk blocks for the first `size` bytes and extends the file to
  // `size` if shorter (the new bytes read as zeros). Durable after the next Sync.
  // kUnsupported where the file system or the implementation cannot.
  [[nodiscard]] virtual Status Allocate(std::uint64_t size) {
    (void)size;
    return MakeError(ErrorCode::kUnsupported, "fallocate " + path() + ": not supported");
  }
  // Closes the descriptor; later calls fail. The destructor closes too, ignoring errors.
  [[nodiscard]] virtual Status Close() = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode : std::uint8_t {
  kCreateNew,  // create; fails (kInvalidArgument) if it exists. Read and write.
  kReadWrite,  // an existing file, read and write; kNotFound if absent
  kReadOnly,   // an existing file, read only; kNotFound if absent
};

class Env {
 public:
  virtual ~Env() = default;

  // "io_uring" or "posix" (a wrapper reports the backend it wraps).
  virtual std::string_view backend_name() const = 0;
  // Why kAuto fell back to POSIX ("" when it did not).
  virtual std::string fallback_reason() const { return {}; }

  [[nodiscard]] virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) = 0;
  // Creates the directory (and missing parents); fine if it exists.
  [[nodiscard]] virtual Status CreateDir(const std::string& path) = 0;
  // fsync of the directory: makes creations, renames and deletions in it durable.
  [[nodiscard]] virtual Status SyncDir(const std::string& path) = 0;
  [[nodiscard]] virtual Status DeleteFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  [[nodiscard]] virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Names (not paths) of the entries in `path`, without "." and "..", sorted.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  [[nodiscard]] virtual Result<bool> FileExists(const std::string& path) = 0;
};

// Writes `bytes` as DIR/NAME so that after a crash the file is either absent (or its old
// version) or complete: DIR/NAME.tmp (a leftover one is replaced), write, fsync, close,
// rename over DIR/NAME, fsync of DIR. Any failed step returns its error unchanged.
[[nodiscard]] Status WriteFileAtomically(Env& env, const std::string& dir, const std::string& name,
                                         std::span<const std::byte> bytes);

enum class IoBackend : std::uint8_t { kAuto, kIoUring, kPosix };

std::string_view IoBackendName(IoBackend backend);

// kIoUring fails (kUnsupported) when io_uring is refused; kAuto falls back to POSIX.
[[nodiscard]] Result<std::unique_ptr<Env>> OpenEnv(IoBackend backend);

// The real implementations, for callers that want one explicitly.
std::unique_ptr<Env> NewPosixEnv();
[[nodiscard]] Result<std::unique_ptr<Env>> NewUringEnv();

}  // namespace llama
