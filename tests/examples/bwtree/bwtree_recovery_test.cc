// The Bw-tree after crashes: every synced write is there after reopen, and the tree that
// recovery leaves is well formed (every prefix of the log is a valid tree).
//
// - Power cuts and torn crashes (lss/env_extras/fault_injection_env.h) during a concurrent load of
//   puts and erases, some synced and some not, that splits and merges nodes all the time:
//   at a random I/O operation, or at a split, a merge or a root collapse (through
//   BwTreeOptions::test_hook, so the crash lands there whatever the seed and the
//   machine's speed). After each crash: reopen, Check(), and for every key the value
//   recovered must be the last synced write to it or a later one.
// - kill -9 of a child process in the middle of a synced load (as tests/lss/
//   store_recovery_test.cc does for the store); the next child checks what the previous
//   one reported synced, and the parent checks at the end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lss/env_extras/fault_injection_env.h"
#include "tests/examples/bwtree/bwtree_test_util.h"
#include "tests/lss/file/env_test_util.h"

namespace llama::bwtree::test {
namespace {

// ---- Power cuts ----

// What one key went through in a round: the state it started from, then each write in
// order ("" = erased), whether the write's sync was acknowledged, whether it returned
// at all (a write cut off by the crash may or may not have reached the log).
struct KeyHistory {
  std::string start;
  struct Write {
    std::string value;
    bool synced;
  };
  std::vector<Write> writes;

  // The recovered value is allowed iff it is the state after the last synced write or
  // after some later write.
  bool Allows(const std::string& recovered) const {
    int last_synced = -1;
    for (int i = 0; i < static_cast<int>(writes.size()); ++i) {
      if (writes[static_cast<std::size_t>(i)].synced) last_synced = i;
    }
    if (last_synced < 0 && recovered == start) return true;
    for (int i = std::max(last_synced, 0); i < static_cast<int>(writes.size()); ++i) {
      if (writes[static_cast<std::size_t>(i)].value == recovered) return true;
    }
    return false;
  }
};

// A crash at the `occurrence`-th time the tree reaches `step` (BwTreeOptions::test_hook,
// on whichever thread gets there): the store lets `grace` more I/O operations through,
// then crashes (every later one fails). With `sync_first`, everything written so far is
// made durable there first, so the change is on disk exactly half done.
class CrashAtStep {
 public:
  // With no tree operation running.
  void Arm(FaultInjectionEnv* env, Store* store, std::string_view step, int occurrence, std::uint64_t grace,
           bool sync_first) {
    env_ = env;
    store_ = store;
    step_ = step;
    occurrence_ = occurrence;
    grace_ = grace;
    sync_first_ = sync_first;
    seen_ = 0;
    fired_ = false;
    sync_failed_ = false;
    armed_ = true;
  }
  void Disarm() { armed_ = false; }

  void Hook(std::string_view at) {
    if (!armed_ || at != step_ || seen_.fetch_add(1) + 1 != occurrence_) return;
    if (sync_first_ && !store_->SyncAll().has_value()) sync_failed_ = true;
    env_->SetCrashAfter(FaultOp::kAny, grace_);
    fired_ = true;
  }
  bool fired() const { return fired_; }
  bool sync_failed() const { return sync_failed_; }

 private:
  FaultInjectionEnv* env_ = nullptr;
  Store* store_ = nullptr;
  std::string step_;
  int occurrence_ = 0;
  std::uint64_t grace_ = 0;
  bool sync_first_ = false;
  std::atomic<bool> armed_{false};
  std::atomic<int> seen_{0};
  std::atomic<bool> fired_{false};
  std::atomic<bool> sync_failed_{false};
};

class BwTreePowerCutTest : public ::testing::Test, public TreeFixture {
 protected:
  void SetUp() override {
    std::string skip;
    base_env_ = testing_env::MakeEnvOrSkipReason(IoBackend::kPosix, &skip);
    ASSERT_NE(base_env_, nullptr) << skip;
    env_ = std::make_unique<FaultInjectionEnv>(base_env_.get());
  }
  void Open() {
    BwTreeOptions options = SmallNodeOptions(256, 3);
    options.test_hook = [this](std::string_view step) { crash_.Hook(step); };
    OpenTree(SmallStoreOptions(env_.get()), options);
  }

  // The crash after a round's load: the store goes without writing anything more, then
  // unsynced data is lost (every other round, a torn crash keeps random parts of it
  // instead). Then reopens.
  void CrashAndReopen(int round, std::uint64_t seed) {
    if (!env_->crashed()) env_->SetCrashAfter(FaultOp::kAny, 0);
    tree_.reset();
    store_.reset();
    auto cut =
        round % 2 == 0 ? env_->SimulatePowerCut() : env_->SimulateTornCrash(seed + static_cast<std::uint64_t>(round));
    ASSERT_TRUE(cut.has_value()) << cut.error().ToString();
    env_->ClearFaults();
    ASSERT_NO_FATAL_FAILURE(Open());
    orphans_freed_ += tree_->stats().orphans_freed;
  }

  // After a reopen: the tree is well formed, every key in `histories` holds a value its
  // history allows, every other key is as in `state` (which is brought up to date), and
  // no page leaked. Then closes the store cleanly.
  void VerifyRound(const std::vector<std::map<std::string, KeyHistory>>& histories,
                   std::map<std::string, std::string>& state, std::uint64_t* synced_writes) {
    auto shape = tree_->Check();
    ASSERT_TRUE(shape.has_value()) << "the recovered tree is malformed: " << shape.error().ToString();
    std::map<std::string, std::string> touched;
    for (const auto& mine : histories) {
      for (const auto& [key, h] : mine) {
        auto got = tree_->Get(key);
        ASSERT_TRUE(got.has_value()) << got.error().ToString();
        const std::string recovered = got->value_or("");
        ASSERT_TRUE(h.Allows(recovered)) << "a key recovered to \"" << recovered
                                         << "\", which is older than its last synced write";
        for (const auto& w : h.writes) *synced_writes += w.synced ? 1 : 0;
        touched[key] = recovered;
      }
    }
    for (const auto& [key, value] : touched) {
      if (value.empty()) {
        state.erase(key);
      } else {
        state[key] = value;
      }
    }
    // Keys nobody wrote this round are exactly as before.
    ASSERT_TRUE(MatchesModel(*tree_, state));
    // Open freed what the crash left unreachable (and the lookups finished what it left
    // half done): the store holds the tree's pages and nothing else.
    EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
    tree_.reset();
    ASSERT_TRUE(store_->Close().has_value());
  }

  // Puts every key of 0 .. keys-1 that `state` lacks (a value of `version`), then makes
  // everything durable.
  void Refill(std::uint64_t keys, std::uint64_t version, std::map<std::string, std::string>& state,
              std::mt19937_64& rng) {
    for (std::uint64_t i = 0; i < keys; ++i) {
      const std::string key = KeyOf(i);
      if (state.count(key)) continue;
      state[key] = ValueOf(9, version * keys + i, rng);
      ASSERT_TRUE(tree_->Put(key, state[key]).has_value());
    }
    ASSERT_TRUE(store_->FlushAll().has_value());
  }

  // Erases every key in `state`, then makes everything durable.
  void Drain(std::map<std::string, std::string>& state) {
    for (const auto& [key, value] : state) ASSERT_TRUE(tree_->Erase(key).has_value());
    state.clear();
    ASSERT_TRUE(store_->FlushAll().has_value());
  }

  // Writes `value` ("" erases) to `key` without sync, recorded in `h` (whose round
  // started from `state`). False once the store crashed.
  bool WriteRecorded(const std::string& key, const std::string& value, KeyHistory& h,
                     const std::map<std::string, std::string>& state) {
    if (h.writes.empty()) {
      auto it = state.find(key);
      h.start = it == state.end() ? "" : it->second;
    }
    h.writes.push_back({value, false});
    return value.empty() ? tree_->Erase(key).has_value() : tree_->Put(key, value).has_value();
  }

  std::uint64_t orphans_freed_ = 0;
  CrashAtStep crash_;

  std::unique_ptr<Env> base_env_;
  std::unique_ptr<FaultInjectionEnv> env_;
};

// A 3-thread load of puts and erases (a third of them synced), crashed in every round.
// Even rounds grow the tree from empty (mostly puts: splits), odd rounds shrink it from
// full (mostly erases: merges). In rounds 0 and 1 of every four the crash comes after a
// random number of I/O operations (anywhere: a consolidation, an index post, a sync); in
// rounds 2 and 3 at a structure change of the round's kind: at the k-th new node of a
// split, or after the k-th merge erased its tombstone, either a few I/O operations later
// or right there with everything before it durable (then Open must free the page only
// the pending page names). The volumes make those certain: growing from empty to about a
// thousand keys takes hundreds of new nodes, and shrinking from 1200 keys to a fifth of
// them empties most of some 300 leaves (should the load end first anyway, the test's
// thread erases every key, which merges every leaf but one).
TEST_F(BwTreePowerCutTest, EverySyncedWriteSurvivesCrashesDuringALoad) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kThreads = 3;
  const std::uint64_t keys_per_thread = 400;
  const int rounds = std::max(4, Scaled(12));
  std::map<std::string, std::string> state;  // what the tree held after the last reopen
  std::uint64_t synced_writes = 0;
  int step_crashes = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(Open());
    const bool shrinking = round % 2 == 1;
    if (shrinking) {
      ASSERT_NO_FATAL_FAILURE(Refill(kThreads * keys_per_thread, static_cast<std::uint64_t>(round), state, rng));
    } else {
      ASSERT_NO_FATAL_FAILURE(Drain(state));
    }
    const std::uint64_t erase_percent = shrinking ? 80 : 20;
    const bool at_step = round % 4 >= 2;
    // Every other time, with the half-done change durable: then Open must free the page
    // that only the pending page names (the new node, or the merged one).
    const bool sync_first = round % 8 < 4;
    const std::string_view step = shrinking ? "tombstone erased" : "new node flushed";
    const int occurrence = 1 + static_cast<int>(rng() % (shrinking ? 16 : 64));
    if (at_step) {
      crash_.Arm(env_.get(), store_.get(), step, occurrence, sync_first ? 0 : rng() % 4, sync_first);
    } else {
      // After 100 to 500 I/O operations (each synced write costs at least one, so a round
      // always runs some hundreds of writes first).
      env_->SetCrashAfter(FaultOp::kAny, 100 + rng() % 400);
    }
    std::vector<std::map<std::string, KeyHistory>> histories(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 local(seed * 1000 + static_cast<std::uint64_t>(round * kThreads + t));
        auto& mine = histories[t];
        for (int i = 0; i < 4000; ++i) {
          const std::string key = KeyOf((local() % keys_per_thread) * kThreads + static_cast<std::uint64_t>(t));
          KeyHistory& h = mine[key];
          if (h.writes.empty()) {
            auto it = state.find(key);
            h.start = it == state.end() ? "" : it->second;
          }
          const bool sync = local() % 3 == 0;
          const bool erase = local() % 100 < erase_percent;
          const std::string value =
              erase ? ""
                    : ValueOf(static_cast<std::uint64_t>(t),
                              static_cast<std::uint64_t>(round) * 100000 + static_cast<std::uint64_t>(i), local);
          h.writes.push_back({value, false});
          bool ok;
          if (erase) {
            ok = tree_->Erase(key, {.sync = sync}).has_value();
          } else {
            ok = tree_->Put(key, value, {.sync = sync}).has_value();
          }
          if (!ok) return;  // the crash: every later I/O fails too
          h.writes.back().synced = sync;
        }
      });
    }
    for (auto& th : threads) th.join();
    if (at_step) {
      for (std::uint64_t id = 0; shrinking && !crash_.fired() && id < kThreads * keys_per_thread; ++id) {
        const std::string key = KeyOf(id);
        if (!WriteRecorded(key, "", histories[id % kThreads][key], state)) break;
      }
      crash_.Disarm();
      ASSERT_TRUE(crash_.fired()) << "the load never reached \"" << step << "\" " << occurrence << " times";
      ASSERT_FALSE(crash_.sync_failed());
      ++step_crashes;
    }
    ASSERT_NO_FATAL_FAILURE(CrashAndReopen(round, seed));
    if (at_step && sync_first) {
      EXPECT_GT(tree_->stats().orphans_freed, 0u) << "Open freed no page";
    }
    ASSERT_NO_FATAL_FAILURE(VerifyRound(histories, state, &synced_writes));
  }
  // Synced writes return after some 2 to 4 I/O operations, far fewer than 100.
  EXPECT_GT(synced_writes, 0u);
  std::printf("crashes at a split or merge: %d of %d; pages freed by Open after crashes: %llu\n", step_crashes, rounds,
              static_cast<unsigned long long>(orphans_freed_));
}

// Rounds that fill the tree (durably) and then erase every key with synced erases from
// two threads, each crashed in the middle of a root collapse: at the k-th time a collapse
// retired the root's child (even rounds) or copied it into the root (odd rounds), k at
// most the number of collapses that take the tree from its height down to one leaf;
// either a few I/O operations later, or right there with everything before it durable
// (then the collapse is on disk half done). Should the erasing leave the tree taller than
// one leaf (a merge that lost a race to a concurrent change and was not retried), the
// test's thread puts and erases every key again until it is one leaf, so the k-th
// collapse always comes. After each crash every synced erase holds, the tree is well
// formed and no page leaked.
TEST_F(BwTreePowerCutTest, EverySyncedEraseSurvivesCrashesWhileTheTreeCollapses) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kThreads = 2;
  const std::uint64_t keys = static_cast<std::uint64_t>(std::max(200, Scaled(400)));
  const int rounds = std::max(6, Scaled(14));
  std::map<std::string, std::string> state;
  std::uint64_t synced_writes = 0, collapses = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(Open());
    // Every key back, durably, before the crash is armed.
    ASSERT_NO_FATAL_FAILURE(Refill(keys, static_cast<std::uint64_t>(round), state, rng));
    auto full = tree_->Check();
    ASSERT_TRUE(full.has_value()) << full.error().ToString();
    // Each collapse takes a level away (and only a root push-down adds one).
    const std::uint64_t at_least = full->nodes_per_level.size() - 1;
    ASSERT_GE(at_least, 1u) << "the keys should fill more than one leaf";
    const bool copied = round % 2 == 1;
    const std::string_view step = copied ? "root copied" : "child retired";
    // Every other pair of rounds, with the half-done collapse durable.
    const bool sync_first = round % 4 >= 2;
    const int occurrence = 1 + static_cast<int>(rng() % at_least);
    crash_.Arm(env_.get(), store_.get(), step, occurrence, sync_first ? 0 : rng() % 4, sync_first);
    std::vector<std::map<std::string, KeyHistory>> histories(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 local(seed * 1000 + static_cast<std::uint64_t>(round * kThreads + t));
        std::vector<std::uint64_t> ids;
        for (std::uint64_t i = static_cast<std::uint64_t>(t); i < keys; i += kThreads) ids.push_back(i);
        std::shuffle(ids.begin(), ids.end(), local);
        for (std::uint64_t id : ids) {
          const std::string key = KeyOf(id);
          KeyHistory& h = histories[static_cast<std::size_t>(t)][key];
          h.start = state.at(key);
          h.writes.push_back({"", false});
          if (!tree_->Erase(key, {.sync = true}).has_value()) return;  // the crash
          h.writes.back().synced = true;
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int nudge = 0; !crash_.fired(); ++nudge) {
      auto shape = tree_->Check();
      ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
      if (shape->nodes_per_level == std::vector<std::uint64_t>{1}) break;
      ASSERT_LT(nudge, 8) << "the empty tree does not shrink to one leaf";
      for (std::uint64_t id = 0; id < keys && !crash_.fired(); ++id) {
        const std::string key = KeyOf(id);
        KeyHistory& h = histories[id % kThreads][key];
        if (!WriteRecorded(key, "nudge", h, state) || !WriteRecorded(key, "", h, state)) break;
      }
    }
    crash_.Disarm();
    ASSERT_TRUE(crash_.fired()) << "no crash at \"" << step << "\" " << occurrence << " times on the way down from "
                                << at_least + 1 << " levels";
    ASSERT_FALSE(crash_.sync_failed());
    collapses += tree_->stats().root_collapses;
    ASSERT_NO_FATAL_FAILURE(CrashAndReopen(round, seed));
    if (copied && sync_first) {
      // The root's copy is on disk, the child's free is not: Open frees the child. (After
      // "child retired" a helper may come after the copy, so which of the two Open does
      // is not fixed.)
      EXPECT_GT(tree_->stats().orphans_freed, 0u) << "Open did not free the collapsed child";
    }
    ASSERT_NO_FATAL_FAILURE(VerifyRound(histories, state, &synced_writes));
  }
  EXPECT_GT(synced_writes, 0u);
  std::printf("root collapses before the crashes: %llu in %d rounds; pages freed by Open: %llu\n",
              static_cast<unsigned long long>(collapses), rounds, static_cast<unsigned long long>(orphans_freed_));
}

// A crash at each exact moment where a page is in the log but only the tree's pending
// page names it (a new node before its Split; a merged node after its tombstone's erase,
// before its free; a collapsed child after the root's copy of it, before its free), and
// in the middle of a root collapse (the child retired, the root not yet its copy): the
// hook makes everything so far durable and crashes there. After each, Open must free
// the page (or finish the collapse), and every synced write is there.
TEST_F(BwTreePowerCutTest, CrashesAtEachStepOfAStructureChangeLeakNothing) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::uint64_t keys = 300;
  std::map<std::string, std::string> state;
  struct Step {
    const char* name;
    bool grows;       // the load that reaches it: puts of new keys, or erases of all
    bool frees_page;  // Open frees a page (else it finishes a collapse)
    int occurs;       // at least this often in one load (the tree is 3 levels or more)
  };
  const Step steps[] = {{"new node flushed", true, true, 30},
                        {"tombstone erased", false, true, 30},
                        {"root copied", false, true, 2},
                        {"child retired", false, false, 2}};
  std::uint64_t synced_writes = 0;
  int scenario = 0;
  for (const Step& step : steps) {
    std::vector<int> occurrences{1, 2};
    if (step.occurs > 2)
      occurrences.push_back(3 + static_cast<int>(rng() % static_cast<std::uint64_t>(step.occurs - 2)));
    for (int occurrence : occurrences) {
      SCOPED_TRACE(std::string(step.name) + ", occurrence " + std::to_string(occurrence));
      ++scenario;
      ASSERT_NO_FATAL_FAILURE(Open());
      // Every key back, durably, before the hook is armed.
      ASSERT_NO_FATAL_FAILURE(Refill(keys, static_cast<std::uint64_t>(scenario), state, rng));
      tree_.reset();
      std::atomic<int> seen{0};
      bool fired = false;
      BwTreeOptions options = SmallNodeOptions(256, 3);
      options.test_hook = [&](std::string_view at) {
        if (at != step.name || ++seen != occurrence || fired) return;
        fired = true;
        // Everything so far reaches the disk; nothing after does.
        ASSERT_TRUE(store_->SyncAll().has_value());
        env_->SetCrashAfter(FaultOp::kAny, 0);
      };
      tree_ = MustOpenTree(*store_, options);
      ASSERT_NE(tree_, nullptr);
      std::vector<std::map<std::string, KeyHistory>> histories(1);
      auto write = [&](const std::string& key, const std::string& value) {
        KeyHistory& h = histories[0][key];
        if (h.writes.empty()) {
          auto it = state.find(key);
          h.start = it == state.end() ? "" : it->second;
        }
        h.writes.push_back({value, false});
        const bool ok = value.empty() ? tree_->Erase(key, {.sync = true}).has_value()
                                      : tree_->Put(key, value, {.sync = true}).has_value();
        h.writes.back().synced = ok;
        return ok;
      };
      std::vector<std::uint64_t> ids;
      for (std::uint64_t i = 0; i < keys; ++i) ids.push_back(step.grows ? keys + i : i);
      std::shuffle(ids.begin(), ids.end(), rng);
      for (std::uint64_t id : ids) {
        if (!write(KeyOf(id), step.grows ? ValueOf(6, id, rng) : "")) break;
      }
      ASSERT_TRUE(fired) << "the load never reached the step";
      ASSERT_NO_FATAL_FAILURE(CrashAndReopen(0, seed));
      if (step.frees_page) {
        EXPECT_GT(tree_->stats().orphans_freed, 0u) << "Open freed no page";
      } else {
        EXPECT_GT(tree_->stats().root_collapses, 0u) << "Open did not finish the collapse";
      }
      ASSERT_NO_FATAL_FAILURE(VerifyRound(histories, state, &synced_writes));
      // The grown keys go again, so every scenario starts from the same tree.
      if (step.grows) {
        ASSERT_NO_FATAL_FAILURE(Open());
        for (std::uint64_t id : ids) {
          if (state.erase(KeyOf(id)) == 1) {
            ASSERT_TRUE(*tree_->Erase(KeyOf(id)));
          }
        }
        tree_.reset();
        ASSERT_TRUE(store_->Close().has_value());
      }
    }
  }
  EXPECT_GT(synced_writes, 0u);
}

// ---- kill -9 ----

struct Report {
  std::uint32_t kind;
  std::uint32_t key;  // key id
  std::uint64_t seq;  // the write's sequence; kMismatch: what was read; kFailed: error code
};
constexpr std::uint32_t kSyncedPut = 0, kTriedErase = 1, kSyncedErase = 2, kVerified = 3, kMismatch = 4, kFailed = 5;

// What the parent heard about one key, as sequences (0: never).
struct KeyState {
  std::uint64_t synced_put = 0;
  std::uint64_t synced_erase = 0;
  std::uint64_t tried_erase = 0;  // announced before the Erase call

  void Add(const Report& r) {
    std::uint64_t& field = r.kind == kSyncedPut ? synced_put : r.kind == kSyncedErase ? synced_erase : tried_erase;
    field = std::max(field, r.seq);
  }
  // The value recovered (`seq` of it, or absent) is allowed: present and at least as new
  // as every synced write; or absent when an erase was tried after the last synced put.
  bool Allows(bool present, std::uint64_t seq) const {
    if (present) return seq >= synced_put && seq > synced_erase;
    return std::max(tried_erase, synced_erase) > synced_put;
  }
};

// One report, one write(2) to a file opened O_APPEND: two threads' reports never mix.
void Send(int fd, Report r) {
  ssize_t n;
  do {
    n = ::write(fd, &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof r)) ::_exit(20);
}

std::string SeqValue(std::uint64_t seq) { return "seq:" + std::to_string(seq) + std::string(seq % 40, 'x'); }
std::uint64_t SeqOf(const std::string& v) {
  return v.starts_with("seq:") ? std::strtoull(v.c_str() + 4, nullptr, 10) : 0;
}

constexpr std::uint32_t kKillKeys = 600;

// The child: opens the tree, checks what the parent heard was synced, then writes from
// two threads until it is killed: puts (most synced) and, now and then, a run of synced
// erases (so merges run too), reporting each acknowledged write and each erase before it
// is tried.
[[noreturn]] void KillChild(const std::string& dir, int round, const std::map<std::uint32_t, KeyState>& reported,
                            std::uint64_t seed, int fd) {
  auto store = Store::Open(dir, SmallStoreOptions());
  if (!store) {
    Send(fd, {kFailed, 0, static_cast<std::uint64_t>(store.error().code())});
    ::_exit(11);
  }
  auto tree = BwTree::Open(**store, "t", SmallNodeOptions(256, 3));
  if (!tree) {
    Send(fd, {kFailed, 1, static_cast<std::uint64_t>(tree.error().code())});
    ::_exit(12);
  }
  if (auto shape = (*tree)->Check(); !shape) {
    Send(fd, {kFailed, 2, static_cast<std::uint64_t>(shape.error().code())});
    ::_exit(13);
  }
  for (const auto& [key, state] : reported) {
    auto got = (*tree)->Get(KeyOf(key));
    if (!got) ::_exit(14);
    if (!state.Allows(got->has_value(), got->has_value() ? SeqOf(**got) : 0)) {
      Send(fd, {kMismatch, key, got->has_value() ? SeqOf(**got) : 0});
    }
  }
  Send(fd, {kVerified, 0, 0});
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 2 + static_cast<std::uint64_t>(t));
      // Sequences grow across rounds and threads own their keys, so a newer write to a
      // key always has a larger sequence.
      std::uint64_t seq = (static_cast<std::uint64_t>(round) + 1) * 1'000'000'000ull;
      auto pick = [&] {
        return static_cast<std::uint32_t>(rng() % (kKillKeys / 2)) * 2 + static_cast<std::uint32_t>(t);
      };
      for (;;) {
        const std::uint32_t key = pick();
        const bool sync = rng() % 4 != 0;
        if (!(*tree)->Put(KeyOf(key), SeqValue(++seq), {.sync = sync})) ::_exit(15);
        if (sync) Send(fd, {kSyncedPut, key, seq});
        if (rng() % 40 == 0) {
          for (int j = 0; j < 25; ++j) {
            const std::uint32_t gone = pick();
            Send(fd, {kTriedErase, gone, ++seq});
            if (!(*tree)->Erase(KeyOf(gone), {.sync = true})) ::_exit(16);
            Send(fd, {kSyncedErase, gone, seq});
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ::_exit(0);
}

// The reports the child wrote to `path` so far (whole ones).
std::vector<Report> ReadReports(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Report> reports(bytes.size() / sizeof(Report));
  if (!reports.empty()) std::memcpy(reports.data(), bytes.data(), reports.size() * sizeof(Report));
  return reports;
}

// Synced writes a child must have reported, after checking the tree, before it is killed.
constexpr int kWritesBeforeKill = 20;

// Waits until the child has checked the tree and reported kWritesBeforeKill synced writes
// since: then it is in the middle of its load. False if it ended first, or if that takes
// minutes (a hang).
bool WaitForTheLoad(pid_t child, const std::string& path) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < limit) {
    int writes = -1;  // -1 until kVerified
    for (const Report& r : ReadReports(path)) {
      if (r.kind == kVerified) writes = 0;
      if (writes >= 0 && (r.kind == kSyncedPut || r.kind == kSyncedErase)) ++writes;
    }
    if (writes >= kWritesBeforeKill) return true;
    siginfo_t info{};
    // Whether it ended, without reaping it (the caller does).
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(BwTreeKillTest, KillNineDuringASyncedLoad) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string db = dir / "db";
  std::map<std::uint32_t, KeyState> reported;
  int killed = 0, verified = 0;
  const int rounds = std::max(3, Scaled(6));
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // The child appends its reports to a file, one write(2) each: what it wrote before
    // the kill is in the file (the page cache outlives the process).
    const std::string path = dir / ("reports-" + std::to_string(round));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) KillChild(db, round, reported, seed + static_cast<std::uint64_t>(round), fd);
    ::close(fd);
    // Killed in the middle of its load, however slow the machine: once it has checked
    // the tree and synced some writes, after a random while more.
    const bool loaded = WaitForTheLoad(child, path);
    if (loaded) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(loaded) << "the child did not get to check the tree and sync " << kWritesBeforeKill << " writes";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++killed;
    } else {
      ADD_FAILURE() << "the child ended by itself, status " << status;
    }
    for (const Report& r : ReadReports(path)) {
      if (r.kind == kSyncedPut || r.kind == kTriedErase || r.kind == kSyncedErase) {
        reported[r.key].Add(r);
      } else if (r.kind == kVerified) {
        ++verified;
      } else if (r.kind == kMismatch) {
        ADD_FAILURE() << "after kill -9, key " << r.key << " holds sequence " << r.seq << " (0: absent), but put "
                      << reported[r.key].synced_put << " / erase " << reported[r.key].synced_erase << " was synced";
      } else {
        ADD_FAILURE() << "the child could not open the tree (step " << r.key << ", error code " << r.seq << ")";
      }
    }
  }
  EXPECT_EQ(killed, rounds);
  EXPECT_EQ(verified, rounds) << "a child did not get to check the previous round";
  ASSERT_FALSE(reported.empty());
  // The last check, in this process (no fork follows).
  auto store = MustOpenStore(db, SmallStoreOptions());
  ASSERT_NE(store, nullptr);
  auto tree = MustOpenTree(*store, SmallNodeOptions(256, 3));
  ASSERT_NE(tree, nullptr);
  auto shape = tree->Check();
  ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
  for (const auto& [key, state] : reported) {
    auto got = tree->Get(KeyOf(key));
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_TRUE(state.Allows(got->has_value(), got->has_value() ? SeqOf(**got) : 0))
        << "key " << key << ": " << (got->has_value() ? **got : std::string("absent")) << ", synced put "
        << state.synced_put << ", synced erase " << state.synced_erase;
  }
}

}  // namespace
}  // namespace llama::bwtree::test
