// Concurrency tests for the mapping table and its generations. Run under ThreadSanitizer
// by the tsan preset; under AddressSanitizer a reclamation bug shows as a use after free.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <latch>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mapping/mapping_table.h"
#include "tests/mapping/scripted_thread.h"
#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::UpdateRecord;

std::string WriteTag(int thread, int seq) { return std::to_string(thread) + ":" + std::to_string(seq) + ";"; }

// Prepends `payload` to `pid`, retrying on lost races. Returns the number of retries.
int PrependWithRetry(MappingTable& table, PageId pid, const std::string& payload) {
  auto g = table.EnterGeneration();
  PageRef head = *table.Read(g, pid);
  auto record = UpdateRecord(pid, payload);
  for (int retries = 0;; ++retries) {
    auto out = table.UpdateD(g, pid, head, record);
    EXPECT_TRUE(out.has_value());
    if (out->installed) return retries;
    head = out->head;
  }
}

// Every write tag found in the page: base contents and update payloads.
std::multiset<std::string> TagsOf(PageState state) {
  std::multiset<std::string> tags;
  auto split = [&](std::string_view s) {
    while (!s.empty()) {
      const auto end = s.find(';');
      tags.insert(std::string(s.substr(0, end + 1)));
      s.remove_prefix(end + 1);
    }
  };
  for (const PageNode& node : state) {
    if (node.is_base()) split(AsStringView(node.base()->contents()));
    if (node.is_delta()) split(AsStringView(node.delta()->payload()));
  }
  return tags;
}

TEST(MappingTableConcurrencyTest, ConcurrentPrependsLoseNoDelta) {
  constexpr int kThreads = 4, kWrites = 2000, kPages = 4;
  MappingTable table;
  std::vector<PageId> pages;
  for (int i = 0; i < kPages; ++i) pages.push_back(*table.Allocate());
  std::atomic<int> retries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        retries += PrependWithRetry(table, pages[(t + i) % kPages], WriteTag(t, i));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::multiset<std::string> all;
  auto g = table.EnterGeneration();
  for (PageId pid : pages) {
    auto tags = TagsOf(table.Read(g, pid)->state());
    all.insert(tags.begin(), tags.end());
  }
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kWrites));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kWrites; ++i) ASSERT_EQ(all.count(WriteTag(t, i)), 1u) << WriteTag(t, i);
  }
  std::cout << "lost CAS races retried: " << retries.load() << "\n";
}

TEST(MappingTableConcurrencyTest, UpdateRRacingUpdateDLosesNothing) {
  constexpr int kWriters = 3, kWrites = 1500, kPages = 4, kWritesPerConsolidation = 250;
  MappingTable table;
  std::vector<PageId> pages;
  for (int i = 0; i < kPages; ++i) pages.push_back(*table.Allocate());
  std::atomic<bool> done{false};
  std::atomic<int> consolidations{0}, lost_races{0};
  std::thread consolidator([&] {
    std::mt19937 rng(7);
    while (!done.load()) {
      const PageId pid = pages[rng() % kPages];
      auto g = table.EnterGeneration();
      const PageRef head = *table.Read(g, pid);
      if (!head.in_memory() || head.node()->chain_length() < 8) continue;
      // Oldest first: base contents, then deltas bottom-up.
      std::vector<std::string> parts;
      for (const PageNode& node : head.state()) {
        parts.emplace_back(AsStringView(node.is_base() ? node.base()->contents() : node.delta()->payload()));
      }
      std::string contents;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) contents += *it;
      OwnedChain state = testing::BaseChain(pid, contents, BasePage::kMaxPageSize);
      auto out = table.UpdateR(g, pid, head, state);
      ASSERT_TRUE(out.has_value());
      (out->installed ? consolidations : lost_races)++;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        // Keep the consolidator in the race: a slow Update-R can lose every CAS to three
        // fast writers, so writers wait for it to win now and then. It always can: with
        // the writers waiting, nothing changes the heads it read.
        while (consolidations.load() < i / kWritesPerConsolidation) std::this_thread::yield();
        PrependWithRetry(table, pages[i % kPages], WriteTag(t, i));
      }
    });
  }
  for (auto& th : writers) th.join();
  done = true;
  consolidator.join();
  std::multiset<std::string> all;
  {
    auto g = table.EnterGeneration();
    for (PageId pid : pages) {
      auto tags = TagsOf(table.Read(g, pid)->state());
      all.insert(tags.begin(), tags.end());
    }
  }
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kWriters * kWrites));
  for (int t = 0; t < kWriters; ++t) {
    for (int i = 0; i < kWrites; ++i) ASSERT_EQ(all.count(WriteTag(t, i)), 1u) << WriteTag(t, i);
  }
  // Forced, not hoped for: each writer waited for this many before its last write.
  EXPECT_GE(consolidations.load(), (kWrites - 1) / kWritesPerConsolidation);
  std::cout << "consolidations " << consolidations << ", lost to Update-D " << lost_races << "\n";
}

// Walks the chain of one page, checking every node belongs to it. Returns the nodes
// walked (none when the page was freed in between: fine).
long WalkRandomPage(MappingTable& table, const std::vector<std::atomic<PageId>>& pages, std::mt19937& rng) {
  auto g = table.EnterGeneration();
  const PageId pid = pages[rng() % pages.size()].load();
  auto ref = table.Read(g, pid);
  if (!ref) return 0;
  long walked = 0;
  for (const PageNode& node : ref->state()) {
    const PageId owner = node.is_base() ? node.base()->pid() : node.delta()->pid();
    EXPECT_EQ(owner, pid);
    if (node.is_delta() && node.delta()->is_update()) {
      EXPECT_EQ(AsStringView(node.delta()->payload()), "page" + std::to_string(pid));
    }
    ++walked;
  }
  return walked;
}

// Readers walk whole chains, check every node belongs to the page they read, while
// writers prepend, consolidate, swap out, free and reallocate. A reclaimed node would be
// a use after free (ASan) or a garbage pid.
TEST(MappingTableConcurrencyTest, ReadersWalkChainsWhileStatesAreReplacedAndReclaimed) {
  constexpr int kPages = 8, kWriterOps = 4000, kReaders = 2;
  MappingTable::Options options;
  options.generations.retire_batch = 8;
  MappingTable table(options);
  std::vector<std::atomic<PageId>> pages(kPages);
  for (auto& p : pages) p = *table.Allocate();
  const std::int64_t baseline = PageNode::live_count();
  std::atomic<bool> done{false};
  std::atomic<long> nodes_walked{0};
  // Writers wait halfway until every reader has walked once: on a loaded machine they
  // could otherwise finish before a reader ran at all, and the test would test nothing.
  std::latch every_reader_walked(kReaders);

  auto reader = [&] {
    std::mt19937 rng(11);
    long walked = WalkRandomPage(table, pages, rng);
    every_reader_walked.count_down();
    while (!done.load()) walked += WalkRandomPage(table, pages, rng);
    nodes_walked += walked;
  };
  auto writer = [&](int seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < kWriterOps; ++i) {
      if (i == kWriterOps / 2) every_reader_walked.wait();
      const int slot = static_cast<int>(rng() % kPages);
      const PageId pid = pages[slot].load();
      auto g = table.EnterGeneration();
      auto ref = table.Read(g, pid);
      if (!ref) continue;
      const int op = static_cast<int>(rng() % 10);
      if (op < 6) {
        (void)table.UpdateD(g, pid, *ref, UpdateRecord(pid, "page" + std::to_string(pid)));
      } else if (op < 8) {
        OwnedChain state = testing::BaseChain(pid, "b");
        (void)table.UpdateR(g, pid, *ref, state);
      } else if (op < 9) {
        (void)table.UpdateR(g, pid, *ref, LssAddress::Make(1, 64));
      } else {
        // Replace the page by a new one; the freed id is recycled later.
        PageId expected = pid;
        auto fresh = table.Allocate();
        ASSERT_TRUE(fresh.has_value());
        if (pages[slot].compare_exchange_strong(expected, *fresh)) {
          ASSERT_TRUE(table.Free(g, pid).has_value());
        } else {
          ASSERT_TRUE(table.Free(g, *fresh).has_value());
        }
      }
    }
  };
  std::vector<std::thread> readers, writers;
  for (int r = 0; r < kReaders; ++r) readers.emplace_back(reader);
  writers.emplace_back(writer, 1);
  writers.emplace_back(writer, 2);
  for (auto& th : writers) th.join();
  done = true;
  for (auto& th : readers) th.join();
  std::cout << "nodes walked by readers: " << nodes_walked.load() << "\n";
  EXPECT_EQ(table.pages_in_use(), static_cast<std::uint64_t>(kPages));
  // With every guard gone, one pass frees every retired chain: the installed ones remain.
  table.generations().TryReclaim();
  EXPECT_EQ(table.generations().retired_pending(), 0u);
  std::int64_t installed = 0;
  auto g = table.EnterGeneration();
  for (auto& p : pages) installed += static_cast<std::int64_t>(table.Read(g, p.load())->state().chain_length());
  EXPECT_EQ(PageNode::live_count() - baseline, installed);
}

TEST(MappingTableConcurrencyTest, FreedIdsAreNotReusedWhileAReaderHoldsAnOldGeneration) {
  MappingTable::Options options;
  options.generations.retire_batch = 1;
  MappingTable table(options);
  const PageId victim = *table.Allocate();
  std::atomic<int> phase{0};
  std::thread reader([&] {
    auto g = table.EnterGeneration();
    PageRef head = *table.Read(g, victim);
    head = table.UpdateD(g, victim, head, UpdateRecord(victim, "old"))->head;
    phase = 1;  // holding the generation and a head of the victim page
    while (phase.load() != 2) std::this_thread::yield();
    // The page was freed and ids churned meanwhile; the chain must be intact.
    EXPECT_EQ(testing::Describe(head), std::vector<std::string>{"old"});
  });
  while (phase.load() != 1) std::this_thread::yield();
  {
    auto g = table.EnterGeneration();
    ASSERT_TRUE(table.Free(g, victim).has_value());
  }
  for (int i = 0; i < 2000; ++i) {
    const PageId pid = *table.Allocate();
    ASSERT_NE(pid, victim) << "freed id reused while a reader could still see it";
    auto g = table.EnterGeneration();
    ASSERT_TRUE(table.Free(g, pid).has_value());
  }
  phase = 2;
  reader.join();
  table.generations().TryReclaim();
  // Every churned id was reclaimed too; the victim is somewhere in the free list.
  bool reused = false;
  for (int i = 0; i < 2100 && !reused; ++i) reused = (*table.Allocate() == victim);
  EXPECT_TRUE(reused) << "the id should be reusable once no reader can see it";
}

// The scripted churn's bookkeeping: which states are installed, which retired states
// still wait, and how many nodes each holds. Steps are generations: a reclaim pass ends
// each one, and a reader holds back what was retired from its entry step on.
class ChurnModel {
 public:
  explicit ChurnModel(std::size_t pages) : installed_nodes_(pages, 0) {}

  std::int64_t installed_nodes(std::size_t page) const { return installed_nodes_[page]; }
  std::int64_t installed_nodes() const {
    return std::accumulate(installed_nodes_.begin(), installed_nodes_.end(), std::int64_t{0});
  }
  void BeginStep() { retired_by_step_.emplace_back(); }
  // `deltas` Update-D's, then an Update-R to a one-node base: the old chain is retired
  // unless it was no chain at all (a page that never had a state).
  void Replace(std::size_t page, int deltas) {
    const std::int64_t old_chain = installed_nodes_[page] + deltas;
    if (old_chain > 0) {
      retired_by_step_.back().items++;
      retired_by_step_.back().nodes += old_chain;
    }
    installed_nodes_[page] = 1;
  }
  void Enter(std::size_t reader) { entered_step_[reader] = retired_by_step_.size(); }
  void Leave(std::size_t reader) { entered_step_.erase(reader); }
  bool inside(std::size_t reader) const { return entered_step_.contains(reader); }
  std::size_t steps_inside(std::size_t reader) const { return retired_by_step_.size() - entered_step_.at(reader); }

  struct Retired {
    std::size_t items = 0;
    std::int64_t nodes = 0;
  };
  // What waits after the step's reclaim pass: everything retired since the oldest reader
  // entered (nothing without readers).
  Retired Pending() const {
    std::size_t oldest = retired_by_step_.size();
    for (const auto& [reader, step] : entered_step_) oldest = std::min(oldest, step);
    return Sum(oldest);
  }
  Retired Total() const { return Sum(0); }

 private:
  Retired Sum(std::size_t from_step) const {
    Retired sum;
    for (std::size_t s = from_step; s < retired_by_step_.size(); ++s) {
      sum.items += retired_by_step_[s].items;
      sum.nodes += retired_by_step_[s].nodes;
    }
    return sum;
  }

  std::vector<std::int64_t> installed_nodes_;
  std::vector<Retired> retired_by_step_;
  std::map<std::size_t, std::size_t> entered_step_;  // reader -> step it entered in
};

// A reader on its own thread: enters, reads one page's head and walks that chain (the
// state it saw, however often the page was replaced since) until it is told to leave.
class ChurnReader {
 public:
  explicit ChurnReader(MappingTable& table) : table_(table) {}

  void StartEnter(PageId page, std::int64_t expected_nodes) {
    thread_.Start([=, this] {
      guard_.emplace(table_.EnterGeneration());
      page_ = page;
      expected_nodes_ = expected_nodes;
      head_ = *table_.Read(*guard_, page);
      Walk();
    });
  }
  void StartWalk() {
    thread_.Start([this] { Walk(); });
  }
  void StartLeave() {
    thread_.Start([this] { guard_.reset(); });
  }
  void Wait() { thread_.Wait(); }

 private:
  void Walk() {
    std::int64_t nodes = 0;
    for (const PageNode& node : head_.state()) {
      const PageId owner = node.is_base() ? node.base()->pid() : node.delta()->pid();
      ASSERT_EQ(owner, page_) << "a node of another page: the chain was freed and reused";
      ++nodes;
    }
    EXPECT_EQ(nodes, expected_nodes_) << "page " << page_;
  }

  MappingTable& table_;
  std::optional<GenerationGuard> guard_;
  PageId page_ = 0;
  PageRef head_ = PageRef::Empty();
  std::int64_t expected_nodes_ = 0;
  testing::ScriptedThread thread_;  // last: joined before the guard it touches goes away
};

// Replaces each of its pages once per step from its own thread: a few Update-D's, then
// an Update-R to a fresh base, so every step retires each page's chain.
class ChurnWriter {
 public:
  ChurnWriter(MappingTable& table, std::vector<PageId> pages) : table_(table), pages_(std::move(pages)) {}

  void StartReplace(std::vector<int> deltas_per_page) {
    thread_.Start([this, deltas = std::move(deltas_per_page)] {
      auto g = table_.EnterGeneration();
      for (std::size_t i = 0; i < pages_.size(); ++i) {
        const PageId pid = pages_[i];
        PageRef head = *table_.Read(g, pid);
        for (int d = 0; d < deltas[i]; ++d) {
          auto prepended = table_.UpdateD(g, pid, head, UpdateRecord(pid, "d"));
          ASSERT_TRUE(prepended.has_value() && prepended->installed) << "only this thread writes";
          head = prepended->head;
        }
        OwnedChain state = testing::BaseChain(pid, "state");
        auto replaced = table_.UpdateR(g, pid, head, state);
        ASSERT_TRUE(replaced.has_value() && replaced->installed) << "only this thread writes";
      }
    });
  }
  void Wait() { thread_.Wait(); }

 private:
  MappingTable& table_;
  const std::vector<PageId> pages_;
  testing::ScriptedThread thread_;
};

// Endless churn with readers coming and going, as a script. Each step is one generation:
// some readers leave and some enter (on their own threads), the writers replace every
// page while the readers walk the chains they read, and a reclaim pass ends the step
// while they walk them again. After every step, what waits, what was reclaimed and the
// nodes alive are checked exactly against the model, and against the bound.
class ScriptedChurn {
 public:
  static constexpr std::size_t kReaders = 3, kWriters = 2, kPagesPerWriter = 4;
  static constexpr std::size_t kPages = kWriters * kPagesPerWriter;
  static constexpr int kMostDeltas = 2;
  // What one generation can retire: every page's chain, once, of at most this many nodes.
  static constexpr std::size_t kMostItemsPerStep = kPages;
  static constexpr std::int64_t kMostNodesPerStep = kPages * (1 + kMostDeltas);
  // A reader stays for at most kReaders generations, as when readers arrive one a
  // generation and each stays while the others turn over. What it holds back is what was
  // retired from its entry on, so at most kReaders generations' worth waits.
  static constexpr std::size_t kMostStepsInside = kReaders;

  ScriptedChurn(std::uint32_t seed, std::size_t retire_batch)
      : rng_(seed), table_(TableOptions(retire_batch)), model_(kPages) {
    for (std::size_t p = 0; p < kPages; ++p) pages_.push_back(*table_.Allocate());
    baseline_nodes_ = PageNode::live_count();
    for (std::size_t r = 0; r < kReaders; ++r) readers_.emplace_back(table_);
    for (std::size_t w = 0; w < kWriters; ++w) {
      const auto first = pages_.begin() + static_cast<std::ptrdiff_t>(w * kPagesPerWriter);
      writers_.emplace_back(table_, std::vector<PageId>(first, first + kPagesPerWriter));
    }
  }

  void Step() {
    MoveReaders();
    ReplaceEveryPage();
    ReclaimWhileReadersWalk();
    CheckAgainstModel();
    ++step_;
  }

  // Every reader leaves: the next pass leaves nothing waiting, only the installed chains.
  void Finish() {
    for (std::size_t r = 0; r < kReaders; ++r) {
      if (model_.inside(r)) Leave(r);
    }
    for (ChurnReader& reader : readers_) reader.Wait();
    table_.generations().TryReclaim();
    EXPECT_EQ(table_.generations().retired_pending(), 0u);
    EXPECT_EQ(PageNode::live_count() - baseline_nodes_, model_.installed_nodes());
  }

 private:
  static MappingTable::Options TableOptions(std::size_t retire_batch) {
    MappingTable::Options options;
    options.generations.retire_batch = retire_batch;
    return options;
  }

  void Leave(std::size_t r) {
    readers_[r].StartLeave();
    model_.Leave(r);
  }
  // Readers past their stay leave; others leave, come back or stay as the seed says.
  void MoveReaders() {
    for (std::size_t r = 0; r < kReaders; ++r) {
      const std::uint32_t pick = rng_() % 4;
      if (model_.inside(r)) {
        if (model_.steps_inside(r) < kMostStepsInside && pick >= 2) continue;
        Leave(r);
      }
      if (pick % 2 == 1) continue;
      const std::size_t page = (r + step_) % kPages;
      readers_[r].StartEnter(pages_[page], model_.installed_nodes(page));
      model_.Enter(r);
    }
    for (ChurnReader& reader : readers_) reader.Wait();
  }
  void StartWalks() {
    for (std::size_t r = 0; r < kReaders; ++r) {
      if (model_.inside(r)) readers_[r].StartWalk();
    }
  }
  void ReplaceEveryPage() {
    model_.BeginStep();
    for (std::size_t w = 0; w < kWriters; ++w) {
      std::vector<int> deltas(kPagesPerWriter);
      for (std::size_t i = 0; i < kPagesPerWriter; ++i) {
        deltas[i] = static_cast<int>(rng_() % (kMostDeltas + 1));
        model_.Replace(w * kPagesPerWriter + i, deltas[i]);
      }
      writers_[w].StartReplace(std::move(deltas));
    }
    StartWalks();
    for (ChurnWriter& writer : writers_) writer.Wait();
    for (ChurnReader& reader : readers_) reader.Wait();
  }
  void ReclaimWhileReadersWalk() {
    StartWalks();
    table_.generations().TryReclaim();
    for (ChurnReader& reader : readers_) reader.Wait();
  }
  void CheckAgainstModel() {
    const GenerationManager& gm = table_.generations();
    const ChurnModel::Retired pending = model_.Pending();
    const std::int64_t live = PageNode::live_count() - baseline_nodes_;
    EXPECT_EQ(gm.retired_pending(), pending.items);
    EXPECT_EQ(gm.reclaimed_total(), model_.Total().items - pending.items);
    EXPECT_EQ(live, model_.installed_nodes() + pending.nodes);
    // The bound holds for every schedule of readers that keeps to kMostStepsInside.
    EXPECT_LE(gm.retired_pending(), kMostStepsInside * kMostItemsPerStep);
    EXPECT_LE(live, model_.installed_nodes() + static_cast<std::int64_t>(kMostStepsInside) * kMostNodesPerStep);
  }

  std::mt19937 rng_;
  MappingTable table_;
  std::vector<PageId> pages_;
  ChurnModel model_;
  std::int64_t baseline_nodes_ = 0;
  std::size_t step_ = 0;
  std::deque<ChurnReader> readers_;  // after table_: they leave before it goes away
  std::deque<ChurnWriter> writers_;
};

void RunScriptedChurn(std::size_t retire_batch) {
  constexpr int kSteps = 150;
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ScriptedChurn churn(seed, retire_batch);
    for (int step = 0; step < kSteps; ++step) {
      churn.Step();
      // Reader and writer threads report without the seed: name it (and the step) here.
      if (::testing::Test::HasFailure()) FAIL() << "first failure by step " << step;
    }
    churn.Finish();
    if (::testing::Test::HasFailure()) return;
  }
}

// Only the pass that ends each step reclaims, so every generation is one step.
TEST(MappingTableConcurrencyTest, ScriptedChurnKeepsRetiredStatesWithinTheReadersBound) {
  RunScriptedChurn(std::size_t{1} << 30);
}

// Writers also run shard passes of their own (every second retirement of a shard), which
// end generations and free chains mid-step. What waits after each step's pass is the
// same: a reader entered after every earlier step's retirements.
TEST(MappingTableConcurrencyTest, ScriptedChurnWithShardPassesKeepsTheSameBound) { RunScriptedChurn(2); }

}  // namespace
}  // namespace llama
