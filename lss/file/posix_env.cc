// PosixEnv: pwrite / pread / fdatasync. The fallback when io_uring is refused, and the
// reference the io_uring backend is tested against.
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "llama/env.h"
#include "lss/file/posix_util.h"

namespace llama {
namespace {

using lss_internal::DescribeAt;
using lss_internal::ErrnoError;

// Linux transfers at most 0x7ffff000 bytes per call; ask for at most 1 GiB at a time.
constexpr std::size_t kMaxIoBytes = std::size_t{1} << 30;

class PosixFile final : public lss_internal::FdFile {
 public:
  PosixFile(int fd, std::string path) : FdFile(fd, std::move(path)) {}

  Status WriteAt(std::span<const WriteRequest> batch) override {
    return fd_.With<Status>("pwrite", [&](int fd) { return lss_internal::FdWriteAll(fd, path(), batch); });
  }

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    return fd_.With<Result<std::size_t>>("pread", [&](int fd) -> Result<std::size_t> {
      std::size_t done = 0;
      while (done < out.size()) {
        const std::size_t want = std::min(out.size() - done, kMaxIoBytes);
        const ssize_t n = ::pread(fd, out.data() + done, want, static_cast<off_t>(offset + done));
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN) continue;
          return tl::unexpected<Error>(ErrnoError(errno, DescribeAt("pread", path(), offset + done)));
        }
        if (n == 0) break;  // end of file
        done += static_cast<std::size_t>(n);
      }
      return done;
    });
  }

  Status Sync() override {
    return fd_.With<Status>("fdatasync", [&](int fd) { return lss_internal::FdSyncData(fd, path()); });
  }
};

class PosixEnv final : public lss_internal::SyscallDirEnv {
 public:
  explicit PosixEnv(std::string fallback_reason) : fallback_reason_(std::move(fallback_reason)) {}

  std::string_view backend_name() const override { return "posix"; }
  std::string fallback_reason() const override { return fallback_reason_; }

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    Result<int> fd = lss_internal::OpenFd(path, mode);
    if (!fd) return tl::unexpected<Error>(fd.error());
    return std::unique_ptr<File>(std::make_unique<PosixFile>(*fd, path));
  }

 private:
  const std::string fallback_reason_;
};

}  // namespace

std::unique_ptr<Env> NewPosixEnv() { return std::make_unique<PosixEnv>(std::string()); }

namespace lss_internal {
std::unique_ptr<Env> NewPosixEnvWithFallbackReason(std::string reason) {
  return std::make_unique<PosixEnv>(std::move(reason));
}
}  // namespace lss_internal

}  // namespace llama
