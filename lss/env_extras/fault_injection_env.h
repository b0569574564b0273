// FaultInjectionEnv: wraps a real Env (POSIX or io_uring) and models a disk with a
// volatile write cache, so tests can cut the power at any point and check what survives.
//
// What it remembers (everything else passes straight through to the wrapped env):
//   * per file: the size known durable, and every write / Truncate since the last
//     successful Sync of that file, in completion order, with a copy of the bytes written
//     and of the bytes they replaced. Sync makes durable everything that completed before
//     the Sync was called. Overwriting durable bytes is supported: the old bytes are
//     restored by a crash. A file opened for the first time counts as durable at its
//     current size.
//   * directory entries not yet made durable by SyncDir of their directory: files created
//     (OpenFile kCreateNew), renames, and deletions. A deleted file (and a file replaced by
//     a rename) is kept as a hidden ".llama-fault-trash-N" in the same directory until the
//     deletion is durable (ListDir through this env does not show it); it is removed for
//     real by the SyncDir that makes the deletion durable, or by the destructor (a clean
//     shutdown). A rename across directories is durable once both directories are synced.
//     CreateDir is durable at once, and renaming a directory is passed through untracked.
//
// Crashes (call them while no other operation is in flight, as a test would after its
// threads stopped):
//   * SimulatePowerCut(): every file loses its unsynced writes (overwritten durable bytes
//     come back, a write into a hole that later became durable reads as zeros again) and is
//     cut to its durable size; then the unsynced directory changes are undone newest first:
//     created files are deleted, renames are reversed, deleted files come back. After it
//     the directory looks like the disk after a power cut. Open handles from before it
//     fail (kAborted) except Close, which just releases them.
//   * SimulateTornCrash(seed): the same, except that each unsynced write of each file
//     independently survives whole, survives as a random prefix (torn), or is lost (each
//     with probability 1/3; an unsynced Truncate survives or is lost), so a later write can
//     be on disk while an earlier one is not. Directory changes are undone as in a power
//     cut. Deterministic for a given seed and history.
//   After either, the surviving state counts as durable, and injected failures stay
//   configured (ClearFaults() removes them) but the crash point is cleared.
//
// Corruption: FlipBits / FlipBit change bytes already in the real file (meant for durable
// bytes: a crash rolls back bytes an unsynced write covers).
//
// Failures: FailNextWrites / FailNextSyncs make the next calls return an error with the
// given code without touching the disk (a failed sync makes nothing durable). A batch
// WriteAt is one write; Truncate counts as a write; SyncDir counts as a sync.
//
// Crash points: SetCrashAfter(kind, n) lets n more operations of that kind start (and
// finish normally); every operation that starts after the n-th (of any kind, reads
// included, except File::Close) returns kAborted("simulated crash") until the test calls
// SimulatePowerCut() or SimulateTornCrash(). The optional callback runs once, after the
// n-th operation finished (n == 0: at once). Crashing after each step k = 0, 1, 2, ... of a
// scenario and checking recovery each time is the "crash at every step" test.
//
// Thread-safe: one mutex guards the model; file I/O runs outside it, so concurrent
// WriteAt / ReadAt / Sync on one File work as with the wrapped env.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"
#include "llama/status.h"

namespace llama {

// Which operations a crash point counts.
enum class FaultOp : std::uint8_t {
  kWrite,  // File::WriteAt (one per batch), File::Truncate
  kSync,   // File::Sync, Env::SyncDir
  kDirOp,  // OpenFile(kCreateNew), CreateDir, RenameFile, DeleteFile
  kAny,    // any of the above
};

struct FaultStats {
  std::uint64_t writes = 0;             // WriteAt / Truncate calls, injected failures included
  std::uint64_t syncs = 0;              // File::Sync calls, injected failures included
  std::uint64_t dir_syncs = 0;          // SyncDir calls, injected failures included
  std::uint64_t dir_ops = 0;            // creates, mkdirs, renames, deletes
  std::uint64_t bytes_written = 0;      // bytes of WriteAt calls the wrapped env accepted
  std::uint64_t injected_failures = 0;  // calls failed by FailNext* / SetFailAllSyncs
  std::uint64_t aborted = 0;            // calls refused after a crash point
};

class FaultInjectionEnv final : public Env {
 public:
  // `base` must outlive this env.
  explicit FaultInjectionEnv(Env* base);
  explicit FaultInjectionEnv(std::unique_ptr<Env> base);
  FaultInjectionEnv(const FaultInjectionEnv&) = delete;
  FaultInjectionEnv& operator=(const FaultInjectionEnv&) = delete;
  ~FaultInjectionEnv() override;

  Env* base() const;

  std::string_view backend_name() const override;
  std::string fallback_reason() const override;
  // kCreateNew is remembered as an unsynced directory entry; every file's writes are
  // tracked from its first open on.
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  Status CreateDir(const std::string& path) override;  // durable at once
  // Makes the directory's remembered creations, renames and deletions durable.
  Status SyncDir(const std::string& path) override;
  // Keeps the file as hidden trash until the deletion is durable.
  Status DeleteFile(const std::string& path) override;
  // Remembered until both directories are synced; a replaced file is kept as trash.
  Status RenameFile(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;  // trash hidden
  Result<bool> FileExists(const std::string& path) override;

  // Crashes (see the top of this file). Return the first error of the wrapped env while
  // rewinding the directory (the rewind goes on after an error).
  [[nodiscard]] Status SimulatePowerCut();
  [[nodiscard]] Status SimulateTornCrash(std::uint64_t seed);

  // XORs every byte of [offset, offset + length) of the real file with a nonzero mask
  // drawn from `seed`, so each of those bytes changes and no other does. kInvalidArgument
  // if the range reaches past the end of the file.
  [[nodiscard]] Status FlipBits(const std::string& path, std::uint64_t offset, std::uint64_t length,
                                std::uint64_t seed);
  // Flips bit `bit` (0..7) of the byte at `byte_offset`.
  [[nodiscard]] Status FlipBit(const std::string& path, std::uint64_t byte_offset, unsigned bit);

  // The next `count` writes / syncs fail with `code` (kIOError for EIO, kNoSpace for
  // ENOSPC, ...) and do not happen. Calls add up with earlier ones; the latest code wins.
  void FailNextWrites(ErrorCode code = ErrorCode::kIOError, int count = 1);
  void FailNextSyncs(ErrorCode code = ErrorCode::kIOError, int count = 1);
  // Every sync fails with `code` until SetFailAllSyncs(false) or ClearFaults().
  void SetFailAllSyncs(bool fail, ErrorCode code = ErrorCode::kIOError);
  // Removes every injected failure and the crash point.
  void ClearFaults();

  // Crash point (see the top of this file). Replaces an earlier one.
  void SetCrashAfter(FaultOp kind, std::uint64_t n, std::function<void()> on_crash = {});
  // True once a crash point was reached, until the next simulated crash.
  bool crashed() const;

  FaultStats stats() const;
  // Writes / truncates not yet durable, over all files (for tests and diagnostics).
  std::uint64_t unsynced_operations() const;
  // Directory changes not yet durable.
  std::uint64_t unsynced_dir_operations() const;

  struct Impl;  // public so that the file class in the .cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace llama
