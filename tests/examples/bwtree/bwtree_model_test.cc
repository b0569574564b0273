// Model tests of the Bw-tree: seeded random Put / Get / Erase / Scan sequences checked
// against std::map, with node sizes small enough for deep trees and many splits and
// merges, single-threaded (every result checked at once) and multi-threaded (every
// result checked against a serial history: each key has one writer, and a read must
// return a value that some linearization of the overlapping writes allows). Each test
// prints its seed; LLAMA_TEST_SEED=<seed> repeats it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/examples/bwtree/bwtree_test_util.h"

namespace llama::bwtree::test {
namespace {

struct Shape {
  std::uint32_t node_bytes;
  std::uint32_t consolidate_after;
};

class BwTreeModelTest : public ::testing::TestWithParam<Shape>, public TreeFixture {
 protected:
  BwTreeOptions TreeOptions() const { return SmallNodeOptions(GetParam().node_bytes, GetParam().consolidate_after); }
  void Open() { OpenTree(SmallStoreOptions(), TreeOptions()); }
  void TearDown() override { tree_.reset(); }
};

TEST_P(BwTreeModelTest, RandomOperationsMatchStdMap) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ASSERT_NO_FATAL_FAILURE(Open());
  BwTree* tree = tree_.get();
  std::map<std::string, std::string> model;
  const int ops = Scaled(20000);
  // A key space that the run fills and then mostly empties whatever the scale.
  const std::uint64_t universe = static_cast<std::uint64_t>(std::max(300, ops / 7));
  for (int i = 0; i < ops; ++i) {
    // Phases: grow, churn, shrink (so merges run), grow again.
    const int phase = i * 4 / ops;
    const int put_share = phase == 2 ? 10 : (phase == 1 ? 45 : 70);
    const std::string key = KeyOf(rng() % universe);
    const int dice = static_cast<int>(rng() % 100);
    if (dice < put_share) {
      const std::string value = ValueOf(0, static_cast<std::uint64_t>(i), rng);
      ASSERT_TRUE(tree->Put(key, value).has_value());
      model[key] = value;
    } else if (dice < 80) {
      auto erased = tree->Erase(key);
      ASSERT_TRUE(erased.has_value()) << erased.error().ToString();
      EXPECT_EQ(*erased, model.erase(key) == 1) << "op " << i;
    } else if (dice < 93) {
      auto got = tree->Get(key);
      ASSERT_TRUE(got.has_value()) << got.error().ToString();
      auto it = model.find(key);
      ASSERT_EQ(got->has_value(), it != model.end()) << "op " << i;
      if (it != model.end()) {
        ASSERT_EQ(**got, it->second) << "op " << i;
      }
    } else {
      const std::size_t limit = rng() % 40;
      auto rows = tree->Scan(key, limit);
      ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
      auto it = model.lower_bound(key);
      std::size_t n = 0;
      for (; it != model.end() && n < limit; ++it, ++n) {
        ASSERT_LT(n, rows->size()) << "op " << i << ": scan stopped early";
        ASSERT_EQ((*rows)[n].first, it->first) << "op " << i << ": scan row " << n;
        ASSERT_EQ((*rows)[n].second, it->second) << "op " << i << ": scan row " << n;
      }
      ASSERT_EQ(rows->size(), n) << "op " << i;
    }
    if (i % 2500 == 2499) {
      ASSERT_TRUE(MatchesModel(*tree, model)) << "after op " << i;
    }
  }
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree, model, &shape));
  const BwTreeStats stats = tree->stats();
  EXPECT_GT(stats.splits, 0u);
  EXPECT_GT(stats.consolidations, 0u);
  if (GetParam().node_bytes <= 512) {
    EXPECT_GT(shape.nodes_per_level.size(), 2u) << "small nodes should make a deep tree";
    EXPECT_GT(stats.merges, 0u) << "the shrinking phase should merge nodes";
  }

  // The same contents after a clean close and a reopen.
  tree_.reset();
  ASSERT_TRUE(store_->Close().has_value());
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_TRUE(MatchesModel(*tree_, model));
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

TEST_P(BwTreeModelTest, DeletingEverythingShrinksTheTree) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ASSERT_NO_FATAL_FAILURE(Open());
  BwTree* tree = tree_.get();
  const int n = Scaled(4000);
  std::vector<std::uint64_t> ids(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (std::uint64_t id : ids) ASSERT_TRUE(tree->Put(KeyOf(id), ValueOf(0, id, rng)).has_value());
  auto full = tree->Check();
  ASSERT_TRUE(full.has_value()) << full.error().ToString();
  EXPECT_TRUE(NoLeakedPages(*store_, {tree}));
  std::shuffle(ids.begin(), ids.end(), rng);
  for (std::uint64_t id : ids) {
    auto erased = tree->Erase(KeyOf(id));
    ASSERT_TRUE(erased.has_value() && *erased) << "key " << id;
  }
  // Lookups finish merges that are still under way; then the root is a lone leaf.
  for (std::uint64_t id : ids) ASSERT_FALSE(tree->Get(KeyOf(id))->has_value());
  TreeShape empty;
  ASSERT_TRUE(MatchesModel(*tree, {}, &empty));
  const std::uint64_t before = full->nodes(), after = empty.nodes();
  std::string levels;
  for (std::uint64_t c : empty.nodes_per_level) levels += " " + std::to_string(c);
  SCOPED_TRACE("nodes: " + std::to_string(before) + " full (" + std::to_string(full->nodes_per_level.size()) +
               " levels), " + std::to_string(after) + " empty (per level:" + levels + "), pending merges " +
               std::to_string(empty.pending_merges) + ", unposted splits " + std::to_string(empty.unposted_splits) +
               ", removed on a level " + std::to_string(empty.removed_in_chain));
  if (TreeOptions().merge_fraction > 0) {
    // Merges shrink every level to one node, and root collapses remove the levels: the
    // tree is as short as it can be, and every page but the root was freed.
    EXPECT_EQ(empty.nodes_per_level, std::vector<std::uint64_t>{1}) << "the tree did not get shorter";
    EXPECT_EQ(tree->stats().root_collapses + 1, full->nodes_per_level.size());
    EXPECT_GT(tree->stats().nodes_freed, before / 2);
  }
  EXPECT_TRUE(NoLeakedPages(*store_, {tree}));
  // And it grows again from there, and reopens.
  std::map<std::string, std::string> model;
  for (int i = 0; i < n / 4; ++i) {
    model[KeyOf(static_cast<std::uint64_t>(i))] = "again";
    ASSERT_TRUE(tree->Put(KeyOf(static_cast<std::uint64_t>(i)), "again").has_value());
  }
  ASSERT_TRUE(MatchesModel(*tree, model));
  EXPECT_TRUE(NoLeakedPages(*store_, {tree}));
  tree_.reset();
  ASSERT_TRUE(store_->Close().has_value());
  ASSERT_NO_FATAL_FAILURE(Open());
  ASSERT_TRUE(MatchesModel(*tree_, model));
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
  EXPECT_EQ(tree_->stats().orphans_freed, 0u) << "a clean close leaves nothing to settle";
}

// Deleting all but a few keys, from both ends of the key space toward the middle, in
// trees of several heights: every level whose root had one child collapsed away.
TEST_P(BwTreeModelTest, ShrinkingToAFewKeysCollapsesTheRoot) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ASSERT_NO_FATAL_FAILURE(Open());
  std::map<std::string, std::string> model;
  const int n = Scaled(3000);
  for (int i = 0; i < n; ++i) {
    const std::string key = KeyOf(static_cast<std::uint64_t>(i));
    // Short values: the last leaves are small enough to merge at every node size.
    model[key] = std::to_string(rng() % 100);
    ASSERT_TRUE(tree_->Put(key, model[key]).has_value());
  }
  // Erase alternately from the smallest and the largest key, down to 2 keys (a leaf of
  // any size holds two): merges run at both edges of every level.
  bool front = true;
  while (model.size() > 2) {
    auto it = front ? model.begin() : std::prev(model.end());
    ASSERT_TRUE(*tree_->Erase(it->first));
    model.erase(it);
    front = !front;
  }
  for (int round = 0; round < 2; ++round) {
    for (const auto& [k, v] : model) ASSERT_TRUE(tree_->Get(k)->has_value());
  }
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree_, model, &shape));
  std::string levels;
  for (std::uint64_t c : shape.nodes_per_level) levels += " " + std::to_string(c);
  SCOPED_TRACE("per level:" + levels);
  // The root never has one child: that level collapsed away. (With 256-byte nodes an
  // empty leftmost node can be left beside a right sibling too large to merge into it,
  // when nothing visits it after the sibling shrank, and a level or two stays; larger
  // nodes end as one leaf.)
  ASSERT_FALSE(shape.nodes_per_level.empty());
  if (shape.nodes_per_level.size() > 1) {
    EXPECT_GE(shape.nodes_per_level[1], 2u);
  }
  if (GetParam().node_bytes >= 512) {
    EXPECT_EQ(shape.nodes_per_level, std::vector<std::uint64_t>{1});
  }
  EXPECT_GT(tree_->stats().root_collapses, 0u);
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

INSTANTIATE_TEST_SUITE_P(NodeSizes, BwTreeModelTest,
                         ::testing::Values(Shape{256, 1}, Shape{256, 4}, Shape{512, 8}, Shape{4096, 8}),
                         [](const ::testing::TestParamInfo<Shape>& param) {
                           return "node" + std::to_string(param.param.node_bytes) + "_consolidate" +
                                  std::to_string(param.param.consolidate_after);
                         });

TEST(BwTreeCatalogTest, NamedTreesShareAStoreAndReopen) {
  TempDir dir;
  std::map<std::string, std::string> a, b;
  {
    auto store = MustOpenStore(dir / "db", SmallStoreOptions());
    ASSERT_NE(store, nullptr);
    auto ta = MustOpenTree(*store, SmallNodeOptions(), "a");
    auto tb = MustOpenTree(*store, SmallNodeOptions(), "b");
    ASSERT_TRUE(ta && tb);
    EXPECT_NE(ta->root(), tb->root());
    std::mt19937_64 rng(7);
    for (std::uint64_t i = 0; i < 500; ++i) {
      a[KeyOf(i)] = ValueOf(1, i, rng);
      ASSERT_TRUE(ta->Put(KeyOf(i), a[KeyOf(i)]).has_value());
      if (i % 3 == 0) {
        b[KeyOf(i)] = "b";
        ASSERT_TRUE(tb->Put(KeyOf(i), "b", {.sync = true}).has_value());
      }
    }
    auto roots = store->Roots();
    ASSERT_TRUE(roots.has_value());
    // Each tree has its root and its pending page (bwtree_pending.cc).
    ASSERT_EQ(roots->size(), 4u);
    EXPECT_EQ((*roots)[0].name, "bwtree-pending:a");
    EXPECT_EQ((*roots)[1].name, "bwtree-pending:b");
    EXPECT_EQ((*roots)[2].name, "bwtree:a");
    EXPECT_EQ((*roots)[3].name, "bwtree:b");
    EXPECT_EQ((*roots)[2].pid, ta->root());
    EXPECT_EQ((*roots)[0].pid, ta->pending_page());
    // A name is open once at a time.
    EXPECT_FALSE(BwTree::Open(*store, "a", SmallNodeOptions()).has_value());
    ta.reset();
    tb.reset();
    ASSERT_TRUE(store->Close().has_value());
  }
  auto store = MustOpenStore(dir / "db", SmallStoreOptions());
  ASSERT_NE(store, nullptr);
  auto ta = MustOpenTree(*store, SmallNodeOptions(), "a");
  auto tb = MustOpenTree(*store, SmallNodeOptions(), "b");
  ASSERT_TRUE(ta && tb);
  EXPECT_TRUE(MatchesModel(*ta, a));
  EXPECT_TRUE(MatchesModel(*tb, b));
  EXPECT_TRUE(NoLeakedPages(*store, {ta.get(), tb.get()}));
}

// ---- Many threads, checked against a serial history ----

// One write of the history: key, value (empty: an erase), and the global clock ticks at
// which the call began and returned.
struct Write {
  std::string value;  // "" for an erase (values are never empty)
  std::uint64_t begin, end;
};
struct Read {
  std::string key;
  std::string value;  // "" if not found
  std::uint64_t begin, end;
};

TEST(BwTreeLinearizabilityTest, ConcurrentOperationsHaveASerialHistory) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  auto store = MustOpenStore(dir / "db", SmallStoreOptions());
  ASSERT_NE(store, nullptr);
  auto tree = MustOpenTree(*store, SmallNodeOptions(256, 4));
  ASSERT_NE(tree, nullptr);
  constexpr int kThreads = 4;
  const int ops = Scaled(6000);
  const std::uint64_t universe = 1200;  // key k is written only by thread k % kThreads
  std::atomic<std::uint64_t> clock{0};
  std::vector<std::map<std::string, std::vector<Write>>> writes(kThreads);
  std::vector<std::vector<Read>> reads(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      for (int i = 0; i < ops; ++i) {
        const int dice = static_cast<int>(rng() % 100);
        if (dice < 50) {
          // A write to one of this thread's keys (the second half of the run erases more).
          const std::uint64_t id = (rng() % (universe / kThreads)) * kThreads + static_cast<std::uint64_t>(t);
          const std::string key = KeyOf(id);
          const bool erase = rng() % 100 < (i < ops / 2 ? 25 : 60);
          Write w{erase ? "" : ValueOf(static_cast<std::uint64_t>(t), static_cast<std::uint64_t>(i), rng), 0, 0};
          w.begin = clock.fetch_add(1);
          if (erase) {
            auto r = tree->Erase(key);
            if (!r) errors[t] = r.error().ToString();
          } else {
            auto r = tree->Put(key, w.value);
            if (!r) errors[t] = r.error().ToString();
          }
          w.end = clock.fetch_add(1);
          writes[t][key].push_back(std::move(w));
        } else if (dice < 85) {
          Read r{KeyOf(rng() % universe), "", 0, 0};
          r.begin = clock.fetch_add(1);
          auto got = tree->Get(r.key);
          r.end = clock.fetch_add(1);
          if (!got) errors[t] = got.error().ToString();
          if (got && *got) r.value = **got;
          reads[t].push_back(std::move(r));
        } else {
          // A scan: strictly increasing keys; each row is a read of its key over the
          // whole call.
          const std::string start = KeyOf(rng() % universe);
          const std::uint64_t begin = clock.fetch_add(1);
          auto rows = tree->Scan(start, 1 + rng() % 30);
          const std::uint64_t end = clock.fetch_add(1);
          if (!rows) {
            errors[t] = rows.error().ToString();
            continue;
          }
          for (std::size_t j = 0; j < rows->size(); ++j) {
            const std::string& k = (*rows)[j].first;
            if (k < start || (j > 0 && !((*rows)[j - 1].first < k))) errors[t] = "scan keys out of order";
            reads[t].push_back(Read{k, (*rows)[j].second, begin, end});
          }
        }
        if (!errors[t].empty()) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(errors[t], "") << "thread " << t;

  // A read of key k (one writer, whose writes are sequential) may return the value of
  // write i (or absence before the first) iff write i began before the read ended and
  // write i+1 did not end before the read began.
  std::map<std::string, const std::vector<Write>*> history;
  for (const auto& per_thread : writes) {
    for (const auto& [key, ws] : per_thread) history[key] = &ws;
  }
  std::uint64_t checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const Read& r : reads[t]) {
      auto h = history.find(r.key);
      const std::vector<Write> none;
      const std::vector<Write>& ws = h == history.end() ? none : *h->second;
      bool allowed = false;
      // -1: the state before any write (absent).
      for (int i = -1; i < static_cast<int>(ws.size()) && !allowed; ++i) {
        const std::string& value = i < 0 ? std::string() : ws[static_cast<std::size_t>(i)].value;
        const bool began_before_end = i < 0 || ws[static_cast<std::size_t>(i)].begin < r.end;
        const bool next_not_done =
            i + 1 >= static_cast<int>(ws.size()) || ws[static_cast<std::size_t>(i + 1)].end > r.begin;
        allowed = value == r.value && began_before_end && next_not_done;
      }
      ASSERT_TRUE(allowed) << "thread " << t << " read \"" << r.value << "\" for a key during [" << r.begin << ", "
                           << r.end << "], which no serial order of its " << ws.size() << " writes allows";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);

  // Afterwards the tree holds exactly each key's last write.
  std::map<std::string, std::string> model;
  for (const auto& [key, ws] : history) {
    if (!ws->back().value.empty()) model[key] = ws->back().value;
  }
  EXPECT_TRUE(MatchesModel(*tree, model));
  EXPECT_GT(tree->stats().splits, 0u);
  EXPECT_TRUE(NoLeakedPages(*store, {tree.get()}));
}

}  // namespace
}  // namespace llama::bwtree::test
