// Shared by the Store tests (store_test.cc, store_recovery_test.cc,
// store_concurrency_test.cc): a fixture per I/O backend with a FaultInjectionEnv lent to
// the store, page states as strings, a model of what each page may recover to, a seeded
// random workload, and helpers to copy and damage a store directory.
//
// The model. A page's state is written as a string: its update payloads newest first and
// its base ("d7|d5|[base:b3]"); "" is a page that does not exist (never flushed, or
// freed). For every page the model keeps the state it had when the round began and the
// state at every Flush (or Free) of this round with the log position the call returned.
// After a crash the store must have recovered a prefix of the log: there is one position
// C, at or past everything acknowledged by a Sync, such that every page is at its newest
// state whose position is <= C. That one check says: synced states are there, every
// state is one the page had at a flush, nothing newer than what was written, and nothing
// after a hole in the log is replayed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "llama/store.h"
#include "lss/env_extras/fault_injection_env.h"
#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/test_pages.h"

namespace llama::store_test {

using testing_env::TempDir;

// ---- Scale ----

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// LLAMA_TEST_SCALE (a factor, default 1) times a quarter under sanitizers.
inline double TestScale() {
  double scale = 1.0;
  if (const char* s = std::getenv("LLAMA_TEST_SCALE"); s != nullptr && *s != '\0') {
    scale = std::strtod(s, nullptr);
    if (!(scale > 0)) scale = 1.0;
  }
  return kSanitized ? scale / 4 : scale;
}
inline int Scaled(int n) { return std::max(1, static_cast<int>(n * TestScale() + 0.5)); }

// A seed per test: LLAMA_TEST_SEED if set, else fresh. Print it with SCOPED_TRACE.
inline std::uint64_t TestSeed() {
  if (const char* s = std::getenv("LLAMA_TEST_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 0);
  }
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

inline std::string Hex(std::uint64_t v) {
  std::ostringstream out;
  out << "0x" << std::hex << v;
  return out.str();
}
inline std::string Pos(LssAddress a) { return std::to_string(a.segment()) + ":" + std::to_string(a.offset()); }

// ---- Fixture ----

// Small segments and buffers, so that a few hundred records cross many of both.
inline StoreOptions SmallOptions(Env* env, IoBackend backend) {
  StoreOptions o;
  o.io_backend = backend;
  o.env = env;
  o.segment_size = 64 * 1024;
  o.flush_buffer_size = 8 * 1024;
  o.flush_buffers = 4;
  o.max_disk_chain = 4;
  // No background cleaning: crash tests count the writes and syncs of each step.
  o.cleaner_space_factor = 0;
  return o;
}

class StoreTestBase : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    std::string skip;
    base_env_ = testing_env::MakeEnvOrSkipReason(GetParam(), &skip);
    if (base_env_ == nullptr) GTEST_SKIP() << skip;
    env_ = std::make_unique<FaultInjectionEnv>(base_env_.get());
  }

  StoreOptions Options() { return SmallOptions(env_.get(), GetParam()); }

  std::unique_ptr<Store> MustOpen(const std::string& dir, StoreOptions options) {
    auto store = Store::Open(dir, options);
    EXPECT_TRUE(store.has_value()) << "open " << dir << ": " << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }
  std::unique_ptr<Store> MustOpen(const std::string& dir) { return MustOpen(dir, Options()); }

  // Destroys the store without letting it write anything more (its Close fails against
  // a crashed env), then cuts the power: the directory is what a crash right now leaves.
  void CrashAndDrop(std::unique_ptr<Store>& store, bool torn = false, std::uint64_t seed = 0) {
    if (!env_->crashed()) env_->SetCrashAfter(FaultOp::kAny, 0);
    store.reset();
    auto s = torn ? env_->SimulateTornCrash(seed) : env_->SimulatePowerCut();
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    env_->ClearFaults();
  }

  TempDir dir_;
  std::unique_ptr<Env> base_env_;
  std::unique_ptr<FaultInjectionEnv> env_;
};

// ---- Page states as strings ----

inline std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += '|';
    out += s;
  }
  return out;
}

// The page's state as the model writes it: "" if the page does not exist. Flush nodes are
// left out (a state read back from disk has one on top, an in-memory one has them where
// it was flushed). Reads the page back from disk if it is there.
inline Result<std::string> PageState(Store& store, PageId pid) {
  auto guard = store.EnterGeneration();
  auto ref = store.Read(guard, pid);
  if (!ref) {
    if (ref.error().code() == ErrorCode::kNotFound) return std::string();
    return tl::unexpected(ref.error());
  }
  if (ref->empty()) return std::string("(allocated, empty)");
  std::vector<std::string> items;
  for (std::string& item : testing::Describe(*ref)) {
    if (item.starts_with("<")) continue;
    if (item.starts_with("[disk:")) return std::string("(still on disk: ") + item + ")";
    items.push_back(std::move(item));
  }
  return Join(items);
}

// ---- The model ----

struct PageHistory {
  std::string start;                                        // the state when the round began ("": none)
  std::vector<std::pair<LssAddress, std::string>> flushed;  // (position returned, state)
  const std::string& newest() const { return flushed.empty() ? start : flushed.back().second; }
  // The page's state if the log holds exactly the records before `cut`.
  const std::string& At(LssAddress cut) const {
    const std::string* s = &start;
    for (const auto& [end, state] : flushed) {
      if (end <= cut) s = &state;
    }
    return *s;
  }
};

class Model {
 public:
  // The page reached `state` by a Flush (or Free: state "") that returned `end`.
  void Flushed(PageId pid, LssAddress end, const std::string& state) {
    PageHistory& h = pages_[pid];
    if (h.newest() == state) return;  // nothing new was written
    if (!h.flushed.empty() && end <= h.flushed.back().first) {
      ADD_FAILURE() << "page " << pid << ": flush position " << Pos(end) << " not past the previous one "
                    << Pos(h.flushed.back().first);
    }
    h.flushed.emplace_back(end, state);
    max_end_ = std::max(max_end_, end);
  }
  // Sync(position) returned OK.
  void Synced(LssAddress position) { synced_ = std::max(synced_, position); }
  // SyncAll returned OK: every position returned so far is durable.
  void SyncedAll() { synced_ = std::max(synced_, max_end_); }
  LssAddress synced() const { return synced_; }
  LssAddress max_end() const { return max_end_; }
  const std::map<PageId, PageHistory>& pages() const { return pages_; }
  // The newest flushed (or start) state of every page: what a clean Close must keep.
  std::string Newest(PageId pid) const {
    auto it = pages_.find(pid);
    return it == pages_.end() ? std::string() : it->second.newest();
  }
  // Adds another model's flushes (of other pages, or of the same pages at other
  // positions); call in position order per page, e.g. after sorting, via Flushed().
  void AddSynced(LssAddress position, LssAddress max_end) {
    synced_ = std::max(synced_, position);
    max_end_ = std::max(max_end_, max_end);
  }
  // A page known to the model (so that Verify reads it).
  void Track(PageId pid) { pages_[pid]; }

  // Reads every page the model knows and checks the prefix property (top of this file).
  // With `exact`, C must be past every flush (a clean close keeps everything). Returns the
  // states read, by page.
  // `extra_pages`: pages the store holds that this model does not track.
  ::testing::AssertionResult Verify(Store& store, bool exact, std::map<PageId, std::string>* out = nullptr,
                                    std::size_t extra_pages = 0) const {
    std::map<PageId, std::string> got;
    std::size_t present = 0;
    for (const auto& [pid, h] : pages_) {
      auto state = PageState(store, pid);
      if (!state) {
        return ::testing::AssertionFailure() << "page " << pid << ": read failed: " << state.error().ToString();
      }
      if (!state->empty()) ++present;
      got[pid] = *state;
    }
    if (out != nullptr) *out = got;
    // Candidate cuts: the synced position and every flush position past it.
    std::set<LssAddress> candidates{exact ? max_end_ : synced_};
    if (!exact) {
      for (const auto& [pid, h] : pages_) {
        for (const auto& [end, state] : h.flushed) {
          if (end > synced_) candidates.insert(end);
        }
      }
    }
    std::string first_mismatch;
    for (LssAddress cut : candidates) {
      bool ok = true;
      for (const auto& [pid, h] : pages_) {
        if (got[pid] != h.At(cut)) {
          if (cut == *candidates.begin()) {
            first_mismatch = "page " + std::to_string(pid) + " is \"" + got[pid] + "\", at cut " + Pos(cut) +
                             " it would be \"" + h.At(cut) + "\"";
          }
          ok = false;
          break;
        }
      }
      if (ok) {
        if (store.recovery().pages_recovered != present + extra_pages) {
          return ::testing::AssertionFailure() << "recovery reports " << store.recovery().pages_recovered
                                               << " pages, the model knows " << present + extra_pages;
        }
        return ::testing::AssertionSuccess();
      }
    }
    auto failure = ::testing::AssertionFailure();
    failure << "no log prefix at or past the synced position " << Pos(synced_) << " explains the recovered pages ("
            << first_mismatch << ").\nrecovery: stop " << Pos(store.recovery().scan_stop) << " ("
            << store.recovery().stop_reason << "), scan start " << Pos(store.recovery().scan_start) << ", checkpoint "
            << store.recovery().checkpoint_sequence << ", records " << store.recovery().records_scanned << "\n";
    for (const auto& [pid, h] : pages_) {
      if (h.flushed.empty() && got[pid] == h.start) continue;
      failure << "page " << pid << ": recovered \"" << got[pid] << "\"; start \"" << h.start << "\"";
      for (const auto& [end, state] : h.flushed) failure << "; @" << Pos(end) << " \"" << state << "\"";
      failure << "\n";
    }
    return failure;
  }

  // Every page is exactly at its state as of the log cut at `cut`.
  ::testing::AssertionResult VerifyCut(Store& store, LssAddress cut) const {
    std::size_t present = 0;
    for (const auto& [pid, h] : pages_) {
      auto state = PageState(store, pid);
      if (!state) {
        return ::testing::AssertionFailure() << "page " << pid << ": read failed: " << state.error().ToString();
      }
      if (*state != h.At(cut)) {
        return ::testing::AssertionFailure() << "page " << pid << " is \"" << *state << "\", with the log cut at "
                                             << Pos(cut) << " it should be \"" << h.At(cut) << "\"";
      }
      if (!state->empty()) ++present;
    }
    if (store.recovery().pages_recovered != present) {
      return ::testing::AssertionFailure()
             << "recovery reports " << store.recovery().pages_recovered << " pages, the model knows " << present;
    }
    return ::testing::AssertionSuccess();
  }

  // After a verified reopen: the recovered states are where the next round starts.
  void Rebase(const std::map<PageId, std::string>& recovered) {
    for (const auto& [pid, state] : recovered) pages_[pid];
    for (auto& [pid, h] : pages_) {
      auto it = recovered.find(pid);
      h.start = it == recovered.end() ? std::string() : it->second;
      h.flushed.clear();
    }
    synced_ = LssAddress();
    max_end_ = LssAddress();
  }

 private:
  std::map<PageId, PageHistory> pages_;
  LssAddress synced_;
  LssAddress max_end_;
};

// ---- A random single-threaded workload ----

// Updates (deltas and whole new bases), flushes, syncs, evictions and read-backs, frees
// and allocations over up to `max_pages` pages, kept in `model`. Every state is unique
// (payloads carry a counter), so the model can tell states apart.
class Workload {
 public:
  Workload(std::uint64_t seed, Model& model, int max_pages = 50) : rng_(seed), model_(model), max_pages_(max_pages) {}

  // After a reopen (the model rebased): the pages that exist are the live set.
  void Restart(const std::map<PageId, std::string>& recovered) {
    live_.clear();
    evicted_.clear();
    positions_.clear();  // positions of an earlier incarnation of the log mean nothing now
    for (const auto& [pid, state] : recovered) {
      if (state.empty()) continue;
      std::vector<std::string> items;
      std::string item;
      std::istringstream in(state);
      while (std::getline(in, item, '|')) items.push_back(item);
      live_[pid] = items;
    }
  }

  // How often each operation comes up (relative weights).
  struct Mix {
    int allocate = 6, update_d = 34, update_r = 8, flush = 20, sync = 8, sync_all = 3, evict = 7, read_back = 6,
        free = 3, checkpoint = 3;
  };
  void set_mix(const Mix& mix) { mix_ = mix; }
  const Mix& mix() const { return mix_; }

  // One random operation. Returns its error (e.g. after a crash point); the model is
  // updated only with what the store acknowledged.
  Status Step(Store& store) {
    const Mix& m = mix_;
    const int total = m.allocate + m.update_d + m.update_r + m.flush + m.sync + m.sync_all + m.evict + m.read_back +
                      m.free + m.checkpoint;
    int dice = static_cast<int>(rng_() % static_cast<std::uint64_t>(total));
    auto pick = [&](int weight) {
      if (dice < weight) return true;
      dice -= weight;
      return false;
    };
    // Grow to a useful number of pages early; allocations and frees then balance.
    const int live = static_cast<int>(live_.size());
    if (live == 0 || (live < max_pages_ / 2 && rng_() % 3 == 0) || (pick(m.allocate) && live < max_pages_)) {
      return Allocate(store);
    }
    const PageId pid = RandomLive();
    if (pick(m.update_d)) return UpdateD(store, pid);
    if (pick(m.update_r)) return UpdateR(store, pid);
    if (pick(m.flush)) {
      auto end = Flush(store, pid);
      return end ? OkStatus() : Status(tl::unexpected(end.error()));
    }
    if (pick(m.sync)) {
      if (model_.max_end().is_null()) return OkStatus();
      // Sync a position returned earlier (not always the newest).
      LssAddress target = model_.max_end();
      if (!positions_.empty() && rng_() % 2 == 0) target = positions_[rng_() % positions_.size()];
      if (auto s = store.Sync(target); !s) return s;
      model_.Synced(target);
      return OkStatus();
    }
    if (pick(m.sync_all)) {
      if (auto s = store.SyncAll(); !s) return s;
      model_.SyncedAll();
      return OkStatus();
    }
    if (pick(m.evict)) return Evict(store, pid);
    if (pick(m.read_back)) return ReadBack(store);
    if (pick(m.free)) return Free(store, pid);
    return store.Checkpoint();
  }

  // Runs `steps` steps, stopping at the first error (returned).
  Status Run(Store& store, int steps) {
    for (int i = 0; i < steps; ++i) {
      if (auto s = Step(store); !s) return s;
    }
    return OkStatus();
  }

  Status Allocate(Store& store) {
    auto pid = store.Allocate();
    LLAMA_RETURN_IF_ERROR(pid);
    live_[*pid] = {};
    model_.Track(*pid);
    // Most new pages start with a base; some are deltas only.
    if (rng_() % 4 != 0) return UpdateR(store, *pid);
    return UpdateD(store, *pid);
  }

  Status UpdateD(Store& store, PageId pid) {
    const std::string payload = "d" + std::to_string(++counter_);
    auto g = store.EnterGeneration();
    for (;;) {
      auto ref = store.mapping().Read(g, pid);
      LLAMA_RETURN_IF_ERROR(ref);
      auto out = store.UpdateD(g, pid, *ref, testing::UpdateRecord(pid, payload));
      LLAMA_RETURN_IF_ERROR(out);
      if (out->installed) break;
    }
    evicted_.erase(pid);
    live_[pid].insert(live_[pid].begin(), payload);
    return OkStatus();
  }

  Status UpdateR(Store& store, PageId pid) {
    const std::string contents = "b" + std::to_string(++counter_);
    auto g = store.EnterGeneration();
    OwnedChain chain = testing::BaseChain(pid, contents);
    for (;;) {
      auto ref = store.mapping().Read(g, pid);
      LLAMA_RETURN_IF_ERROR(ref);
      auto out = store.UpdateR(g, pid, *ref, chain);
      LLAMA_RETURN_IF_ERROR(out);
      if (out->installed) break;
    }
    evicted_.erase(pid);
    live_[pid] = {"[base:" + contents + "]"};
    return OkStatus();
  }

  Result<LssAddress> Flush(Store& store, PageId pid) {
    auto g = store.EnterGeneration();
    auto end = store.Flush(g, pid);
    if (!end) return end;
    // An allocated page with no state yet writes nothing and does not exist on disk.
    if (!live_[pid].empty()) model_.Flushed(pid, *end, Join(live_[pid]));
    positions_.push_back(*end);
    if (positions_.size() > 64) positions_.erase(positions_.begin());
    return end;
  }

  Status Evict(Store& store, PageId pid) {
    if (live_[pid].empty()) return OkStatus();
    // Flush first so the model knows the position (Evict then has nothing new to write).
    LLAMA_RETURN_IF_ERROR(Flush(store, pid));
    auto g = store.EnterGeneration();
    if (auto s = store.Evict(g, pid); !s) return s;
    evicted_.insert(pid);
    return OkStatus();
  }

  // Reads an evicted page back from the log and checks it.
  Status ReadBack(Store& store) {
    if (evicted_.empty()) return OkStatus();
    auto it = evicted_.begin();
    std::advance(it, static_cast<long>(rng_() % evicted_.size()));
    const PageId pid = *it;
    auto state = PageState(store, pid);
    LLAMA_RETURN_IF_ERROR(state);
    EXPECT_EQ(*state, Join(live_[pid])) << "page " << pid << " read back from the log";
    evicted_.erase(it);
    return OkStatus();
  }

  Status Free(Store& store, PageId pid) {
    auto g = store.EnterGeneration();
    auto end = store.Free(g, pid);
    // The page is gone from memory even if logging the free failed.
    live_.erase(pid);
    evicted_.erase(pid);
    LLAMA_RETURN_IF_ERROR(end);
    model_.Flushed(pid, *end, "");
    positions_.push_back(*end);
    return OkStatus();
  }

  std::mt19937_64& rng() { return rng_; }
  const std::map<PageId, std::vector<std::string>>& live() const { return live_; }

 private:
  PageId RandomLive() {
    auto it = live_.begin();
    std::advance(it, static_cast<long>(rng_() % live_.size()));
    return it->first;
  }

  std::mt19937_64 rng_;
  Model& model_;
  const int max_pages_;
  std::uint64_t counter_ = 0;
  Mix mix_;
  std::map<PageId, std::vector<std::string>> live_;  // current in-memory states
  std::set<PageId> evicted_;
  std::vector<LssAddress> positions_;
};

// ---- Files ----

// Copies the regular files of a store directory (not the fault env's hidden trash).
inline void CopyStoreDir(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::remove_all(to);
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.starts_with(".llama-fault-trash")) continue;
    fs::copy_file(entry.path(), fs::path(to) / name);
  }
}

inline std::vector<std::uint32_t> SegmentIds(const std::string& dir) {
  std::vector<std::uint32_t> ids;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (std::uint32_t id = ParseSegmentFileName(entry.path().filename().string()); id != 0) {
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

inline std::string SegmentPath(const std::string& dir, std::uint32_t id) { return dir + "/" + SegmentFileName(id); }

inline std::vector<char> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void AppendFileBytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace llama::store_test
