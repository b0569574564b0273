// Model tests: a vector against a std::vector over seeded random operation sequences (all
// five kinds, batches, and operations aimed past the end), at several tree shapes.
#include <algorithm>
#include <map>
#include <thread>

#include "rebuild/rrb_builder.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

class VectorModelTest : public ::testing::TestWithParam<Shape> {
 protected:
  TempDir dir_;
};

// Every snapshot equals the model after exactly the writes below its watermark.
TEST_P(VectorModelTest, SingleWriterMatchesStdVectorAfterEveryPublication) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::mt19937_64 rng(seed);
  auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "model", SmallVector(GetParam()));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();

  std::vector<std::pair<std::uint64_t, std::vector<VectorOp>>> log;  // timestamp, ops
  std::vector<std::string> model;  // after every submitted write (single writer: in order)
  std::vector<bool> accepted;
  const int writes = Scaled(1500);
  constexpr int kFixedPoints = 8;
  std::uint64_t last_checked_generation = 0;
  int checks = 0;
  auto check = [&](const VectorSnapshot& snap) {
    // Replay the writes below the snapshot's watermark onto a fresh model.
    std::vector<std::string> expect;
    for (const auto& [ts, ops] : log) {
      if (ts >= snap.watermark()) break;
      ApplyToModel(expect, ops);
    }
    ASSERT_EQ(snap.size(), expect.size()) << "generation " << snap.generation();
    EXPECT_TRUE(SameSequence(Contents(snap), expect)) << "generation " << snap.generation();
    ++checks;
  };
  for (int i = 0; i < writes; ++i) {
    std::vector<VectorOp> ops;
    const int n = rng() % 8 == 0 ? 1 + static_cast<int>(rng() % 5) : 1;
    std::vector<std::string> scratch = model;
    for (int k = 0; k < n; ++k) {
      ops.push_back(RandomOp(rng, scratch.size(), std::to_string(i), /*invalid_percent=*/3));
      ApplyToModel(scratch, {ops.back()});
    }
    auto ticket = Submit(**vec, ops);
    ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
    log.emplace_back(ticket->timestamp, ops);
    accepted.push_back(ApplyToModel(model, ops));
    // Some writes are waited for: at random, and at eight fixed points whose snapshots are
    // always checked (a new generation each: it holds a write the previous one lacked), so
    // the number of checks does not depend on how often the rebuilder got to run.
    const bool fixed_point = (i + 1) % std::max(1, writes / kFixedPoints) == 0;
    if (const bool at_random = rng() % 50 == 0; fixed_point || at_random) {
      auto visible = (*vec)->WaitVisible(*ticket);
      if (accepted.back()) {
        EXPECT_TRUE(visible.has_value()) << visible.error().ToString();
      } else {
        ASSERT_FALSE(visible.has_value()) << "write " << i << " should have been rejected";
        EXPECT_EQ(visible.error().code(), ErrorCode::kInvalidArgument);
      }
    }
    if (const bool at_random = rng() % 10 == 0; fixed_point || at_random) {
      VectorSnapshot snap = (*vec)->Snapshot();
      if (snap.generation() != last_checked_generation) {
        last_checked_generation = snap.generation();
        check(snap);
      }
    }
  }
  ASSERT_TRUE((*vec)->WaitVisible(VectorTicket{log.back().first, 0}).has_value() || !accepted.back());
  VectorSnapshot last = (*vec)->Snapshot();
  EXPECT_TRUE(SameSequence(Contents(last), model));
  check(last);
  EXPECT_GT(checks, kFixedPoints) << "every fixed point and the end were checked";
  const VectorMetrics m = (*vec)->metrics();
  EXPECT_EQ(m.rejected_entries, static_cast<std::uint64_t>(std::count(accepted.begin(), accepted.end(), false)));
  EXPECT_GT(m.rebuild_count, 1u);
  last.release();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();

  // A clean reopen gives the same sequence.
  auto again = Vector::Open(**store, "model", SmallVector(GetParam()));
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_TRUE(SameSequence(Contents((*again)->Snapshot()), model));
  ASSERT_TRUE((*again)->Close().has_value());
  again->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

// Several writer threads: the final vector equals the serial replay of the recorded order
// (timestamps), with the same writes rejected.
TEST_P(VectorModelTest, ConcurrentWritersMatchTheSerialReplayOfTheirOrder) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "model", SmallVector(GetParam()));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  constexpr int kThreads = 4;
  const int per_thread = Scaled(400);
  std::vector<std::vector<std::pair<std::uint64_t, std::vector<VectorOp>>>> logs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      for (int i = 0; i < per_thread; ++i) {
        // Indices aim at the size the writer last saw: others' writes may make them invalid.
        const std::uint64_t seen = (*vec)->Snapshot().size();
        std::vector<VectorOp> ops;
        const int n = rng() % 6 == 0 ? 2 + static_cast<int>(rng() % 3) : 1;
        for (int k = 0; k < n; ++k) ops.push_back(RandomOp(rng, seen, std::to_string(t) + "." + std::to_string(i), 2));
        auto ticket = Submit(**vec, ops);
        ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
        logs[t].emplace_back(ticket->timestamp, std::move(ops));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::uint64_t, const std::vector<VectorOp>*> order;
  for (const auto& log : logs) {
    for (const auto& [ts, ops] : log) EXPECT_TRUE(order.emplace(ts, &ops).second) << "timestamps are unique";
  }
  std::vector<std::string> model;
  std::uint64_t rejected = 0;
  for (const auto& [ts, ops] : order) rejected += ApplyToModel(model, *ops) ? 0 : 1;
  auto visible = (*vec)->WaitVisible(VectorTicket{order.rbegin()->first, 0});
  ASSERT_TRUE(visible.has_value() || visible.error().code() == ErrorCode::kInvalidArgument)
      << visible.error().ToString();
  EXPECT_TRUE(SameSequence(Contents((*vec)->Snapshot()), model));
  EXPECT_EQ((*vec)->metrics().rejected_entries, rejected);
  EXPECT_EQ((*vec)->metrics().total_batch_entries, order.size()) << "every write was replayed once";
  {
    VectorSnapshot snap = (*vec)->Snapshot();
    EXPECT_EQ(snap.size(), model.size()) << "snapshot size";
    RrbBuilder builder(**store, (*vec)->config(), {});
    for (const auto& [ts, ops] : order) (void)builder.Apply(VectorEntry{ts, 0, 0, *ops});
    EXPECT_EQ(builder.size(), model.size()) << "one-batch replay size";
  }
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

INSTANTIATE_TEST_SUITE_P(Shapes, VectorModelTest, kShapes, ShapeName);

}  // namespace
}  // namespace llama::vector_test
