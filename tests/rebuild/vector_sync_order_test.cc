// A sync covers every writer slot, and recovery keeps only a prefix of the real-time order.
// The promise (include/llama/vector.h, "Durability"): after a crash the vector is the replay
// of exactly the writes with timestamps below some T, batches whole, with T above every
// write whose sync returned OK, whichever threads and slots wrote them.
//
// Scripted power cuts (FaultInjectionEnv drops every unsynced byte) pin the two halves:
// a synced write in one slot makes an earlier unsynced write of another slot durable (also
// one still between its timestamp and its CAS), and recovery leaves out durable writes
// that follow a lost one. A kill -9 test of four writer threads checks the promise against
// the timestamps and operations the child reported before each entry was installed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "lss/env_extras/fault_injection_env.h"
#include "tests/kill_child.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

// A one-shot event a scripted thread waits for.
class Event {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

class VectorSyncOrderPowerCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    base_env_ = testing_env::MakeEnvOrSkipReason(IoBackend::kPosix, &skip);
    if (base_env_ == nullptr) GTEST_SKIP() << skip;
    env_ = std::make_unique<FaultInjectionEnv>(base_env_.get());
  }

  // Two writer slots: the first thread to write takes slot 0, the second slot 1 (each
  // keeps its writer record while it lives).
  static VectorOptions TwoSlots() {
    VectorOptions o = SmallVector(Shape{4, 8});
    o.writer_slots = 2;
    return o;
  }

  void OpenVector(VectorOptions o) {
    auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions(env_.get()));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
    auto vec = Vector::Open(*store_, "v", std::move(o));
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    vec_ = std::move(*vec);
  }

  // Nothing more reaches the files, then every unsynced byte is dropped.
  void PowerCut() {
    env_->SetCrashAfter(FaultOp::kAny, 0);
    vec_.reset();
    store_.reset();
    ASSERT_TRUE(env_->SimulatePowerCut().has_value());
    env_->ClearFaults();
  }

  TempDir dir_;
  std::unique_ptr<Env> base_env_;
  std::unique_ptr<FaultInjectionEnv> env_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Vector> vec_;
};

TEST_F(VectorSyncOrderPowerCutTest, ASyncCoversAnEarlierUnsyncedWriteOfAnotherSlot) {
  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  // No rebuild: nothing is published, both writes live only in their buffer pages.
  vec_->HoldRebuilderForTesting(true);
  auto a = vec_->Append("a");  // this thread: slot 0, not synced
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  Result<VectorTicket> b = MakeError(ErrorCode::kAborted, "not written");
  std::thread([&] { b = vec_->Append("b", {.sync = true}); }).join();  // slot 1, synced
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  ASSERT_EQ(a->slot, 0u);
  ASSERT_EQ(b->slot, 1u);
  ASSERT_LT(a->timestamp, b->timestamp);
  ASSERT_NO_FATAL_FAILURE(PowerCut());

  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  EXPECT_TRUE(SameSequence(Contents(vec_->Snapshot()), {"a", "b"}))
      << "b's sync must have made a, which returned before b began, durable";
  EXPECT_EQ(vec_->metrics().replayed_at_open, 2u);
  EXPECT_EQ(vec_->metrics().dropped_at_open, 0u);
  ASSERT_TRUE(vec_->Close().has_value());
}

TEST_F(VectorSyncOrderPowerCutTest, ASyncWaitsForAnEarlierWriteStillBeingInstalled) {
  // Thread A's write stops between taking its timestamp and installing its entry; thread
  // B's synced write, later in the order, must wait for it and make it durable too.
  Event a_timestamped, b_sync_waits, release_a;
  std::atomic<std::uint64_t> a_timestamp{0};
  std::atomic<int> sync_waits{0};
  VectorOptions o = TwoSlots();
  o.test_hook = [&](std::string_view step, std::uint64_t timestamp) {
    if (step == "write timestamped" && a_timestamp.load() == 0) {
      a_timestamp.store(timestamp);  // the first write is A's: hold it here
      a_timestamped.Set();
      release_a.Wait();
    } else if (step == "sync waits") {
      sync_waits.fetch_add(1);
      b_sync_waits.Set();
    }
  };
  ASSERT_NO_FATAL_FAILURE(OpenVector(o));
  vec_->HoldRebuilderForTesting(true);
  Result<VectorTicket> a = MakeError(ErrorCode::kAborted, "not written");
  Result<VectorTicket> b = MakeError(ErrorCode::kAborted, "not written");
  std::thread writer_a([&] { a = vec_->Append("a"); });
  a_timestamped.Wait();
  std::thread writer_b([&] {
    b = vec_->Append("b", {.sync = true});
    b_sync_waits.Set();  // only reached first when the sync did not wait: then it fails below
  });
  b_sync_waits.Wait();  // B's entry is in, and its sync waits for A's
  EXPECT_EQ(sync_waits.load(), 1) << "B's sync returned without waiting for A's earlier write";
  release_a.Set();
  writer_a.join();
  writer_b.join();
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  ASSERT_NE(a->slot, b->slot);
  EXPECT_EQ(a->timestamp, a_timestamp.load());
  EXPECT_LT(a->timestamp, b->timestamp);
  ASSERT_NO_FATAL_FAILURE(PowerCut());

  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  EXPECT_TRUE(SameSequence(Contents(vec_->Snapshot()), {"a", "b"}));
  EXPECT_EQ(vec_->metrics().dropped_at_open, 0u);
  ASSERT_TRUE(vec_->Close().has_value());
}

TEST_F(VectorSyncOrderPowerCutTest, RecoveryLeavesOutDurableWritesAfterALostOne) {
  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  vec_->HoldRebuilderForTesting(true);
  auto a = vec_->Append("a");  // slot 0: lost in the power cut
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  std::uint64_t last_timestamp = 0;
  std::thread([&] {
    // Slot 1: two later writes made durable behind the vector's back (a flush and sync of
    // their buffer page alone, as a sync covering only its own slot did).
    auto b = vec_->Insert(1, "b");
    auto c = vec_->Erase(0);
    ASSERT_TRUE(b.has_value() && c.has_value());
    ASSERT_EQ(b->slot, 1u);
    last_timestamp = c->timestamp;
    auto guard = store_->EnterGeneration();
    auto pos = store_->Flush(guard, vec_->config().buffers[1]);
    ASSERT_TRUE(pos.has_value()) << pos.error().ToString();
    ASSERT_TRUE(store_->Sync(*pos).has_value());
  }).join();
  ASSERT_GT(last_timestamp, a->timestamp);
  ASSERT_NO_FATAL_FAILURE(PowerCut());

  // b and c were written against a vector holding a (b goes after it, c erases it):
  // replayed without a, both would be rejected, a history that never was. Neither was
  // synced, so the recovered vector is the prefix before a.
  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  EXPECT_TRUE(SameSequence(Contents(vec_->Snapshot()), {}));
  EXPECT_EQ(vec_->metrics().replayed_at_open, 0u);
  EXPECT_EQ(vec_->metrics().dropped_at_open, 2u);
  // The entries left out never come back, and their timestamps are not reused.
  auto d = vec_->Append("d", {.sync = true});
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_GT(d->timestamp, last_timestamp);
  ASSERT_NO_FATAL_FAILURE(PowerCut());

  ASSERT_NO_FATAL_FAILURE(OpenVector(TwoSlots()));
  EXPECT_TRUE(SameSequence(Contents(vec_->Snapshot()), {"d"}));
  EXPECT_EQ(vec_->metrics().dropped_at_open, 0u);
  ASSERT_TRUE(vec_->Close().has_value());
}

// ---- kill -9 of four writer threads.
//
// The child reports on a pipe, one write() per record (under PIPE_BUF, so records from its
// threads never interleave, and a record is whole or absent after the kill):
//   'W' timestamp thread ops: from the test hook, after the write took its timestamp and
//       before its entry is installed, so every write that can come back is reported;
//   'S' timestamp: after the write's sync returned OK.

constexpr int kKillWriters = 4;
constexpr std::size_t kMaxRecord = PIPE_BUF;

struct ChildWrite {
  std::uint32_t thread = 0;
  std::vector<VectorOp> ops;
};

void PutU32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void PutU64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

void SendRecord(int fd, std::string body) {
  std::string record;
  PutU32(record, static_cast<std::uint32_t>(body.size()));
  record += body;
  if (record.size() > kMaxRecord) ::_exit(7);
  if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size())) ::_exit(6);
}

// What the calling child thread is writing, for the test hook (which runs on it).
thread_local const ChildWrite* child_current = nullptr;

// Rare rebuilds (a publication makes its entries durable whatever the syncs do), so the
// writes of the threads that never sync stay only in their slots' buffers, where only the
// other threads' syncs make them durable.
VectorOptions KillVectorOptions() {
  VectorOptions o = SmallVector(Shape{4, 8});
  o.writer_slots = kKillWriters;
  o.initial_batch_window = 1024;
  o.min_batch_window = 1024;
  o.max_batch_window = 1024;
  o.max_delay_us = 200000;
  return o;
}
// One writer in this many writes syncs, per thread (0: never). Threads 0 and 1 never
// sync: their writes are durable only through the syncs of threads 2 and 3.
constexpr int kSyncEvery[kKillWriters] = {0, 0, 3, 5};

[[noreturn]] void KillChild(const std::string& dir, int round, std::uint64_t seed, int out_fd) {
  auto store = Store::Open(dir, VectorStoreOptions());
  if (!store) ::_exit(3);
  VectorOptions o = KillVectorOptions();
  o.test_hook = [out_fd](std::string_view step, std::uint64_t timestamp) {
    if (step != "write timestamped" || child_current == nullptr) return;
    std::string body = "W";
    PutU64(body, timestamp);
    PutU32(body, child_current->thread);
    PutU32(body, static_cast<std::uint32_t>(child_current->ops.size()));
    for (const VectorOp& op : child_current->ops) {
      body.push_back(static_cast<char>(op.code));
      PutU64(body, op.index);
      PutU32(body, static_cast<std::uint32_t>(op.value.size()));
      body += op.value;
    }
    SendRecord(out_fd, std::move(body));
  };
  auto vec = Vector::Open(**store, "k", o);
  if (!vec) ::_exit(4);
  // The writers aim their indices at this estimate of the size; a stale one makes some
  // operations land past the end, which the replay rejects (the same in the parent's model).
  std::atomic<std::int64_t> approx_size{static_cast<std::int64_t>((*vec)->Snapshot().size())};
  std::vector<std::thread> threads;
  for (int t = 0; t < kKillWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 1000003 + static_cast<std::uint64_t>(round * kKillWriters + t));
      ChildWrite write;
      write.thread = static_cast<std::uint32_t>(t);
      for (int i = 0;; ++i) {
        write.ops.clear();
        const int n = rng() % 6 == 0 ? 2 + static_cast<int>(rng() % 3) : 1;
        std::int64_t size = std::max<std::int64_t>(approx_size.load(), 0);
        std::int64_t change = 0;
        for (int k = 0; k < n; ++k) {
          const std::string tag = "r" + std::to_string(round) + "t" + std::to_string(t) + "." + std::to_string(i);
          write.ops.push_back(
              RandomOp(rng, static_cast<std::uint64_t>(std::max<std::int64_t>(size + change, 0)), tag, 0, 40));
          const VectorOpCode code = write.ops.back().code;
          change += code == VectorOpCode::kErase ? -1 : code == VectorOpCode::kUpdate ? 0 : 1;
        }
        const bool sync = kSyncEvery[t] != 0 && rng() % kSyncEvery[t] == 0;
        child_current = &write;
        auto ticket = Submit(**vec, write.ops, VectorWriteOptions{sync});
        child_current = nullptr;
        if (!ticket) ::_exit(5);
        approx_size.fetch_add(change);
        bool synced = sync;
        if (!sync && kSyncEvery[t] != 0 && rng() % 20 == 0) {
          if (!(*vec)->Sync(*ticket)) ::_exit(8);
          synced = true;
        }
        if (synced) {
          std::string body = "S";
          PutU64(body, ticket->timestamp);
          SendRecord(out_fd, std::move(body));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();  // never: the writers run until the kill
  ::_exit(9);
}

// Parses the child's records out of `buf` (consumed as they complete).
class ReportParser {
 public:
  std::map<std::uint64_t, ChildWrite> writes;  // by timestamp
  std::set<std::uint64_t> synced;
  int synced_reports = 0;
  bool malformed = false;

  void Feed(const char* data, std::size_t n) {
    buf_.append(data, n);
    while (buf_.size() >= 4) {
      std::uint32_t len = 0;
      std::memcpy(&len, buf_.data(), 4);
      if (buf_.size() < 4 + std::size_t{len}) return;
      Parse(std::string_view(buf_).substr(4, len));
      buf_.erase(0, 4 + std::size_t{len});
    }
  }
  bool drained() const { return buf_.empty(); }

 private:
  template <typename T>
  bool Get(std::string_view& in, T* v) {
    if (in.size() < sizeof(T)) return false;
    std::memcpy(v, in.data(), sizeof(T));
    in.remove_prefix(sizeof(T));
    return true;
  }
  void Parse(std::string_view in) {
    char kind = 0;
    std::uint64_t ts = 0;
    if (!Get(in, &kind) || !Get(in, &ts)) {
      malformed = true;
      return;
    }
    if (kind == 'S') {
      synced.insert(ts);
      ++synced_reports;
      return;
    }
    ChildWrite w;
    std::uint32_t count = 0;
    if (kind != 'W' || !Get(in, &w.thread) || !Get(in, &count)) {
      malformed = true;
      return;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
      VectorOp op;
      std::uint8_t code = 0;
      std::uint32_t len = 0;
      if (!Get(in, &code) || !Get(in, &op.index) || !Get(in, &len) || in.size() < len) {
        malformed = true;
        return;
      }
      op.code = static_cast<VectorOpCode>(code);
      op.value = std::string(in.substr(0, len));
      in.remove_prefix(len);
      w.ops.push_back(std::move(op));
    }
    if (!writes.emplace(ts, std::move(w)).second) malformed = true;  // timestamps are unique
  }
  std::string buf_;
};

TEST(VectorSyncOrderKillTest, FourWritersRecoverAPrefixOfTheRealTimeOrder) {
  const std::uint64_t seed = TestSeed();
  std::printf("seed %llu (rerun with LLAMA_TEST_SEED)\n", static_cast<unsigned long long>(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  std::vector<std::string> before;  // the vector at the start of the round
  const int rounds = Scaled(4);
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Killed once the child reported a random number of synced writes (its progress picks
    // the kill point, not the clock); then the pipe is drained to EOF.
    const int kill_after = 1 + static_cast<int>(rng() % 60);
    ReportParser reports;
    const int status = testing_kill::RunChildUntilKilled([&](int fd) { KillChild(dir, round, seed, fd); },
                                                         [&](std::span<const char> chunk) {
                                                           reports.Feed(chunk.data(), chunk.size());
                                                           return reports.synced_reports >= kill_after;
                                                         });
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status << " before the kill";
    ASSERT_FALSE(reports.malformed);
    ASSERT_TRUE(reports.drained()) << "a record was cut short";
    ASSERT_GE(reports.synced_reports, kill_after);

    // The writes in timestamp order; the last one reported synced.
    std::vector<const ChildWrite*> order;
    std::size_t must_hold = 0;  // writes the recovered prefix must hold at least
    for (const auto& [ts, w] : reports.writes) {
      order.push_back(&w);
      if (reports.synced.count(ts) != 0) must_hold = order.size();
    }
    for (std::uint64_t ts : reports.synced) ASSERT_EQ(reports.writes.count(ts), 1u) << "synced " << ts << " unreported";

    // Checked in this process (all its threads are joined before the next fork).
    auto store = Store::Open(dir, VectorStoreOptions());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    auto vec = Vector::Open(**store, "k", KillVectorOptions());
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    const std::vector<std::string> got = Contents((*vec)->Snapshot());
    const VectorMetrics m = (*vec)->metrics();

    // got must be the replay of the first k writes (timestamps below the (k+1)-th), for
    // some k at or above must_hold.
    std::vector<std::string> model = before;
    std::size_t matched = order.size() + 1;
    for (std::size_t k = 0; k <= order.size(); ++k) {
      if (k > 0) ApplyToModel(model, order[k - 1]->ops);  // a rejected write changes nothing
      if (k >= must_hold && model.size() == got.size() && model == got) {
        matched = k;
        break;
      }
    }
    ASSERT_LE(matched, order.size()) << "the recovered vector (" << got.size()
                                     << " elements) is no replay of a prefix of " << order.size()
                                     << " writes holding the " << must_hold << " up to the last synced one";
    std::printf(
        "round %d: %zu writes, %zu synced, recovered the first %zu (at least %zu), replayed %llu, left out %llu\n",
        round, order.size(), reports.synced.size(), matched, must_hold,
        static_cast<unsigned long long>(m.replayed_at_open), static_cast<unsigned long long>(m.dropped_at_open));
    before = got;
    ASSERT_TRUE((*vec)->Close().has_value());
    vec->reset();
    ASSERT_TRUE((*store)->Close().has_value());
  }
}

}  // namespace
}  // namespace llama::vector_test
