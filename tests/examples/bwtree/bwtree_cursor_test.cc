// BwTree::Cursor: checked against std::map over random trees of small nodes (Seek to
// present and absent keys, past the end, an empty tree), walking on while the tree changes
// ahead of it (merges that free the next leaf, splits), and iterating while writers split
// and merge leaves around a stable set of keys (run under ThreadSanitizer too). Each test
// prints its seed; LLAMA_TEST_SEED=<seed> repeats it.
#include "examples/bwtree/bwtree_cursor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "examples/bwtree/node_image.h"
#include "examples/bwtree/node_view.h"
#include "llama/base_page.h"
#include "llama/page_node.h"
#include "tests/examples/bwtree/bwtree_test_util.h"

namespace llama::bwtree::test {
namespace {

using Model = std::map<std::string, std::string>;

// From Seek(from): the next `steps` positions (all of them when 0) are the model's, in
// order, and the cursor is past the end exactly where the model is.
::testing::AssertionResult WalkMatches(BwTree::Cursor& cursor, const Model& model, std::string_view from,
                                       std::size_t steps = 0) {
  auto it = model.lower_bound(std::string(from));
  Status s = cursor.Seek(from);
  for (std::size_t n = 0; s && (steps == 0 || n < steps); ++n, ++it, s = cursor.Next()) {
    if (it == model.end()) {
      if (cursor.Valid()) return ::testing::AssertionFailure() << "the cursor is valid past the model's end";
      return ::testing::AssertionSuccess();
    }
    if (!cursor.Valid()) return ::testing::AssertionFailure() << "the cursor ended " << n << " keys in";
    if (cursor.key() != it->first || cursor.value() != it->second) {
      return ::testing::AssertionFailure() << "the cursor and the model differ " << n << " keys in";
    }
  }
  if (!s) return ::testing::AssertionFailure() << s.error().ToString();
  return ::testing::AssertionSuccess();
}

// Seek targets: a present key, an absent one, one just above or below a present key (a
// byte added or dropped), the empty key, and keys past every key.
std::string SeekTarget(const Model& model, std::uint64_t universe, std::mt19937_64& rng) {
  const int kind = static_cast<int>(rng() % 6);
  if (model.empty() || kind == 0) return KeyOf(rng() % (2 * universe));
  const std::string present = std::next(model.begin(), static_cast<std::ptrdiff_t>(rng() % model.size()))->first;
  switch (kind) {
    case 1:
      return present;
    case 2:
      return present + '\0';
    case 3:
      return present.substr(0, present.size() - 1);
    case 4:
      return rng() % 2 ? std::string() : std::string(1, '\0');
    default:
      return std::string(20, '\xff');  // KeyOf keys have at most 14 bytes
  }
}

// Puts keys 0 .. keys-1 with random values into the tree and the model.
void PutKeys(BwTree& tree, Model& model, std::uint64_t keys, std::mt19937_64& rng) {
  for (std::uint64_t i = 0; i < keys; ++i) {
    model[KeyOf(i)] = ValueOf(0, i, rng);
    ASSERT_TRUE(tree.Put(KeyOf(i), model[KeyOf(i)]).has_value());
  }
}

// Moves the cursor on to the first key of the next leaf, which it reaches by a link (no
// other thread may use the tree).
::testing::AssertionResult StepIntoNextLeaf(BwTree& tree, BwTree::Cursor& cursor) {
  const std::uint64_t hops = tree.stats().link_hops;
  Status s = cursor.Next();
  for (; s && cursor.Valid() && tree.stats().link_hops == hops; s = cursor.Next()) {
  }
  if (!s) return ::testing::AssertionFailure() << s.error().ToString();
  if (!cursor.Valid()) return ::testing::AssertionFailure() << "no leaf follows";
  return ::testing::AssertionSuccess();
}

class BwTreeCursorModelTest : public ::testing::TestWithParam<std::uint32_t>, public TreeFixture {
 protected:
  void SetUp() override { OpenTree(SmallStoreOptions(), SmallNodeOptions(GetParam(), 4)); }
  void TearDown() override { tree_.reset(); }

  // A full walk visits every leaf, each reached by its left neighbour's link.
  void ExpectFullWalkFollowsLinks(BwTree::Cursor& cursor, const Model& model) {
    auto shape = tree_->Check();
    ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
    const BwTreeStats before = tree_->stats();
    EXPECT_TRUE(WalkMatches(cursor, model, ""));
    const BwTreeStats after = tree_->stats();
    EXPECT_EQ(after.link_hops - before.link_hops, shape->nodes_per_level.back() - 1);
    EXPECT_EQ(after.link_descents, before.link_descents);
  }
};

TEST_P(BwTreeCursorModelTest, AnEmptyTreeHasNothingToWalk) {
  BwTree::Cursor cursor(*tree_);
  EXPECT_FALSE(cursor.Valid());
  for (const std::string& key : {std::string(), std::string("k"), std::string(20, '\xff')}) {
    ASSERT_TRUE(cursor.Seek(key).has_value());
    EXPECT_FALSE(cursor.Valid());
    ASSERT_TRUE(cursor.Next().has_value());
    EXPECT_FALSE(cursor.Valid());
  }
  auto rows = tree_->Scan("", 10);
  ASSERT_TRUE(rows.has_value());
  EXPECT_TRUE(rows->empty());
  // A key longer than any tree takes is refused, and leaves the cursor not Valid.
  ASSERT_TRUE(tree_->Put("a", "1").has_value());
  ASSERT_TRUE(cursor.Seek("a").has_value() && cursor.Valid());
  auto refused = cursor.Seek(std::string(kMaxKeyBytes + 1, 'k'));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(cursor.Valid());
}

TEST_P(BwTreeCursorModelTest, RandomTreesMatchStdMap) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  BwTree::Cursor cursor(*tree_);
  const std::uint64_t universe = static_cast<std::uint64_t>(Scaled(3000));
  const int rounds = 8;
  for (int round = 0; round < rounds; ++round) {
    // Grow for most rounds, then shrink, so splits and then merges reshape the leaves.
    const int put_share = round < rounds - 2 ? 75 : 10;
    for (std::uint64_t i = 0; i < universe / 2; ++i) {
      const std::string key = KeyOf(rng() % universe);
      if (static_cast<int>(rng() % 100) < put_share) {
        const std::string value = ValueOf(0, i, rng);
        ASSERT_TRUE(tree_->Put(key, value).has_value());
        model[key] = value;
      } else {
        ASSERT_TRUE(tree_->Erase(key).has_value());
        model.erase(key);
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectFullWalkFollowsLinks(cursor, model));
    for (int seek = 0; seek < 50; ++seek) {
      const std::string from = SeekTarget(model, universe, rng);
      ASSERT_TRUE(WalkMatches(cursor, model, from, 1 + rng() % 40)) << "round " << round << ", seek " << seek;
    }
    // Scan is the cursor's too.
    const std::string from = SeekTarget(model, universe, rng);
    const std::size_t limit = 1 + rng() % 300;
    auto rows = tree_->Scan(from, limit);
    ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
    auto it = model.lower_bound(from);
    for (const auto& [k, v] : *rows) {
      ASSERT_TRUE(it != model.end() && it->first == k && it->second == v);
      ++it;
    }
    EXPECT_EQ(rows->size(), std::min<std::size_t>(limit, std::distance(model.lower_bound(from), model.end())));
  }
  // A Seek to the cursor's own key (a view of its buffer) lands on that key.
  ASSERT_TRUE(cursor.Seek("").has_value());
  ASSERT_TRUE(cursor.Valid());
  ASSERT_TRUE(cursor.Next().has_value() && cursor.Valid());
  const std::string second(cursor.key());
  ASSERT_TRUE(cursor.Seek(cursor.key()).has_value() && cursor.Valid());
  EXPECT_EQ(cursor.key(), second);
  // Emptied, the tree has nothing to walk.
  for (const auto& [k, v] : model) ASSERT_TRUE(tree_->Erase(k).has_value());
  model.clear();
  EXPECT_TRUE(WalkMatches(cursor, model, ""));
}

// Single-threaded, so exact: a cursor part way through the tree walks on while the leaves
// ahead of it are emptied (merged away, their pages freed: the link cannot be trusted and
// the cursor descends) and filled again (split), and returns exactly what the tree holds
// ahead of it. The rest of the leaf it is in was copied before, and is not touched.
TEST_P(BwTreeCursorModelTest, WalksOnAcrossMergesAndSplitsAhead) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  ASSERT_NO_FATAL_FAILURE(PutKeys(*tree_, model, static_cast<std::uint64_t>(Scaled(2000)), rng));
  // The cursor at the first key of the second leaf; the third leaf starts at `boundary`.
  BwTree::Cursor cursor(*tree_);
  ASSERT_TRUE(cursor.Seek("").has_value() && cursor.Valid());
  ASSERT_TRUE(StepIntoNextLeaf(*tree_, cursor));
  auto it = model.find(std::string(cursor.key()));
  BwTree::Cursor probe(*tree_);
  ASSERT_TRUE(probe.Seek(cursor.key()).has_value());
  ASSERT_TRUE(StepIntoNextLeaf(*tree_, probe));
  const std::string boundary(probe.key());
  // Erase from the boundary on for a while (past several leaves), and put new keys right
  // after it.
  const BwTreeStats before = tree_->stats();
  auto erase_from = model.find(boundary);
  ASSERT_NE(erase_from, model.end());
  for (int n = 0; n < 60 && erase_from != model.end(); ++n) {
    ASSERT_TRUE(tree_->Erase(erase_from->first).has_value());
    erase_from = model.erase(erase_from);
  }
  // Keys that extend the boundary key all fall right after it: far more than one leaf holds.
  for (std::uint64_t i = 0; i < 150; ++i) {
    const std::string key = boundary + '\x01' + static_cast<char>(i);
    model[key] = ValueOf(1, i, rng);
    ASSERT_TRUE(tree_->Put(key, model[key]).has_value());
  }
  ASSERT_GT(tree_->stats().nodes_freed, before.nodes_freed) << "the erases should have merged leaves away";
  ASSERT_GT(tree_->stats().splits, before.splits) << "the puts should have split leaves";
  // The rest of the walk is the model from here.
  Status s = OkStatus();
  for (; s && cursor.Valid(); s = cursor.Next(), ++it) {
    ASSERT_TRUE(it != model.end()) << "the cursor returned a key the tree does not hold";
    ASSERT_EQ(cursor.key(), it->first);
    ASSERT_EQ(cursor.value(), it->second);
  }
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_TRUE(it == model.end()) << "the cursor ended before the tree's last key";
  EXPECT_GT(tree_->stats().link_descents, before.link_descents);
  EXPECT_TRUE(tree_->Check().has_value());
}

// The page of the leaf that starts at `low`, by a descent the test makes itself (no writer
// runs); 0 if there is none.
PageId LeafStartingAt(Store& store, PageId root, std::string_view low) {
  auto g = store.EnterGeneration();
  for (PageId pid = root;;) {
    auto ref = store.Read(g, pid);
    auto view = ref ? NodeView::Of(ref->state()) : Result<NodeView>(tl::unexpected(ref.error()));
    if (!view) return 0;
    if (view->leaf()) return view->low() == low ? pid : 0;
    auto child = view->FloorLive(low, true);
    if (!child || !*child) return 0;
    pid = (*child)->child;
  }
}

// Puts into the free page `pid` what another tree of the store (or another layer) might:
// a leaf that starts at `low`, holding a key the Bw-tree never had.
void WriteImpostorLeaf(Store& store, PageId pid, std::string_view low, const std::string& key) {
  NodeContents impostor;
  impostor.low = low;
  impostor.entries.push_back(Entry{key, "impostor"});
  std::vector<std::byte> image;
  ASSERT_TRUE(EncodeNodeImage(impostor, image).has_value());
  auto page = BasePage::Create(pid, BasePage::kMinPageSize, image);
  ASSERT_TRUE(page.has_value());
  OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
  auto g = store.EnterGeneration();
  auto ref = store.Read(g, pid);
  ASSERT_TRUE(ref.has_value());
  auto out = store.UpdateR(g, pid, *ref, chain);
  ASSERT_TRUE(out.has_value() && out->installed);
}

// If `pid` is free now (freed, its id not handed out again yet), takes its id: allocates
// (after reclaiming what no generation can see) until the store hands `pid` out, every id
// allocated on the way appended to `taken`, `pid` last. Leaves `taken` alone if `pid` is
// still allocated. No other thread may use the store.
::testing::AssertionResult ClaimIfFreed(Store& store, PageId pid, std::vector<PageId>& taken) {
  {
    auto g = store.EnterGeneration();
    auto ref = store.Read(g, pid);
    if (ref.has_value()) return ::testing::AssertionSuccess();
    if (ref.error().code() != ErrorCode::kNotFound) return ::testing::AssertionFailure() << ref.error().ToString();
  }
  // Freed ids are reused once no generation can see them: none is open now.
  store.mapping().generations().TryReclaim();
  for (const std::uint64_t high = store.mapping().high_water(); taken.empty() || taken.back() != pid;) {
    auto next = store.Allocate();
    if (!next) return ::testing::AssertionFailure() << next.error().ToString();
    taken.push_back(*next);
    if (*next >= high) return ::testing::AssertionFailure() << "page " << pid << " is free but its id was not reused";
  }
  return ::testing::AssertionSuccess();
}

// The danger of following a link read in an earlier generation: the page it names may
// have been freed and its id handed to a page of another tree that happens to start at
// the same key. The cursor must not follow it (the tree counts its frees, and the cursor
// descends when one began since it read the link). Exact: one thread, and the id reused
// is the very one the cursor's link names.
TEST_P(BwTreeCursorModelTest, ALinkToAPageFreedAndReusedSinceIsNotFollowed) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  ASSERT_NO_FATAL_FAILURE(PutKeys(*tree_, model, static_cast<std::uint64_t>(Scaled(1000)), rng));
  // The cursor in the first leaf; the second leaf starts at `boundary`.
  BwTree::Cursor cursor(*tree_);
  ASSERT_TRUE(cursor.Seek("").has_value() && cursor.Valid());
  BwTree::Cursor probe(*tree_);
  ASSERT_TRUE(probe.Seek("").has_value());
  ASSERT_TRUE(StepIntoNextLeaf(*tree_, probe));
  const std::string boundary(probe.key());
  const PageId right = LeafStartingAt(*store_, tree_->root(), boundary);
  ASSERT_NE(right, 0u);
  // Every key from the boundary on goes: the leaves there merge away, the one the cursor's
  // link names too. That leaf merges once it is small, its last keys going to the first
  // leaf, and so do the leaves after it: the first leaf may outgrow its node and split,
  // and the split's new page may take the freed id (seeds 7169164021270765599 at 1 KiB
  // and 810762315812738809 at 256 B did). So the test takes the id itself the moment it
  // is free, after each erase: a free inside one operation is not reused before the
  // operation's generation ends. Should the erases leave the leaf empty but unmerged (a
  // leftmost child then, say), a Get that passes it starts the merge.
  std::vector<PageId> taken;
  for (auto it = model.find(boundary); it != model.end(); it = model.erase(it)) {
    ASSERT_TRUE(tree_->Erase(it->first).has_value());
    if (taken.empty()) {
      ASSERT_TRUE(ClaimIfFreed(*store_, right, taken));
    }
  }
  for (int i = 0; i < 16 && taken.empty(); ++i) {
    ASSERT_TRUE(tree_->Get(boundary).has_value());
    ASSERT_TRUE(ClaimIfFreed(*store_, right, taken));
  }
  ASSERT_FALSE(taken.empty()) << "the cursor's right sibling was not freed";
  ASSERT_EQ(taken.back(), right);
  // Its id is another tree's page now, one that starts at the boundary too.
  ASSERT_NO_FATAL_FAILURE(WriteImpostorLeaf(*store_, right, boundary, boundary + '\x01'));
  // The rest of the walk is the tree's: the rest of the first leaf, then nothing.
  const BwTreeStats before = tree_->stats();
  auto it = model.find(std::string(cursor.key()));
  Status s = OkStatus();
  for (; s && cursor.Valid(); s = cursor.Next(), ++it) {
    ASSERT_TRUE(it != model.end()) << "the cursor returned a key the tree does not hold";
    ASSERT_EQ(cursor.key(), it->first);
  }
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  EXPECT_TRUE(it == model.end()) << "the cursor ended before the tree's last key";
  EXPECT_EQ(tree_->stats().link_descents, before.link_descents + 1);
  {
    auto g = store_->EnterGeneration();
    for (PageId pid : taken) ASSERT_TRUE(store_->Free(g, pid).has_value());
  }
  auto shape = tree_->Check();
  EXPECT_TRUE(shape.has_value()) << shape.error().ToString();
}

INSTANTIATE_TEST_SUITE_P(NodeSizes, BwTreeCursorModelTest, ::testing::Values(256u, 1024u),
                         [](const auto& param_info) { return std::to_string(param_info.param) + "B"; });

// One walk from `from` to the end, while the tree changes: keys strictly increasing from
// `from`, every stable key at or past `from` among them once, with its value. "" if so,
// else what went wrong.
std::string WalkSeesStableKeys(BwTree::Cursor& cursor, const Model& stable_keys, const std::string& from,
                               std::atomic<std::uint64_t>& seen) {
  auto expect = stable_keys.lower_bound(from);
  std::string previous;
  bool first = true;
  Status s = cursor.Seek(from);
  for (; s && cursor.Valid(); s = cursor.Next()) {
    const std::string_view key = cursor.key();
    if (key < from || (!first && key <= previous)) return "keys out of order or repeated";
    // A stable key below this one that was not returned is missing.
    if (expect != stable_keys.end() && expect->first < key) return "a stable key was skipped";
    if (expect != stable_keys.end() && expect->first == key) {
      if (cursor.value() != expect->second) return "a stable key has a wrong value";
      ++expect;
      seen.fetch_add(1, std::memory_order_relaxed);
    }
    previous.assign(key);
    first = false;
  }
  if (!s) return s.error().ToString();
  if (expect != stable_keys.end()) return "the walk ended before the last stable key";
  return "";
}

// Puts and erases keys 4j+offset (j < stable) in waves: inserts mostly, for 2000
// operations, then erases mostly, and so on, so leaves split and then merge, over and over.
// "" if every write succeeded, else the first error.
std::string WriteWaves(BwTree& tree, std::uint64_t offset, std::uint64_t stable, int ops, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < ops; ++i) {
    const std::string key = KeyOf(4 * (rng() % stable) + offset);
    const bool growing = (i / 2000) % 2 == 0;
    if (rng() % 100 < (growing ? 85u : 15u)) {
      if (auto s = tree.Put(key, "v"); !s) return s.error().ToString();
    } else if (auto erased = tree.Erase(key); !erased) {
      return erased.error().ToString();
    }
  }
  return "";
}

// Writers grow and shrink the tree in waves over keys outside a stable set (leaves split
// and merge, pages are freed and their ids reused) while cursors walk it: every stable
// key from the Seek on is returned exactly once, with its value, in increasing order.
// The store's evictor runs underneath, so links also lead to pages read back from disk.
TEST(BwTreeCursorConcurrencyTest, CursorsSeeEveryStableKeyOnceWhileLeavesSplitAndMerge) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  StoreOptions store_options = SmallStoreOptions();
  store_options.memory_budget = 512u << 10;
  store_options.maintenance_interval_ms = 5;
  auto store = MustOpenStore(dir / "db", store_options);
  ASSERT_NE(store, nullptr);
  auto tree = MustOpenTree(*store, SmallNodeOptions(256, 2));
  ASSERT_NE(tree, nullptr);
  // Keys 4i are stable; keys 4i+1 and 4i+2 come and go.
  const std::uint64_t stable = static_cast<std::uint64_t>(Scaled(1200));
  Model stable_keys;
  for (std::uint64_t i = 0; i < stable; ++i) {
    stable_keys[KeyOf(4 * i)] = "stable-" + std::to_string(i);
    ASSERT_TRUE(tree->Put(KeyOf(4 * i), stable_keys[KeyOf(4 * i)]).has_value());
  }
  constexpr int kWriters = 2, kWalkers = 2;
  const int writer_ops = Scaled(16000);
  std::atomic<int> writers_done{0};
  std::atomic<std::uint64_t> walks{0}, stable_seen{0};
  std::vector<std::string> errors(kWriters + kWalkers);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      // Writer t's keys are 4j+1+t: its waves are its own.
      errors[t] = WriteWaves(*tree, 1 + static_cast<std::uint64_t>(t), stable, writer_ops, seed + t);
      writers_done.fetch_add(1);
    });
  }
  for (int w = 0; w < kWalkers; ++w) {
    threads.emplace_back([&, w] {
      std::string& error = errors[kWriters + w];
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(w));
      BwTree::Cursor cursor(*tree);
      while (error.empty() && (writers_done.load() < kWriters || walks.load() < 2)) {
        const std::string from = rng() % 4 == 0 ? std::string() : KeyOf(rng() % (4 * stable));
        error = WalkSeesStableKeys(cursor, stable_keys, from, stable_seen);
        walks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "thread " << i;
  EXPECT_GE(walks.load(), 2u);
  EXPECT_GT(stable_seen.load(), 0u);
  const BwTreeStats stats = tree->stats();
  EXPECT_GT(stats.splits, 0u);
  EXPECT_GT(stats.merges, 0u);
  std::printf("walks %llu, leaves by link %llu, by descent %llu\n", static_cast<unsigned long long>(walks.load()),
              static_cast<unsigned long long>(stats.link_hops), static_cast<unsigned long long>(stats.link_descents));
  auto shape = tree->Check();
  EXPECT_TRUE(shape.has_value()) << shape.error().ToString();
  tree.reset();
  EXPECT_EQ(store->stats().maintenance_error, "");
}

}  // namespace
}  // namespace llama::bwtree::test
