// The file layer: every test runs over both real backends (POSIX and io_uring; io_uring is
// skipped with a message if the kernel refuses it or the build has no liburing), plus
// OpenEnv's choice and fallback, including a child process whose seccomp filter refuses
// io_uring_setup.
#include "llama/env.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>
#include <thread>

#include "tests/lss/file/env_test_util.h"

namespace llama {
namespace {

using testing_env::Bytes;
using testing_env::Pattern;
using testing_env::ReadAll;
using testing_env::TempDir;

class EnvTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    std::string skip;
    env_ = testing_env::MakeEnvOrSkipReason(GetParam(), &skip);
    if (env_ == nullptr) GTEST_SKIP() << skip;
  }

  std::unique_ptr<File> Create(const std::string& path) {
    Result<std::unique_ptr<File>> file = env_->OpenFile(path, OpenMode::kCreateNew);
    EXPECT_TRUE(file.has_value()) << file.error().ToString();
    return file ? std::move(*file) : nullptr;
  }

  TempDir dir_;
  std::unique_ptr<Env> env_;
};

TEST_P(EnvTest, BackendNameMatches) {
  EXPECT_EQ(env_->backend_name(), IoBackendName(GetParam()));
  EXPECT_EQ(env_->fallback_reason(), "");
}

TEST_P(EnvTest, WriteReadRoundTrip) {
  const std::string path = dir_ / "seg-1";
  auto file = Create(path);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->path(), path);
  const auto data = Pattern(10000, 1);
  ASSERT_TRUE(file->WriteAt(0, data).has_value());
  ASSERT_TRUE(file->Sync().has_value());
  ASSERT_EQ(file->Size().value(), data.size());

  std::vector<std::byte> back(data.size());
  ASSERT_EQ(file->ReadAt(0, back).value(), data.size());
  EXPECT_EQ(back, data);
  std::vector<std::byte> middle(100);
  ASSERT_EQ(file->ReadAt(5000, middle).value(), 100u);
  EXPECT_TRUE(std::equal(middle.begin(), middle.end(), data.begin() + 5000));
  ASSERT_TRUE(file->Close().has_value());

  // Reopened read-only and read-write.
  EXPECT_EQ(ReadAll(*env_, path), data);
  auto rw = env_->OpenFile(path, OpenMode::kReadWrite);
  ASSERT_TRUE(rw.has_value());
  ASSERT_TRUE((*rw)->WriteAt(data.size(), Bytes("tail")).has_value());
  EXPECT_EQ((*rw)->Size().value(), data.size() + 4);
}

TEST_P(EnvTest, EmptyBatchAndEmptyRequestsAreNoOps) {
  auto file = Create(dir_ / "f");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->WriteAt(std::span<const WriteRequest>()).has_value());
  const WriteRequest empty{100, {}};
  ASSERT_TRUE(file->WriteAt(std::span<const WriteRequest>(&empty, 1)).has_value());
  EXPECT_EQ(file->Size().value(), 0u);
  std::vector<std::byte> none;
  EXPECT_EQ(file->ReadAt(0, none).value(), 0u);
}

// A batch of scattered writes, submitted in a shuffled order, more requests than the
// io_uring queue depth (64), with gaps (holes read back as zeros).
TEST_P(EnvTest, BatchAtScatteredOffsetsLargerThanRingDepth) {
  auto file = Create(dir_ / "batch");
  ASSERT_NE(file, nullptr);
  constexpr int kRequests = 300;
  std::vector<std::vector<std::byte>> buffers;
  std::vector<WriteRequest> batch;
  std::vector<std::byte> expected;
  std::uint64_t offset = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::size_t length = 1 + (i * 37) % 5000;
    offset += (i % 3 == 0) ? 123 : 0;  // a hole every third request
    buffers.push_back(Pattern(length, 100 + i));
    if (expected.size() < offset + length) expected.resize(offset + length);
    std::copy(buffers.back().begin(), buffers.back().end(), expected.begin() + offset);
    batch.push_back({offset, buffers.back()});
    offset += length;
  }
  // Deterministic shuffle: the order of a batch does not matter.
  for (std::size_t i = batch.size() - 1; i > 0; --i) std::swap(batch[i], batch[(i * 7919) % i]);
  ASSERT_TRUE(file->WriteAt(batch).has_value());
  ASSERT_TRUE(file->Sync().has_value());
  EXPECT_EQ(file->Size().value(), expected.size());
  std::vector<std::byte> back(expected.size());
  ASSERT_EQ(file->ReadAt(0, back).value(), expected.size());
  EXPECT_TRUE(back == expected);
}

TEST_P(EnvTest, LargeWriteAndRead) {
  auto file = Create(dir_ / "large");
  ASSERT_NE(file, nullptr);
  const auto data = Pattern(16 << 20, 7);
  ASSERT_TRUE(file->WriteAt(4096, data).has_value());
  std::vector<std::byte> back(data.size());
  ASSERT_EQ(file->ReadAt(4096, back).value(), data.size());
  EXPECT_TRUE(back == data);
}

// Four threads write disjoint ranges of one file (batches and single writes), sync and
// read back concurrently.
TEST_P(EnvTest, ConcurrentWritersToDisjointRanges) {
  auto file = Create(dir_ / "shared");
  ASSERT_NE(file, nullptr);
  constexpr int kThreads = 4;
  constexpr int kChunks = 64;
  constexpr std::size_t kChunk = 4096;
  std::vector<std::thread> threads;
  std::vector<std::string> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::uint64_t base = static_cast<std::uint64_t>(t) * kChunks * kChunk;
      for (int c = 0; c < kChunks; c += 2) {
        const auto a = Pattern(kChunk, t * 1000 + c);
        const auto b = Pattern(kChunk, t * 1000 + c + 1);
        const WriteRequest batch[] = {{base + c * kChunk, a}, {base + (c + 1) * kChunk, b}};
        if (Status s = file->WriteAt(batch); !s) {
          failures[t] = s.error().ToString();
          return;
        }
        if (c % 16 == 0) {
          if (Status s = file->Sync(); !s) {
            failures[t] = s.error().ToString();
            return;
          }
        }
        std::vector<std::byte> back(kChunk);
        Result<std::size_t> n = file->ReadAt(base + c * kChunk, back);
        if (!n || *n != kChunk || back != a) {
          failures[t] = "read back mismatch";
          return;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
  ASSERT_TRUE(file->Sync().has_value());
  for (int t = 0; t < kThreads; ++t) {
    for (int c = 0; c < kChunks; ++c) {
      std::vector<std::byte> back(kChunk);
      const std::uint64_t at = (static_cast<std::uint64_t>(t) * kChunks + c) * kChunk;
      ASSERT_EQ(file->ReadAt(at, back).value(), kChunk);
      ASSERT_TRUE(back == Pattern(kChunk, t * 1000 + c)) << t << " " << c;
    }
  }
}

TEST_P(EnvTest, ReadPastEndOfFileIsShort) {
  auto file = Create(dir_ / "short");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->WriteAt(0, Bytes("0123456789")).has_value());
  std::vector<std::byte> out(100);
  EXPECT_EQ(file->ReadAt(5, out).value(), 5u);
  EXPECT_EQ(out[0], std::byte{'5'});
  EXPECT_EQ(out[4], std::byte{'9'});
  EXPECT_EQ(file->ReadAt(10, out).value(), 0u);
  EXPECT_EQ(file->ReadAt(1 << 20, out).value(), 0u);
}

TEST_P(EnvTest, TruncateShrinksAndExtends) {
  auto file = Create(dir_ / "trunc");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->WriteAt(0, Pattern(1000, 3)).has_value());
  ASSERT_TRUE(file->Truncate(100).has_value());
  EXPECT_EQ(file->Size().value(), 100u);
  ASSERT_TRUE(file->Truncate(200).has_value());
  std::vector<std::byte> back(200);
  ASSERT_EQ(file->ReadAt(0, back).value(), 200u);
  const auto p = Pattern(1000, 3);
  EXPECT_TRUE(std::equal(back.begin(), back.begin() + 100, p.begin()));
  EXPECT_TRUE(std::all_of(back.begin() + 100, back.end(), [](std::byte b) { return b == std::byte{0}; }));
}

// fallocate: the file reaches the size asked for, reading as zeros past what was written;
// writes inside it land in place and do not change the size; a smaller size changes
// nothing. File systems without fallocate say kUnsupported.
TEST_P(EnvTest, AllocateExtendsWithZeros) {
  auto file = Create(dir_ / "alloc");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->WriteAt(0, Pattern(100, 4)).has_value());
  auto s = file->Allocate(64 * 1024);
  if (!s) {
    ASSERT_EQ(s.error().code(), ErrorCode::kUnsupported) << s.error().ToString();
    GTEST_SKIP() << "fallocate unsupported here: " << s.error().ToString();
  }
  EXPECT_EQ(file->Size().value(), 64u * 1024);
  std::vector<std::byte> back(64 * 1024);
  ASSERT_EQ(file->ReadAt(0, back).value(), back.size());
  const auto p = Pattern(100, 4);
  EXPECT_TRUE(std::equal(p.begin(), p.end(), back.begin())) << "allocation keeps the bytes written";
  EXPECT_TRUE(std::all_of(back.begin() + 100, back.end(), [](std::byte b) { return b == std::byte{0}; }));
  ASSERT_TRUE(file->WriteAt(5000, Pattern(300, 5)).has_value());
  ASSERT_TRUE(file->Sync().has_value());
  EXPECT_EQ(file->Size().value(), 64u * 1024);
  ASSERT_TRUE(file->Allocate(1000).has_value());
  EXPECT_EQ(file->Size().value(), 64u * 1024) << "never shrinks";
}

TEST_P(EnvTest, CreateNewOnExistingFileFails) {
  const std::string path = dir_ / "exists";
  ASSERT_NE(Create(path), nullptr);
  auto again = env_->OpenFile(path, OpenMode::kCreateNew);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(again.error().message().find(path), std::string::npos) << again.error().message();
  EXPECT_NE(again.error().message().find("File exists"), std::string::npos);
}

TEST_P(EnvTest, OpeningMissingFileIsNotFound) {
  const std::string path = dir_ / "missing";
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite}) {
    auto file = env_->OpenFile(path, mode);
    ASSERT_FALSE(file.has_value());
    EXPECT_EQ(file.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(file.error().message(), "open " + path + ": No such file or directory");
  }
  auto nested = env_->OpenFile(dir_ / "no-such-dir/f", OpenMode::kCreateNew);
  ASSERT_FALSE(nested.has_value());
  EXPECT_EQ(nested.error().code(), ErrorCode::kNotFound);
}

TEST_P(EnvTest, WritingAReadOnlyFileIsAnIOError) {
  const std::string path = dir_ / "ro";
  ASSERT_NE(Create(path), nullptr);
  auto file = env_->OpenFile(path, OpenMode::kReadOnly);
  ASSERT_TRUE(file.has_value());
  Status s = (*file)->WriteAt(0, Bytes("x"));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kIOError);
  EXPECT_NE(s.error().message().find(path + " at 0: Bad file descriptor"), std::string::npos) << s.error().message();
}

TEST_P(EnvTest, DirectoryOperations) {
  const std::string nested = dir_ / "a/b/c";
  ASSERT_TRUE(env_->CreateDir(nested).has_value());
  ASSERT_TRUE(env_->CreateDir(nested).has_value());  // fine if it exists
  ASSERT_TRUE(env_->CreateDir(nested + "/").has_value());
  EXPECT_TRUE(env_->FileExists(nested).value());

  for (const char* name : {"zeta", "alpha", "mid"}) {
    auto f = env_->OpenFile(nested + "/" + name, OpenMode::kCreateNew);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE((*f)->WriteAt(0, Bytes(name)).has_value());
  }
  ASSERT_TRUE(env_->SyncDir(nested).has_value());
  EXPECT_EQ(env_->ListDir(nested).value(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_EQ(env_->ListDir(dir_ / "a").value(), std::vector<std::string>{"b"});

  // Rename replaces the target atomically.
  ASSERT_TRUE(env_->RenameFile(nested + "/alpha", nested + "/zeta").has_value());
  EXPECT_FALSE(env_->FileExists(nested + "/alpha").value());
  EXPECT_EQ(ReadAll(*env_, nested + "/zeta"), Bytes("alpha"));
  ASSERT_TRUE(env_->SyncDir(nested).has_value());

  ASSERT_TRUE(env_->DeleteFile(nested + "/mid").has_value());
  EXPECT_FALSE(env_->FileExists(nested + "/mid").value());
  EXPECT_EQ(env_->ListDir(nested).value(), std::vector<std::string>{"zeta"});

  // Errors name the operation and the path.
  Status s = env_->DeleteFile(nested + "/mid");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.error().message(), "unlink " + nested + "/mid: No such file or directory");
  s = env_->RenameFile(nested + "/nope", nested + "/x");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  auto listed = env_->ListDir(dir_ / "nope");
  ASSERT_FALSE(listed.has_value());
  EXPECT_EQ(listed.error().code(), ErrorCode::kNotFound);
  s = env_->SyncDir(dir_ / "nope");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(env_->FileExists(dir_ / "nope/deeper").value());

  // mkdir -p through an existing regular file fails.
  s = env_->CreateDir(nested + "/zeta/sub");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kIOError);
}

TEST_P(EnvTest, OperationsAfterCloseFail) {
  auto file = Create(dir_ / "closed");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->WriteAt(0, Bytes("abc")).has_value());
  ASSERT_TRUE(file->Close().has_value());

  Status second = file->Close();
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kAborted);
  Status w = file->WriteAt(0, Bytes("x"));
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code(), ErrorCode::kAborted);
  EXPECT_NE(w.error().message().find("file is closed"), std::string::npos);
  std::vector<std::byte> out(3);
  EXPECT_EQ(file->ReadAt(0, out).error().code(), ErrorCode::kAborted);
  EXPECT_EQ(file->Sync().error().code(), ErrorCode::kAborted);
  EXPECT_EQ(file->Size().error().code(), ErrorCode::kAborted);
  EXPECT_EQ(file->Truncate(0).error().code(), ErrorCode::kAborted);
  EXPECT_EQ(ReadAll(*env_, dir_ / "closed"), Bytes("abc"));
}

// Close racing with I/O on other threads: every call either works or fails cleanly.
TEST_P(EnvTest, CloseWhileOtherThreadsWrite) {
  auto file = Create(dir_ / "race");
  ASSERT_NE(file, nullptr);
  std::atomic<bool> unexpected{false};
  std::atomic<int> started{0};  // threads whose first write returned
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      const auto data = Pattern(512, t);
      for (int i = 0; i < 200; ++i) {
        Status s = file->WriteAt(static_cast<std::uint64_t>(t * 200 + i) * 512, data);
        if (!s && s.error().code() != ErrorCode::kAborted) unexpected = true;
        if (i == 0) started++;
      }
    });
  }
  // Close once every thread is writing (whether a thread is still at it then is up to the
  // scheduler; either way each call must work or fail cleanly).
  while (started.load() < 3) std::this_thread::yield();
  ASSERT_TRUE(file->Close().has_value());
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(unexpected);
}

INSTANTIATE_TEST_SUITE_P(Backends, EnvTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

TEST(OpenEnvTest, BackendNames) {
  EXPECT_EQ(IoBackendName(IoBackend::kAuto), "auto");
  EXPECT_EQ(IoBackendName(IoBackend::kIoUring), "io_uring");
  EXPECT_EQ(IoBackendName(IoBackend::kPosix), "posix");
}

TEST(OpenEnvTest, PosixIsPosix) {
  auto env = OpenEnv(IoBackend::kPosix);
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ((*env)->backend_name(), "posix");
  EXPECT_EQ((*env)->fallback_reason(), "");
  EXPECT_EQ(NewPosixEnv()->backend_name(), "posix");
}

// Built without liburing (LLAMA_WITH_URING=OFF): io_uring is refused like a kernel that
// lacks it; kAuto is POSIX and says why.
TEST(OpenEnvTest, WithoutLiburingAutoIsPosixAndSaysWhy) {
#if LLAMA_HAVE_URING
  GTEST_SKIP() << "built with liburing";
#else
  auto uring = NewUringEnv();
  ASSERT_FALSE(uring.has_value());
  EXPECT_EQ(uring.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(uring.error().message().find("without liburing"), std::string::npos) << uring.error().ToString();
  auto forced = OpenEnv(IoBackend::kIoUring);
  ASSERT_FALSE(forced.has_value());
  EXPECT_EQ(forced.error().code(), ErrorCode::kUnsupported);
  auto automatic = OpenEnv(IoBackend::kAuto);
  ASSERT_TRUE(automatic.has_value());
  EXPECT_EQ((*automatic)->backend_name(), "posix");
  EXPECT_NE((*automatic)->fallback_reason().find("without liburing"), std::string::npos);
#endif
}

// On this machine: kAuto is io_uring exactly when io_uring works, and says why not.
TEST(OpenEnvTest, AutoPrefersIoUringAndExplainsFallback) {
  auto uring = NewUringEnv();
  auto automatic = OpenEnv(IoBackend::kAuto);
  ASSERT_TRUE(automatic.has_value());
  if (uring) {
    EXPECT_EQ((*automatic)->backend_name(), "io_uring");
    EXPECT_EQ((*automatic)->fallback_reason(), "");
    EXPECT_EQ((*uring)->backend_name(), "io_uring");
  } else {
    EXPECT_EQ(uring.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ((*automatic)->backend_name(), "posix");
    EXPECT_NE((*automatic)->fallback_reason(), "");
    auto forced = OpenEnv(IoBackend::kIoUring);
    ASSERT_FALSE(forced.has_value());
    EXPECT_EQ(forced.error().code(), ErrorCode::kUnsupported);
  }
}

// Installs a seccomp filter that makes io_uring_setup(2) fail with `err` in this process
// (a child). Returns false if the kernel does not allow it.
bool RefuseIoUringSetup(int err) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// What the child checks once io_uring is refused; "" when all is well.
std::string CheckFallbackInChild(int err, const std::string& dir) {
  const std::string expected_text = std::strerror(err);
  auto forced = OpenEnv(IoBackend::kIoUring);
  if (forced) return "OpenEnv(kIoUring) succeeded although io_uring_setup is refused";
  if (forced.error().code() != ErrorCode::kUnsupported) {
    return "OpenEnv(kIoUring): wrong code: " + forced.error().ToString();
  }
  if (forced.error().message().find(expected_text) == std::string::npos) {
    return "OpenEnv(kIoUring) does not name the errno: " + forced.error().ToString();
  }
  auto automatic = OpenEnv(IoBackend::kAuto);
  if (!automatic) return "OpenEnv(kAuto) failed: " + automatic.error().ToString();
  Env& env = **automatic;
  if (env.backend_name() != "posix") return "kAuto did not fall back to posix";
  if (env.fallback_reason().find(expected_text) == std::string::npos) {
    return "fallback_reason does not name the errno: '" + env.fallback_reason() + "'";
  }
  // And the fallback does I/O.
  auto file = env.OpenFile(dir + "/fallback", OpenMode::kCreateNew);
  if (!file) return file.error().ToString();
  const auto data = Pattern(1000, 5);
  const WriteRequest batch[] = {{0, std::span(data).first(500)}, {500, std::span(data).subspan(500)}};
  if (Status s = (*file)->WriteAt(batch); !s) return s.error().ToString();
  if (Status s = (*file)->Sync(); !s) return s.error().ToString();
  std::vector<std::byte> back(1000);
  auto n = (*file)->ReadAt(0, back);
  if (!n || *n != 1000 || back != data) return "read back mismatch";
  return "";
}

class FallbackTest : public ::testing::TestWithParam<int> {};

// A child process whose seccomp profile refuses io_uring_setup with EPERM / ENOSYS /
// EINVAL: kAuto falls back to POSIX and says why, kIoUring fails.
TEST_P(FallbackTest, KernelRefusingIoUringFallsBackToPosix) {
  if (!LLAMA_HAVE_URING) GTEST_SKIP() << "built without liburing: io_uring is never tried";
  const int err = GetParam();
  TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string message;
    int code = 0;
    if (!RefuseIoUringSetup(err)) {
      message = std::string("cannot install a seccomp filter: ") + std::strerror(errno);
      code = 77;
    } else {
      message = CheckFallbackInChild(err, dir.path());
      code = message.empty() ? 0 : 1;
    }
    if (!message.empty()) {
      [[maybe_unused]] ssize_t w = ::write(pipe_fds[1], message.data(), message.size());
    }
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) message.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died: " << status;
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << message;
  EXPECT_EQ(WEXITSTATUS(status), 0) << message;
  EXPECT_EQ(message, "");
}

INSTANTIATE_TEST_SUITE_P(Errno, FallbackTest, ::testing::Values(EPERM, ENOSYS, EINVAL),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           switch (param_info.param) {
                             case EPERM:
                               return std::string("EPERM");
                             case ENOSYS:
                               return std::string("ENOSYS");
                             default:
                               return std::string("EINVAL");
                           }
                         });

}  // namespace
}  // namespace llama
