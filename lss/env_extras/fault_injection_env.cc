#include "lss/env_extras/fault_injection_env.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace llama {
namespace {

constexpr std::string_view kTrashPrefix = ".llama-fault-trash-";

// Paths are compared after lexical normalization ("a/./b/" and "a/b" are one file);
// callers must still spell a file the same way (relative vs absolute is not unified).
std::string Normalize(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string DirOf(const std::string& normalized) {
  std::string dir = std::filesystem::path(normalized).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// SplitMix64: tiny, fully specified, so a seed means the same crash everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

bool Counts(FaultOp armed, FaultOp op) { return armed == FaultOp::kAny || armed == op; }

tl::unexpected<Error> Injected(ErrorCode code, std::string_view op, const std::string& path) {
  std::string message = "injected ";
  message += op;
  message += " failure on ";
  message += path;
  message += " (";
  message += ErrorCodeName(code);
  message += ")";
  return MakeError(code, std::move(message));
}

tl::unexpected<Error> SimulatedCrash(std::string_view op, const std::string& path) {
  std::string message(op);
  message += ' ';
  message += path;
  message += ": simulated crash";
  return MakeError(ErrorCode::kAborted, std::move(message));
}

// One write or truncate not yet durable.
struct UnsyncedOp {
  std::uint64_t seq = 0;
  bool truncate = false;  // File::Truncate(offset) rather than a write
  std::uint64_t offset = 0;
  std::vector<std::byte> data;  // the bytes written (writes only)
  // What the real file held at [offset, offset + old.size()) just before: for a write, the
  // part of its range that was inside the file (the rest did not exist); for a truncate,
  // the tail it cut.
  std::vector<std::byte> old;
};

struct FileState {
  std::string path;  // current name (follows renames and deletions into the trash)
  std::uint64_t durable_size = 0;
  std::deque<UnsyncedOp> unsynced;  // in seq order
};

struct DirOp {
  enum Kind : std::uint8_t { kCreate, kRename, kDelete };
  Kind kind = kCreate;
  std::uint64_t seq = 0;
  std::string path;   // kCreate / kDelete: the file; kRename: the source
  std::string to;     // kRename: the target
  std::string trash;  // kDelete: where the file went; kRename: where a replaced target went
  bool path_dir_synced = false;
  bool to_dir_synced = false;
};

}  // namespace

struct FaultInjectionEnv::Impl {
  Env* base = nullptr;
  std::unique_ptr<Env> owned;

  mutable std::mutex mu;
  std::uint64_t epoch = 0;  // bumped by every simulated crash; older handles are dead
  std::uint64_t next_seq = 1;
  std::map<std::string, std::shared_ptr<FileState>> files;  // by normalized current path
  std::vector<DirOp> dir_ops;                               // not yet durable, in seq order
  std::uint64_t trash_counter = 0;

  int fail_writes = 0;
  ErrorCode fail_write_code = ErrorCode::kIOError;
  int fail_syncs = 0;
  ErrorCode fail_sync_code = ErrorCode::kIOError;
  bool fail_all_syncs = false;
  ErrorCode fail_all_code = ErrorCode::kIOError;

  bool crash_armed = false;
  FaultOp crash_kind = FaultOp::kAny;
  std::uint64_t crash_remaining = 0;
  bool crashed = false;
  std::function<void()> on_crash;

  FaultStats stats;

  // Admission of a counted operation, under `mu`. Refuses it after a crash point; counts it
  // towards an armed one. *fire is set when this operation is the last before the crash,
  // whose callback the caller then runs (RunCrashCallback) once it is done.
  Status Admit(FaultOp op, std::string_view name, const std::string& path, bool* fire) {
    if (crashed) {
      ++stats.aborted;
      return SimulatedCrash(name, path);
    }
    if (crash_armed && Counts(crash_kind, op)) {
      if (--crash_remaining == 0) {
        crashed = true;
        crash_armed = false;
        *fire = true;
      }
    }
    return OkStatus();
  }
  Status CheckNotCrashed(std::string_view name, const std::string& path) {
    if (!crashed) return OkStatus();
    ++stats.aborted;
    return SimulatedCrash(name, path);
  }
  // A sync (file or directory) that fails by injection, under `mu`.
  std::optional<ErrorCode> InjectedSyncFailure() {
    if (fail_all_syncs) return fail_all_code;
    if (fail_syncs > 0) {
      --fail_syncs;
      return fail_sync_code;
    }
    return std::nullopt;
  }

  void RunCrashCallback() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mu);
      callback = std::move(on_crash);
      on_crash = nullptr;
    }
    if (callback) callback();
  }

  // Moves the model of the file at `from` to `to` (both normalized), under `mu`.
  void MoveState(const std::string& from, const std::string& to) {
    auto it = files.find(from);
    if (it == files.end()) return;
    std::shared_ptr<FileState> state = std::move(it->second);
    files.erase(it);
    state->path = to;
    files[to] = std::move(state);
  }

  std::string NewTrashPath(const std::string& dir) {
    while (true) {
      std::string candidate = Normalize(
          (std::filesystem::path(dir) / (std::string(kTrashPrefix) + std::to_string(trash_counter++))).string());
      Result<bool> exists = base->FileExists(candidate);
      if (!exists || !*exists) return candidate;
    }
  }

  bool IsDirectory(const std::string& path) { return base->ListDir(path).has_value(); }

  // Remembers a directory change until it is durable, under `mu`. Paths normalized.
  void RecordDirOp(DirOp::Kind kind, const std::string& path, const std::string& to = {},
                   const std::string& trash = {}) {
    DirOp op;
    op.kind = kind;
    op.seq = next_seq++;
    op.path = path;
    op.to = to;
    op.trash = trash;
    dir_ops.push_back(std::move(op));
  }

  // A counted directory operation (CreateDir, DeleteFile, RenameFile): admitted under `mu`,
  // then `change` runs, still under `mu`; a crash point it reached fires after.
  template <typename Fn>
  Status DirChange(std::string_view name, const std::string& path, Fn&& change) {
    bool fire = false;
    Status result = OkStatus();
    {
      std::lock_guard lock(mu);
      ++stats.dir_ops;
      LLAMA_RETURN_IF_ERROR(Admit(FaultOp::kDirOp, name, path, &fire));
      result = change();
    }
    if (fire) RunCrashCallback();
    return result;
  }

  Result<std::unique_ptr<File>> OpenLocked(const std::string& path, OpenMode mode, bool* fire);
  Status DeleteLocked(const std::string& path);
  Status RenameLocked(const std::string& from, const std::string& to);
  Status Crash(Rng* torn);
  Status RewindFile(FileState& state, Rng* torn);
};

namespace {

Status WriteZeros(File& file, std::uint64_t offset, std::uint64_t length) {
  static constexpr std::size_t kChunk = 64 * 1024;
  const std::vector<std::byte> zeros(std::min<std::uint64_t>(length, kChunk));
  while (length > 0) {
    const std::size_t n = std::min<std::uint64_t>(length, kChunk);
    LLAMA_RETURN_IF_ERROR(file.WriteAt(offset, std::span<const std::byte>(zeros.data(), n)));
    offset += n;
    length -= n;
  }
  return OkStatus();
}

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv::Impl* env, std::unique_ptr<File> base, std::shared_ptr<FileState> state,
            std::uint64_t epoch)
      : env_(env), base_(std::move(base)), state_(std::move(state)), epoch_(epoch) {}

  Status WriteAt(std::span<const WriteRequest> batch) override {
    bool fire = false;
    Status admitted = AdmitWrite("write", &fire);
    if (!admitted) {
      // An injected failure can be the operation a crash point fires after.
      if (fire) env_->RunCrashCallback();
      return admitted;
    }
    // Remember what each request overwrites, so that a crash can put it back.
    std::vector<UnsyncedOp> ops;
    ops.reserve(batch.size());
    std::uint64_t bytes = 0;
    for (const WriteRequest& request : batch) {
      if (request.data.empty()) continue;
      UnsyncedOp op;
      op.offset = request.offset;
      op.data.assign(request.data.begin(), request.data.end());
      op.old.resize(request.data.size());
      Result<std::size_t> n = base_->ReadAt(request.offset, op.old);
      op.old.resize(n ? *n : 0);
      bytes += request.data.size();
      ops.push_back(std::move(op));
    }
    Status result = base_->WriteAt(batch);
    {
      std::lock_guard lock(env_->mu);
      // Recorded even when the wrapped write failed: part of it may be in the file.
      if (epoch_ == env_->epoch) {
        for (UnsyncedOp& op : ops) {
          op.seq = env_->next_seq++;
          state_->unsynced.push_back(std::move(op));
        }
      }
      if (result) env_->stats.bytes_written += bytes;
    }
    if (fire) env_->RunCrashCallback();
    return result;
  }

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    LLAMA_RETURN_IF_ERROR(AdmitRead("read"));
    return base_->ReadAt(offset, out);
  }

  Status Sync() override {
    bool fire = false;
    std::uint64_t snapshot = 0;
    std::optional<ErrorCode> injected;
    {
      std::lock_guard lock(env_->mu);
      LLAMA_RETURN_IF_ERROR(Live("sync"));
      ++env_->stats.syncs;
      LLAMA_RETURN_IF_ERROR(env_->Admit(FaultOp::kSync, "sync", path(), &fire));
      injected = env_->InjectedSyncFailure();
      if (injected) ++env_->stats.injected_failures;
      snapshot = env_->next_seq;
    }
    Status result = injected ? Status(Injected(*injected, "sync", path())) : base_->Sync();
    if (result) {
      std::lock_guard lock(env_->mu);
      if (epoch_ == env_->epoch) {
        FileState& state = *state_;
        while (!state.unsynced.empty() && state.unsynced.front().seq < snapshot) {
          const UnsyncedOp& op = state.unsynced.front();
          state.durable_size = op.truncate ? op.offset : std::max(state.durable_size, op.offset + op.data.size());
          state.unsynced.pop_front();
        }
      }
    }
    if (fire) env_->RunCrashCallback();
    return result;
  }

  Result<std::uint64_t> Size() override {
    LLAMA_RETURN_IF_ERROR(AdmitRead("size"));
    return base_->Size();
  }

  Status Truncate(std::uint64_t size) override {
    return ChangeSize("truncate", size, [&] { return base_->Truncate(size); });
  }

  // Recorded as what it does to the modelled file: a zero-extension to at least `size`,
  // undone by a crash before the next Sync like any unsynced size change.
  Status Allocate(std::uint64_t size) override {
    Result<std::uint64_t> old_size = base_->Size();
    const std::uint64_t new_size = old_size ? std::max(*old_size, size) : size;
    return ChangeSize("fallocate", new_size, [&] { return base_->Allocate(size); });
  }

  template <typename Fn>
  Status ChangeSize(std::string_view name, std::uint64_t size, Fn&& change) {
    bool fire = false;
    Status admitted = AdmitWrite(name, &fire);
    if (!admitted) {
      if (fire) env_->RunCrashCallback();
      return admitted;
    }
    UnsyncedOp op;
    op.truncate = true;
    op.offset = size;
    Result<std::uint64_t> old_size = base_->Size();
    if (old_size && *old_size > size) {
      op.old.resize(*old_size - size);
      Result<std::size_t> n = base_->ReadAt(size, op.old);
      op.old.resize(n ? *n : 0);
    }
    Status result = change();
    {
      std::lock_guard lock(env_->mu);
      if (epoch_ == env_->epoch) {
        op.seq = env_->next_seq++;
        state_->unsynced.push_back(std::move(op));
      }
    }
    if (fire) env_->RunCrashCallback();
    return result;
  }

  // Always allowed: releases the wrapped handle even after a simulated crash.
  Status Close() override { return base_->Close(); }
  const std::string& path() const override { return base_->path(); }

 private:
  // Admission of a write or truncate: the handle is live, no crash point was passed, no
  // failure is injected.
  Status AdmitWrite(std::string_view op, bool* fire) {
    std::lock_guard lock(env_->mu);
    LLAMA_RETURN_IF_ERROR(Live(op));
    ++env_->stats.writes;
    LLAMA_RETURN_IF_ERROR(env_->Admit(FaultOp::kWrite, op, path(), fire));
    if (env_->fail_writes > 0) {
      --env_->fail_writes;
      ++env_->stats.injected_failures;
      return Injected(env_->fail_write_code, op, path());
    }
    return OkStatus();
  }

  // Admission of a read (ReadAt, Size): the handle is live and no crash point was passed.
  Status AdmitRead(std::string_view op) {
    std::lock_guard lock(env_->mu);
    LLAMA_RETURN_IF_ERROR(Live(op));
    return env_->CheckNotCrashed(op, path());
  }

  // Under env_->mu.
  Status Live(std::string_view op) const {
    if (epoch_ == env_->epoch) return OkStatus();
    return MakeError(ErrorCode::kAborted,
                     std::string(op) + " " + path() + ": the file was opened before a simulated crash");
  }

  FaultInjectionEnv::Impl* env_;
  std::unique_ptr<File> base_;
  std::shared_ptr<FileState> state_;
  const std::uint64_t epoch_;
};

}  // namespace

// Puts one file back to its durable state, then (torn crash) replays the writes that
// survive. Under `mu`.
Status FaultInjectionEnv::Impl::RewindFile(FileState& state, Rng* torn) {
  if (state.unsynced.empty()) return OkStatus();
  Result<std::unique_ptr<File>> opened = base->OpenFile(state.path, OpenMode::kReadWrite);
  if (!opened) {
    // Removed behind our back: nothing to rewind.
    if (opened.error().code() == ErrorCode::kNotFound) return OkStatus();
    return tl::unexpected<Error>(opened.error());
  }
  File& file = **opened;

  // How much of each operation survives: its whole length, a prefix, or nothing. Drawn in
  // operation order, before touching the file, so a seed always gives the same outcome.
  std::vector<std::uint64_t> keep(state.unsynced.size(), 0);
  if (torn != nullptr) {
    for (std::size_t i = 0; i < state.unsynced.size(); ++i) {
      const UnsyncedOp& op = state.unsynced[i];
      if (op.truncate) {
        keep[i] = torn->Next() % 2;
        continue;
      }
      const std::uint64_t length = op.data.size();
      switch (torn->Next() % 3) {
        case 0:
          keep[i] = length;
          break;
        case 1:
          keep[i] = length < 2 ? length : 1 + torn->Next() % (length - 1);
          break;
        default:
          keep[i] = 0;
          break;
      }
    }
  }

  Status first = OkStatus();
  auto note = [&](Status s) {
    if (!s && first) first = std::move(s);
  };
  // Undo newest first: each operation's old bytes were what the file held just before it.
  for (auto it = state.unsynced.rbegin(); it != state.unsynced.rend(); ++it) {
    const UnsyncedOp& op = *it;
    if (!op.old.empty()) note(file.WriteAt(op.offset, op.old));
    if (!op.truncate) {
      // The part of the range that did not exist yet reads as zeros if the durable size
      // covers it (a hole that a later, durable write extended the file over).
      const std::uint64_t hole_begin = op.offset + op.old.size();
      const std::uint64_t hole_end = std::min(op.offset + op.data.size(), state.durable_size);
      if (hole_begin < hole_end) note(WriteZeros(file, hole_begin, hole_end - hole_begin));
    }
  }
  note(file.Truncate(state.durable_size));

  // Replay what survived, oldest first.
  for (std::size_t i = 0; i < state.unsynced.size(); ++i) {
    const UnsyncedOp& op = state.unsynced[i];
    if (keep[i] == 0) continue;
    if (op.truncate) {
      note(file.Truncate(op.offset));
    } else {
      note(file.WriteAt(op.offset, std::span<const std::byte>(op.data.data(), keep[i])));
    }
  }
  note(file.Close());
  return first;
}

Status FaultInjectionEnv::Impl::Crash(Rng* torn) {
  std::lock_guard lock(mu);
  ++epoch;
  crashed = false;
  crash_armed = false;
  on_crash = nullptr;

  Status first = OkStatus();
  auto note = [&](Status s) {
    if (!s && first) first = std::move(s);
  };
  // Files in path order, so that a torn crash's random draws do not depend on hashing.
  for (auto& [path, state] : files) note(RewindFile(*state, torn));

  // Undo the directory changes newest first. Best effort: a change that can no longer be
  // undone (its file is gone for good) is skipped.
  auto ignore_missing = [](Status s) -> Status {
    if (!s && s.error().code() == ErrorCode::kNotFound) return OkStatus();
    return s;
  };
  for (auto it = dir_ops.rbegin(); it != dir_ops.rend(); ++it) {
    const DirOp& op = *it;
    switch (op.kind) {
      case DirOp::kCreate:
        note(ignore_missing(base->DeleteFile(op.path)));
        break;
      case DirOp::kRename:
        note(ignore_missing(base->RenameFile(op.to, op.path)));
        if (!op.trash.empty()) note(ignore_missing(base->RenameFile(op.trash, op.to)));
        break;
      case DirOp::kDelete:
        note(ignore_missing(base->RenameFile(op.trash, op.path)));
        break;
    }
  }
  files.clear();
  dir_ops.clear();
  return first;
}

FaultInjectionEnv::FaultInjectionEnv(Env* base) : impl_(std::make_unique<Impl>()) { impl_->base = base; }

FaultInjectionEnv::FaultInjectionEnv(std::unique_ptr<Env> base) : impl_(std::make_unique<Impl>()) {
  impl_->base = base.get();
  impl_->owned = std::move(base);
}

FaultInjectionEnv::~FaultInjectionEnv() {
  // A clean shutdown: deletions that happened are final.
  for (const DirOp& op : impl_->dir_ops) {
    if (!op.trash.empty()) (void)impl_->base->DeleteFile(op.trash);
  }
}

Env* FaultInjectionEnv::base() const { return impl_->base; }
std::string_view FaultInjectionEnv::backend_name() const { return impl_->base->backend_name(); }
std::string FaultInjectionEnv::fallback_reason() const { return impl_->base->fallback_reason(); }

Result<std::unique_ptr<File>> FaultInjectionEnv::OpenFile(const std::string& path, OpenMode mode) {
  Impl& env = *impl_;
  bool fire = false;
  Result<std::unique_ptr<File>> result = env.OpenLocked(path, mode, &fire);
  if (fire) env.RunCrashCallback();
  return result;
}

Result<std::unique_ptr<File>> FaultInjectionEnv::Impl::OpenLocked(const std::string& path, OpenMode mode, bool* fire) {
  std::lock_guard lock(mu);
  if (mode == OpenMode::kCreateNew) {
    ++stats.dir_ops;
    LLAMA_RETURN_IF_ERROR(Admit(FaultOp::kDirOp, "create", path, fire));
  } else {
    LLAMA_RETURN_IF_ERROR(CheckNotCrashed("open", path));
  }
  Result<std::unique_ptr<File>> opened = base->OpenFile(path, mode);
  if (!opened) return opened;
  const std::string key = Normalize(path);
  std::shared_ptr<FileState> state;
  if (mode == OpenMode::kCreateNew) {
    state = std::make_shared<FileState>();
    state->path = key;
    files[key] = state;
    RecordDirOp(DirOp::kCreate, key);
  } else if (auto it = files.find(key); it != files.end()) {
    state = it->second;
  } else {
    // First sight of an existing file: what it holds now counts as durable.
    Result<std::uint64_t> size = (*opened)->Size();
    LLAMA_RETURN_IF_ERROR(size);
    state = std::make_shared<FileState>();
    state->path = key;
    state->durable_size = *size;
    files[key] = state;
  }
  return std::unique_ptr<File>(std::make_unique<FaultFile>(this, std::move(*opened), std::move(state), epoch));
}

Status FaultInjectionEnv::CreateDir(const std::string& path) {
  return impl_->DirChange("mkdir", path, [&] { return impl_->base->CreateDir(path); });
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  Impl& env = *impl_;
  bool fire = false;
  std::uint64_t snapshot = 0;
  std::optional<ErrorCode> injected;
  {
    std::lock_guard lock(env.mu);
    ++env.stats.dir_syncs;
    LLAMA_RETURN_IF_ERROR(env.Admit(FaultOp::kSync, "sync directory", path, &fire));
    injected = env.InjectedSyncFailure();
    if (injected) ++env.stats.injected_failures;
    snapshot = env.next_seq;
  }
  Status result = injected ? Status(Injected(*injected, "sync directory", path)) : env.base->SyncDir(path);
  if (result) {
    std::lock_guard lock(env.mu);
    const std::string dir = Normalize(path);
    std::vector<DirOp> still_pending;
    for (DirOp& op : env.dir_ops) {
      if (op.seq < snapshot) {
        if (DirOf(op.path) == dir) op.path_dir_synced = true;
        if (op.kind == DirOp::kRename && DirOf(op.to) == dir) op.to_dir_synced = true;
      }
      const bool durable = op.path_dir_synced && (op.kind != DirOp::kRename || op.to_dir_synced);
      if (!durable) {
        still_pending.push_back(std::move(op));
      } else if (!op.trash.empty()) {
        // The deletion (or the replacement by a rename) is durable: delete for real.
        Status s = env.base->DeleteFile(op.trash);
        if (!s && result) result = s;
        env.files.erase(op.trash);
      }
    }
    env.dir_ops = std::move(still_pending);
  }
  if (fire) env.RunCrashCallback();
  return result;
}

Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  return impl_->DirChange("unlink", path, [&] { return impl_->DeleteLocked(path); });
}

Status FaultInjectionEnv::Impl::DeleteLocked(const std::string& path) {
  Result<bool> exists = base->FileExists(path);
  if (!exists || !*exists || IsDirectory(path)) {
    // Missing, or a directory: the wrapped env does (or refuses) it.
    return base->DeleteFile(path);
  }
  const std::string key = Normalize(path);
  const std::string trash = NewTrashPath(DirOf(key));
  LLAMA_RETURN_IF_ERROR(base->RenameFile(path, trash));
  MoveState(key, trash);
  RecordDirOp(DirOp::kDelete, key, {}, trash);
  return OkStatus();
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  return impl_->DirChange("rename", from, [&] { return impl_->RenameLocked(from, to); });
}

Status FaultInjectionEnv::Impl::RenameLocked(const std::string& from, const std::string& to) {
  const std::string key_from = Normalize(from);
  const std::string key_to = Normalize(to);
  if (key_from == key_to || IsDirectory(from)) return base->RenameFile(from, to);
  // A replaced target goes to the trash first, so that a crash can bring it back.
  std::string trash;
  Result<bool> to_exists = base->FileExists(to);
  if (to_exists && *to_exists && !IsDirectory(to)) {
    Result<bool> from_exists = base->FileExists(from);
    if (from_exists && *from_exists) {
      trash = NewTrashPath(DirOf(key_to));
      LLAMA_RETURN_IF_ERROR(base->RenameFile(to, trash));
      MoveState(key_to, trash);
    }
  }
  Status result = base->RenameFile(from, to);
  if (!result) {
    if (!trash.empty() && base->RenameFile(trash, to)) MoveState(trash, key_to);
    return result;
  }
  MoveState(key_from, key_to);
  RecordDirOp(DirOp::kRename, key_from, key_to, trash);
  return OkStatus();
}

Result<std::vector<std::string>> FaultInjectionEnv::ListDir(const std::string& path) {
  std::lock_guard lock(impl_->mu);
  LLAMA_RETURN_IF_ERROR(impl_->CheckNotCrashed("list", path));
  Result<std::vector<std::string>> names = impl_->base->ListDir(path);
  if (names) {
    std::erase_if(*names, [](const std::string& name) { return name.starts_with(kTrashPrefix); });
  }
  return names;
}

Result<bool> FaultInjectionEnv::FileExists(const std::string& path) {
  std::lock_guard lock(impl_->mu);
  LLAMA_RETURN_IF_ERROR(impl_->CheckNotCrashed("stat", path));
  return impl_->base->FileExists(path);
}

Status FaultInjectionEnv::SimulatePowerCut() { return impl_->Crash(nullptr); }

Status FaultInjectionEnv::SimulateTornCrash(std::uint64_t seed) {
  Rng rng(seed);
  return impl_->Crash(&rng);
}

Status FaultInjectionEnv::FlipBits(const std::string& path, std::uint64_t offset, std::uint64_t length,
                                   std::uint64_t seed) {
  std::lock_guard lock(impl_->mu);
  Result<std::unique_ptr<File>> file = impl_->base->OpenFile(path, OpenMode::kReadWrite);
  LLAMA_RETURN_IF_ERROR(file);
  std::vector<std::byte> bytes(length);
  Result<std::size_t> n = (*file)->ReadAt(offset, bytes);
  LLAMA_RETURN_IF_ERROR(n);
  if (*n != length) {
    (void)(*file)->Close();
    return MakeError(ErrorCode::kInvalidArgument, "FlipBits " + path + ": [" + std::to_string(offset) + ", " +
                                                      std::to_string(offset + length) +
                                                      ") reaches past the end of the file");
  }
  Rng rng(seed);
  for (std::byte& b : bytes) b ^= static_cast<std::byte>(1 + rng.Next() % 255);
  Status s = (*file)->WriteAt(offset, bytes);
  Status closed = (*file)->Close();
  return s ? closed : s;
}

Status FaultInjectionEnv::FlipBit(const std::string& path, std::uint64_t byte_offset, unsigned bit) {
  if (bit > 7) return MakeError(ErrorCode::kInvalidArgument, "FlipBit: bit must be 0..7");
  std::lock_guard lock(impl_->mu);
  Result<std::unique_ptr<File>> file = impl_->base->OpenFile(path, OpenMode::kReadWrite);
  LLAMA_RETURN_IF_ERROR(file);
  std::byte b{};
  Result<std::size_t> n = (*file)->ReadAt(byte_offset, std::span<std::byte>(&b, 1));
  LLAMA_RETURN_IF_ERROR(n);
  if (*n != 1) {
    (void)(*file)->Close();
    return MakeError(ErrorCode::kInvalidArgument,
                     "FlipBit " + path + ": offset " + std::to_string(byte_offset) + " is past the end of the file");
  }
  b ^= static_cast<std::byte>(1u << bit);
  Status s = (*file)->WriteAt(byte_offset, std::span<const std::byte>(&b, 1));
  Status closed = (*file)->Close();
  return s ? closed : s;
}

void FaultInjectionEnv::FailNextWrites(ErrorCode code, int count) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_writes += count;
  impl_->fail_write_code = code;
}

void FaultInjectionEnv::FailNextSyncs(ErrorCode code, int count) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_syncs += count;
  impl_->fail_sync_code = code;
}

void FaultInjectionEnv::SetFailAllSyncs(bool fail, ErrorCode code) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_all_syncs = fail;
  impl_->fail_all_code = code;
}

void FaultInjectionEnv::ClearFaults() {
  std::lock_guard lock(impl_->mu);
  impl_->fail_writes = 0;
  impl_->fail_syncs = 0;
  impl_->fail_all_syncs = false;
  impl_->crash_armed = false;
  impl_->on_crash = nullptr;
}

void FaultInjectionEnv::SetCrashAfter(FaultOp kind, std::uint64_t n, std::function<void()> on_crash) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->crash_kind = kind;
    impl_->on_crash = std::move(on_crash);
    impl_->crash_armed = n > 0;
    impl_->crash_remaining = n;
    if (n > 0) return;
    impl_->crashed = true;
  }
  impl_->RunCrashCallback();
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard lock(impl_->mu);
  return impl_->crashed;
}

FaultStats FaultInjectionEnv::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

std::uint64_t FaultInjectionEnv::unsynced_operations() const {
  std::lock_guard lock(impl_->mu);
  std::uint64_t n = 0;
  for (const auto& [path, state] : impl_->files) n += state->unsynced.size();
  return n;
}

std::uint64_t FaultInjectionEnv::unsynced_dir_operations() const {
  std::lock_guard lock(impl_->mu);
  return impl_->dir_ops.size();
}

}  // namespace llama
