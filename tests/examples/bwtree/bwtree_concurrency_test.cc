// The Bw-tree under concurrency (run under ThreadSanitizer too): inserts and deletes from
// several threads race splits, consolidations and merges of the same nodes, while
// scanners check that every key present for the whole scan is returned exactly once,
// and the store's evictor and cleaner swap pages out and move them underneath.
//
// What has to race what is not left to the scheduler. BwTreeOptions::test_hook holds a
// split, a merge and every root collapse half done, on the thread doing it, until the
// other threads have run operations against that state; and the tests drive the tree
// until the structure changes they need have happened, then say so exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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
  // About a third of what the tests' trees hold, whatever the scale (a base page holds
  // only its contents: a 256-byte node costs well under 1 KiB with its page node).
  o.memory_budget =
      std::max<std::uint64_t>(32u << 10, static_cast<std::uint64_t>((128u << 10) * store_test::TestScale()));
  o.cleaner_space_factor = 2.0;
  o.maintenance_interval_ms = 5;
  return o;
}

// The steps of BwTreeOptions::test_hook that these tests hold.
// A split's (or root push-down's) new node is in the log; nothing names it yet.
constexpr std::string_view kSplitStep = "new node flushed";
// A merged node is absorbed by its left neighbour and unlinked, and not yet freed.
constexpr std::string_view kMergeStep = "tombstone erased";
// The root's only child is frozen (retired); the root is not yet its copy.
constexpr std::string_view kCollapseStep = "child retired";

// Longer than any hold takes, even under a sanitizer on a loaded machine: a hold that
// lasts this long is a hang (a thread that can no longer reach the held state), and the
// test reports it instead of timing out.
constexpr auto kHoldLimit = std::chrono::minutes(3);

// The index of the worker running on this thread (each worker sets it); -1 on the test's
// own thread.
thread_local int tl_worker = -1;

// Holds the first split and the first merge half done. The first time a holder thread
// reaches one of `steps` (while nothing else is held), it waits there until every other
// watcher still running has finished two operations (so one of them ran from start to
// end against the half-done change); later arrivals at that step pass. Watchers report
// each finished operation (Finished) and their end (Exit).
class HeldSteps {
 public:
  HeldSteps(std::vector<std::string_view> steps, std::vector<bool> holders, std::vector<bool> watchers)
      : steps_(std::move(steps)),
        held_(steps_.size(), false),
        holders_(std::move(holders)),
        watchers_(std::move(watchers)),
        ops_(holders_.size(), 0),
        running_(holders_.size(), true) {}

  // BwTreeOptions::test_hook.
  void Hook(std::string_view step) {
    const int self = tl_worker;
    std::unique_lock lock(mu_);
    const auto it = std::find(steps_.begin(), steps_.end(), step);
    if (self < 0 || !holders_[Index(self)] || holding_ || it == steps_.end()) return;
    const auto which = static_cast<std::size_t>(it - steps_.begin());
    if (held_[which]) return;
    holding_ = true;
    std::vector<std::uint64_t> target(ops_);
    for (std::uint64_t& t : target) t += 2;
    const bool raced = cv_.wait_for(lock, kHoldLimit, [&] {
      for (std::size_t w = 0; w < ops_.size(); ++w) {
        if (w != Index(self) && watchers_[w] && running_[w] && ops_[w] < target[w]) return false;
      }
      return true;
    });
    if (!raced) error_ = "\"" + std::string(step) + "\" was held without every watcher racing it";
    held_[which] = true;
    holding_ = false;
  }

  void Finished(int worker) {
    {
      std::lock_guard lock(mu_);
      ++ops_[Index(worker)];
    }
    cv_.notify_all();
  }
  void Exit(int worker) {
    {
      std::lock_guard lock(mu_);
      running_[Index(worker)] = false;
    }
    cv_.notify_all();
  }

  bool AllHeld() const {
    std::lock_guard lock(mu_);
    return std::all_of(held_.begin(), held_.end(), [](bool h) { return h; });
  }
  bool WasHeld(std::string_view step) const {
    std::lock_guard lock(mu_);
    const auto it = std::find(steps_.begin(), steps_.end(), step);
    return it != steps_.end() && held_[static_cast<std::size_t>(it - steps_.begin())];
  }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  static std::size_t Index(int worker) { return static_cast<std::size_t>(worker); }

  const std::vector<std::string_view> steps_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> held_;
  const std::vector<bool> holders_;
  const std::vector<bool> watchers_;
  std::vector<std::uint64_t> ops_;
  std::vector<bool> running_;
  bool holding_ = false;
  std::string error_;
};

// `count` flags, those in [begin, end) set.
std::vector<bool> Flags(int count, int begin, int end) {
  std::vector<bool> flags(static_cast<std::size_t>(count), false);
  for (int i = begin; i < end; ++i) flags[static_cast<std::size_t>(i)] = true;
  return flags;
}

// One collapse, told from the others: the retired child and its Retire's nonce.
using CollapseId = std::pair<PageId, std::uint64_t>;

// The root collapse under way, if any: the root is an inner node whose only entry names a
// retired child. (A helper that read the child before the root's copy replaced it can
// reach the hook after the collapse is over; it finds none here.)
std::optional<CollapseId> CollapseUnderWay(Store& store, PageId root) {
  auto g = store.EnterGeneration();
  auto ref = store.Read(g, root);
  if (!ref) return std::nullopt;
  auto view = NodeView::Of(ref->state());
  if (!view || view->leaf()) return std::nullopt;
  auto contents = view->Materialize();
  if (!contents || contents->entries.size() != 1) return std::nullopt;
  const PageId child = contents->entries[0].child;
  auto child_ref = store.Read(g, child);
  if (!child_ref) return std::nullopt;
  auto child_view = NodeView::Of(child_ref->state());
  if (!child_view || !child_view->retired()) return std::nullopt;
  return CollapseId{child, child_view->nonce()};
}

// Runs the workers of the collapse test, and holds every root collapse at "child
// retired" until each of them has met it.
//
// While a collapse is held there, every descent from the root reaches the retired child
// (it is the root's only child) and helps the collapse, so it comes to the hook too: each
// worker's next operation, whatever it is, runs into the half-done collapse and waits
// there. Once all have, they all go on at once and race to finish it. A worker with
// nothing to do is idle (Next) and is woken to run one operation against a held
// collapse; so a collapse the test's own thread sets off is met by every worker too.
class CollapseRace {
 public:
  // What the test lets the workers do.
  struct Control {
    bool running = false;  // the workers' load runs (else only what cleans up)
    int cycle = 0;         // the writers' current fill-and-empty cycle
    int writers_done = 0;  // cycles the writers finished, summed over the writers
    bool stop = false;
  };
  enum class Turn { kWork, kMeet, kStop };

  explicit CollapseRace(int workers)
      : arrived_(static_cast<std::size_t>(workers), false),
        running_(static_cast<std::size_t>(workers), true),
        min_arrivals_(workers) {}

  // Before the workers start (a collapse that Open finishes passes).
  void Attach(Store* store, PageId root) {
    store_ = store;
    root_ = root;
  }

  // BwTreeOptions::test_hook.
  void Hook(std::string_view step) {
    if (step != kCollapseStep || store_ == nullptr) return;
    const std::optional<CollapseId> id = CollapseUnderWay(*store_, root_);
    if (!id) return;
    std::unique_lock lock(mu_);
    if (released_.count(*id)) return;  // met by everyone already: go on and finish it
    if (!held_) {
      held_ = *id;
      std::fill(arrived_.begin(), arrived_.end(), false);
    } else if (*held_ != *id) {
      error_ = "two root collapses under way at once";
      return;
    }
    if (tl_worker >= 0) arrived_[Index(tl_worker)] = true;
    cv_.notify_all();
    const bool met = cv_.wait_for(lock, kHoldLimit, [&] { return released_.count(*id) || AllArrived(); });
    if (!met) error_ = "a root collapse was held without every worker meeting it";
    if (released_.count(*id)) return;
    released_.insert(*id);
    int arrivals = 0;
    for (std::size_t w = 0; w < arrived_.size(); ++w) arrivals += arrived_[w] && running_[w] ? 1 : 0;
    min_arrivals_ = std::min(min_arrivals_, arrivals);
    ++held_collapses_;
    held_.reset();
    cv_.notify_all();
  }

  // For worker `w`: blocks (idle) until it has something to do. kMeet: a held collapse
  // waits for this worker (run any one operation; it will meet the collapse, if not on
  // this try then on a later one). kStop: the test is over. kWork: `may_work(control)`
  // holds.
  Turn Next(int w, const std::function<bool(const Control&)>& may_work) {
    std::unique_lock lock(mu_);
    ++idle_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return Meets(w) || control_.stop || may_work(control_); });
    --idle_;
    if (Meets(w)) return Turn::kMeet;
    if (!control_.stop) return Turn::kWork;
    running_[Index(w)] = false;
    cv_.notify_all();
    return Turn::kStop;
  }

  // For the test's thread.
  Control control() const {
    std::lock_guard lock(mu_);
    return control_;
  }
  void Update(const std::function<void(Control&)>& change) {
    {
      std::lock_guard lock(mu_);
      change(control_);
    }
    cv_.notify_all();
  }
  // False if `ready` did not come true within kHoldLimit.
  bool WaitFor(const std::function<bool(const Control&)>& ready) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kHoldLimit, [&] { return ready(control_); });
  }
  // Until every worker is idle and no collapse is held: nothing but the store's own
  // maintenance touches the tree (Check() may walk it).
  bool WaitQuiet() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kHoldLimit,
                        [&] { return idle_ == static_cast<int>(arrived_.size()) && !held_.has_value(); });
  }

  std::uint64_t held_collapses() const {
    std::lock_guard lock(mu_);
    return held_collapses_;
  }
  // The fewest workers that met one collapse before it went on.
  int min_arrivals() const {
    std::lock_guard lock(mu_);
    return min_arrivals_;
  }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  static std::size_t Index(int worker) { return static_cast<std::size_t>(worker); }
  bool Meets(int w) const { return held_.has_value() && !arrived_[Index(w)]; }
  bool AllArrived() const {
    for (std::size_t w = 0; w < arrived_.size(); ++w) {
      if (running_[w] && !arrived_[w]) return false;
    }
    return true;
  }

  Store* store_ = nullptr;
  PageId root_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Control control_;
  std::optional<CollapseId> held_;
  std::set<CollapseId> released_;
  std::vector<bool> arrived_;
  std::vector<bool> running_;
  int idle_ = 0;
  std::uint64_t held_collapses_ = 0;
  int min_arrivals_;
  std::string error_;
};

// Checks one scan's rows: strictly increasing from `start`. "" if they are.
std::string CheckOrder(const std::vector<std::pair<std::string, std::string>>& rows, const std::string& start) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string& k = rows[i].first;
    if (k < start || (i > 0 && !(rows[i - 1].first < k))) return "scan rows out of order or repeated";
  }
  return "";
}

// Joins the threads; none may have reported an error.
void JoinWithoutErrors(std::vector<std::thread>& threads, const std::vector<std::string>& errors) {
  for (auto& th : threads) th.join();
  for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "thread " << i;
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

  // Reopens the tree with `options` and `held`'s hook.
  void OpenHolding(BwTreeOptions options, HeldSteps& held) {
    options.test_hook = [&held](std::string_view step) { held.Hook(step); };
    OpenTree(BusyStoreOptions(), options);
  }

  // Moves a quiet tree toward its smallest shape: a scan from the start (a passing descent
  // merges an empty node or an inner node with one child, and collapses a root with one
  // child); each of `kept` rewritten twice with its own value (its leaf is folded, and
  // merged if small); from the second round on, a put and an erase of Volatile(id) for
  // every id in [ids_begin, ids_end) (every leaf those keys reach is folded again).
  void NudgeTowardOneLeaf(int round, const std::map<std::string, std::string>& kept, std::uint64_t ids_begin,
                          std::uint64_t ids_end) {
    auto all = tree_->Scan("", std::numeric_limits<std::size_t>::max());
    ASSERT_TRUE(all.has_value()) << all.error().ToString();
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& [k, v] : kept) ASSERT_TRUE(tree_->Put(k, v).has_value());
    }
    if (round == 0) return;
    for (std::uint64_t id = ids_begin; id < ids_end; ++id) {
      ASSERT_TRUE(tree_->Put(Volatile(id), "nudge").has_value());
      auto erased = tree_->Erase(Volatile(id));
      ASSERT_TRUE(erased.has_value() && *erased);
    }
  }
};

TEST_F(BwTreeConcurrencyTest, ScansDuringSplitsAndMergesSeeEveryStableKeyOnce) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kWriters = 3, kScanners = 2;
  // The first split and the first merge on a writer are held until both scanners have
  // scanned against them.
  HeldSteps held({kSplitStep, kMergeStep}, Flags(kWriters + kScanners, 0, kWriters),
                 Flags(kWriters + kScanners, kWriters, kWriters + kScanners));
  ASSERT_NO_FATAL_FAILURE(OpenHolding(SmallNodeOptions(256, 2), held));
  const std::uint64_t stable = static_cast<std::uint64_t>(Scaled(1500));
  std::map<std::string, std::string> stable_keys;
  for (std::uint64_t i = 0; i < stable; ++i) {
    ASSERT_TRUE(tree_->Put(Stable(i), StableValue(i)).has_value());
    stable_keys[Stable(i)] = StableValue(i);
  }
  const int writer_ops = Scaled(12000);
  // Past writer_ops the waves go on until a split and a merge were held. Shrinking waves
  // leave nodes small, so that comes soon; the bound is only there so that a tree that
  // never merges fails the test instead of hanging it.
  const int max_writer_ops = 50 * writer_ops;
  std::atomic<int> writers_done{0};
  std::atomic<std::uint64_t> scans{0}, rows_checked{0};
  std::vector<std::string> errors(kWriters + kScanners);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      tl_worker = t;
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      // Waves of inserts then deletes over this thread's volatile keys: nodes grow and
      // split, then shrink and merge, over and over.
      for (int i = 0; (i < writer_ops || !held.AllHeld()) && errors[t].empty(); ++i) {
        if (i == max_writer_ops) {
          errors[t] = "no split and merge to hold in " + std::to_string(i) + " operations";
          break;
        }
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
      const int self = kWriters + s;
      tl_worker = self;
      std::string& error = errors[static_cast<std::size_t>(self)];
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(s));
      for (std::uint64_t mine = 0; writers_done.load() < kWriters && error.empty(); ++mine) {
        // The first scan reads everything, so every stable key is checked at least once.
        const std::string start = mine == 0 ? std::string() : KeyOf(rng() % (4 * stable));
        const std::size_t limit = mine == 0 ? std::numeric_limits<std::size_t>::max() : 1 + rng() % 200;
        auto rows = tree_->Scan(start, limit);
        if (!rows) {
          error = rows.error().ToString();
          break;
        }
        error = CheckOrder(*rows, start);
        if (error.empty() && !rows->empty()) {
          // Every stable key between `start` and the last row is among the rows.
          std::set<std::string> got;
          for (const auto& [k, v] : *rows) got.insert(k);
          for (auto it = stable_keys.lower_bound(start); it != stable_keys.end() && it->first <= rows->back().first;
               ++it) {
            if (!got.count(it->first)) {
              error = "a scan missed a key present throughout it";
              break;
            }
            rows_checked.fetch_add(1, std::memory_order_relaxed);
          }
        }
        scans.fetch_add(1, std::memory_order_relaxed);
        held.Finished(self);
      }
      held.Exit(self);
    });
  }
  JoinWithoutErrors(threads, errors);
  EXPECT_EQ(held.error(), "");
  EXPECT_TRUE(held.WasHeld(kSplitStep)) << "no split raced the scanners";
  EXPECT_TRUE(held.WasHeld(kMergeStep)) << "no merge raced the scanners";
  EXPECT_GE(scans.load(), 2u * kScanners);
  EXPECT_GE(rows_checked.load(), kScanners * stable);
  const BwTreeStats stats = tree_->stats();
  EXPECT_GT(stats.splits, 0u);  // the stable keys alone fill many nodes
  EXPECT_GT(stats.merges, 0u);  // the held merge got as far as erasing its tombstone
  auto shape = tree_->Check();
  ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
  for (const auto& [k, v] : stable_keys) {
    auto got = tree_->Get(k);
    ASSERT_TRUE(got.has_value() && got->has_value() && **got == v);
  }
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

// The tree grows and shrinks in cycles: writers fill it with their keys, then erase them
// all, so merges shrink every level and the root collapses, again and again, while
// scanners check that each of a few stable keys is returned exactly once, a reader Gets
// them, and a churner keeps inserting and erasing keys of its own.
//
// Every root collapse is held half done (the child retired, the root not yet its copy)
// until each of the six workers has run into it; then they all race to finish it. At
// the end of a cycle the test's thread, with the workers idle, drives the tree down to
// the one leaf the stable keys need; the collapses that takes are held the same way (the
// idle workers are woken to meet them). So every cycle has as many collapses as root
// push-downs, at least one, and each was met by every worker, whatever the scheduler does.
TEST_F(BwTreeConcurrencyTest, RootCollapsesUnderReadersScansAndInserts) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kWriters = 2, kScanners = 2;
  // Writers, the churner, the reader, the scanners.
  constexpr int kChurner = kWriters, kReader = kWriters + 1, kWorkers = kWriters + 2 + kScanners;
  CollapseRace race(kWorkers);
  // Nodes under 40% full merge: with 256-byte nodes, a leaf holding one stable key is
  // small enough, so the tree can shrink to the one leaf the stable keys need.
  BwTreeOptions options = SmallNodeOptions(256, 2);
  options.merge_fraction = 0.4;
  options.test_hook = [&race](std::string_view step) { race.Hook(step); };
  ASSERT_NO_FATAL_FAILURE(OpenTree(BusyStoreOptions(), options));
  race.Attach(store_.get(), tree_->root());
  constexpr std::uint64_t kStable = 5;
  std::map<std::string, std::string> stable_keys;
  NodeContents one_leaf;
  for (std::uint64_t i = 0; i < kStable; ++i) {
    stable_keys[Stable(i)] = "s" + std::to_string(i);
  }
  for (const auto& [k, v] : stable_keys) {
    ASSERT_TRUE(tree_->Put(k, v).has_value());
    one_leaf.entries.push_back(Entry{k, v});
  }
  // Any two neighbouring leaves holding stable keys fit together with room to spare, so
  // whichever of them is small can always merge with the other: the tree can shrink to
  // one leaf. (Two leaves carry one header more, and up to three bounds: keys of at most
  // 14 bytes.)
  ASSERT_LE(EncodedNodeSize(one_leaf) + node_image_format::kHeaderSize + 3 * 14, options.node_bytes * 3 / 4);
  const int cycles = std::max(3, Scaled(4));
  const std::uint64_t keys_per_writer = static_cast<std::uint64_t>(std::max(150, Scaled(700)));
  const std::uint64_t churn_base = kStable + kWriters * keys_per_writer;
  std::atomic<std::uint64_t> scans{0}, rows_checked{0};
  int nudges = 0;  // rounds of NudgeTowardOneLeaf, over all cycles
  std::vector<std::string> errors(kWorkers);
  std::vector<std::thread> threads;
  using Turn = CollapseRace::Turn;
  using Control = CollapseRace::Control;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      tl_worker = t;
      std::string& error = errors[static_cast<std::size_t>(t)];
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      std::vector<std::uint64_t> ids(keys_per_writer);
      for (std::uint64_t i = 0; i < keys_per_writer; ++i) {
        ids[i] = kStable + i * kWriters + static_cast<std::uint64_t>(t);
      }
      int done = 0;
      for (;;) {
        const Turn turn = race.Next(t, [&](const Control& c) { return c.running && c.cycle > done; });
        if (turn == Turn::kStop) break;
        if (turn == Turn::kMeet) {
          // One of its keys in and out again, through the half-done collapse.
          const std::string key = Volatile(ids[rng() % ids.size()]);
          if (auto s = tree_->Put(key, "v"); !s) error = s.error().ToString();
          if (auto erased = tree_->Erase(key); !erased || !*erased) error = "a meeting write was lost";
          continue;
        }
        std::shuffle(ids.begin(), ids.end(), rng);
        for (std::uint64_t id : ids) {
          if (auto s = tree_->Put(Volatile(id), "v"); !s) error = s.error().ToString();
        }
        std::shuffle(ids.begin(), ids.end(), rng);
        for (std::uint64_t id : ids) {
          auto erased = tree_->Erase(Volatile(id));
          if (!erased) {
            error = erased.error().ToString();
          } else if (!*erased) {
            error = "a key this thread put was not there to erase";
          }
        }
        ++done;
        race.Update([](Control& c) { ++c.writers_done; });
      }
    });
  }
  // The churner: inserts and erases keys of its own while the load runs, and erases what
  // it holds when the load stops.
  threads.emplace_back([&] {
    tl_worker = kChurner;
    std::string& error = errors[kChurner];
    std::mt19937_64 rng(seed * 7);
    std::set<std::uint64_t> mine;
    for (;;) {
      const Turn turn = race.Next(kChurner, [&](const Control& c) { return c.running || !mine.empty(); });
      if (turn == Turn::kStop) break;
      const bool running = race.control().running;
      const std::uint64_t id =
          !running && turn == Turn::kWork && !mine.empty() ? *mine.begin() : churn_base + rng() % 16;
      if (mine.count(id)) {
        auto erased = tree_->Erase(Volatile(id));
        if (!erased || !*erased) error = erased ? "the churner's key was gone" : erased.error().ToString();
        mine.erase(id);
      } else {
        if (auto s = tree_->Put(Volatile(id), "churn"); !s) error = s.error().ToString();
        mine.insert(id);
      }
    }
  });
  // The reader.
  threads.emplace_back([&] {
    tl_worker = kReader;
    std::string& error = errors[kReader];
    std::mt19937_64 rng(seed * 11);
    while (race.Next(kReader, [](const Control& c) { return c.running; }) != Turn::kStop) {
      const std::uint64_t i = rng() % kStable;
      auto got = tree_->Get(Stable(i));
      if (!got) {
        error = got.error().ToString();
      } else if (!*got || **got != stable_keys.at(Stable(i))) {
        error = "a stable key went missing in a Get";
      }
    }
  });
  for (int s = 0; s < kScanners; ++s) {
    threads.emplace_back([&, s] {
      const int self = kWriters + 2 + s;
      tl_worker = self;
      std::string& error = errors[static_cast<std::size_t>(self)];
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(s));
      while (race.Next(self, [](const Control& c) { return c.running; }) != Turn::kStop) {
        // From the start or from a stable key, through all of them (the volatile keys in
        // between come and go).
        const std::string start = rng() % 2 == 0 ? std::string() : Stable(rng() % kStable);
        auto rows = tree_->Scan(start, 1u << 20);
        if (!rows) {
          error = rows.error().ToString();
          continue;
        }
        if (std::string order = CheckOrder(*rows, start); !order.empty()) error = order;
        std::size_t stable_rows = 0;
        for (const auto& [k, v] : *rows) {
          if (auto it = stable_keys.find(k); it != stable_keys.end()) {
            if (v != it->second) error = "a scan returned a stable key with another value";
            ++stable_rows;
          }
        }
        // The whole range to +infinity: every stable key from `start` on, exactly once.
        const auto expected =
            static_cast<std::size_t>(std::distance(stable_keys.lower_bound(start), stable_keys.end()));
        if (stable_rows != expected) {
          error = "a scan returned " + std::to_string(stable_rows) + " stable keys of " + std::to_string(expected);
        }
        rows_checked.fetch_add(stable_rows, std::memory_order_relaxed);
        scans.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  // The test's thread: runs the cycles; after each, with the workers idle, drives the tree
  // back to one leaf. Returns early on a failure (the workers are stopped below).
  auto one_leaf_again = [&](int cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    const BwTreeStats before = tree_->stats();
    race.Update([&](Control& c) {
      c.running = true;
      c.cycle = cycle;
    });
    ASSERT_TRUE(race.WaitFor([&](const Control& c) { return c.writers_done == kWriters * cycle; }))
        << "the writers did not finish the cycle";
    race.Update([](Control& c) { c.running = false; });
    for (int round = 0;; ++round) {
      ASSERT_TRUE(race.WaitQuiet()) << "the workers did not go idle";
      auto shape = tree_->Check();
      ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
      if (shape->nodes_per_level == std::vector<std::uint64_t>{1}) break;
      ASSERT_LT(round, 20) << "the tree does not shrink to one leaf: " << shape->nodes_per_level.size() << " levels, "
                           << shape->nodes() << " nodes";
      ++nudges;
      ASSERT_NO_FATAL_FAILURE(NudgeTowardOneLeaf(round, stable_keys, kStable, churn_base + 16));
    }
    // The tree was one leaf when the cycle began and is one again: each level a root
    // push-down added, a collapse took away. The writers' keys do not fit one leaf.
    const BwTreeStats after = tree_->stats();
    EXPECT_GT(after.root_splits, before.root_splits);
    EXPECT_EQ(after.root_collapses - before.root_collapses, after.root_splits - before.root_splits);
  };
  auto run = [&] {
    ASSERT_TRUE(race.WaitQuiet());
    auto shape = tree_->Check();
    ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
    ASSERT_EQ(shape->nodes_per_level, std::vector<std::uint64_t>{1});
    for (int cycle = 1; cycle <= cycles; ++cycle) ASSERT_NO_FATAL_FAILURE(one_leaf_again(cycle));
  };
  run();
  race.Update([](Control& c) { c.stop = true; });
  JoinWithoutErrors(threads, errors);
  EXPECT_EQ(race.error(), "");
  // Every collapse was held until all six workers had met it.
  EXPECT_GE(race.held_collapses(), static_cast<std::uint64_t>(cycles));
  EXPECT_EQ(race.held_collapses(), tree_->stats().root_collapses);
  EXPECT_EQ(race.min_arrivals(), kWorkers);
  EXPECT_GT(scans.load(), 0u);
  EXPECT_GT(rows_checked.load(), 0u);
  // The tree holds the stable keys only, in one leaf, and every page it ever freed is
  // gone from the store.
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree_, stable_keys, &shape));
  EXPECT_EQ(shape.nodes_per_level, std::vector<std::uint64_t>{1});
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
  std::printf("root collapses: %llu in %d cycles, each met by all %d workers; nudges: %d\n",
              static_cast<unsigned long long>(race.held_collapses()), cycles, kWorkers, nudges);
}

TEST_F(BwTreeConcurrencyTest, RacingInsertsAndDeletesLeaveExactlyTheLastWrites) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kThreads = 4;
  // The first split and the first merge are held until every other thread has written
  // against them.
  HeldSteps held({kSplitStep, kMergeStep}, Flags(kThreads, 0, kThreads), Flags(kThreads, 0, kThreads));
  ASSERT_NO_FATAL_FAILURE(OpenHolding(SmallNodeOptions(256, 2), held));
  const std::uint64_t keys_per_thread = static_cast<std::uint64_t>(Scaled(1500));
  // Past 2 * keys_per_thread random writes, a thread only erases until a split and a
  // merge were held (its nodes empty, so merges come); the bound only turns a tree that
  // never merges into a failure instead of a hang.
  const std::uint64_t max_writes = 20 * keys_per_thread;
  std::vector<std::map<std::string, std::string>> models(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      tl_worker = t;
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      auto& model = models[t];
      // Thread t owns keys i * kThreads + t; all threads' keys interleave in every node.
      auto key = [&](std::uint64_t i) { return KeyOf(i * kThreads + static_cast<std::uint64_t>(t)); };
      for (std::uint64_t i = 0; i < keys_per_thread && errors[t].empty(); ++i) {
        const std::string v = ValueOf(static_cast<std::uint64_t>(t), i, rng);
        if (auto s = tree_->Put(key(i), v); !s) errors[t] = s.error().ToString();
        model[key(i)] = v;
        held.Finished(t);
      }
      for (std::uint64_t n = 0; (n < 2 * keys_per_thread || !held.AllHeld()) && errors[t].empty(); ++n) {
        if (n == max_writes) {
          errors[t] = "no split and merge to hold in " + std::to_string(n) + " writes";
          break;
        }
        const std::uint64_t i = rng() % keys_per_thread;
        if (rng() % 3 == 0 && n < 2 * keys_per_thread) {
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
        held.Finished(t);
      }
      held.Exit(t);
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::string, std::string> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    all.insert(models[t].begin(), models[t].end());
  }
  EXPECT_TRUE(MatchesModel(*tree_, all));
  EXPECT_EQ(held.error(), "");
  EXPECT_TRUE(held.WasHeld(kSplitStep)) << "no split raced the other writers";
  EXPECT_TRUE(held.WasHeld(kMergeStep)) << "no merge raced the other writers";
  const BwTreeStats stats = tree_->stats();
  EXPECT_GT(stats.splits, 0u);  // the keys fill many nodes
  EXPECT_GT(stats.merges, 0u);  // the held merge got as far as erasing its tombstone
  // The tree (several times the budget at any scale) outgrows twice the budget, where
  // the writer that grew it evicts (Store::AfterGrowth), whenever the maintenance thread
  // runs.
  EXPECT_GT(store_->stats().evictions, 0u) << "the memory budget should have evicted pages";
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

}  // namespace
}  // namespace llama::bwtree::test
