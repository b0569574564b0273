// Store: the basic API over both I/O backends (through a FaultInjectionEnv that injects
// nothing here): create, update, flush, sync, evict, read back, free, close, reopen, and
// the open options.
#include "llama/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "lss/log/record_frame.h"
#include "lss/recovery/checkpoint.h"
#include "tests/lss/store/store_test_util.h"

namespace llama {
namespace {

using store_test::Model;
using store_test::PageState;
using store_test::StoreTestBase;
using testing::BaseChain;
using testing::UpdateRecord;

class StoreTest : public StoreTestBase {
 protected:
  // Installs a new base page holding `contents`.
  void PutBase(Store& store, PageId pid, const std::string& contents) {
    auto g = store.EnterGeneration();
    OwnedChain chain = BaseChain(pid, contents);
    auto ref = store.mapping().Read(g, pid);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    auto out = store.UpdateR(g, pid, *ref, chain);
    ASSERT_TRUE(out.has_value()) << out.error().ToString();
    ASSERT_TRUE(out->installed);
  }
  void PutDelta(Store& store, PageId pid, const std::string& payload) {
    auto g = store.EnterGeneration();
    auto ref = store.mapping().Read(g, pid);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    auto out = store.UpdateD(g, pid, *ref, UpdateRecord(pid, payload));
    ASSERT_TRUE(out.has_value()) << out.error().ToString();
    ASSERT_TRUE(out->installed);
  }
  LssAddress MustFlush(Store& store, PageId pid) {
    auto g = store.EnterGeneration();
    auto end = store.Flush(g, pid);
    EXPECT_TRUE(end.has_value()) << end.error().ToString();
    return end ? *end : LssAddress();
  }
  std::string StateOf(Store& store, PageId pid) {
    auto s = PageState(store, pid);
    EXPECT_TRUE(s.has_value()) << "page " << pid << ": " << s.error().ToString();
    return s ? *s : "(error)";
  }
};

TEST_P(StoreTest, Basic) {
  const std::string dir = dir_ / "db";
  std::map<PageId, std::string> expected;
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->recovery().created);
    EXPECT_EQ(store->stats().io_backend, IoBackendName(GetParam()));
    std::vector<PageId> pids;
    for (int i = 0; i < 40; ++i) {
      auto pid = store->Allocate();
      ASSERT_TRUE(pid.has_value()) << pid.error().ToString();
      pids.push_back(*pid);
      PutBase(*store, *pid, "base-" + std::to_string(i));
      std::string state = "[base:base-" + std::to_string(i) + "]";
      for (int d = 0; d < i % 7; ++d) {
        const std::string payload = "p" + std::to_string(i) + "." + std::to_string(d);
        PutDelta(*store, *pid, payload);
        state = payload + "|" + state;
        // Flush some deltas one by one: the page's state spans several records.
        if (d % 2 == 0) MustFlush(*store, *pid);
      }
      expected[*pid] = state;
    }
    LssAddress last;
    for (PageId pid : pids) last = std::max(last, MustFlush(*store, pid));
    ASSERT_TRUE(store->Sync(last).has_value());
    // In memory, and (after eviction) read back from the log.
    for (PageId pid : pids) EXPECT_EQ(StateOf(*store, pid), expected[pid]) << "page " << pid;
    for (std::size_t i = 0; i < pids.size(); i += 2) {
      auto g = store->EnterGeneration();
      ASSERT_TRUE(store->Evict(g, pids[i]).has_value());
      auto ref = store->mapping().Read(g, pids[i]);
      ASSERT_TRUE(ref.has_value());
      EXPECT_TRUE(ref->on_disk()) << "page " << pids[i] << " was evicted";
    }
    for (PageId pid : pids) EXPECT_EQ(StateOf(*store, pid), expected[pid]) << "page " << pid;
    EXPECT_GE(store->stats().evictions, 20u);
    EXPECT_GE(store->stats().reads_from_disk, 20u);
    // A delta on an evicted page, flushed: the record points at the older one on disk.
    {
      auto g = store->EnterGeneration();
      ASSERT_TRUE(store->Evict(g, pids[1]).has_value());
    }
    PutDelta(*store, pids[1], "after-evict");
    expected[pids[1]] = "after-evict|" + expected[pids[1]];
    // Read brings the on-disk part below the new delta back too.
    EXPECT_EQ(StateOf(*store, pids[1]), expected[pids[1]]);
    MustFlush(*store, pids[1]);
    {
      auto g = store->EnterGeneration();
      ASSERT_TRUE(store->Evict(g, pids[1]).has_value());
    }
    EXPECT_EQ(StateOf(*store, pids[1]), expected[pids[1]]);
    // Free some.
    for (std::size_t i = 0; i < pids.size(); i += 5) {
      auto g = store->EnterGeneration();
      auto end = store->Free(g, pids[i]);
      ASSERT_TRUE(end.has_value()) << end.error().ToString();
      expected[pids[i]] = "";
    }
    for (const auto& [pid, state] : expected) EXPECT_EQ(StateOf(*store, pid), state) << "page " << pid;
    ASSERT_TRUE(store->Close().has_value());
    EXPECT_TRUE(store->Close().has_value()) << "Close is idempotent";
  }
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(store->recovery().created);
    EXPECT_NE(store->recovery().checkpoint_sequence, 0u) << "Close writes a checkpoint";
    EXPECT_EQ(store->recovery().pages_recovered, 32u);
    EXPECT_EQ(store->stats().pages_in_use, 33u) << "32 pages and the catalog";
    for (const auto& [pid, state] : expected) EXPECT_EQ(StateOf(*store, pid), state) << "page " << pid;
    ASSERT_TRUE(store->Close().has_value());
  }
  // Without create_if_missing, an existing store opens.
  StoreOptions existing = Options();
  existing.create_if_missing = false;
  {
    auto store = MustOpen(dir, existing);
    ASSERT_NE(store, nullptr);
    for (const auto& [pid, state] : expected) EXPECT_EQ(StateOf(*store, pid), state) << "page " << pid;
  }
  // Two reopens in a row with no writes in between change nothing.
  for (int round = 0; round < 2; ++round) {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->recovery().pages_recovered, 32u);
    EXPECT_TRUE(store->recovery().orphan_segments.empty());
    EXPECT_TRUE(store->recovery().damaged_checkpoints.empty());
    ASSERT_TRUE(store->Close().has_value());
  }
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  for (const auto& [pid, state] : expected) EXPECT_EQ(StateOf(*store, pid), state) << "page " << pid;
}

TEST_P(StoreTest, OpenOptions) {
  // create_if_missing = false on a missing store.
  StoreOptions no_create = Options();
  no_create.create_if_missing = false;
  auto missing = Store::Open(dir_ / "nothing", no_create);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("not a llama-store"), std::string::npos) << missing.error().ToString();

  // A non-empty directory that is not a store is refused, and left alone.
  const std::string other = dir_ / "other";
  std::filesystem::create_directories(other);
  std::ofstream(other + "/notes.txt") << "mine";
  auto refused = Store::Open(other, Options());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("not empty and not a llama-store"), std::string::npos)
      << refused.error().ToString();
  EXPECT_EQ(std::vector<std::string>{"notes.txt"}, env_->ListDir(other).value());

  // error_if_exists: fine for a new store, refused for an existing one.
  StoreOptions exclusive = Options();
  exclusive.error_if_exists = true;
  {
    auto created = MustOpen(dir_ / "db", exclusive);
    ASSERT_NE(created, nullptr);
    EXPECT_TRUE(created->recovery().created);
  }
  auto again = Store::Open(dir_ / "db", exclusive);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(again.error().message().find("already holds a store"), std::string::npos) << again.error().ToString();

  // Bad sizes.
  StoreOptions tiny = Options();
  tiny.segment_size = 4096;
  auto small_segments = Store::Open(dir_ / "tiny", tiny);
  ASSERT_FALSE(small_segments.has_value());
  EXPECT_EQ(small_segments.error().code(), ErrorCode::kInvalidArgument);
  StoreOptions one_buffer = Options();
  one_buffer.flush_buffers = 1;
  EXPECT_FALSE(Store::Open(dir_ / "one", one_buffer).has_value());

  // The segment size is fixed at creation: a reopen with another one keeps the store's.
  StoreOptions bigger = Options();
  bigger.segment_size = 1 << 20;
  auto reopened = MustOpen(dir_ / "db", bigger);
  ASSERT_NE(reopened, nullptr);
  auto pid = reopened->Allocate();
  ASSERT_TRUE(pid.has_value());
  PutBase(*reopened, *pid, "x");
  MustFlush(*reopened, *pid);
  ASSERT_TRUE(reopened->Close().has_value());
  for (std::uint32_t id : store_test::SegmentIds(dir_ / "db")) {
    auto header = testing_env::ReadAll(*base_env_, store_test::SegmentPath(dir_ / "db", id));
    ASSERT_GE(header.size(), log_format::kSegmentHeaderSize);
    auto decoded = DecodeSegmentHeader(std::span<const std::byte>(header).first(log_format::kSegmentHeaderSize));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->segment_size, 64u * 1024);
  }
}

// A flush that is never synced and never closed over is not promised; one that is synced
// survives a power cut, and so does a free.
TEST_P(StoreTest, SyncDecidesWhatSurvivesAPowerCut) {
  const std::string dir = dir_ / "db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  PageId a = store->Allocate().value(), b = store->Allocate().value(), c = store->Allocate().value();
  PutBase(*store, a, "a1");
  PutBase(*store, b, "b1");
  PutBase(*store, c, "c1");
  MustFlush(*store, a);
  MustFlush(*store, b);
  ASSERT_TRUE(store->Sync(MustFlush(*store, c)).has_value());
  {
    auto g = store->EnterGeneration();
    ASSERT_TRUE(store->Sync(store->Free(g, c).value()).has_value());
  }
  PutDelta(*store, a, "a2");
  ASSERT_TRUE(store->Sync(MustFlush(*store, a)).has_value());
  PutDelta(*store, b, "b2");  // never flushed
  PutDelta(*store, a, "a3");  // never flushed
  CrashAndDrop(store);
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(StateOf(*store, a), "a2|[base:a1]");
  EXPECT_EQ(StateOf(*store, b), "[base:b1]");
  EXPECT_EQ(StateOf(*store, c), "");
  EXPECT_EQ(store->recovery().pages_recovered, 2u);
}

// What a synced put costs, as StoreStats reports it: one fdatasync of the log each, written
// by the caller itself (no hand-off to the log's I/O thread), nothing else synced.
TEST_P(StoreTest, ASyncedPutCostsOneFdatasync) {
  auto store = MustOpen(dir_ / "db");
  ASSERT_NE(store, nullptr);
  const PageId pid = store->Allocate().value();
  // The first write creates the log's segment file, whose directory entry is synced too.
  PutDelta(*store, pid, "first");
  ASSERT_TRUE(store->Sync(MustFlush(*store, pid)).has_value());
  const StoreStats before = store->stats();
  const std::uint64_t env_syncs_before = env_->stats().syncs;
  constexpr std::uint64_t kPuts = 50;
  for (std::uint64_t i = 0; i < kPuts; ++i) {
    PutDelta(*store, pid, "d" + std::to_string(i));
    ASSERT_TRUE(store->Sync(MustFlush(*store, pid)).has_value());
  }
  const StoreStats after = store->stats();
  EXPECT_EQ(after.sync_requests - before.sync_requests, kPuts);
  EXPECT_EQ(after.log_fdatasyncs - before.log_fdatasyncs, kPuts);
  EXPECT_EQ(after.syncs - before.syncs, kPuts);
  EXPECT_EQ(after.log_write_calls - before.log_write_calls, kPuts);
  EXPECT_EQ(after.log_caller_writes - before.log_caller_writes, kPuts);
  EXPECT_EQ(after.log_waits - before.log_waits, 0u);
  // The file layer saw the same: the log's syncs and nothing more (no checkpoint ran).
  EXPECT_EQ(env_->stats().syncs - env_syncs_before, kPuts);
}

// A page whose on-disk chain reached max_disk_chain is written whole; its older state comes
// from memory below the flush mark, not from a read of the log, and the whole record
// holds all of it.
TEST_P(StoreTest, AWholeFlushTakesTheOlderStateFromMemory) {
  const std::string dir = dir_ / "db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  const PageId pid = store->Allocate().value();
  PutBase(*store, pid, "b");
  MustFlush(*store, pid);
  std::string expected = "[base:b]";
  for (int i = 0; i < 2 * static_cast<int>(Options().max_disk_chain) + 1; ++i) {
    const std::string d = "d" + std::to_string(i);
    PutDelta(*store, pid, d);
    ASSERT_TRUE(store->Sync(MustFlush(*store, pid)).has_value());
    expected = d + "|" + expected;
  }
  EXPECT_EQ(store->stats().reads_from_disk, 0u);
  ASSERT_TRUE(store->Close().has_value());
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(StateOf(*store, pid), expected);
}

// Regression: a page's delta record that is still in an unwritten flush buffer when a
// checkpoint is taken, followed by a whole new state of the page (a base) in the same
// buffer. The checkpoint names the newer record and starts the scan below both; the scan
// meets the older delta record and must not make it the page's state again.
TEST_P(StoreTest, CheckpointKeepsANewBaseWrittenAfterAnUnwrittenDelta) {
  const std::string dir = dir_ / "db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  const PageId pid = store->Allocate().value();
  PutBase(*store, pid, "old");
  ASSERT_TRUE(store->Sync(MustFlush(*store, pid)).has_value());
  PutDelta(*store, pid, "delta");
  MustFlush(*store, pid);  // a delta record pointing at the base record
  PutBase(*store, pid, "new");
  const LssAddress end = MustFlush(*store, pid);  // the whole page again, same buffer
  ASSERT_TRUE(store->Checkpoint().has_value());
  ASSERT_TRUE(store->Sync(end).has_value());  // "[base:new]" is durable
  CrashAndDrop(store);
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().checkpoint_sequence, 1u);
  EXPECT_EQ(StateOf(*store, pid), "[base:new]")
      << "recovery stopped at " << store_test::Pos(store->recovery().scan_stop) << ": "
      << store->recovery().stop_reason;
}

// The same after a checkpoint and a power cut (no clean end of the log).
TEST_P(StoreTest, CheckpointThenPowerCutKeepsTheNewestFlushedState) {
  const std::string dir = dir_ / "db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  Model model;
  std::map<PageId, std::string> now;
  std::vector<PageId> pids;
  for (int i = 0; i < 10; ++i) pids.push_back(store->Allocate().value());
  int n = 0;
  for (int round = 0; round < 6; ++round) {
    for (PageId pid : pids) {
      if ((pid + round) % 3 == 0) {
        const std::string base = "b" + std::to_string(++n);
        PutBase(*store, pid, base);
        now[pid] = "[base:" + base + "]";
      } else {
        const std::string payload = "d" + std::to_string(++n);
        PutDelta(*store, pid, payload);
        now[pid] = now[pid].empty() ? payload : payload + "|" + now[pid];
      }
      model.Flushed(pid, MustFlush(*store, pid), now[pid]);
    }
    if (round % 2 == 1) {
      ASSERT_TRUE(store->Checkpoint().has_value());
    }
  }
  ASSERT_TRUE(store->Checkpoint().has_value());  // syncs every page's newest record
  model.SyncedAll();
  CrashAndDrop(store);
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_NE(store->recovery().checkpoint_sequence, 0u);
  EXPECT_TRUE(model.Verify(*store, /*exact=*/true));
}

TEST_P(StoreTest, CheckpointsRecordTheIoSettingsInUse) {
  const std::string dir = dir_ / "db";
  StoreOptions options = Options();
  options.compression_level = -3;
  options.max_disk_chain = 5;
  {
    auto store = MustOpen(dir, options);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Close().has_value());
  }
  auto loaded = LoadNewestCheckpoint(*env_, dir, 0);
  ASSERT_TRUE(loaded.has_value() && loaded->checkpoint.has_value());
  ASSERT_TRUE(loaded->checkpoint->settings.has_value()) << "a store writes version 2 checkpoints";
  const CheckpointSettings& w = *loaded->checkpoint->settings;
  EXPECT_EQ(w.io_backend_requested, static_cast<std::uint8_t>(GetParam()));
  EXPECT_EQ(w.io_backend_in_use, static_cast<std::uint8_t>(GetParam())) << "the lent env forwards its backend";
  EXPECT_FALSE(w.io_fell_back);
  EXPECT_EQ(w.compression_level, -3);
  EXPECT_EQ(w.flush_buffer_size, options.flush_buffer_size);
  EXPECT_EQ(w.flush_buffers, options.flush_buffers);
  EXPECT_EQ(w.max_disk_chain, 5u);

  // A store that opens its own env with kAuto records what it got, and whether that was a
  // fallback, exactly as its stats say.
  const std::string own_dir = dir_ / "own";
  StoreOptions own;
  own.segment_size = options.segment_size;
  std::string backend, fallback;
  {
    auto store = Store::Open(own_dir, own);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    backend = (*store)->stats().io_backend;
    fallback = (*store)->stats().io_fallback_reason;
    ASSERT_TRUE((*store)->Close().has_value());
  }
  auto env = OpenEnv(IoBackend::kPosix);
  ASSERT_TRUE(env.has_value());
  auto own_loaded = LoadNewestCheckpoint(**env, own_dir, 0);
  ASSERT_TRUE(own_loaded.has_value() && own_loaded->checkpoint.has_value());
  ASSERT_TRUE(own_loaded->checkpoint->settings.has_value());
  const CheckpointSettings& o = *own_loaded->checkpoint->settings;
  EXPECT_EQ(CheckpointBackendName(o.io_backend_requested, true), "auto");
  EXPECT_EQ(CheckpointBackendName(o.io_backend_in_use, false), backend);
  EXPECT_EQ(o.io_fell_back, !fallback.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama
