// The Envs pagedump reads through (lss/env_extras): ReadOnlyEnv over a real directory and
// MemoryEnv over bytes in memory. Both read what they hold and refuse, the same way
// (ReadOnlyEnvBase, ReadOnlyFileBase), every call that would change a file or directory.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lss/env_extras/memory_env.h"
#include "lss/env_extras/read_only_env.h"
#include "tests/tools/pagedump/pagedump_test_util.h"

namespace llama::pagedump {
namespace {

using testing::ScratchDir;

std::vector<std::byte> AsBytes(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

// `s` failed with kUnsupported and a message that starts "read-only: refusing to <what>".
template <typename R>
void ExpectRefused(const R& s, const std::string& what) {
  ASSERT_FALSE(s.has_value()) << what;
  EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported) << s.error().message();
  EXPECT_EQ(s.error().message().rfind("read-only: refusing to " + what, 0), 0u) << s.error().message();
}

// `exists` holds `expected`.
void ExpectExists(const Result<bool>& exists, bool expected) {
  ASSERT_TRUE(exists.has_value()) << exists.error().ToString();
  EXPECT_EQ(*exists, expected);
}

// Reads `path` through `env` (opened kReadWrite, served read-only) and checks that every
// call that would change it or its directory is refused.
void ExpectReadsAndRefuses(Env& env, const std::string& dir, const std::string& name, const std::string& contents) {
  const std::string path = dir + "/" + name;
  auto file = env.OpenFile(path, OpenMode::kReadWrite);
  ASSERT_TRUE(file.has_value()) << file.error().ToString();
  std::string read(contents.size() + 4, '\0');
  auto n = (*file)->ReadAt(0, std::as_writable_bytes(std::span<char>(read)));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(read.substr(0, *n), contents);
  auto size = (*file)->Size();
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, contents.size());
  EXPECT_EQ((*file)->path(), path);

  const std::vector<std::byte> bytes = AsBytes("x");
  ExpectRefused((*file)->WriteAt(0, bytes), "write " + path);
  ExpectRefused((*file)->Sync(), "sync " + path);
  ExpectRefused((*file)->Truncate(0), "truncate " + path);
  ExpectRefused((*file)->Allocate(1 << 20), "fallocate " + path);
  EXPECT_TRUE((*file)->Close().has_value());

  ExpectRefused(env.OpenFile(dir + "/new", OpenMode::kCreateNew), "create " + dir + "/new");
  ExpectRefused(env.CreateDir(dir + "/sub"), "create directory " + dir + "/sub");
  ExpectRefused(env.SyncDir(dir), "sync directory " + dir);
  ExpectRefused(env.DeleteFile(path), "delete " + path);
  ExpectRefused(env.RenameFile(path, dir + "/other"), "rename " + path + " to " + dir + "/other");

  auto names = env.ListDir(dir);
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, std::vector<std::string>{name});
  ExpectExists(env.FileExists(path), true);
  ExpectExists(env.FileExists(dir + "/other"), false);
}

TEST(ReadOnlyEnvTest, ReadsTheWrappedEnvAndChangesNothing) {
  ScratchDir dir("read-only-env");
  testing::WriteFile(dir / "STORE", "store bytes");
  std::unique_ptr<Env> posix = NewPosixEnv();
  ReadOnlyEnv env(*posix);
  EXPECT_EQ(env.backend_name(), posix->backend_name());
  ExpectReadsAndRefuses(env, dir.path(), "STORE", "store bytes");
  EXPECT_EQ(testing::Snapshot(dir.path()), (std::map<std::string, std::string>{{"STORE", "store bytes"}}));
}

TEST(MemoryEnvTest, ReadsItsFilesAndRefusesTheSameWay) {
  MemoryEnv env("/store");
  env.AddFile("STORE", AsBytes("store bytes"));
  EXPECT_EQ(env.backend_name(), "memory");
  ExpectReadsAndRefuses(env, "/store", "STORE", "store bytes");
  ExpectExists(env.FileExists("/store"), true);
  auto missing = env.OpenFile("/store/segment-00000001", OpenMode::kReadOnly);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace llama::pagedump
