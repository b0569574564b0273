// Shared by the Env tests: a fresh temporary directory per test, the backends to run over
// (io_uring skipped with a message when the kernel refuses it) and byte helpers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"

namespace llama::testing_env {

// A directory that exists for the life of the object and is removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "llama-lss-";
    if (info != nullptr) name += std::string(info->test_suite_name()) + "-" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    name += "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    path_ = (std::filesystem::temp_directory_path() / name).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// The env of `backend`; nullptr with *skip_reason set when io_uring is refused here.
inline std::unique_ptr<Env> MakeEnvOrSkipReason(IoBackend backend, std::string* skip_reason) {
  Result<std::unique_ptr<Env>> env = OpenEnv(backend);
  if (env) return std::move(*env);
  *skip_reason = "io_uring is not available on this machine: " + env.error().ToString();
  return nullptr;
}

inline std::string BackendParamName(const ::testing::TestParamInfo<IoBackend>& info) {
  return info.param == IoBackend::kIoUring ? "IoUring" : "Posix";
}

// Deterministic bytes: pattern `seed` at position i.
inline std::vector<std::byte> Pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> out(n);
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return out;
}

inline std::vector<std::byte> Bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

// The whole content of a file, read through `env`.
inline std::vector<std::byte> ReadAll(Env& env, const std::string& path) {
  Result<std::unique_ptr<File>> file = env.OpenFile(path, OpenMode::kReadOnly);
  EXPECT_TRUE(file.has_value()) << (file ? "" : file.error().ToString());
  if (!file) return {};
  Result<std::uint64_t> size = (*file)->Size();
  EXPECT_TRUE(size.has_value());
  std::vector<std::byte> out(size ? *size : 0);
  Result<std::size_t> n = (*file)->ReadAt(0, out);
  EXPECT_TRUE(n.has_value());
  out.resize(n ? *n : 0);
  EXPECT_TRUE((*file)->Close().has_value());
  return out;
}

}  // namespace llama::testing_env
