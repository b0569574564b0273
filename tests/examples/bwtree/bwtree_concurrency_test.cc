// The Bw-tree under concurrency (run under ThreadSanitizer too): inserts and deletes from
// several threads race splits, consolidations and merges of the same nodes, while
// scanners check that every key present for the whole scan is returned exactly once,
// and the store's evictor and cleaner swap pages out and move them underneath.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/examples/bwtree/bwtree_test_util.h"

namespace llama::bwtree::test {
namespace {

// Keys 2i are the stable ones (inserted first, never touched again); keys 2i+1 come and
// go. KeyOf scatters both over the key space, so every node holds some of each.
std::string Stable(std::uint64_t i) { return KeyOf(2 * i); }
std::string Volatile(std::uint64_t i) { return KeyOf(2 * i + 1); }
std::string StableValue(std::uint64_t i) { return "stable-" + std::to_string(i); }

// A store with a small memory budget and the cleaner on, so pages are evicted, read back
// and relocated while the tree works on them.
StoreOptions BusyStoreOptions() {
  StoreOptions o = SmallStoreOptions();
  // About half of what the tests' trees hold, whatever the scale.
  o.memory_budget = std::max<std::uint64_t>(256u << 10, static_cast<std::uint64_t>((2u << 20) * store_test::TestScale()));
  o.cleaner_space_factor = 2.0;
  o.maintenance_interval_ms = 5;
  return o;
}

// Joins the threads; none may have reported an error, and the scanners must have
// scanned and checked rows.
void JoinScanningThreads(std::vector<std::thread>& threads, const std::vector<std::string>& errors,
                         const std::atomic<std::uint64_t>& scans, const std::atomic<std::uint64_t>& rows_checked) {
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "thread " << i;
  EXPECT_GT(scans.load(), 0u);
  EXPECT_GT(rows_checked.load(), 0u);
}

class BwTreeConcurrencyTest : public ::testing::Test, public TreeFixture {
 protected:
  void SetUp() override { OpenTree(BusyStoreOptions(), SmallNodeOptions(256, 2)); }
  void TearDown() override {
    tree_.reset();
    if (store_) {
      EXPECT_EQ(store_->stats().maintenance_error, "");
    }
  }
};

TEST_F(BwTreeConcurrencyTest, ScansDuringSplitsAndMergesSeeEveryStableKeyOnce) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::uint64_t stable = static_cast<std::uint64_t>(Scaled(1500));
  std::map<std::string, std::string> stable_keys;
  for (std::uint64_t i = 0; i < stable; ++i) {
    ASSERT_TRUE(tree_->Put(Stable(i), StableValue(i)).has_value());
    stable_keys[Stable(i)] = StableValue(i);
  }
  constexpr int kWriters = 3, kScanners = 2;
  const int writer_ops = Scaled(12000);
  std::atomic<int> writers_done{0};
  std::atomic<std::uint64_t> scans{0}, rows_checked{0};
  std::vector<std::string> errors(kWriters + kScanners);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      // Waves of inserts then deletes over this thread's volatile keys: nodes grow and
      // split, then shrink and merge, over and over.
      for (int i = 0; i < writer_ops && errors[t].empty(); ++i) {
        const std::uint64_t id = (rng() % stable) * kWriters + static_cast<std::uint64_t>(t);
        const bool growing = (i / 2000) % 2 == 0;
        if (rng() % 100 < (growing ? 80 : 20)) {
          if (auto s = tree_->Put(Volatile(id), "v"); !s) errors[t] = s.error().ToString();
        } else {
          if (auto s = tree_->Erase(Volatile(id)); !s) errors[t] = s.error().ToString();
        }
        if (i % 16 == 0) {
          const std::uint64_t probe = rng() % stable;
          auto got = tree_->Get(Stable(probe));
          if (!got) {
            errors[t] = got.error().ToString();
          } else if (!*got || **got != StableValue(probe)) {
            errors[t] = "a stable key went missing in a Get";
          }
        }
      }
      writers_done.fetch_add(1);
    });
  }
  for (int s = 0; s < kScanners; ++s) {
    threads.emplace_back([&, s] {
      std::string& error = errors[kWriters + s];
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(s));
      while (writers_done.load() < kWriters && error.empty()) {
        const std::string start = KeyOf(rng() % (4 * stable));
        const std::size_t limit = 1 + rng() % 200;
        auto rows = tree_->Scan(start, limit);
        if (!rows) {
          error = rows.error().ToString();
          break;
        }
        // Strictly increasing from `start`: no key twice.
        for (std::size_t i = 0; i < rows->size(); ++i) {
          const std::string& k = (*rows)[i].first;
          if (k < start || (i > 0 && !((*rows)[i - 1].first < k))) error = "scan rows out of order or repeated";
        }
        if (!error.empty() || rows->empty()) continue;
        // Every stable key between `start` and the last row is among the rows.
        std::set<std::string> got;
        for (const auto& [k, v] : *rows) got.insert(k);
        for (auto it = stable_keys.lower_bound(start); it != stable_keys.end() && it->first <= rows->back().first; ++it) {
          auto row = got.find(it->first);
          if (row == got.end()) {
            error = "a scan missed a key present throughout it";
            break;
          }
          rows_checked.fetch_add(1, std::memory_order_relaxed);
        }
        scans.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  JoinScanningThreads(threads, errors, scans, rows_checked);
  const BwTreeStats stats = tree_->stats();
  EXPECT_GT(stats.splits, 0u);
  EXPECT_GT(stats.merges, 0u);
  auto shape = tree_->Check();
  ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
  for (const auto& [k, v] : stable_keys) {
    auto got = tree_->Get(k);
    ASSERT_TRUE(got.has_value() && got->has_value() && **got == v);
  }  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

// The tree grows and shrinks in cycles: writers fill it with their keys, then erase them
// all, so merges shrink every level and the root collapses, again and again, while
// scanners check that each of a few stable keys is returned exactly once, a reader Gets
// them, and a churner keeps inserting and erasing keys of its own.
TEST_F(BwTreeConcurrencyTest, RootCollapsesUnderReadersScansAndInserts) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  // Nodes under 40% full merge: with 256-byte nodes, a leaf holding one stable key is
  // small enough, so the tree can shrink to the few leaves the stable keys need.
  BwTreeOptions options = SmallNodeOptions(256, 2);
  options.merge_fraction = 0.4;
  ASSERT_NO_FATAL_FAILURE(OpenTree(BusyStoreOptions(), options));
  constexpr std::uint64_t kStable = 8;
  std::map<std::string, std::string> stable_keys;
  for (std::uint64_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(tree_->Put(Stable(i), StableValue(i)).has_value());
    stable_keys[Stable(i)] = StableValue(i);
  }
  constexpr int kWriters = 2, kScanners = 2;
  const int cycles = std::max(3, Scaled(4));
  const std::uint64_t keys_per_writer = static_cast<std::uint64_t>(std::max(150, Scaled(700)));
  std::atomic<int> writers_done{0};
  std::atomic<std::uint64_t> scans{0}, rows_checked{0}, collapses_seen{0};
  // Writers, the churner, the reader, the scanners.
  std::vector<std::string> errors(kWriters + 2 + kScanners);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      std::vector<std::uint64_t> ids(keys_per_writer);
      for (std::uint64_t i = 0; i < keys_per_writer; ++i) ids[i] = kStable + i * kWriters + static_cast<std::uint64_t>(t);
      for (int c = 0; c < cycles && errors[t].empty(); ++c) {
        std::shuffle(ids.begin(), ids.end(), rng);
        for (std::uint64_t id : ids) {
          if (auto s = tree_->Put(Volatile(id), "v"); !s) errors[t] = s.error().ToString();
        }
        std::shuffle(ids.begin(), ids.end(), rng);
        for (std::uint64_t id : ids) {
          auto erased = tree_->Erase(Volatile(id));
          if (!erased) {
            errors[t] = erased.error().ToString();
          } else if (!*erased) {
            errors[t] = "a key this thread put was not there to erase";
          }
        }
      }
      // The readers, scanners and churner run until the last writer is done: collapses
      // so far raced them.
      const std::uint64_t collapses = tree_->stats().root_collapses;
      std::uint64_t seen = collapses_seen.load();
      while (seen < collapses && !collapses_seen.compare_exchange_weak(seen, collapses)) {
      }
      writers_done.fetch_add(1);
    });
  }
  // The churner: inserts and erases keys of its own all along (ending with none).
  threads.emplace_back([&] {
    std::string& error = errors[kWriters];
    std::mt19937_64 rng(seed * 7);
    const std::uint64_t base = kStable + kWriters * keys_per_writer;
    std::set<std::uint64_t> mine;
    while (writers_done.load() < kWriters && error.empty()) {
      const std::uint64_t id = base + rng() % 16;
      if (mine.count(id)) {
        auto erased = tree_->Erase(Volatile(id));
        if (!erased || !*erased) error = erased ? "the churner's key was gone" : erased.error().ToString();
        mine.erase(id);
      } else {
        if (auto s = tree_->Put(Volatile(id), "churn"); !s) error = s.error().ToString();
        mine.insert(id);
      }
    }
    for (std::uint64_t id : mine) {
      if (auto erased = tree_->Erase(Volatile(id)); !erased || !*erased) error = "the churner could not erase its key";
    }
  });
  // The reader.
  threads.emplace_back([&] {
    std::string& error = errors[kWriters + 1];
    std::mt19937_64 rng(seed * 11);
    while (writers_done.load() < kWriters && error.empty()) {
      const std::uint64_t i = rng() % kStable;
      auto got = tree_->Get(Stable(i));
      if (!got) {
        error = got.error().ToString();
      } else if (!*got || **got != StableValue(i)) {
        error = "a stable key went missing in a Get";
      }
    }
  });
  for (int s = 0; s < kScanners; ++s) {
    threads.emplace_back([&, s] {
      std::string& error = errors[kWriters + 2 + static_cast<std::size_t>(s)];
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(s));
      while (writers_done.load() < kWriters && error.empty()) {
        // From the start or from a stable key, through all of them (the volatile keys in
        // between come and go).
        const std::string start = rng() % 2 == 0 ? std::string() : Stable(rng() % kStable);
        auto rows = tree_->Scan(start, 1u << 20);
        if (!rows) {
          error = rows.error().ToString();
          break;
        }
        std::size_t stable_rows = 0;
        for (std::size_t i = 0; i < rows->size(); ++i) {
          const std::string& k = (*rows)[i].first;
          if (k < start || (i > 0 && !((*rows)[i - 1].first < k))) error = "scan rows out of order or repeated";
          if (auto it = stable_keys.find(k); it != stable_keys.end()) {
            if ((*rows)[i].second != it->second) error = "a scan returned a stable key with another value";
            ++stable_rows;
          }
        }
        // The whole range to +infinity: every stable key from `start` on, exactly once.
        const auto expected = static_cast<std::size_t>(std::distance(stable_keys.lower_bound(start), stable_keys.end()));
        if (error.empty() && stable_rows != expected) {
          error = "a scan returned " + std::to_string(stable_rows) + " stable keys of " + std::to_string(expected);
        }
        rows_checked.fetch_add(stable_rows, std::memory_order_relaxed);
        scans.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  JoinScanningThreads(threads, errors, scans, rows_checked);
  const BwTreeStats stats = tree_->stats();
  EXPECT_GT(stats.root_collapses, 0u);
  EXPECT_GT(collapses_seen.load(), 0u) << "no collapse raced the readers";
  // Lookups finish what is under way; then the tree holds the stable keys only, no
  // taller than they need, and every page it ever freed is gone from the store.
  for (const auto& [k, v] : stable_keys) ASSERT_TRUE(tree_->Get(k)->has_value());
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree_, stable_keys, &shape));
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

TEST_F(BwTreeConcurrencyTest, RacingInsertsAndDeletesLeaveExactlyTheLastWrites) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kThreads = 4;
  const std::uint64_t keys_per_thread = static_cast<std::uint64_t>(Scaled(1500));
  std::vector<std::map<std::string, std::string>> models(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      auto& model = models[t];
      // Thread t owns keys i * kThreads + t; all threads' keys interleave in every node.
      auto key = [&](std::uint64_t i) { return KeyOf(i * kThreads + static_cast<std::uint64_t>(t)); };
      for (std::uint64_t i = 0; i < keys_per_thread && errors[t].empty(); ++i) {
        const std::string v = ValueOf(static_cast<std::uint64_t>(t), i, rng);
        if (auto s = tree_->Put(key(i), v); !s) errors[t] = s.error().ToString();
        model[key(i)] = v;
      }
      for (std::uint64_t n = 0; n < 2 * keys_per_thread && errors[t].empty(); ++n) {
        const std::uint64_t i = rng() % keys_per_thread;
        if (rng() % 3 == 0) {
          const std::string v = ValueOf(static_cast<std::uint64_t>(t), n, rng);
          if (auto s = tree_->Put(key(i), v); !s) errors[t] = s.error().ToString();
          model[key(i)] = v;
        } else {
          auto erased = tree_->Erase(key(i));
          if (!erased) {
            errors[t] = erased.error().ToString();
          } else if (*erased != (model.erase(key(i)) == 1)) {
            errors[t] = "Erase disagrees with what this thread wrote";
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::string, std::string> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    all.insert(models[t].begin(), models[t].end());
  }
  EXPECT_TRUE(MatchesModel(*tree_, all));
  const BwTreeStats stats = tree_->stats();
  EXPECT_GT(stats.splits, 0u);
  EXPECT_GT(stats.merges, 0u);
  EXPECT_GT(store_->stats().evictions, 0u) << "the memory budget should have evicted pages";  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

}  // namespace
}  // namespace llama::bwtree::test
