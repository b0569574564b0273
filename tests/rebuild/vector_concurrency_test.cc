// Concurrency (run under ThreadSanitizer too): writers, readers holding snapshots, the
// rebuilder, the store's evictor and cleaner all at once. Every snapshot is internally
// consistent and never changes while held; memory held by retired snapshots stays bounded
// as readers come and go.
#include <atomic>
#include <iostream>
#include <thread>

#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

// Writers append "<thread>:<n>" for n = 0, 1, 2, ... A consistent snapshot holds, for
// each thread, exactly its first k values in order (appends only: nothing else can move).
void CheckConsistent(const VectorSnapshot& snap, int threads) {
  std::vector<int> next(threads, 0);
  auto s = snap.for_each(0, snap.size(), [&](std::uint64_t i, std::string_view v) {
    const auto colon = v.find(':');
    const int t = std::stoi(std::string(v.substr(0, colon)));
    const int n = std::stoi(std::string(v.substr(colon + 1)));
    EXPECT_EQ(n, next[t]) << "element " << i << " of generation " << snap.generation();
    next[t] = n + 1;
    return true;
  });
  EXPECT_TRUE(s.has_value()) << s.error().ToString();
}

TEST(VectorConcurrencyTest, WritersReadersRebuilderEvictionAndCleaning) {
  TempDir tmp;
  StoreOptions so = VectorStoreOptions();
  so.segment_size = 256 << 10;
  so.memory_budget = 64 << 10;  // tiny: tree pages are evicted and read back all the time
  so.cleaner_space_factor = 1.5;
  so.maintenance_interval_ms = 2;
  auto store = Store::Open(tmp.path() + "/db", so);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  VectorOptions vo = SmallVector(Shape{4, 8});
  auto vec = Vector::Open(**store, "c", vo);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  constexpr int kWriters = 3;
  const int per_writer = Scaled(1500);
  std::atomic<bool> done{false};
  // Readers that finished their first read. The writers wait for both halfway, so the
  // readers read while writes go on (and hold a snapshot across them) whatever the
  // scheduler does; how many reads they get to do is up to it.
  std::atomic<int> readers_started{0};
  constexpr int kReaders = 2;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < per_writer; ++n) {
        if (n == per_writer / 2) {
          while (readers_started.load() < kReaders && !::testing::Test::HasFailure()) std::this_thread::yield();
        }
        auto ticket = (*vec)->Append(std::to_string(t) + ":" + std::to_string(n), VectorWriteOptions{n % 97 == 0});
        ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
      }
    });
  }
  // Readers: one keeps a snapshot for the whole run and rereads it; others come and go.
  std::atomic<int> reads{0};
  threads.emplace_back([&] {
    VectorSnapshot held = (*vec)->Snapshot();
    while (held.size() == 0 && !done) held = (*vec)->Snapshot();
    const std::vector<std::string> first = Contents(held);
    EXPECT_FALSE(first.empty()) << "the held snapshot was taken before anything was published";
    for (bool started = false; !started || !done; started = true) {
      EXPECT_EQ(Contents(held), first) << "a held snapshot changed";
      reads++;
      if (!started) readers_started++;
    }
  });
  threads.emplace_back([&] {
    for (bool started = false; !started || !done; started = true) {
      VectorSnapshot s = (*vec)->Snapshot();
      CheckConsistent(s, kWriters);
      if (s.size() > 0) {
        auto v = s.at(s.size() / 2);
        EXPECT_TRUE(v.has_value()) << v.error().ToString();
      }
      reads++;
      if (!started) readers_started++;
    }
  });
  for (int t = 0; t < kWriters; ++t) threads[t].join();
  done = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  std::cout << reads.load() << " reads alongside the writers\n";
  EXPECT_EQ(readers_started.load(), kReaders);

  // Everything becomes visible; with every reader gone, the next publications free what
  // only retired snapshots could reach.
  auto last = (*vec)->Append("end:0");
  ASSERT_TRUE(last.has_value());
  ASSERT_TRUE((*vec)->WaitVisible(*last).has_value());
  for (int i = 0; i < 2; ++i) {
    auto t = (*vec)->Append("end:" + std::to_string(i + 1));
    ASSERT_TRUE(t.has_value());
    ASSERT_TRUE((*vec)->WaitVisible(*t).has_value());
  }
  VectorSnapshot final_snap = (*vec)->Snapshot();
  EXPECT_EQ(final_snap.size(), static_cast<std::uint64_t>(kWriters * per_writer + 3));
  const VectorMetrics m = (*vec)->metrics();
  EXPECT_GT(m.pages_reclaimed, 0u);
  EXPECT_EQ(m.retired_snapshots_waiting, 0u) << "no reader holds an old snapshot";
  EXPECT_LT(m.pages_pending_free, 64u) << "only the last publication's dropped pages wait";
  EXPECT_GT((*store)->stats().evictions, 0u) << "the budget evicted tree pages";
  final_snap.release();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

// A reader that never releases its snapshot holds back only the pages it can see: pages
// created and dropped after it are reclaimed.
TEST(VectorConcurrencyTest, AHeldSnapshotHoldsBackOnlyWhatItSees) {
  TempDir tmp;
  auto store = Store::Open(tmp.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value());
  auto vec = Vector::Open(**store, "h", SmallVector(Shape{4, 8}));
  ASSERT_TRUE(vec.has_value());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*vec)->Append(std::to_string(i)).has_value());
  auto t = (*vec)->Append("x");
  ASSERT_TRUE((*vec)->WaitVisible(*t).has_value());
  VectorSnapshot old = (*vec)->Snapshot();
  const std::vector<std::string> seen = Contents(old);
  std::uint64_t pending_after_first = 0;
  for (int round = 0; round < 30; ++round) {
    auto u = (*vec)->Update(static_cast<std::uint64_t>(round % 100), "u" + std::to_string(round));
    ASSERT_TRUE(u.has_value());
    ASSERT_TRUE((*vec)->WaitVisible(*u).has_value());
    if (round == 0) pending_after_first = (*vec)->metrics().pages_pending_free;
  }
  const VectorMetrics m = (*vec)->metrics();
  EXPECT_GT(m.pages_reclaimed, 0u) << "pages only newer snapshots saw were freed";
  EXPECT_LE(m.pages_pending_free, pending_after_first + 8) << "pending pages did not pile up";
  EXPECT_EQ(m.retired_snapshots_waiting, 1u);
  EXPECT_EQ(Contents(old), seen) << "the held snapshot still reads the same";
  old.release();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

}  // namespace
}  // namespace llama::vector_test
