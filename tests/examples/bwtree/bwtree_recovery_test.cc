// The Bw-tree after crashes: every synced write is there after reopen, and the tree that
// recovery leaves is well formed (every prefix of the log is a valid tree).
//
// - Power cuts and torn crashes (lss/fault_injection_env.h) at a random I/O operation
//   during a concurrent load of puts and erases, some synced and some not, that splits
//   and merges nodes all the time. After each crash: reopen, Check(), and for every key
//   the value recovered must be the last synced write to it or a later one.
// - kill -9 of a child process in the middle of a synced load (as tests/lss/
//   store_recovery_test.cc does for the store); the next child checks what the previous
//   one reported synced, and the parent checks at the end.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lss/fault_injection_env.h"
#include "tests/examples/bwtree/bwtree_test_util.h"
#include "tests/lss/env_test_util.h"

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

class BwTreePowerCutTest : public ::testing::Test, public TreeFixture {
 protected:
  void SetUp() override {
    std::string skip;
    base_env_ = testing_env::MakeEnvOrSkipReason(IoBackend::kPosix, &skip);
    ASSERT_NE(base_env_, nullptr) << skip;
    env_ = std::make_unique<FaultInjectionEnv>(base_env_.get());
  }
  void Open() { OpenTree(SmallStoreOptions(env_.get()), SmallNodeOptions(256, 3)); }

  // The crash after a round's load: the store goes without writing anything more, then
  // unsynced data is lost (every other round, a torn crash keeps random parts of it
  // instead). Then reopens.
  void CrashAndReopen(int round, std::uint64_t seed) {
    if (!env_->crashed()) env_->SetCrashAfter(FaultOp::kAny, 0);
    tree_.reset();
    store_.reset();
    auto cut = round % 2 == 0 ? env_->SimulatePowerCut() : env_->SimulateTornCrash(seed + static_cast<std::uint64_t>(round));
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
        ASSERT_TRUE(h.Allows(recovered)) << "a key recovered to \"" << recovered << "\", which is older than its last synced write";
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

  std::uint64_t orphans_freed_ = 0;

  std::unique_ptr<Env> base_env_;
  std::unique_ptr<FaultInjectionEnv> env_;
};

TEST_F(BwTreePowerCutTest, EverySyncedWriteSurvivesCrashesDuringALoad) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kThreads = 3;
  const std::uint64_t keys_per_thread = 400;
  const int rounds = std::max(4, Scaled(12));
  std::map<std::string, std::string> state;  // what the tree held after the last reopen
  std::uint64_t synced_writes = 0, splits = 0, merges = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(Open());
    BwTree* tree = tree_.get();
    // Even rounds grow the tree (mostly puts: splits), odd rounds shrink it (mostly
    // erases: merges), so both kinds of structure change are cut by crashes whatever the
    // seed and however the crash point falls against the machine's speed.
    const bool shrinking = round % 2 == 1;
    const std::uint64_t erase_percent = shrinking ? 80 : 20;
    // Crash after a random number of I/O operations from now on (each synced write costs
    // at least one, so a round always runs some hundreds of writes first).
    const std::uint64_t crash_after = 100 + rng() % 400;
    env_->SetCrashAfter(FaultOp::kAny, crash_after);
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
          const std::string value = erase ? "" : ValueOf(static_cast<std::uint64_t>(t), static_cast<std::uint64_t>(round) * 100000 + static_cast<std::uint64_t>(i), local);
          h.writes.push_back({value, false});
          bool ok;
          if (erase) {
            ok = tree->Erase(key, {.sync = sync}).has_value();
          } else {
            ok = tree->Put(key, value, {.sync = sync}).has_value();
          }
          if (!ok) return;  // the crash: every later I/O fails too
          h.writes.back().synced = sync;
        }
      });
    }
    for (auto& th : threads) th.join();
    splits += tree->stats().splits;
    merges += tree->stats().merges_started;
    ASSERT_NO_FATAL_FAILURE(CrashAndReopen(round, seed));
    ASSERT_NO_FATAL_FAILURE(VerifyRound(histories, state, &synced_writes));
  }
  EXPECT_GT(synced_writes, 0u);
  EXPECT_GT(splits, 0u) << "the load should split nodes between crashes";
  EXPECT_GT(merges, 0u) << "the load should merge nodes between crashes";
  std::printf("pages freed by Open after crashes: %llu\n", static_cast<unsigned long long>(orphans_freed_));
}

// Rounds that fill the tree (durably) and then erase every key with synced erases from
// two threads, crashing somewhere in the erasing: often near its end, where the last
// merges run and the root collapses level by level. After each crash every synced
// erase holds, the tree is well formed and no page leaked.
TEST_F(BwTreePowerCutTest, EverySyncedEraseSurvivesCrashesWhileTheTreeCollapses) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kThreads = 2;
  const std::uint64_t keys = static_cast<std::uint64_t>(std::max(200, Scaled(400)));
  const int rounds = std::max(6, Scaled(14));
  std::map<std::string, std::string> state;
  std::uint64_t synced_writes = 0, collapses = 0, crashed_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(Open());
    // Every key back, durably, before the crash point is set.
    ASSERT_NO_FATAL_FAILURE(Refill(keys, static_cast<std::uint64_t>(round), state, rng));
    // A synced erase costs about a write and a sync (fewer when group commit shares
    // them): crash anywhere in the erasing, or in its second half (the last merges and
    // the collapses), or around its end or after it (then the erasing finished, and the
    // crash cuts the last collapses or follows them).
    const std::uint64_t ios = 2 * keys;
    const std::uint64_t crash_at[] = {rng() % ios, ios / 2 + rng() % (ios / 2), ios + rng() % ios};
    env_->SetCrashAfter(FaultOp::kAny, crash_at[round % 3]);
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
    collapses += tree_->stats().root_collapses;
    crashed_rounds += env_->crashed() ? 1 : 0;
    ASSERT_NO_FATAL_FAILURE(CrashAndReopen(round, seed));
    ASSERT_NO_FATAL_FAILURE(VerifyRound(histories, state, &synced_writes));
  }
  EXPECT_GT(synced_writes, 0u);
  EXPECT_GT(crashed_rounds, 0u) << "no crash fell inside the erasing";
  EXPECT_GT(collapses, 0u) << "the erasing should collapse the root before some crash";
  std::printf("crashes inside the erasing: %llu of %d; root collapses: %llu; pages freed by Open: %llu\n",
              static_cast<unsigned long long>(crashed_rounds), rounds, static_cast<unsigned long long>(collapses),
              static_cast<unsigned long long>(orphans_freed_));
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
    if (step.occurs > 2) occurrences.push_back(3 + static_cast<int>(rng() % static_cast<std::uint64_t>(step.occurs - 2)));
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
std::uint64_t SeqOf(const std::string& v) { return v.starts_with("seq:") ? std::strtoull(v.c_str() + 4, nullptr, 10) : 0; }

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
      auto pick = [&] { return static_cast<std::uint32_t>(rng() % (kKillKeys / 2)) * 2 + static_cast<std::uint32_t>(t); };
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
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 500));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++killed;
    } else {
      ADD_FAILURE() << "the child ended by itself, status " << status;
    }
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<Report> reports(bytes.size() / sizeof(Report));
    if (!reports.empty()) std::memcpy(reports.data(), bytes.data(), reports.size() * sizeof(Report));
    for (const Report& r : reports) {
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
  EXPECT_GT(killed, 0);
  EXPECT_GT(verified, 0) << "no child got to check the previous round";
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
