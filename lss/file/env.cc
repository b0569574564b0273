#include "llama/env.h"

#include "lss/file/file_names.h"
#include "lss/file/posix_util.h"

namespace llama {

Status WriteFileAtomically(Env& env, const std::string& dir, const std::string& name,
                           std::span<const std::byte> bytes) {
  const std::string final_path = PathIn(dir, name);
  const std::string tmp_path = PathIn(dir, TmpFileName(name));
  auto exists = env.FileExists(tmp_path);
  LLAMA_RETURN_IF_ERROR(exists);
  if (*exists) {
    if (auto s = env.DeleteFile(tmp_path); !s) return s;
  }
  auto file = env.OpenFile(tmp_path, OpenMode::kCreateNew);
  LLAMA_RETURN_IF_ERROR(file);
  if (auto s = (*file)->WriteAt(0, bytes); !s) return s;
  if (auto s = (*file)->Sync(); !s) return s;
  if (auto s = (*file)->Close(); !s) return s;
  file->reset();
  if (auto s = env.RenameFile(tmp_path, final_path); !s) return s;
  return env.SyncDir(dir);
}

#if !defined(LLAMA_HAVE_URING)
#error "LLAMA_HAVE_URING must be 0 or 1 (the build defines it from LLAMA_WITH_URING)"
#elif !LLAMA_HAVE_URING
// Built without liburing (LLAMA_WITH_URING=OFF, or AUTO where pkg-config did not find it):
// io_uring is refused as a kernel without it would refuse it, so kIoUring fails and kAuto
// falls back to POSIX with this as the reason.
Result<std::unique_ptr<Env>> NewUringEnv() {
  return MakeError(ErrorCode::kUnsupported, "io_uring: llama-store was built without liburing (LLAMA_WITH_URING)");
}
#endif

std::string_view IoBackendName(IoBackend backend) {
  switch (backend) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kIoUring:
      return "io_uring";
    case IoBackend::kPosix:
      return "posix";
  }
  return "unknown";
}

Result<std::unique_ptr<Env>> OpenEnv(IoBackend backend) {
  switch (backend) {
    case IoBackend::kPosix:
      return NewPosixEnv();
    case IoBackend::kIoUring:
      return NewUringEnv();
    case IoBackend::kAuto:
      break;
  }
  Result<std::unique_ptr<Env>> uring = NewUringEnv();
  if (uring) return uring;
  // Any refusal (EPERM from a seccomp profile or io_uring_disabled, ENOSYS from an old or
  // stripped kernel, EINVAL, ENOMEM under a tight RLIMIT_MEMLOCK): plain POSIX I/O works.
  return lss_internal::NewPosixEnvWithFallbackReason(uring.error().ToString());
}

}  // namespace llama
