// Store under concurrency, on both I/O backends: four threads update, flush, sync, evict,
// read back, free and allocate their own pages and update, flush, evict and read a few
// shared pages, while a fifth thread takes checkpoints. Then a power cut and a check of
// every synced state; then a second concurrent phase on the recovered store, a clean
// close and a check that everything is there. Run under ThreadSanitizer too.
//
// Own pages are checked with the prefix model of tests/lss/store/store_test_util.h (the
// threads' flush histories merged in log order). Shared pages carry deltas "s<t>.<k>":
// thread t's k-th delta on that page. A page state is some flush of the page, so for every
// thread it holds exactly that thread's first k deltas (newest first) for some k; and a
// thread that flushed the page after its k-th delta and synced the position it got must
// find at least those k after a crash.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llama/store.h"
#include "lss/recovery/checkpoint.h"
#include "tests/lss/store/store_test_util.h"

namespace llama {
namespace {

using store_test::Model;
using store_test::PageState;
using store_test::Pos;
using store_test::Scaled;
using store_test::Workload;

constexpr int kThreads = 4;
constexpr int kSharedPages = 6;

// The per-thread prefixes of a shared page's state: k per thread, or an error message.
// The base says how many of each thread's deltas a consolidation folded into it
// ("[base:shared-3#4,0,7,2]"); the deltas above it continue each thread's numbering.
struct SharedShape {
  std::vector<int> k = std::vector<int>(kThreads, 0);
  std::string error;
};

SharedShape ShapeOf(const std::string& state, const std::string& name) {
  SharedShape shape;
  std::vector<std::string> items;
  std::string item;
  std::istringstream in(state);
  while (std::getline(in, item, '|')) items.push_back(item);
  const std::string base_prefix = "[base:" + name;
  if (items.empty() || !items.back().starts_with(base_prefix)) {
    shape.error = "state \"" + state + "\" does not end in a base of " + name;
    return shape;
  }
  const std::string folded = items.back().substr(base_prefix.size());
  if (folded != "]") {
    if (std::sscanf(folded.c_str(), "#%d,%d,%d,%d]", &shape.k[0], &shape.k[1], &shape.k[2], &shape.k[3]) != kThreads) {
      shape.error = "state \"" + state + "\": bad base";
      return shape;
    }
  }
  // Oldest first, each thread's deltas continue from what the base folded in.
  for (std::size_t i = items.size() - 1; i-- > 0;) {
    int t = -1, k = -1;
    if (std::sscanf(items[i].c_str(), "s%d.%d", &t, &k) != 2 || t < 0 || t >= kThreads) {
      shape.error = "state \"" + state + "\": unexpected item " + items[i];
      return shape;
    }
    if (k != shape.k[t] + 1) {
      shape.error = "state \"" + state + "\": thread " + std::to_string(t) + "'s deltas are not a prefix";
      return shape;
    }
    shape.k[t] = k;
  }
  return shape;
}

std::string SharedName(int j) { return "shared-" + std::to_string(j); }

struct SharedPage {
  PageId pid;
  std::string name;  // "shared-j"
};

// One worker: a Workload over its own pages, plus shared-page operations.
class Worker {
 public:
  Worker(int index, std::uint64_t seed, const std::vector<SharedPage>& shared, const std::vector<int>& start_k)
      : index_(index),
        rng_(seed),
        workload_(seed * 7 + 1, model_, 12),
        shared_(shared),
        k_(start_k),
        synced_k_(start_k) {
    Workload::Mix mix;
    mix.checkpoint = 0;  // the checkpoint thread does that
    workload_.set_mix(mix);
  }

  Workload& workload() { return workload_; }
  Model& model() { return model_; }
  // Per shared page: this thread's deltas so far, and how many of them it synced.
  const std::vector<int>& k() const { return k_; }
  const std::vector<int>& synced_k() const { return synced_k_; }

  // Runs `steps` steps; `halfway` is called before step steps / 2.
  void Run(Store& store, int steps, const std::function<void()>& halfway) {
    for (int i = 0; i < steps; ++i) {
      if (i == steps / 2) halfway();
      Status s = rng_() % 100 < 35 ? SharedStep(store) : workload_.Step(store);
      if (!s) {
        ADD_FAILURE() << "thread " << index_ << " step " << i << ": " << s.error().ToString();
        return;
      }
      // Syncs also cover the shared-page flushes below the synced position.
      const LssAddress synced = model_.synced();
      for (auto it = shared_flushes_.begin(); it != shared_flushes_.end();) {
        if (it->end <= synced) {
          synced_k_[it->page] = std::max(synced_k_[it->page], it->k);
          it = shared_flushes_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

 private:
  struct SharedFlush {
    int page;
    int k;
    LssAddress end;
  };

  Status SharedStep(Store& store) {
    const int j = static_cast<int>(rng_() % shared_.size());
    const PageId pid = shared_[j].pid;
    const int dice = static_cast<int>(rng_() % 100);
    auto g = store.EnterGeneration();
    if (dice < 55) {
      // Read (from the log if swapped out), then prepend this thread's next delta.
      const std::string payload = "s" + std::to_string(index_) + "." + std::to_string(k_[j] + 1);
      for (;;) {
        auto ref = store.Read(g, pid);
        LLAMA_RETURN_IF_ERROR(ref);
        auto out = store.UpdateD(g, pid, *ref, testing::UpdateRecord(pid, payload));
        LLAMA_RETURN_IF_ERROR(out);
        if (out->installed) break;
      }
      ++k_[j];
      return OkStatus();
    }
    if (dice < 60) {
      // Consolidate: a new base that folds in every delta (as an access method would).
      auto ref = store.Read(g, pid);
      LLAMA_RETURN_IF_ERROR(ref);
      std::vector<std::string> items;
      for (std::string& item : testing::Describe(*ref)) {
        if (!item.starts_with("<")) items.push_back(std::move(item));
      }
      const SharedShape shape = ShapeOf(store_test::Join(items), shared_[j].name);
      EXPECT_EQ(shape.error, "");
      if (!shape.error.empty()) return OkStatus();
      std::string contents = shared_[j].name + "#";
      for (int t = 0; t < kThreads; ++t) contents += (t ? "," : "") + std::to_string(shape.k[t]);
      OwnedChain chain = testing::BaseChain(pid, contents);
      auto out = store.UpdateR(g, pid, *ref, chain);
      LLAMA_RETURN_IF_ERROR(out);
      return OkStatus();  // installed or not: both fine
    }
    if (dice < 80) {
      // Everything this thread put on the page is in the state this flush covers.
      const int k = k_[j];
      auto end = store.Flush(g, pid);
      // Under contention a flush may lose its race too often and give up (kAborted).
      if (!end && end.error().code() == ErrorCode::kAborted) return OkStatus();
      LLAMA_RETURN_IF_ERROR(end);
      if (rng_() % 3 == 0) {
        if (auto s = store.Sync(*end); !s) return s;
        synced_k_[j] = std::max(synced_k_[j], k);
      } else {
        shared_flushes_.push_back({j, k, *end});
      }
      return OkStatus();
    }
    if (dice < 90) {
      auto s = store.Evict(g, pid);
      // A page that keeps changing under other threads may refuse to be swapped out.
      if (!s && s.error().code() != ErrorCode::kAborted) return s;
      return OkStatus();
    }
    auto state = PageState(store, pid);
    LLAMA_RETURN_IF_ERROR(state);
    const SharedShape shape = ShapeOf(*state, shared_[j].name);
    EXPECT_EQ(shape.error, "");
    EXPECT_GE(shape.k[index_], k_[j]) << "thread " << index_ << " does not see its own deltas on page " << pid;
    return OkStatus();
  }

  const int index_;
  std::mt19937_64 rng_;
  Model model_;
  Workload workload_;
  const std::vector<SharedPage>& shared_;
  std::vector<int> k_;
  std::vector<int> synced_k_;
  std::vector<SharedFlush> shared_flushes_;
};

class StoreConcurrencyTest : public store_test::StoreTestBase {
 protected:
  // Every finished segment is a cleaning candidate, so the cleaner always has work.
  StoreOptions CleaningOptions() {
    StoreOptions o = Options();
    o.cleaner_max_live_fraction = 1.01;
    return o;
  }

  // Writes a throwaway page until the log moves on to a new segment, then frees it and
  // syncs everything: the segment left behind is finished and wholly written, so the
  // cleaner's first pass has a candidate (CleaningOptions) whatever the workers wrote by
  // then.
  static void FinishASegment(Store& store) {
    const PageId pid = store.Allocate().value();
    std::mt19937_64 rng(pid);
    auto g = store.EnterGeneration();
    std::uint32_t first = 0;
    for (int i = 0;; ++i) {
      ASSERT_LT(i, 1000) << "the log never left segment " << first;
      std::string contents(3000, ' ');  // incompressible: each flush fills the log
      for (char& c : contents) c = static_cast<char>(rng());
      OwnedChain chain = testing::BaseChain(pid, contents);
      ASSERT_TRUE(store.UpdateR(g, pid, store.mapping().Read(g, pid).value(), chain).value().installed);
      auto end = store.Flush(g, pid);
      ASSERT_TRUE(end.has_value()) << end.error().ToString();
      if (first == 0) first = end->segment();
      if (end->segment() != first) break;
    }
    ASSERT_TRUE(store.Free(g, pid).has_value());
    ASSERT_TRUE(store.SyncAll().has_value());
  }

  // Runs the workers and a thread that takes checkpoints and cleans segments, alternately,
  // to completion. The workers wait halfway until that thread's first clean and first
  // checkpoint are done, so both happen while the writers are mid-run, however the threads
  // are scheduled; and a segment finished beforehand gives that first clean work (it cleans
  // the segment, or meets pages changing or unflushed under the writers and skips them).
  // How much more it gets to do alongside the writers depends on timing: printed only.
  void RunConcurrently(Store& store, std::vector<std::unique_ptr<Worker>>& workers, int steps) {
    FinishASegment(store);
    ASSERT_FALSE(HasFatalFailure());
    std::atomic<bool> done{false};
    std::atomic<bool> first_round{false};  // the first clean and checkpoint are done
    int first_clean_work = 0, checkpoints = 0, cleans = 0, cleaner_work = 0;
    std::thread checkpointer([&] {
      struct Release {
        std::atomic<bool>& flag;
        ~Release() {  // also when this thread gives up early: the workers must not wait forever
          flag.store(true);
          flag.notify_all();
        }
      } release{first_round};
      for (int round = 0; round < 2 || !done.load(); ++round) {
        if (round % 2 == 1) {
          auto s = store.Checkpoint();
          if (!s) {
            ADD_FAILURE() << "checkpoint: " << s.error().ToString();
            return;
          }
          ++checkpoints;
        } else {
          auto c = store.Clean(1);
          if (!c) {
            ADD_FAILURE() << "clean: " << c.error().ToString();
            return;
          }
          const int work = static_cast<int>(c->cleaned.size() + c->pages_relocated + c->pages_skipped);
          if (round == 0) first_clean_work = work;
          ++cleans;
          cleaner_work += work;
        }
        if (round == 1) {
          first_round.store(true);
          first_round.notify_all();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
    auto halfway = [&] { first_round.wait(false); };
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&store, &w, steps, &halfway] { w->Run(store, steps, halfway); });
    for (auto& t : threads) t.join();
    done.store(true);
    checkpointer.join();
    std::cout << checkpoints << " checkpoints and " << cleans << " cleaner passes (work: " << cleaner_work
              << " segments cleaned, pages moved or skipped) alongside the writers\n";
    EXPECT_GE(checkpoints, 1);
    EXPECT_GT(first_clean_work, 0) << "the first clean found no finished segment";
  }

  // The workers' own-page histories merged into one model, in log order.
  static Model Merge(std::vector<std::unique_ptr<Worker>>& workers) {
    struct Event {
      LssAddress end;
      PageId pid;
      std::string state;
    };
    std::vector<Event> events;
    Model merged;
    for (auto& w : workers) {
      for (const auto& [pid, h] : w->model().pages()) {
        merged.Track(pid);
        for (const auto& [end, state] : h.flushed) events.push_back({end, pid, state});
      }
      merged.AddSynced(w->model().synced(), w->model().max_end());
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.end < b.end; });
    for (const Event& e : events) merged.Flushed(e.pid, e.end, e.state);
    return merged;
  }
};

TEST_P(StoreConcurrencyTest, ThreadsWithCheckpointsThenPowerCutThenClose) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  // Not scaled down under sanitizers: the log must outgrow its first segments for the
  // cleaner to have work while the writers run.
  const int steps = 1500;

  auto store = MustOpen(dir, CleaningOptions());
  ASSERT_NE(store, nullptr);
  std::vector<SharedPage> shared;
  for (int j = 0; j < kSharedPages; ++j) {
    auto pid = store->Allocate();
    ASSERT_TRUE(pid.has_value());
    const std::string contents = SharedName(j);
    auto g = store->EnterGeneration();
    OwnedChain chain = testing::BaseChain(*pid, contents);
    auto ref = store->mapping().Read(g, *pid);
    ASSERT_TRUE(ref.has_value());
    ASSERT_TRUE(store->UpdateR(g, *pid, *ref, chain).value().installed);
    ASSERT_TRUE(store->Flush(g, *pid).has_value());
    shared.push_back({*pid, contents});
  }
  ASSERT_TRUE(store->SyncAll().has_value());

  // Phase 1: concurrent, then a power cut.
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(
        std::make_unique<Worker>(t, seed + static_cast<std::uint64_t>(t), shared, std::vector<int>(kSharedPages, 0)));
  }
  RunConcurrently(*store, workers, steps);
  ASSERT_FALSE(HasFailure());
  Model merged = Merge(workers);
  CrashAndDrop(store);
  store = MustOpen(dir, CleaningOptions());
  ASSERT_NE(store, nullptr);
  std::map<PageId, std::string> recovered;
  ASSERT_TRUE(merged.Verify(*store, false, &recovered, kSharedPages));
  std::vector<std::vector<int>> shared_k(kThreads, std::vector<int>(kSharedPages, 0));
  for (int j = 0; j < kSharedPages; ++j) {
    auto state = PageState(*store, shared[j].pid);
    ASSERT_TRUE(state.has_value()) << state.error().ToString();
    const SharedShape shape = ShapeOf(*state, shared[j].name);
    ASSERT_EQ(shape.error, "") << "shared page " << shared[j].pid;
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_GE(shape.k[t], workers[t]->synced_k()[j])
          << "shared page " << shared[j].pid << ": thread " << t << " synced a flush after its delta "
          << workers[t]->synced_k()[j] << ", recovered \"" << *state << "\"";
      EXPECT_LE(shape.k[t], workers[t]->k()[j]);
      shared_k[t][j] = shape.k[t];
    }
  }

  // Phase 2: concurrent again on the recovered store (its pages dealt out to the threads),
  // then a clean close, which keeps everything.
  std::vector<std::map<PageId, std::string>> own(kThreads);
  int next = 0;
  for (const auto& [pid, state] : recovered) {
    if (!state.empty()) own[next++ % kThreads][pid] = state;
  }
  std::vector<std::unique_ptr<Worker>> workers2;
  for (int t = 0; t < kThreads; ++t) {
    workers2.push_back(std::make_unique<Worker>(t, seed * 3 + static_cast<std::uint64_t>(t), shared, shared_k[t]));
    workers2[t]->model().Rebase(own[t]);
    workers2[t]->workload().Restart(own[t]);
  }
  RunConcurrently(*store, workers2, steps / 2);
  ASSERT_FALSE(HasFailure());
  std::map<PageId, std::string> want;  // every own page id ever used: its state now
  for (auto& w : workers) {
    for (const auto& [pid, h] : w->model().pages()) want[pid] = "";
  }
  for (auto& w : workers2) {
    for (const auto& [pid, h] : w->model().pages()) want[pid] = "";
  }
  for (auto& w : workers2) {
    for (const auto& [pid, items] : w->workload().live()) want[pid] = store_test::Join(items);
  }
  std::vector<std::string> shared_now;
  for (const SharedPage& page : shared) {
    auto state = PageState(*store, page.pid);
    ASSERT_TRUE(state.has_value());
    shared_now.push_back(*state);
  }
  ASSERT_TRUE(store->Close().has_value());
  store = MustOpen(dir, CleaningOptions());
  ASSERT_NE(store, nullptr);
  for (const auto& [pid, state] : want) {
    auto got = PageState(*store, pid);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_EQ(*got, state) << "page " << pid << " after a clean close";
  }
  for (int j = 0; j < kSharedPages; ++j) {
    auto got = PageState(*store, shared[j].pid);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, shared_now[j]) << "shared page " << shared[j].pid << " after a clean close";
    EXPECT_EQ(ShapeOf(*got, shared[j].name).error, "");
  }
}

// A Flush that finds nothing new to write (another thread's flush already covers the
// page's state) must return a position that covers that flush's record: the caller syncs
// it and takes the state it saw for durable. One thread updates and flushes a page in a
// loop; another reads the page's newest flush point and flushes: the position it gets
// must lie past that record's start. (It used to be the end of the page's previous record
// while the other thread's record was not yet in the page's disk chain.)
TEST_P(StoreConcurrencyTest, AFlushThatFindsNothingNewCoversTheFlushItSaw) {
  StoreOptions options = Options();
  options.flush_buffer_size = 16 * 1024;
  auto store = MustOpen(dir_ / "db", options);
  ASSERT_NE(store, nullptr);
  const PageId pid = store->Allocate().value();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int n = 0; !stop.load(); ++n) {
      auto g = store->EnterGeneration();
      for (;;) {
        auto ref = store->mapping().Read(g, pid);
        ASSERT_TRUE(ref.has_value());
        if (n % 16 == 0) {
          OwnedChain chain = testing::BaseChain(pid, "b" + std::to_string(n));
          if (store->UpdateR(g, pid, *ref, chain).value().installed) break;
        } else if (store->UpdateD(g, pid, *ref, testing::UpdateRecord(pid, "d" + std::to_string(n)))
                       .value()
                       .installed) {
          break;
        }
      }
      auto end = store->Flush(g, pid);
      ASSERT_TRUE(end.has_value()) << end.error().ToString();
      if (n % 4 == 0) std::this_thread::yield();  // let the checker see the flush at rest too
    }
  });
  long checks = 0, uncovered = 0;
  std::string example;
  // One check: if the page's head carries a flush mark, flush again; false if it does not.
  auto check = [&]() -> bool {
    auto g = store->EnterGeneration();
    auto ref = store->mapping().Read(g, pid);
    EXPECT_TRUE(ref.has_value());
    if (!ref || !ref->in_memory() || !ref->node()->is_flush_point()) return false;
    const LssAddress seen = ref->node()->flushed_to();
    auto end = store->Flush(g, pid);
    EXPECT_TRUE(end.has_value()) << end.error().ToString();
    ++checks;
    if (end && *end <= seen) {
      if (uncovered++ == 0) example = "flush point " + Pos(seen) + ", Flush returned " + Pos(*end);
    }
    return true;
  };
  // A number of checks racing the writer (each has a small chance to land in the window).
  // The time limit only bounds the effort on a loaded machine: how many checks the
  // scheduler lets happen is printed, not asserted.
  const long target = Scaled(8000);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (checks < target && std::chrono::steady_clock::now() < until && !HasFailure()) check();
  stop.store(true);
  writer.join();
  const long racing = checks;
  std::cout << racing << " checks raced the writer\n";
  // At rest the page's head carries the writer's last flush mark: one more check, at least this
  // one whatever the schedule was.
  EXPECT_TRUE(check()) << "the writer's last flush is not the page's head";
  EXPECT_EQ(uncovered, 0) << "of " << checks << " flushes that found a flush point, e.g. " << example;
}

// A page freed while another thread flushes it: once the free's position is synced, the
// page is gone for good, and no checkpoint may name it again. The flusher's record was
// reserved before the free's, so the free wins in the log; the store's own record of
// where each page lives (which checkpoints copy) must agree.
TEST_P(StoreConcurrencyTest, AFreeRacingAFlushLeavesNothingBehind) {
  const std::string dir = dir_ / "db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  const int attempts = Scaled(300);
  std::vector<PageId> freed;
  std::mt19937_64 rng(store_test::TestSeed());
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const PageId pid = store->Allocate().value();
    {
      auto g = store->EnterGeneration();
      OwnedChain chain = testing::BaseChain(pid, "base");
      ASSERT_TRUE(store->UpdateR(g, pid, store->mapping().Read(g, pid).value(), chain).value().installed);
    }
    std::atomic<int> flushes{0};
    std::thread flusher([&] {
      for (int n = 0;; ++n) {
        auto g = store->EnterGeneration();
        auto ref = store->mapping().Read(g, pid);
        if (!ref) return;  // freed
        // A new base now and then: however many rounds the scheduler lets this thread run
        // before the free, the page's state stays far below the largest log record.
        OwnedChain base = testing::BaseChain(pid, "b" + std::to_string(n));
        auto out = n % 16 == 15 ? store->UpdateR(g, pid, *ref, base)
                                : store->UpdateD(g, pid, *ref, testing::UpdateRecord(pid, "d" + std::to_string(n)));
        if (!out) return;
        auto end = store->Flush(g, pid);
        if (!end) {
          EXPECT_EQ(end.error().code(), ErrorCode::kNotFound) << end.error().ToString();
          return;
        }
        flushes.fetch_add(1);
      }
    });
    while (flushes.load() < 2) std::this_thread::yield();
    for (std::uint64_t spin = rng() % 20000; spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
    {
      auto g = store->EnterGeneration();
      auto end = store->Free(g, pid);
      ASSERT_TRUE(end.has_value()) << end.error().ToString();
    }
    flusher.join();
    freed.push_back(pid);
  }
  ASSERT_TRUE(store->SyncAll().has_value());
  ASSERT_TRUE(store->Checkpoint().has_value());
  auto loaded = LoadNewestCheckpoint(*env_, dir, store->store_id());
  ASSERT_TRUE(loaded.has_value() && loaded->checkpoint.has_value());
  std::set<PageId> in_checkpoint;
  for (const CheckpointPage& page : loaded->checkpoint->pages) in_checkpoint.insert(page.pid);
  int resurrected = 0;
  for (PageId pid : freed) resurrected += in_checkpoint.count(pid) ? 1 : 0;
  EXPECT_EQ(resurrected, 0) << "freed pages named by the checkpoint, of " << freed.size();
  EXPECT_EQ(store->stats().live_bytes, 0u) << "every page was freed: no live bytes";
  CrashAndDrop(store);
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().pages_recovered, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConcurrencyTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama
