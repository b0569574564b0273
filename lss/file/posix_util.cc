#include "lss/file/posix_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace llama::lss_internal {

ErrorCode ErrorCodeFromErrno(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return ErrorCode::kNoSpace;
    case ENOENT:
      return ErrorCode::kNotFound;
    case EEXIST:
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kIOError;
  }
}

Error ErrnoError(int err, std::string_view what) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the message (maybe a static string, maybe buf).
  const char* text = strerror_r(err, buf, sizeof(buf));
  std::string message(what);
  message += ": ";
  message += text;
  return Error(ErrorCodeFromErrno(err), std::move(message));
}

std::string DescribeAt(std::string_view op, const std::string& path, std::uint64_t offset) {
  std::string out(op);
  out += ' ';
  out += path;
  out += " at ";
  out += std::to_string(offset);
  return out;
}

namespace {

tl::unexpected<Error> Fail(int err, std::string_view op, const std::string& path) {
  std::string what(op);
  what += ' ';
  what += path;
  return tl::unexpected<Error>(ErrnoError(err, what));
}

}  // namespace

Result<int> OpenFd(const std::string& path, OpenMode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case OpenMode::kCreateNew:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
    case OpenMode::kReadWrite:
      flags |= O_RDWR;
      break;
    case OpenMode::kReadOnly:
      flags |= O_RDONLY;
      break;
  }
  while (true) {
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd >= 0) return fd;
    if (errno == EINTR) continue;
    return Fail(errno, "open", path);
  }
}

Result<std::uint64_t> FdSize(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Fail(errno, "fstat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

Status FdTruncate(int fd, const std::string& path, std::uint64_t size) {
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno == EINTR) continue;
    return tl::unexpected<Error>(ErrnoError(errno, DescribeAt("ftruncate", path, size)));
  }
  return OkStatus();
}

Status FdWriteAll(int fd, const std::string& path, std::span<const WriteRequest> batch) {
  constexpr std::size_t kMaxIoBytes = std::size_t{1} << 30;  // the kernel caps one transfer below 2 GiB
  for (const WriteRequest& request : batch) {
    std::size_t done = 0;
    while (done < request.data.size()) {
      const std::size_t want = std::min(request.data.size() - done, kMaxIoBytes);
      const std::uint64_t offset = request.offset + done;
      const ssize_t n = ::pwrite(fd, request.data.data() + done, want, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return tl::unexpected<Error>(ErrnoError(errno, DescribeAt("pwrite", path, offset)));
      }
      if (n == 0) return MakeError(ErrorCode::kIOError, DescribeAt("pwrite", path, offset) + ": wrote 0 bytes");
      done += static_cast<std::size_t>(n);
    }
  }
  return OkStatus();
}

Status FdSyncData(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno == EINTR) continue;
    return tl::unexpected<Error>(ErrnoError(errno, "fdatasync " + path));
  }
  return OkStatus();
}

Status FdAllocate(int fd, const std::string& path, std::uint64_t size) {
  while (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
      return MakeError(ErrorCode::kUnsupported, "fallocate " + path + ": not supported by the file system");
    }
    return tl::unexpected<Error>(ErrnoError(errno, DescribeAt("fallocate", path, size)));
  }
  return OkStatus();
}

GuardedFd::~GuardedFd() {
  if (fd_ >= 0) ::close(fd_);
}

tl::unexpected<Error> GuardedFd::ClosedError(std::string_view op) const {
  std::string message(op);
  message += ' ';
  message += path_;
  message += ": file is closed";
  return MakeError(ErrorCode::kAborted, std::move(message));
}

Status GuardedFd::Close() {
  std::unique_lock lock(mu_);
  if (fd_ < 0) return ClosedError("close");
  const int fd = fd_;
  fd_ = -1;
  // Never retry close(2) on Linux: the descriptor is released even when it fails.
  if (::close(fd) != 0 && errno != EINTR) return Fail(errno, "close", path_);
  return OkStatus();
}

Status SyscallDirEnv::CreateDir(const std::string& path) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidArgument, "mkdir: empty path");
  // mkdir -p: every prefix ending before a '/', then the whole path.
  std::size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (!prefix.empty() && prefix.back() != '/') {
      if (::mkdir(prefix.c_str(), 0755) != 0) {
        const int err = errno;
        struct stat st {};
        if (err != EEXIST || ::stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
          return Fail(err == EEXIST ? ENOTDIR : err, "mkdir", prefix);
        }
      }
    }
    if (pos == std::string::npos) break;
  }
  return OkStatus();
}

Status SyscallDirEnv::SyncDir(const std::string& path) {
  int fd;
  while ((fd = ::open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0) {
    if (errno != EINTR) return Fail(errno, "open directory", path);
  }
  int rc;
  while ((rc = ::fsync(fd)) != 0 && errno == EINTR) {
  }
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Fail(err, "fsync directory", path);
  return OkStatus();
}

Status SyscallDirEnv::DeleteFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Fail(errno, "unlink", path);
  return OkStatus();
}

Status SyscallDirEnv::RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Fail(errno, "rename", from + " -> " + to);
  return OkStatus();
}

Result<std::vector<std::string>> SyscallDirEnv::ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Fail(errno, "opendir", path);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      const int err = errno;
      ::closedir(dir);
      if (err != 0) return Fail(err, "readdir", path);
      break;
    }
    const std::string_view name(entry->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> SyscallDirEnv::FileExists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return Fail(errno, "stat", path);
}

}  // namespace llama::lss_internal
