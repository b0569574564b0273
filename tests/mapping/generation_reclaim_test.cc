// What a reclaim pass frees, as exact facts. Readers and retiring writers are real
// threads, but each enters, leaves or retires only when the script hands it the step
// (ScriptedThread), so every count below is the same however the threads are scheduled.
//
// The manager orders retirements and readers by generation: a reader holds back what was
// retired in its entry generation or later. "Retired before a reader entered" therefore
// means retired in an earlier generation; the scripts end a generation (TryReclaim)
// between a retirement and an entry that is meant to come after it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "llama/generation_manager.h"
#include "tests/mapping/reclaim_ledger.h"
#include "tests/mapping/scripted_thread.h"

namespace llama {
namespace {

using testing::Objects;
using testing::ReclaimLedger;
using testing::ScriptedThread;

// Shards never reach their threshold in these scripts, so only TryReclaim reclaims and
// only it ends a generation: the script alone decides both.
GenerationManager::Options OnlyExplicitReclaim() {
  GenerationManager::Options options;
  options.retire_batch = std::size_t{1} << 30;
  return options;
}

// A reader on its own thread that enters and leaves a generation when told to.
class ScriptedReader {
 public:
  explicit ScriptedReader(GenerationManager& generations) : generations_(generations) {}

  // Returns the generation it entered.
  std::uint64_t Enter() {
    thread_.Run([this] { guard_.emplace(generations_.Enter()); });
    return guard_->generation();
  }
  void Leave() {
    thread_.Run([this] { guard_.reset(); });
  }
  bool inside() const { return guard_.has_value(); }

 private:
  GenerationManager& generations_;
  std::optional<GenerationGuard> guard_;
  ScriptedThread thread_;  // last: joined before the guard it touches goes away
};

// A writer on its own thread (its retirements go to that thread's shard) that retires
// when told to.
class ScriptedRetirer {
 public:
  ScriptedRetirer(GenerationManager& generations, ReclaimLedger& ledger) : generations_(generations), ledger_(ledger) {}

  // Retires the objects first .. last - 1.
  void Retire(std::uintptr_t first, std::uintptr_t last) {
    thread_.Run([=, this] {
      for (std::uintptr_t object = first; object < last; ++object) {
        ledger_.Retire(generations_, object);
      }
    });
  }

 private:
  GenerationManager& generations_;
  ReclaimLedger& ledger_;
  ScriptedThread thread_;
};

// Readers enter one generation apart, each followed by one batch of retirements, then
// leave oldest first: each pass frees exactly the batch retired before the new oldest
// reader entered, and once the last has left nothing is pending.
TEST(GenerationReclaimTest, ReclaimFreesEverythingRetiredBeforeTheOldestReaderEntered) {
  constexpr std::size_t kReaders = 4;
  constexpr std::uintptr_t kBatch = 5;
  ReclaimLedger ledger;
  GenerationManager gm(OnlyExplicitReclaim());
  ScriptedRetirer writer(gm, ledger);
  std::deque<ScriptedReader> readers;
  for (std::size_t r = 0; r < kReaders; ++r) {
    const std::uint64_t generation = gm.current_generation();
    EXPECT_EQ(readers.emplace_back(gm).Enter(), generation);
    writer.Retire(r * kBatch, (r + 1) * kBatch);
    ASSERT_EQ(gm.TryReclaim(), 0u) << "the first reader entered before every batch";
  }
  ASSERT_EQ(gm.retired_pending(), kReaders * kBatch);
  for (std::size_t r = 0; r < kReaders; ++r) {
    SCOPED_TRACE("reader " + std::to_string(r) + " left");
    readers[r].Leave();
    EXPECT_EQ(gm.TryReclaim(), kBatch);
    EXPECT_EQ(ledger.Reclaimed(), Objects(0, (r + 1) * kBatch));
    EXPECT_EQ(gm.retired_pending(), (kReaders - r - 1) * kBatch);
  }
  EXPECT_EQ(gm.retired_pending(), 0u);
  EXPECT_EQ(gm.reclaimed_total(), kReaders * kBatch);
}

// A reader stays inside while others come and go and two writers keep retiring: passes
// free what was retired before it entered, and hold back exactly what came after.
TEST(GenerationReclaimTest, StalledReaderHoldsBackExactlyWhatWasRetiredAfterItEntered) {
  constexpr std::uintptr_t kBefore = 6, kPerRound = 5, kRounds = 6;
  ReclaimLedger ledger;
  GenerationManager gm(OnlyExplicitReclaim());
  ScriptedRetirer writer(gm, ledger), other_writer(gm, ledger);
  ScriptedReader earlier(gm), stalled(gm), visitor(gm);
  earlier.Enter();
  writer.Retire(0, kBefore);
  ASSERT_EQ(gm.TryReclaim(), 0u) << "`earlier` holds them; the pass ends their generation";
  stalled.Enter();
  earlier.Leave();
  EXPECT_EQ(gm.TryReclaim(), kBefore) << "retired before the stalled reader entered";
  std::uintptr_t retired = kBefore;
  for (std::uintptr_t round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    visitor.Enter();
    writer.Retire(retired, retired + 2);
    other_writer.Retire(retired + 2, retired + kPerRound);
    retired += kPerRound;
    if (round % 2 == 0) visitor.Leave();  // visitors leave before or after the pass
    EXPECT_EQ(gm.TryReclaim(), 0u);
    if (visitor.inside()) visitor.Leave();
    EXPECT_EQ(gm.retired_pending(), retired - kBefore);
    EXPECT_EQ(ledger.Reclaimed(), Objects(0, kBefore));
  }
  stalled.Leave();
  EXPECT_EQ(gm.TryReclaim(), retired - kBefore);
  EXPECT_EQ(ledger.Reclaimed(), Objects(0, retired));
}

// The granularity of "before": a reader that enters in the generation of a retirement
// cannot be told apart from one that entered just before it, so it holds it back too.
TEST(GenerationReclaimTest, AReaderThatEnteredInTheRetirementsGenerationHoldsItBack) {
  ReclaimLedger ledger;
  GenerationManager gm(OnlyExplicitReclaim());
  ScriptedRetirer writer(gm, ledger);
  ScriptedReader reader(gm);
  const std::uint64_t retired_in = gm.current_generation();
  writer.Retire(0, 4);
  EXPECT_EQ(reader.Enter(), retired_in) << "no pass ended the generation in between";
  EXPECT_EQ(gm.TryReclaim(), 0u);
  EXPECT_EQ(gm.retired_pending(), 4u);
  reader.Leave();
  EXPECT_EQ(gm.TryReclaim(), 4u);
  EXPECT_EQ(ledger.Reclaimed(), Objects(0, 4));
}

// Readers that entered in different generations leave youngest first, so nothing can be
// freed until the oldest leaves; then one pass frees everything, each object once.
TEST(GenerationReclaimTest, NothingIsPendingOnceEveryReaderHasLeft) {
  constexpr std::uintptr_t kReaders = 3, kPerReader = 4;
  ReclaimLedger ledger;
  GenerationManager gm(OnlyExplicitReclaim());
  ScriptedRetirer writer(gm, ledger), other_writer(gm, ledger);
  std::deque<ScriptedReader> readers;
  for (std::uintptr_t r = 0; r < kReaders; ++r) {
    readers.emplace_back(gm).Enter();
    (r % 2 == 0 ? writer : other_writer).Retire(r * kPerReader, (r + 1) * kPerReader);
    ASSERT_EQ(gm.TryReclaim(), 0u);
  }
  for (std::uintptr_t r = kReaders; r-- > 1;) {
    readers[r].Leave();
    ASSERT_EQ(gm.TryReclaim(), 0u) << "reader 0 is still inside";
  }
  readers[0].Leave();
  EXPECT_EQ(gm.active_readers(), 0u);
  EXPECT_EQ(gm.TryReclaim(), kReaders * kPerReader);
  EXPECT_EQ(gm.retired_pending(), 0u);
  EXPECT_EQ(ledger.Reclaimed(), Objects(0, kReaders * kPerReader));
}

// The rule itself, as a model: a pass ends the current generation and frees exactly what
// was retired in a generation below every reader's entry generation.
class GenerationModel {
 public:
  explicit GenerationModel(std::uint64_t first_generation) : generation_(first_generation) {}

  std::uint64_t generation() const { return generation_; }
  void Enter(std::size_t reader) { entered_[reader] = generation_; }
  void Leave(std::size_t reader) { entered_.erase(reader); }
  void Retire(std::uintptr_t object) { pending_.push_back({object, generation_}); }
  // Returns the objects the pass frees, in increasing order.
  std::vector<std::uintptr_t> Reclaim() {
    std::uint64_t safe_below = ++generation_;
    for (const auto& [reader, generation] : entered_) safe_below = std::min(safe_below, generation);
    std::vector<std::uintptr_t> freed;
    std::erase_if(pending_, [&](const Retirement& r) {
      if (r.generation >= safe_below) return false;
      freed.push_back(r.object);
      return true;
    });
    return freed;
  }
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Retirement {
    std::uintptr_t object;
    std::uint64_t generation;
  };
  std::uint64_t generation_;
  std::map<std::size_t, std::uint64_t> entered_;  // reader -> entry generation
  std::vector<Retirement> pending_;
};

// A seeded random script of enters, leaves, retirements (from two writer threads) and
// passes, run against the manager and the model side by side.
class RandomScript {
 public:
  static constexpr std::size_t kReaders = 4;
  static constexpr std::uintptr_t kMostPerRetire = 4;

  explicit RandomScript(std::uint32_t seed) : rng_(seed), gm_(OnlyExplicitReclaim()), model_(gm_.current_generation()) {
    for (std::size_t r = 0; r < kReaders; ++r) readers_.emplace_back(gm_);
    for (int w = 0; w < 2; ++w) writers_.emplace_back(gm_, ledger_);
  }

  void Step() {
    const std::uint32_t pick = rng_() % 10;
    if (pick < 4) {
      ToggleReader(rng_() % kReaders);
    } else if (pick < 8) {
      RetireSome();
    } else {
      ReclaimAndCheck();
    }
    ASSERT_EQ(gm_.retired_pending(), model_.pending());
  }

  // Every reader leaves; the pass after that frees everything still pending.
  void Finish() {
    for (std::size_t r = 0; r < kReaders; ++r) {
      if (readers_[r].inside()) ToggleReader(r);
    }
    ReclaimAndCheck();
    EXPECT_EQ(gm_.retired_pending(), 0u);
    EXPECT_EQ(ledger_.Reclaimed(), Objects(0, retired_));
  }

 private:
  void ToggleReader(std::size_t r) {
    if (readers_[r].inside()) {
      readers_[r].Leave();
      model_.Leave(r);
    } else {
      ASSERT_EQ(readers_[r].Enter(), model_.generation());
      model_.Enter(r);
    }
  }
  void RetireSome() {
    const std::uintptr_t count = 1 + rng_() % kMostPerRetire;
    writers_[rng_() % writers_.size()].Retire(retired_, retired_ + count);
    for (std::uintptr_t object = retired_; object < retired_ + count; ++object) {
      model_.Retire(object);
    }
    retired_ += count;
  }
  void ReclaimAndCheck() {
    const std::vector<std::uintptr_t> expected = model_.Reclaim();
    ASSERT_EQ(gm_.TryReclaim(), expected.size());
    freed_.insert(freed_.end(), expected.begin(), expected.end());
    std::sort(freed_.begin(), freed_.end());
    ASSERT_EQ(ledger_.Reclaimed(), freed_);
  }

  std::mt19937 rng_;
  ReclaimLedger ledger_;
  GenerationManager gm_;
  GenerationModel model_;
  std::deque<ScriptedReader> readers_;  // after gm_: they leave before it is destroyed
  std::deque<ScriptedRetirer> writers_;
  std::uintptr_t retired_ = 0;         // objects retired so far: 0 .. retired_ - 1
  std::vector<std::uintptr_t> freed_;  // objects the model freed so far, in order
};

TEST(GenerationReclaimTest, RandomScriptsFreeExactlyWhatTheModelFrees) {
  constexpr int kSteps = 200;
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomScript script(seed);
    for (int step = 0; step < kSteps; ++step) {
      script.Step();
      if (::testing::Test::HasFatalFailure()) return;
    }
    script.Finish();
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace llama
