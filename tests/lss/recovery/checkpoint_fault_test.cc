// WriteCheckpoint under injected faults (lss/env_extras/fault_injection_env.h over POSIX): a power cut
// or a torn crash at every step of the write protocol leaves LoadNewestCheckpoint with
// either the previous checkpoint or the new one, never an error or a mix, and a failed
// write or sync is returned unchanged and leaves the previous checkpoint in place.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lss/env_extras/fault_injection_env.h"
#include "lss/file/file_names.h"
#include "lss/recovery/checkpoint.h"

namespace llama {
namespace {

CheckpointData Checkpoint(std::uint64_t sequence, std::uint32_t pages) {
  CheckpointData d;
  d.sequence = sequence;
  d.store_id = 77;
  d.scan_start = LssAddress::Make(4, 0x800);
  d.oldest_segment = 1;
  for (std::uint32_t i = 0; i < pages; ++i) {
    d.pages.push_back({.pid = i * 3 + static_cast<std::uint32_t>(sequence),
                       .chain = {{LssAddress::Make(4, 0x20 + 64 * i), 64}, {LssAddress::Make(1, 0x20 + 40 * i), 40}}});
  }
  d.application_state.assign(sequence * 10, static_cast<std::byte>(sequence));
  return d;
}

class CheckpointFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "checkpoint_fault_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // A fresh directory holding checkpoint `old_data`, durable.
  std::string FreshDirWith(FaultInjectionEnv& env, const CheckpointData& old_data) {
    const std::string dir = root_ + "/d" + std::to_string(next_dir_++);
    EXPECT_TRUE(env.CreateDir(dir).has_value());
    auto s = WriteCheckpoint(env, dir, old_data);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return dir;
  }

  // Loading succeeds and finds exactly `old_data` or `new_data`, with nothing damaged.
  // Returns true if it found the new one.
  bool ExpectOldOrNew(Env& env, const std::string& dir, const CheckpointData& old_data,
                      const CheckpointData& new_data) {
    auto loaded = LoadNewestCheckpoint(env, dir, 77);
    EXPECT_TRUE(loaded.has_value()) << loaded.error().ToString();
    if (!loaded.has_value()) return false;
    EXPECT_TRUE(loaded->damaged.empty()) << loaded->damaged.front();
    EXPECT_TRUE(loaded->checkpoint.has_value());
    if (!loaded->checkpoint.has_value()) return false;
    const bool is_new = *loaded->checkpoint == new_data;
    EXPECT_TRUE(is_new || *loaded->checkpoint == old_data)
        << "loaded sequence " << loaded->checkpoint->sequence << " is neither";
    return is_new;
  }

  // Cuts the power after 0, 1, 2, ... operations of WriteCheckpoint (create tmp, write, sync,
  // rename, sync dir; with a leftover tmp first also its deletion) until the write completes.
  void CrashAtEveryStep(bool leftover_tmp, bool torn) {
    const CheckpointData old_data = Checkpoint(1, 3);
    const CheckpointData new_data = Checkpoint(2, 50);
    bool completed = false;
    int saw_old = 0, saw_new = 0;
    for (std::uint64_t n = 0; n < 20 && !completed; ++n) {
      SCOPED_TRACE("crash after " + std::to_string(n) + " operations");
      FaultInjectionEnv env(NewPosixEnv());
      const std::string dir = FreshDirWith(env, old_data);
      if (leftover_tmp) {
        // A leftover of an earlier attempt at the same sequence, durable.
        auto f = env.OpenFile(dir + "/" + CheckpointFileName(2) + ".tmp", OpenMode::kCreateNew);
        ASSERT_TRUE(f.has_value());
        const std::vector<std::byte> junk(300, std::byte{0x33});
        ASSERT_TRUE((*f)->WriteAt(0, junk).has_value());
        ASSERT_TRUE((*f)->Sync().has_value());
        ASSERT_TRUE((*f)->Close().has_value());
        ASSERT_TRUE(env.SyncDir(dir).has_value());
      }

      env.SetCrashAfter(FaultOp::kAny, n);
      auto written = WriteCheckpoint(env, dir, new_data);
      completed = written.has_value();
      if (!completed) {
        EXPECT_EQ(written.error().code(), ErrorCode::kAborted);
      }
      if (torn) {
        ASSERT_TRUE(env.SimulateTornCrash(n * 7919 + 1).has_value());
      } else {
        ASSERT_TRUE(env.SimulatePowerCut().has_value());
      }
      env.ClearFaults();

      // A successful write survives any crash after it; before that, either may be found.
      const bool is_new = ExpectOldOrNew(env, dir, old_data, new_data);
      if (completed) {
        EXPECT_TRUE(is_new);
      }
      (is_new ? saw_new : saw_old)++;
      // Also as a fresh process would see it, through the real file layer.
      auto posix = NewPosixEnv();
      EXPECT_EQ(ExpectOldOrNew(*posix, dir, old_data, new_data), is_new);

      // The store goes on: pruning clears leftovers, and writing the checkpoint again works.
      ASSERT_TRUE(PruneCheckpoints(env, dir, 1).has_value());
      auto again = WriteCheckpoint(env, dir, new_data);
      ASSERT_TRUE(again.has_value()) << again.error().ToString();
      EXPECT_TRUE(ExpectOldOrNew(env, dir, old_data, new_data));
    }
    EXPECT_TRUE(completed) << "WriteCheckpoint never completed";
    EXPECT_GE(saw_old, 4);  // crashes before the directory sync keep the old one
    EXPECT_GE(saw_new, 1);
  }

  std::string root_;
  int next_dir_ = 0;
};

TEST_F(CheckpointFaultTest, PowerCutAtEveryStepLeavesOldOrNew) { CrashAtEveryStep(false, false); }

TEST_F(CheckpointFaultTest, PowerCutAtEveryStepWithALeftoverTmp) { CrashAtEveryStep(true, false); }

TEST_F(CheckpointFaultTest, TornCrashAtEveryStepLeavesOldOrNew) { CrashAtEveryStep(false, true); }

TEST_F(CheckpointFaultTest, RenamedButDirectoryNotSyncedRollsBackToOld) {
  // The crash points named by the protocol, checked explicitly: after the tmp write, after
  // its sync, and after the rename but before SyncDir, a power cut leaves the old one.
  const CheckpointData old_data = Checkpoint(1, 3);
  const CheckpointData new_data = Checkpoint(2, 5);
  for (FaultOp kind : {FaultOp::kWrite, FaultOp::kSync, FaultOp::kDirOp}) {
    // kWrite 1: after the write. kSync 1: after the file sync. kDirOp 2: create, rename.
    const std::uint64_t n = kind == FaultOp::kDirOp ? 2 : 1;
    SCOPED_TRACE(static_cast<int>(kind));
    FaultInjectionEnv env(NewPosixEnv());
    const std::string dir = FreshDirWith(env, old_data);
    env.SetCrashAfter(kind, n);
    auto written = WriteCheckpoint(env, dir, new_data);
    ASSERT_FALSE(written.has_value());
    EXPECT_EQ(written.error().code(), ErrorCode::kAborted);
    if (kind == FaultOp::kDirOp) {
      // The rename happened: the new file is in the directory until the power goes.
      EXPECT_TRUE(std::filesystem::exists(dir + "/" + CheckpointFileName(2)));
      EXPECT_FALSE(std::filesystem::exists(dir + "/" + CheckpointFileName(2) + ".tmp"));
    }
    ASSERT_TRUE(env.SimulatePowerCut().has_value());
    env.ClearFaults();
    EXPECT_FALSE(ExpectOldOrNew(env, dir, old_data, new_data));
  }
}

TEST_F(CheckpointFaultTest, FailedSyncIsReturnedAndKeepsTheOldCheckpoint) {
  const CheckpointData old_data = Checkpoint(1, 3);
  const CheckpointData new_data = Checkpoint(2, 5);
  for (ErrorCode code : {ErrorCode::kIOError, ErrorCode::kNoSpace}) {
    FaultInjectionEnv env(NewPosixEnv());
    const std::string dir = FreshDirWith(env, old_data);
    env.FailNextSyncs(code);
    auto written = WriteCheckpoint(env, dir, new_data);
    ASSERT_FALSE(written.has_value());
    EXPECT_EQ(written.error().code(), code);
    EXPECT_EQ(env.stats().injected_failures, 1u);
    // Nothing was renamed: the old checkpoint is still the newest, crash or not.
    EXPECT_FALSE(ExpectOldOrNew(env, dir, old_data, new_data));
    ASSERT_TRUE(env.SimulatePowerCut().has_value());
    EXPECT_FALSE(ExpectOldOrNew(env, dir, old_data, new_data));
    // A retry replaces the leftover tmp, if any survived.
    auto again = WriteCheckpoint(env, dir, new_data);
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    EXPECT_TRUE(ExpectOldOrNew(env, dir, old_data, new_data));
  }
}

TEST_F(CheckpointFaultTest, FailedWriteIsReturnedAndKeepsTheOldCheckpoint) {
  const CheckpointData old_data = Checkpoint(1, 3);
  const CheckpointData new_data = Checkpoint(2, 5);
  FaultInjectionEnv env(NewPosixEnv());
  const std::string dir = FreshDirWith(env, old_data);
  env.FailNextWrites(ErrorCode::kNoSpace);
  auto written = WriteCheckpoint(env, dir, new_data);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), ErrorCode::kNoSpace);
  EXPECT_FALSE(ExpectOldOrNew(env, dir, old_data, new_data));
  // The tmp leftover is ignored by loading and removed by pruning.
  ASSERT_TRUE(PruneCheckpoints(env, dir, 1).has_value());
  auto names = env.ListDir(dir);
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, std::vector<std::string>{CheckpointFileName(1)});
}

TEST_F(CheckpointFaultTest, FlippedBitInTheNewestFallsBack) {
  const CheckpointData old_data = Checkpoint(1, 3);
  const CheckpointData new_data = Checkpoint(2, 5);
  FaultInjectionEnv env(NewPosixEnv());
  const std::string dir = FreshDirWith(env, old_data);
  ASSERT_TRUE(WriteCheckpoint(env, dir, new_data).has_value());
  ASSERT_TRUE(env.FlipBit(dir + "/" + CheckpointFileName(2), 77, 3).has_value());
  auto loaded = LoadNewestCheckpoint(env, dir, 77);
  ASSERT_TRUE(loaded.has_value());
  ASSERT_TRUE(loaded->checkpoint.has_value());
  EXPECT_EQ(*loaded->checkpoint, old_data);
  EXPECT_EQ(loaded->damaged, std::vector<std::string>{CheckpointFileName(2) + ": checkpoint: checksum mismatch"});
}

}  // namespace
}  // namespace llama
