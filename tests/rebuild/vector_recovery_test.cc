// Recovery: power cuts (FaultInjectionEnv drops every unsynced byte) and kill -9 in the
// middle of writes, batches and publications. The reopened vector must equal the model
// after some prefix of the writes that includes every synced one: synced writes are never
// lost, batches are all or nothing, and nothing is replayed out of order.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lss/env_extras/fault_injection_env.h"
#include "tests/kill_child.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

class VectorPowerCutTest : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    std::string skip;
    base_env_ = testing_env::MakeEnvOrSkipReason(IoBackend::kPosix, &skip);
    if (base_env_ == nullptr) GTEST_SKIP() << skip;
    env_ = std::make_unique<FaultInjectionEnv>(base_env_.get());
  }
  TempDir dir_;
  std::unique_ptr<Env> base_env_;
  std::unique_ptr<FaultInjectionEnv> env_;
};

TEST_P(VectorPowerCutTest, ReopensAtAPrefixHoldingEverySyncedWrite) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::mt19937_64 rng(seed);
  const std::string dir = dir_.path() + "/db";
  std::vector<std::string> recovered;  // what the vector held at the start of the round
  const int rounds = 4;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto store = Store::Open(dir, VectorStoreOptions(env_.get()));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    auto vec = Vector::Open(**store, "v", SmallVector(GetParam()));
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    if (round > 0) {
      // The previous round's writes: a prefix that holds every synced one.
      const std::vector<std::string> got = Contents((*vec)->Snapshot());
      ASSERT_TRUE(SameSequence(got, recovered)) << "not the model after any allowed prefix";
    }
    // This round: states[k] is the model after the first k writes of the round.
    std::vector<std::vector<std::string>> states{Contents((*vec)->Snapshot())};
    std::size_t last_synced = 0;
    const int writes = Scaled(150) + static_cast<int>(rng() % 150);
    for (int i = 0; i < writes; ++i) {
      std::vector<VectorOp> ops;
      std::vector<std::string> next = states.back();
      const int n = rng() % 6 == 0 ? 2 + static_cast<int>(rng() % 4) : 1;
      for (int k = 0; k < n; ++k) {
        ops.push_back(RandomOp(rng, next.size(), std::to_string(round) + "." + std::to_string(i)));
        ASSERT_TRUE(ApplyToModel(next, {ops.back()}));
      }
      const bool sync = rng() % 8 == 0;
      auto ticket = Submit(**vec, ops, VectorWriteOptions{sync});
      ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
      states.push_back(std::move(next));
      if (sync) last_synced = states.size() - 1;
      if (rng() % 40 == 0) {
        ASSERT_TRUE((*vec)->Sync(*ticket).has_value());
        last_synced = states.size() - 1;
      }
    }
    // Crash: nothing more reaches the files, then unsynced bytes are dropped.
    env_->SetCrashAfter(FaultOp::kAny, 0);
    vec->reset();
    store->reset();
    ASSERT_TRUE(env_->SimulatePowerCut().has_value());
    env_->ClearFaults();
    // Which prefix came back? Open read-only-ish here and keep it for the next round.
    auto check_store = Store::Open(dir, VectorStoreOptions(env_.get()));
    ASSERT_TRUE(check_store.has_value()) << check_store.error().ToString();
    auto check = Vector::Open(**check_store, "v", SmallVector(GetParam()));
    ASSERT_TRUE(check.has_value()) << check.error().ToString();
    const std::vector<std::string> got = Contents((*check)->Snapshot());
    std::size_t match = states.size();
    for (std::size_t k = last_synced; k < states.size(); ++k) {
      if (states[k] == got) match = k;
    }
    ASSERT_LT(match, states.size()) << "the reopened vector (size " << got.size()
                                    << ") is no state between the last synced write (" << last_synced
                                    << ") and the last write (" << states.size() - 1 << ")";
    recovered = got;
    ASSERT_TRUE((*check)->Close().has_value());
    check->reset();
    ASSERT_TRUE((*check_store)->Close().has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, VectorPowerCutTest, ::testing::Values(Shape{3, 2}, Shape{32, 64}), ShapeName);

// kill -9 of a child process appending with syncs: every append it reported synced is
// there, in order, and nothing else but later appends.
void KillChild(const std::string& dir, int first, int out_fd) {
  auto store = Store::Open(dir, VectorStoreOptions());
  if (!store) ::_exit(3);
  VectorOptions o = SmallVector(Shape{4, 8});
  auto vec = Vector::Open(**store, "k", o);
  if (!vec) ::_exit(4);
  for (int i = first;; ++i) {
    const bool sync = i % 5 == 0;
    auto t = (*vec)->Append("v" + std::to_string(i), VectorWriteOptions{sync});
    if (!t) ::_exit(5);
    if (sync && ::write(out_fd, &i, sizeof i) != sizeof i) ::_exit(6);
  }
}

TEST(VectorKillTest, KillNineKeepsEverySyncedAppend) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  int next = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Kill once the child reported a random number of synced appends (its progress picks
    // the kill point, not the clock), then drain the pipe. The child never stops by itself.
    const int kill_after = 1 + static_cast<int>(rng() % 100);
    int synced = -1, reports = 0;
    std::string partial;  // a report cut between two reads
    const int status =
        testing_kill::RunChildUntilKilled([&](int fd) { KillChild(dir, next, fd); },
                                          [&](std::span<const char> chunk) {
                                            partial.append(chunk.begin(), chunk.end());
                                            int v = 0;
                                            for (; partial.size() >= sizeof v; partial.erase(0, sizeof v), ++reports) {
                                              std::memcpy(&v, partial.data(), sizeof v);
                                              synced = std::max(synced, v);
                                            }
                                            return reports >= kill_after;
                                          });
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status << " before the kill";
    ASSERT_GE(synced, next) << "the child reported a synced append of this round";
    // Check in this process (all its threads are joined before the next fork).
    auto store = Store::Open(dir, VectorStoreOptions());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    auto vec = Vector::Open(**store, "k", SmallVector(Shape{4, 8}));
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    const std::vector<std::string> got = Contents((*vec)->Snapshot());
    ASSERT_GT(static_cast<int>(got.size()), synced) << "a synced append was lost";
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], "v" + std::to_string(i)) << "at " << i;
    next = static_cast<int>(got.size());
    ASSERT_TRUE((*vec)->Close().has_value());
    vec->reset();
    ASSERT_TRUE((*store)->Close().has_value());
  }
}

}  // namespace
}  // namespace llama::vector_test
