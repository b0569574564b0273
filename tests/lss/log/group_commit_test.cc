// Group commit in the log writer: what a synced append costs in fdatasyncs, followers
// sharing a leader's sync, and rounds that overlap in the disk being published in order.
// The interleavings are scripted through LogWriter::Options::test_hook: a test holds a
// leader inside its sync and releases it once the other threads are queued, so every
// count asserted here is exact on any machine.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lss/log/log_writer.h"
#include "tests/lss/file/env_test_util.h"

namespace llama {
namespace {

using testing_env::TempDir;

constexpr std::uint32_t kSegmentSize = 1u << 20;

// Counts the hook's steps and holds the first `held` "sync leading" callers until released.
class Script {
 public:
  explicit Script(int held) : held_(held) {}

  void OnStep(std::string_view step) {
    std::unique_lock lock(mu_);
    if (step == "sync leading") {
      const int n = ++leading_;
      cv_.notify_all();
      if (n <= held_) cv_.wait(lock, [&] { return released_ >= n; });
    } else if (step == "sync queued") {
      ++queued_;
      cv_.notify_all();
    } else if (step == "sync done") {
      ++done_;
      cv_.notify_all();
    }
  }
  // Releases the n-th held leader (1-based).
  void Release(int n) {
    std::lock_guard lock(mu_);
    released_ = std::max(released_, n);
    cv_.notify_all();
  }
  void WaitLeading(int n) { WaitFor(leading_, n); }
  void WaitQueued(int n) { WaitFor(queued_, n); }
  void WaitDone(int n) { WaitFor(done_, n); }

 private:
  void WaitFor(const int& counter, int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return counter >= n; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const int held_;
  int leading_ = 0, queued_ = 0, done_ = 0, released_ = 0;
};

struct Log {
  TempDir dir;
  std::unique_ptr<Env> env = NewPosixEnv();
  SegmentSet segments{*env, dir.path(), /*store_id=*/7, kSegmentSize};
  std::unique_ptr<LogWriter> writer;

  explicit Log(std::uint32_t max_syncs_in_flight, Script* script = nullptr) {
    LogWriter::Options o;
    o.max_syncs_in_flight = max_syncs_in_flight;
    if (script) o.test_hook = [script](std::string_view step) { script->OnStep(step); };
    auto w = LogWriter::Open(segments, 1, LssAddress(), o);
    EXPECT_TRUE(w.has_value());
    writer = std::move(*w);
  }

  LssAddress Append(int i) {
    const std::string body = "record " + std::to_string(i);
    auto out = writer->Append(log_format::RecordKind::kFreePage, std::as_bytes(std::span(body)));
    EXPECT_TRUE(out.has_value());
    return out ? out->end : LssAddress();
  }
};

TEST(GroupCommitTest, OneWriterPaysOneFdatasyncPerSyncedAppend) {
  Log log(4);
  constexpr int kAppends = 100;
  for (int i = 0; i < kAppends; ++i) ASSERT_TRUE(log.writer->Sync(log.Append(i)));
  const LogWriter::Stats s = log.writer->stats();
  EXPECT_EQ(s.sync_requests, static_cast<std::uint64_t>(kAppends));
  EXPECT_EQ(s.syncs, static_cast<std::uint64_t>(kAppends));
  // One fdatasync of the segment per append, and one sync of the directory after the
  // first write created the segment file.
  EXPECT_EQ(s.fdatasyncs, static_cast<std::uint64_t>(kAppends) + 1);
  // Every buffer was written by the caller waiting for it: no hand-off to the I/O thread.
  EXPECT_EQ(s.write_calls, static_cast<std::uint64_t>(kAppends));
  EXPECT_EQ(s.caller_writes, static_cast<std::uint64_t>(kAppends));
  EXPECT_EQ(s.waits, 0u);
}

TEST(GroupCommitTest, FollowersQueuedDuringASyncShareTheNextOne) {
  constexpr int kFollowers = 7;
  Script script(/*held=*/1);
  Log log(/*max_syncs_in_flight=*/1, &script);
  std::thread leader([&] { EXPECT_TRUE(log.writer->Sync(log.Append(0))); });
  script.WaitLeading(1);  // the leader is inside its fdatasync, holding the only slot
  std::vector<std::thread> followers;
  std::vector<LssAddress> ends(kFollowers);
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&, i] {
      ends[static_cast<std::size_t>(i)] = log.Append(i + 1);
      EXPECT_TRUE(log.writer->Sync(ends[static_cast<std::size_t>(i)]));
    });
  }
  script.WaitQueued(kFollowers);  // each wrote its record and waits for a group commit
  script.Release(1);
  leader.join();
  for (auto& t : followers) t.join();
  const LogWriter::Stats s = log.writer->stats();
  // The leader's round, then one round for all seven followers.
  EXPECT_EQ(s.syncs, 2u);
  EXPECT_EQ(s.fdatasyncs, 3u);  // two of the segment, one of the directory
  EXPECT_EQ(s.sync_requests, static_cast<std::uint64_t>(kFollowers) + 1);
  for (LssAddress end : ends) EXPECT_GE(log.writer->durable_position(), end);
}

TEST(GroupCommitTest, ARoundFinishingFirstWaitsForTheEarlierOne) {
  Script script(/*held=*/1);
  Log log(/*max_syncs_in_flight=*/2, &script);
  const LssAddress start = log.writer->durable_position();
  std::thread first([&] { EXPECT_TRUE(log.writer->Sync(log.Append(0))); });
  script.WaitLeading(1);  // round 1 is in the disk and stays there
  LssAddress second_end;
  std::thread second([&] {
    second_end = log.Append(1);
    EXPECT_TRUE(log.writer->Sync(second_end));
  });
  // Round 2 begins in the free slot and finishes its fdatasync; its caller then waits:
  // round 1 covers earlier records and has not finished, so nothing may be published.
  script.WaitDone(1);
  script.WaitQueued(1);
  EXPECT_EQ(log.writer->durable_position(), start);
  script.Release(1);
  first.join();
  second.join();
  EXPECT_GE(log.writer->durable_position(), second_end);
  EXPECT_EQ(log.writer->stats().syncs, 2u);
}

TEST(GroupCommitTest, RefusesZeroSyncsInFlight) {
  TempDir dir;
  std::unique_ptr<Env> env = NewPosixEnv();
  SegmentSet segments(*env, dir.path(), 7, kSegmentSize);
  LogWriter::Options o;
  o.max_syncs_in_flight = 0;
  auto w = LogWriter::Open(segments, 1, LssAddress(), o);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace llama
