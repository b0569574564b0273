// Vector behaviour that is neither model nor crash: the adaptive batch window, and the
// clear errors of writes that cannot be taken.
#include <algorithm>
#include <thread>

#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

TEST(VectorTest, BatchWindowDoublesUnderPressureAndHalvesWhenItFalls) {
  TempDir tmp;
  auto store = Store::Open(tmp.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value());
  VectorOptions o = SmallVector(Shape{32, 64});
  o.initial_batch_window = 64;
  o.min_batch_window = 16;
  o.max_batch_window = 1024;
  o.max_delay_us = 200000;  // rebuilds come from the window (or WaitVisible), not the clock
  auto vec = Vector::Open(**store, "w", o);
  ASSERT_TRUE(vec.has_value());
  EXPECT_EQ((*vec)->metrics().batch_window, 64u);
  // Pressure, scripted: writes pile up while the rebuilder is held, as behind a slow
  // rebuild; released, it takes them all in one batch, larger than the window, which
  // doubles, up to the maximum. (1500 writes stay below the flow control's buffer limit.)
  std::uint64_t want_window = 64;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    (*vec)->HoldRebuilderForTesting(true);
    Result<VectorTicket> last = VectorTicket{};
    for (int i = 0; i < 1500; ++i) {
      last = (*vec)->Append("p");
      ASSERT_TRUE(last.has_value());
    }
    (*vec)->HoldRebuilderForTesting(false);
    ASSERT_TRUE((*vec)->WaitVisible(*last).has_value());
    const VectorMetrics m = (*vec)->metrics();
    want_window = std::min<std::uint64_t>(want_window * 2, 1024);
    EXPECT_EQ(m.rebuild_count, static_cast<std::uint64_t>(round + 1));
    EXPECT_EQ(m.last_batch_size, 1500u);
    EXPECT_EQ(m.batch_window, want_window) << "a batch larger than the window doubles it, never past the maximum";
  }
  EXPECT_EQ(want_window, 1024u) << "the rounds reached the maximum";
  // No pressure: single writes each made visible at once give batches of one.
  for (int i = 0; i < 12; ++i) {
    auto t = (*vec)->Append("q");
    ASSERT_TRUE(t.has_value());
    ASSERT_TRUE((*vec)->WaitVisible(*t).has_value());
  }
  EXPECT_EQ((*vec)->metrics().batch_window, 16u) << "small batches halved it down to the minimum";
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

TEST(VectorTest, AThreadKeepsWriterRecordsOnlyForLiveVectors) {
  TempDir tmp;
  auto store = Store::Open(tmp.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value());
  // A writer thread that outlives many vectors (a pool thread, say) must not keep a record
  // for each of them.
  std::thread([&] {
    std::unique_ptr<Vector> kept;
    for (int i = 0; i < 40; ++i) {
      auto vec = Vector::Open(**store, "v" + std::to_string(i), SmallVector(Shape{32, 64}));
      ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
      ASSERT_TRUE((*vec)->Append("x").has_value());
      ASSERT_TRUE((*vec)->Close().has_value());
      if (i == 0) {
        kept = std::move(*vec);  // closed, not destroyed: its record stays
      }
    }
    EXPECT_EQ(Vector::ThreadWriterRecords(), 2u) << "the kept vector's and the newest one's";
    kept.reset();
    auto vec = Vector::Open(**store, "last", SmallVector(Shape{32, 64}));
    ASSERT_TRUE(vec.has_value());
    ASSERT_TRUE((*vec)->Append("y").has_value());
    EXPECT_EQ(Vector::ThreadWriterRecords(), 1u);
    ASSERT_TRUE((*vec)->Close().has_value());
  }).join();
  ASSERT_TRUE((*store)->Close().has_value());
}

TEST(VectorTest, WritesThatCannotBeTakenGetClearErrors) {
  TempDir tmp;
  auto store = Store::Open(tmp.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value());
  auto vec = Vector::Open(**store, "e", SmallVector(Shape{32, 64}));
  ASSERT_TRUE(vec.has_value());
  auto big = (*vec)->Append(std::string((*vec)->max_value_size() + 1, 'x'));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE((*vec)->Append(std::string((*vec)->max_value_size(), 'x')).has_value()) << "the largest value fits";
  auto empty = (*vec)->Write(VectorWriteBatch{});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Vector::Open(**store, "bad",
                            [] {
                              VectorOptions o;
                              o.writer_slots = 0;
                              return o;
                            }())
                   .has_value());
  ASSERT_TRUE((*vec)->Close().has_value());
  auto after = (*vec)->Append("late");
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code(), ErrorCode::kAborted) << "a closed vector refuses writes";
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

}  // namespace
}  // namespace llama::vector_test
