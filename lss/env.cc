#include "lss/env.h"

#include "lss/posix_util.h"

namespace llama {

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
