// Store recovery: what Open finds after truncated, damaged or padded logs, power cuts and
// torn crashes at random points, crashes at every step of a checkpoint and of recovery
// itself, failing fsync and full disks, and kill -9 of a real writer process. Every test
// runs on both I/O backends, through a FaultInjectionEnv (except kill -9, which uses the
// real env in a child process). The model and the prefix check: tests/lss/store/store_test_util.h.
//
// Seeds: random tests print theirs (SCOPED_TRACE); rerun one with LLAMA_TEST_SEED=<seed>.
// LLAMA_TEST_SCALE scales the number of rounds (a quarter of it under sanitizers), and
// LLAMA_TEST_DEBUG=1 prints each crash round's recovery report.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "llama/store.h"
#include "lss/file/file_names.h"
#include "lss/log/log_reader.h"
#include "lss/log/page_record.h"
#include "lss/recovery/checkpoint.h"
#include "lss/recovery/store_identity.h"
#include "tests/kill_child.h"
#include "tests/lss/store/store_test_util.h"

namespace llama {
namespace {

namespace fs = std::filesystem;
using log_format::kFrameHeaderSize;
using log_format::kSegmentHeaderSize;
using log_format::RecordKind;
using store_test::AppendFileBytes;
using store_test::CopyStoreDir;
using store_test::Model;
using store_test::PageState;
using store_test::Pos;
using store_test::ReadFileBytes;
using store_test::Scaled;
using store_test::SegmentIds;
using store_test::SegmentPath;
using store_test::Workload;

// A record of the log as a scan from the start finds it.
struct ScannedRecord {
  LssAddress address;
  std::uint32_t size = 0;
  RecordKind kind = RecordKind::kPageState;
  PageId pid = 0;
  LssAddress prior;    // page records: the older part of the state
  bool base = false;   // page records: carries a base page
  LssAddress durable;  // SyncPoint records: the position they say was synced
  LssAddress end() const { return LssAddress::Make(address.segment(), address.offset() + size); }
};

std::vector<ScannedRecord> ScanLog(Env& env, const std::string& dir) {
  std::vector<ScannedRecord> out;
  auto identity = ReadStoreIdentity(env, dir);
  EXPECT_TRUE(identity.has_value() && identity->has_value());
  if (!identity || !identity->has_value()) return out;
  SegmentSet segments(env, dir, (*identity)->store_id, (*identity)->segment_size);
  auto scanner = LogScanner::Open(segments, LssAddress::Make(1, kSegmentHeaderSize), (*identity)->segment_size);
  EXPECT_TRUE(scanner.has_value());
  if (!scanner) return out;
  for (;;) {
    auto next = scanner->Next();
    EXPECT_TRUE(next.has_value());
    if (!next || !next->has_value()) break;
    const LogRecord& rec = **next;
    ScannedRecord r;
    r.address = rec.address;
    r.size = static_cast<std::uint32_t>(rec.header.framed_size());
    r.kind = rec.header.kind;
    if (rec.header.kind == RecordKind::kPageState) {
      auto page = DecodePageRecord(rec.body);
      EXPECT_TRUE(page.has_value());
      if (page) {
        r.pid = page->pid;
        r.prior = page->prior;
        r.base = page->base != nullptr;
      }
    }
    if (rec.header.kind == RecordKind::kSyncPoint && rec.body.size() == log_format::kSyncPointBodySize) {
      r.durable = LssAddress::FromRaw(DecodeFixed64(rec.body.data()));
    }
    out.push_back(r);
  }
  return out;
}

class StoreRecoveryTest : public store_test::StoreTestBase {
 protected:
  // Writes only: updates and flushes, no syncs, evictions, reads or checkpoints.
  // Segment files as long as what was written (tests that damage a file at its end).
  StoreOptions NotPreallocated() {
    StoreOptions o = Options();
    o.preallocate_segments = false;
    return o;
  }

  static Workload::Mix WritesOnly(Workload::Mix mix) {
    mix.sync = mix.sync_all = mix.evict = mix.read_back = mix.checkpoint = 0;
    return mix;
  }

  // After a clean close: every page the model knows holds exactly what the workload wrote,
  // unflushed deltas too (Close flushes every page).
  void ExpectEveryPageAsWritten(Store& store, const Model& model, const Workload& w) {
    for (const auto& [pid, h] : model.pages()) {
      auto live = w.live().find(pid);
      const std::string want = live == w.live().end() ? std::string() : store_test::Join(live->second);
      auto state = PageState(store, pid);
      ASSERT_TRUE(state.has_value()) << state.error().ToString();
      EXPECT_EQ(*state, want) << "page " << pid;
    }
  }

  // Runs `w` on the store at `dir` until the log spans `segments` segment files, then
  // closes it cleanly (a checkpoint whose scan start is in the newest segment).
  void WriteSegmentsAndClose(const std::string& dir, Workload& w, std::size_t segments) {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    for (int i = 0; SegmentIds(dir).size() < segments; ++i) {
      ASSERT_TRUE(w.Step(*store).has_value());
      ASSERT_LT(i, 100000);
    }
    ASSERT_TRUE(store->Close().has_value());
  }

  // Deletes every checkpoint file: the next Open scans the whole log.
  static void RemoveCheckpoints(const std::string& dir) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (LooksLikeCheckpointFileName(entry.path().filename().string())) fs::remove(entry.path());
    }
  }

  // A store at `dir` after a seeded workload of `steps` steps, everything synced, then
  // crashed (the directory is what the disk holds), or handed to `finish` instead, which
  // must leave it crashed. No checkpoints unless `checkpoints`.
  void BuildSyncedImage(const std::string& dir, std::uint64_t seed, int steps, Model& model, bool checkpoints,
                        std::size_t min_segments = 3,
                        const std::function<void(std::unique_ptr<Store>&, Workload&)>& finish = {},
                        bool preallocate = true) {
    auto store = MustOpen(dir, preallocate ? Options() : NotPreallocated());
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    Workload::Mix mix;
    if (!checkpoints) mix.checkpoint = 0;
    w.set_mix(mix);
    // Until the newest segment has a few KiB of records too.
    auto newest_bytes = [&]() -> std::uint64_t {
      const auto ids = SegmentIds(dir);
      return ids.empty() ? 0 : fs::file_size(SegmentPath(dir, ids.back()));
    };
    for (int i = 0; i < steps || SegmentIds(dir).size() < min_segments || newest_bytes() < 3000; ++i) {
      auto s = w.Step(*store);
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
      ASSERT_LT(i, 100000) << "the log does not grow";
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    if (finish) {
      finish(store, w);
    } else {
      CrashAndDrop(store);
    }
  }

  // Rounds of a random workload over ~50 pages; each round ends in a crash at a random
  // point: after a number of steps, or after the n-th write / sync / any I/O operation,
  // which the store meets in the middle of whatever it is doing (the writes of a flush
  // buffer, a group commit, a checkpoint, an eviction). Then the store is reopened and
  // the model checked, and the next round goes on from what was recovered.
  void RunCrashRounds(bool torn, int rounds) {
    const std::uint64_t seed = store_test::TestSeed();
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string dir = dir_ / "db";
    std::mt19937_64 rng(seed * 31 + 7);
    Model model;
    Workload w(seed, model, 50);
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    int crashed_inside = 0;
    // Rounds whose torn tail had valid records past the hole (out-of-order buffer writes).
    // MustOpen refusing one (Corruption) would be a crash taken for corruption.
    int valid_past_stop = 0;
    for (int round = 0; round < rounds; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      // Some rounds sync rarely, so that many unsynced buffers are in flight at the crash.
      Workload::Mix mix;
      if (rng() % 3 == 0) {
        mix.sync = 1;
        mix.sync_all = 0;
        mix.evict = 12;
      }
      w.set_mix(mix);
      const int steps = 20 + static_cast<int>(rng() % 300);
      switch (rng() % 4) {
        case 0:
          break;  // crash after `steps` steps
        case 1:
          env_->SetCrashAfter(FaultOp::kWrite, 1 + rng() % 12);
          break;
        case 2:
          env_->SetCrashAfter(FaultOp::kSync, 1 + rng() % 8);
          break;
        default:
          env_->SetCrashAfter(FaultOp::kAny, 1 + rng() % 30);
          break;
      }
      for (int i = 0; i < steps; ++i) {
        auto s = w.Step(*store);
        if (!s) {
          ASSERT_TRUE(env_->crashed()) << "an error without a crash: " << s.error().ToString();
          EXPECT_EQ(s.error().code(), ErrorCode::kAborted) << s.error().ToString();
          ++crashed_inside;
          break;
        }
      }
      CrashAndDrop(store, torn, seed + static_cast<std::uint64_t>(round));
      store = MustOpen(dir);
      ASSERT_NE(store, nullptr) << "a crash was taken for corruption";
      EXPECT_TRUE(store->recovery().corruption.empty());
      if (store->recovery().records_past_stop > 0) ++valid_past_stop;
      std::map<PageId, std::string> got;
      if (std::getenv("LLAMA_TEST_DEBUG")) {
        const RecoveryReport& r = store->recovery();
        std::cerr << "round " << round << ": cp " << r.checkpoint_sequence << " scan " << Pos(r.scan_start) << ".."
                  << Pos(r.scan_stop) << " " << r.stop_reason << " orphans " << r.orphan_segments.size() << " segs";
        for (auto id : SegmentIds(dir)) std::cerr << " " << id;
        std::cerr << "\n";
      }
      ASSERT_TRUE(model.Verify(*store, false, &got));
      model.Rebase(got);
      w.Restart(got);
    }
    std::cout << valid_past_stop << " of " << rounds << " crashes left valid records past the end of the log\n";
    if (rounds >= 8) {
      EXPECT_GT(crashed_inside, 0) << "no crash point was met inside an operation";
      // Torn crashes legitimately lose unsynced pages; a handful must remain.
      EXPECT_GE(w.live().size(), 8u) << "the workload kept too few pages to be interesting";
    }
    // A clean close keeps everything, unflushed deltas too (Close flushes every page).
    auto s = w.Run(*store, 200);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    ASSERT_TRUE(store->Close().has_value());
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    for (const auto& [pid, h] : model.pages()) {
      auto live = w.live().find(pid);
      const std::string want = live == w.live().end() ? std::string() : store_test::Join(live->second);
      auto got = PageState(*store, pid);
      ASSERT_TRUE(got.has_value()) << got.error().ToString();
      EXPECT_EQ(*got, want) << "page " << pid << " after a clean close";
    }
  }

  // Opens a copy of `image` (damaged by `damage`), hands it to `check`, then drops it
  // without writing anything.
  template <typename Damage, typename Check>
  void WithDamagedCopy(const std::string& image, Damage damage, Check check,
                       RecoveryMode mode = RecoveryMode::kRefuseOnCorruption) {
    const std::string copy = dir_ / "copy";
    CopyStoreDir(image, copy);
    damage(copy);
    StoreOptions options = Options();
    options.recovery_mode = mode;
    auto store = Store::Open(copy, options);
    check(store);
    if (store && *store) CrashAndDrop(*store);
  }
};

// ---- Truncation ----

// The newest segment of a synced store cut at every byte offset of its last records (and
// inside its header): recovery returns exactly the pages whose records lie wholly before
// the cut, each at its newest state there, and says where and why it stopped.
//
// Every cut costs a recovery, so the per-byte cuts use a store with a checkpoint just
// before the last records (a short scan); the same log without its checkpoint (a scan
// from the first segment, across a SegmentEnd) gets the header cuts, every record
// boundary and a few cuts inside records.
TEST_P(StoreRecoveryTest, TruncationAtEveryOffsetOfTheLastRecords) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string image = dir_ / "image";
  const std::string image_plain = dir_ / "image-no-checkpoint";
  Model model;
  {
    // Cuts are made at the end of the file: segments as long as their records.
    auto store = MustOpen(image, NotPreallocated());
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    for (int i = 0; i < 100 || SegmentIds(image).size() < 2; ++i) {
      auto s = w.Step(*store);
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    ASSERT_TRUE(store->Checkpoint().has_value());
    Workload::Mix writes = mix;
    writes.sync = writes.sync_all = writes.evict = writes.read_back = 0;
    w.set_mix(writes);
    auto s = w.Run(*store, 40);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    CrashAndDrop(store);
  }
  CopyStoreDir(image, image_plain);
  for (const auto& entry : fs::directory_iterator(image_plain)) {
    if (entry.path().filename().string().starts_with("CHECKPOINT-")) fs::remove(entry.path());
  }

  const std::uint32_t newest = SegmentIds(image).back();
  const std::uint64_t size = fs::file_size(SegmentPath(image, newest));
  // Record boundaries in the newest segment, from a scan of the intact log.
  std::vector<std::uint32_t> boundaries{static_cast<std::uint32_t>(kSegmentHeaderSize)};
  for (const ScannedRecord& r : ScanLog(*base_env_, image_plain)) {
    if (r.address.segment() == newest) boundaries.push_back(r.end().offset());
  }
  ASSERT_EQ(boundaries.back(), size) << "the scan reaches the end of the newest segment";
  const std::vector<char> newest_bytes = ReadFileBytes(SegmentPath(image, newest));
  // Where the checkpoint's scan starts.
  LssAddress scan_start;
  WithDamagedCopy(
      image, [](const std::string&) {},
      [&](Result<std::unique_ptr<Store>>& store) {
        ASSERT_TRUE(store.has_value()) << store.error().ToString();
        EXPECT_TRUE(model.VerifyCut(**store, model.max_end()));
        scan_start = (*store)->recovery().scan_start;
      });
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(scan_start.segment(), newest) << "the last records follow the checkpoint in the newest segment";

  auto check = [&](const std::string& base, std::uint64_t cut) {
    SCOPED_TRACE((base == image ? "with checkpoint: " : "no checkpoint: ") + std::string("segment ") +
                 std::to_string(newest) + " cut at " + std::to_string(cut) + " of " + std::to_string(size));
    WithDamagedCopy(
        base, [&](const std::string& copy) { fs::resize_file(SegmentPath(copy, newest), cut); },
        [&](Result<std::unique_ptr<Store>>& store) {
          ASSERT_TRUE(store.has_value()) << store.error().ToString();
          const LssAddress at = LssAddress::Make(newest, static_cast<std::uint32_t>(cut));
          EXPECT_TRUE(model.VerifyCut(**store, at));
          const RecoveryReport& r = (*store)->recovery();
          if (cut < kSegmentHeaderSize) {
            // The newest segment has no valid header: the log ends with the previous one.
            EXPECT_EQ(r.scan_stop.segment(), newest - 1) << r.stop_reason;
            EXPECT_NE(r.stop_reason.find("segment " + std::to_string(newest)), std::string::npos) << r.stop_reason;
            EXPECT_EQ(r.orphan_segments, std::vector<std::uint32_t>{newest});
            return;
          }
          // The scan stops at the last record boundary at or below the cut.
          const std::uint32_t boundary = *(std::upper_bound(boundaries.begin(), boundaries.end(), cut) - 1);
          EXPECT_EQ(r.scan_stop, LssAddress::Make(newest, boundary)) << r.stop_reason;
          // Past the boundary: the start of a record, unless those bytes happen to be zeros
          // (a checksum byte can be), which read as the end of the log.
          const bool zeros = std::all_of(newest_bytes.begin() + boundary, newest_bytes.begin() + static_cast<long>(cut),
                                         [](char c) { return c == 0; });
          if (zeros) {
            EXPECT_TRUE(r.stop_reason.starts_with("end of log")) << r.stop_reason;
          } else {
            EXPECT_TRUE(r.stop_reason.starts_with("damaged or torn record")) << r.stop_reason;
          }
        });
    return !HasFailure();
  };

  // Every byte of the last few records (after the checkpoint's scan start).
  const int last_records = std::max(2, Scaled(4));
  std::size_t first = boundaries.size() > static_cast<std::size_t>(last_records)
                          ? boundaries.size() - 1 - static_cast<std::size_t>(last_records)
                          : 0;
  while (boundaries[first] < scan_start.offset()) ++first;
  ASSERT_LT(first + 1, boundaries.size()) << "no record after the checkpoint";
  for (std::uint64_t cut = boundaries[first]; cut <= size; ++cut) {
    if (!check(image, cut)) return;  // one cut's report is enough
  }
  // Without the checkpoint: inside the header, and at and just past every boundary of the
  // newest segment's records.
  std::vector<std::uint64_t> cuts{0, 1, kSegmentHeaderSize - 1};
  for (std::uint32_t b : boundaries) {
    for (std::uint64_t cut : {std::uint64_t{b}, std::uint64_t{b} + 1, std::uint64_t{b} + kFrameHeaderSize + 1}) {
      if (cut <= size) cuts.push_back(cut);
    }
  }
  for (std::uint64_t cut : cuts) {
    if (!check(image_plain, cut)) return;
  }
}

// ---- Garbage tails ----

TEST_P(StoreRecoveryTest, ZeroFilledRandomAndStaleTailsAreRejected) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string image = dir_ / "image";
  Model model;
  // Tails are appended at the end of the file: segments as long as their records.
  ASSERT_NO_FATAL_FAILURE(BuildSyncedImage(image, seed, 200, model, /*checkpoints=*/false, 3, {}, false));
  const std::uint32_t newest = SegmentIds(image).back();
  const std::string newest_name = SegmentFileName(newest);

  // Recovery of the intact image: what every damaged copy must match.
  RecoveryReport intact;
  WithDamagedCopy(
      image, [](const std::string&) {},
      [&](Result<std::unique_ptr<Store>>& store) {
        ASSERT_TRUE(store.has_value()) << store.error().ToString();
        EXPECT_TRUE(model.Verify(**store, /*exact=*/true));
        intact = (*store)->recovery();
      });
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(intact.stop_reason.starts_with("end of log")) << intact.stop_reason;

  std::mt19937_64 rng(seed);
  auto random_bytes = [&](std::size_t n) {
    std::vector<char> out(n);
    for (char& c : out) c = static_cast<char>(rng());
    return out;
  };
  const std::vector<char> first_segment = ReadFileBytes(SegmentPath(image, 1));
  const std::vector<char> newest_segment = ReadFileBytes(SegmentPath(image, newest));
  auto slice = [](const std::vector<char>& bytes, std::size_t from, std::size_t n) {
    n = std::min(n, bytes.size() - from);
    return std::vector<char>(bytes.begin() + static_cast<long>(from), bytes.begin() + static_cast<long>(from + n));
  };
  struct Tail {
    std::string what;
    std::vector<char> bytes;
    std::string reason;  // the stop reason starts with this
  };
  const std::string damaged = "damaged or torn record: ";
  std::vector<Tail> tails = {
      {"1 zero byte", std::vector<char>(1, 0), "end of log"},
      {"31 zero bytes", std::vector<char>(31, 0), "end of log"},
      {"a frame header of zeros", std::vector<char>(kFrameHeaderSize, 0), "end of log"},
      {"4 KiB of zeros", std::vector<char>(4096, 0), "end of log"},
      {"7 random bytes", random_bytes(7), damaged},
      {"a frame header of random bytes", random_bytes(kFrameHeaderSize), damaged},
      {"4 KiB of random bytes", random_bytes(4096), damaged},
      // Valid frames from elsewhere: they name the place they were written for.
      {"the start of segment 1", slice(first_segment, kSegmentHeaderSize, 3000),
       damaged + "frame belongs to another segment or offset"},
      {"the start of the newest segment", slice(newest_segment, kSegmentHeaderSize, 3000),
       damaged + "frame belongs to another segment or offset"},
      {"a second copy of the newest segment's records", slice(newest_segment, kSegmentHeaderSize, 1 << 20),
       damaged + "frame belongs to another segment or offset"},
  };
  for (const Tail& tail : tails) {
    SCOPED_TRACE("tail: " + tail.what);
    WithDamagedCopy(
        image, [&](const std::string& copy) { AppendFileBytes(SegmentPath(copy, newest), tail.bytes); },
        [&](Result<std::unique_ptr<Store>>& store) {
          ASSERT_TRUE(store.has_value()) << store.error().ToString();
          EXPECT_TRUE(model.Verify(**store, /*exact=*/true));
          const RecoveryReport& r = (*store)->recovery();
          EXPECT_EQ(r.records_scanned, intact.records_scanned) << "no record of the tail was replayed";
          EXPECT_EQ(r.scan_stop, intact.scan_stop);
          EXPECT_TRUE(r.stop_reason.starts_with(tail.reason)) << r.stop_reason;
          EXPECT_EQ(r.pages_recovered, intact.pages_recovered);
        });
  }

  // The log goes on past a garbage tail: new writes land in a segment that resumes from
  // where the valid log ended, and a second recovery follows it.
  CopyStoreDir(image, dir_ / "resumed");
  AppendFileBytes(SegmentPath(dir_ / "resumed", newest), random_bytes(1000));
  {
    auto store = MustOpen(dir_ / "resumed");
    ASSERT_NE(store, nullptr);
    std::map<PageId, std::string> got;
    ASSERT_TRUE(model.Verify(*store, true, &got));
    model.Rebase(got);
    Workload w(seed + 1, model, 30);
    w.Restart(got);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    auto s = w.Run(*store, 150);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    CrashAndDrop(store);
  }
  auto store = MustOpen(dir_ / "resumed");
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(model.Verify(*store, true));
  EXPECT_GT(store->recovery().scan_stop.segment(), newest) << "the scan followed the resumed log";
}

// ---- Bit flips ----

TEST_P(StoreRecoveryTest, BitFlipInAMiddleRecordIsDetected) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string image = dir_ / "image";
  const std::string image_checkpointed = dir_ / "image-checkpointed";
  Model model;
  {
    auto store = MustOpen(image);
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    for (int i = 0; i < 300 || SegmentIds(image).size() < 3; ++i) {
      auto s = w.Step(*store);
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    CopyStoreDir(image, dir_ / "image-no-checkpoint");
    // The same log with a checkpoint past everything.
    ASSERT_TRUE(store->Checkpoint().has_value());
    CrashAndDrop(store);
    CopyStoreDir(image, image_checkpointed);
  }
  const std::string image_plain = dir_ / "image-no-checkpoint";

  // The chain of records each page's newest state reads.
  const std::vector<ScannedRecord> records = ScanLog(*base_env_, image_plain);
  std::map<LssAddress, const ScannedRecord*> by_address, by_end;
  for (const ScannedRecord& r : records) {
    by_address[r.address] = &r;
    by_end[r.end()] = &r;
  }
  auto chain_of = [&](PageId pid) {
    std::vector<LssAddress> chain;
    const auto& h = model.pages().at(pid);
    if (h.newest().empty()) return chain;
    auto it = by_end.find(h.flushed.back().first);
    if (it == by_end.end()) return chain;
    for (const ScannedRecord* r = it->second; r != nullptr;) {
      chain.push_back(r->address);
      if (r->base || r->prior.is_null()) break;
      auto prior = by_address.find(r->prior);
      r = prior == by_address.end() ? nullptr : prior->second;
    }
    return chain;
  };
  // The victim: an early page record (in the first third of the log) that some page's
  // newest state still reads.
  const ScannedRecord* victim = nullptr;
  std::vector<PageId> dependents;
  for (std::size_t i = records.size() / 10; i < records.size() && victim == nullptr; ++i) {
    if (records[i].kind != RecordKind::kPageState) continue;
    for (const auto& [pid, h] : model.pages()) {
      const auto chain = chain_of(pid);
      if (std::find(chain.begin(), chain.end(), records[i].address) != chain.end()) dependents.push_back(pid);
    }
    if (!dependents.empty()) victim = &records[i];
  }
  ASSERT_NE(victim, nullptr) << "no record is on a live page's chain";
  SCOPED_TRACE("flipped record at " + Pos(victim->address) + " (" + std::to_string(victim->size) + " bytes), read by " +
               std::to_string(dependents.size()) + " pages");
  const std::uint64_t flip_at = victim->address.offset() + kFrameHeaderSize + (victim->size - kFrameHeaderSize) / 2;
  auto flip = [&](const std::string& copy) {
    auto s = env_->FlipBit(SegmentPath(copy, victim->address.segment()), flip_at, static_cast<unsigned>(seed % 8));
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
  };

  // With a checkpoint past the damage, the scan never meets it: the store opens, the pages
  // that read the damaged record get kCorruption, every other page is exact.
  WithDamagedCopy(image_checkpointed, flip, [&](Result<std::unique_ptr<Store>>& store) {
    if (!store) {
      EXPECT_EQ(store.error().code(), ErrorCode::kCorruption) << store.error().ToString();
      return;
    }
    EXPECT_NE((*store)->recovery().checkpoint_sequence, 0u);
    for (const auto& [pid, h] : model.pages()) {
      auto state = PageState(**store, pid);
      const bool damaged = std::find(dependents.begin(), dependents.end(), pid) != dependents.end();
      if (damaged) {
        ASSERT_FALSE(state.has_value()) << "page " << pid << " read the damaged record and got \"" << *state << "\"";
        EXPECT_EQ(state.error().code(), ErrorCode::kCorruption) << state.error().ToString();
        // Still an error the second time (nothing half-read was installed).
        auto again = PageState(**store, pid);
        EXPECT_FALSE(again.has_value());
      } else {
        ASSERT_TRUE(state.has_value()) << "page " << pid << ": " << state.error().ToString();
        EXPECT_EQ(*state, h.newest()) << "page " << pid;
      }
    }
  });

  // Without one, the scan stops at the damaged record. The record was synced, and a
  // SyncPoint past it says so: that is corruption, not a torn tail, and Open refuses
  // (before this rule it opened and silently dropped everything after the damage).
  LssAddress durable_past;
  for (const ScannedRecord& r : records) {
    if (r.address > victim->address) durable_past = std::max(durable_past, r.durable);
  }
  ASSERT_GT(durable_past, victim->address) << "no SyncPoint past the victim vouches for it";
  WithDamagedCopy(image_plain, flip, [&](Result<std::unique_ptr<Store>>& store) {
    ASSERT_FALSE(store.has_value()) << "damage in synced data was taken for a torn tail";
    EXPECT_EQ(store.error().code(), ErrorCode::kCorruption) << store.error().ToString();
    EXPECT_NE(store.error().message().find("segment " + std::to_string(victim->address.segment()) + " offset " +
                                           std::to_string(victim->address.offset()) + ": damaged or torn record"),
              std::string::npos)
        << store.error().ToString();
  });
  // kTruncateAtCorruption opens it as before: the store holds the log before the damage,
  // every page exactly as of that point, never a state made of damaged bytes, and the
  // report says what was dropped.
  WithDamagedCopy(
      image_plain, flip,
      [&](Result<std::unique_ptr<Store>>& store) {
        ASSERT_TRUE(store.has_value()) << store.error().ToString();
        const RecoveryReport& r = (*store)->recovery();
        EXPECT_EQ(r.scan_stop, victim->address) << r.stop_reason;
        EXPECT_TRUE(r.stop_reason.starts_with("damaged or torn record: checksum mismatch")) << r.stop_reason;
        EXPECT_TRUE(r.corruption.starts_with("log corruption at segment")) << r.corruption;
        EXPECT_GT(r.records_past_stop, 0u);
        EXPECT_TRUE(model.VerifyCut(**store, victim->address));
      },
      RecoveryMode::kTruncateAtCorruption);
}

// ---- Damage or torn tail ----

// Every file of a directory, by name.
std::map<std::string, std::vector<char>> DirContents(const std::string& dir) {
  std::map<std::string, std::vector<char>> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    out[entry.path().filename().string()] = ReadFileBytes(entry.path().string());
  }
  return out;
}

// A flipped bit in a synced record, in the first segment and in the middle of the newest
// one, with SyncPoints past it: Open refuses with Corruption naming the place and leaves
// every file as it was, byte for byte (pagedump says the same: tests/tools/pagedump);
// kTruncateAtCorruption opens at the last good record and reports the drop, and the store
// it leaves opens normally afterwards (the log resumes past the damage).
TEST_P(StoreRecoveryTest, DamageBeforeASyncedPositionIsCorruption) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string image = dir_ / "image";
  Model model;
  // A few more synced writes after the synced workload: the first carries a SyncPoint
  // for everything before it.
  ASSERT_NO_FATAL_FAILURE(BuildSyncedImage(image, seed, 200, model, /*checkpoints=*/false, 3,
                                           [&](std::unique_ptr<Store>& store, Workload& w) {
                                             w.set_mix(WritesOnly(Workload::Mix()));
                                             ASSERT_TRUE(w.Run(*store, 20).has_value());
                                             ASSERT_TRUE(store->SyncAll().has_value());
                                             model.SyncedAll();
                                             CrashAndDrop(store);
                                           }));
  const std::vector<ScannedRecord> records = ScanLog(*base_env_, image);
  LssAddress durable;
  for (const ScannedRecord& r : records) durable = std::max(durable, r.durable);
  // Victims: the first page record of segment 1, and the page record half way through
  // the newest segment holding synced page records.
  std::vector<const ScannedRecord*> victims;
  std::uint32_t newest = 0;
  for (const ScannedRecord& r : records) {
    if (r.kind == RecordKind::kPageState && r.end() <= durable) newest = r.address.segment();
  }
  ASSERT_GT(newest, 1u) << "the synced records span a single segment";
  std::vector<const ScannedRecord*> in_newest;
  for (const ScannedRecord& r : records) {
    if (r.kind != RecordKind::kPageState) continue;
    if (r.address.segment() == 1 && victims.empty()) victims.push_back(&r);
    if (r.address.segment() == newest && r.end() <= durable) in_newest.push_back(&r);
  }
  ASSERT_EQ(victims.size(), 1u);
  ASSERT_FALSE(in_newest.empty()) << "no synced page record in the newest segment";
  victims.push_back(in_newest[in_newest.size() / 2]);

  for (const ScannedRecord* victim : victims) {
    SCOPED_TRACE("flipped record at " + Pos(victim->address));
    auto flip = [&](const std::string& copy) {
      const std::uint64_t at = victim->address.offset() + kFrameHeaderSize + (victim->size - kFrameHeaderSize) / 2;
      auto s = env_->FlipBit(SegmentPath(copy, victim->address.segment()), at, static_cast<unsigned>(seed % 8));
      ASSERT_TRUE(s.has_value()) << s.error().ToString();
    };
    const std::string copy = dir_ / "copy";
    CopyStoreDir(image, copy);
    flip(copy);
    const auto before = DirContents(copy);
    auto refused = Store::Open(copy, Options());
    ASSERT_FALSE(refused.has_value()) << "damage in synced data was taken for a torn tail";
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption);
    const std::string where =
        "segment " + std::to_string(victim->address.segment()) + " offset " + std::to_string(victim->address.offset());
    EXPECT_NE(refused.error().message().find("log corruption at " + where), std::string::npos)
        << refused.error().ToString();
    EXPECT_TRUE(DirContents(copy) == before) << "a refused open changed the directory";
    // An operator's way back to the data before the damage.
    StoreOptions truncate = Options();
    truncate.recovery_mode = RecoveryMode::kTruncateAtCorruption;
    {
      auto store = MustOpen(copy, truncate);
      ASSERT_NE(store, nullptr);
      const RecoveryReport& r = store->recovery();
      EXPECT_EQ(r.scan_stop, victim->address) << r.stop_reason;
      EXPECT_NE(r.corruption.find("log corruption at " + where), std::string::npos) << r.corruption;
      EXPECT_GT(r.records_past_stop, 0u);
      std::vector<std::uint32_t> later;
      for (std::uint32_t id = victim->address.segment() + 1; id <= SegmentIds(image).back(); ++id) later.push_back(id);
      EXPECT_EQ(r.orphan_segments, later) << "the segments past the damage are set aside";
      EXPECT_TRUE(model.VerifyCut(*store, victim->address));
      CrashAndDrop(store);
    }
    {
      auto store = MustOpen(copy);
      ASSERT_NE(store, nullptr) << "after a truncating open the log resumes past the damage";
      EXPECT_TRUE(store->recovery().corruption.empty());
      EXPECT_TRUE(model.VerifyCut(*store, victim->address));
      CrashAndDrop(store);
    }
    fs::remove_all(copy);
  }
}

// The other side of the line: after the last sync, group commit may have written several
// flush buffers that reach the disk in any order, so a hole followed by valid records is
// what a crash can leave there. Damage past the newest synced position, with valid
// unsynced records after it, is a torn tail: Open cuts it off and says how many records it
// found past the stop.
TEST_P(StoreRecoveryTest, AHoleInUnsyncedWritesIsATornTail) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string image = dir_ / "image";
  const std::string crashed = dir_ / "crashed";
  Model model;
  LssAddress synced;
  ASSERT_NO_FATAL_FAILURE(BuildSyncedImage(
      image, seed, 200, model, /*checkpoints=*/false, 1,
      [&](std::unique_ptr<Store>& store, Workload& w) {
        synced = model.synced();
        // Unsynced writes, several flush buffers of them, written out but never synced.
        w.set_mix(WritesOnly(Workload::Mix()));
        const std::uint32_t newest = SegmentIds(image).back();
        const std::uint64_t size = fs::file_size(SegmentPath(image, newest));
        for (int i = 0; fs::file_size(SegmentPath(image, newest)) < size + 3 * Options().flush_buffer_size; ++i) {
          if (SegmentIds(image).back() != newest) break;
          ASSERT_TRUE(w.Step(*store).has_value());
          ASSERT_LT(i, 100000);
        }
        // What the disk holds if the whole page cache happened to reach it before the crash.
        env_->SetCrashAfter(FaultOp::kAny, 0);
        store.reset();
        CopyStoreDir(image, crashed);
        ASSERT_TRUE(env_->SimulatePowerCut().has_value());
        env_->ClearFaults();
      },
      /*preallocate=*/false));  // file sizes show what was written
  const std::vector<ScannedRecord> records = ScanLog(*base_env_, crashed);
  // A page record past the synced position with valid records after it.
  const ScannedRecord* victim = nullptr;
  std::size_t after = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].kind == RecordKind::kPageState && records[i].address >= synced && records.size() - i > 3) {
      victim = &records[i];
      after = records.size() - i - 1;
      break;
    }
  }
  ASSERT_NE(victim, nullptr) << "no unsynced record was written out";
  SCOPED_TRACE("zeroed record at " + Pos(victim->address) + ", " + std::to_string(after) + " records after it");
  // A lost write: the record's bytes never reached the disk (zeros), the later ones did.
  const std::string path = SegmentPath(crashed, victim->address.segment());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(victim->address.offset());
    const std::vector<char> zeros(victim->size, 0);
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  auto store = MustOpen(crashed);
  ASSERT_NE(store, nullptr) << "a hole in unsynced writes was called corruption";
  const RecoveryReport& r = store->recovery();
  EXPECT_EQ(r.scan_stop, victim->address) << r.stop_reason;
  EXPECT_TRUE(r.corruption.empty());
  EXPECT_GE(r.records_past_stop, after) << "the records past the hole were found and set aside";
  EXPECT_TRUE(model.VerifyCut(*store, victim->address));
  CrashAndDrop(store);
}

// ---- Preallocated segments ----

// Segment files are preallocated to the segment size (the default): the zeros past the
// last record are the end of the log, never damage, after a power cut as after a clean
// close; the new segment after recovery is preallocated too.
TEST_P(StoreRecoveryTest, PreallocatedSegmentsEndInZeros) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  Model model;
  ASSERT_TRUE(Options().preallocate_segments) << "the default";
  ASSERT_NO_FATAL_FAILURE(BuildSyncedImage(dir, seed, 200, model, /*checkpoints=*/false, 2));
  for (std::uint32_t id : SegmentIds(dir)) {
    EXPECT_EQ(fs::file_size(SegmentPath(dir, id)), Options().segment_size) << "segment " << id;
  }
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  const RecoveryReport& r = store->recovery();
  EXPECT_TRUE(r.stop_reason.starts_with("end of log: no record past this point")) << r.stop_reason;
  EXPECT_EQ(r.records_past_stop, 0u);
  std::map<PageId, std::string> got;
  ASSERT_TRUE(model.Verify(*store, true, &got));
  model.Rebase(got);
  Workload w(seed + 1, model, 30);
  w.Restart(got);
  ASSERT_TRUE(w.Run(*store, 50).has_value());
  ASSERT_TRUE(store->Close().has_value());
  const std::uint32_t newest = SegmentIds(dir).back();
  EXPECT_EQ(fs::file_size(SegmentPath(dir, newest)), Options().segment_size);
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->recovery().stop_reason.starts_with("end of log")) << store->recovery().stop_reason;
  // A clean close keeps everything, unflushed deltas too.
  ExpectEveryPageAsWritten(*store, model, w);
}

// ---- Power cuts and torn crashes in a random workload ----

TEST_P(StoreRecoveryTest, PowerCutKeepsEverySyncedWrite) { RunCrashRounds(/*torn=*/false, Scaled(40)); }

TEST_P(StoreRecoveryTest, TornUnsyncedTails) { RunCrashRounds(/*torn=*/true, Scaled(40)); }

// ---- Directory entries ----

TEST_P(StoreRecoveryTest, UnsyncedDirectoryEntriesAreNotReliedOn) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Workload::Mix writes_only;
  writes_only.sync = writes_only.sync_all = writes_only.checkpoint = writes_only.evict = writes_only.read_back = 0;

  // 1. A new segment whose directory entry could not be synced: the Sync that needed it
  //    fails, and the power cut takes the segment away.
  {
    SCOPED_TRACE("failed directory sync");
    const std::string dir = dir_ / "a";
    Model model;
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    ASSERT_TRUE(w.Run(*store, 200).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    const std::size_t segments = SegmentIds(dir).size();
    w.set_mix(writes_only);
    for (int i = 0; SegmentIds(dir).size() == segments; ++i) {
      ASSERT_TRUE(w.Step(*store).has_value());
      ASSERT_LT(i, 100000);
    }
    env_->FailNextSyncs(ErrorCode::kIOError, 1);  // the directory sync comes first
    auto s = store->SyncAll();
    ASSERT_FALSE(s.has_value()) << "a Sync whose directory sync failed acknowledged nothing";
    EXPECT_EQ(s.error().code(), ErrorCode::kIOError);
    CrashAndDrop(store);
    EXPECT_EQ(SegmentIds(dir).size(), segments) << "the unsynced segment vanished in the power cut";
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(model.Verify(*store, false));
  }
  // 2. A crash right after a new segment file was created.
  {
    SCOPED_TRACE("crash after creating a segment");
    const std::string dir = dir_ / "b";
    Model model;
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    Workload w(seed + 1, model, 30);
    ASSERT_TRUE(w.Run(*store, 200).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    const std::size_t segments = SegmentIds(dir).size();
    w.set_mix(writes_only);
    env_->SetCrashAfter(FaultOp::kDirOp, 1);  // the next segment's creation
    for (int i = 0; !env_->crashed(); ++i) {
      if (!w.Step(*store)) break;
      ASSERT_LT(i, 100000);
    }
    ASSERT_TRUE(env_->crashed());
    EXPECT_EQ(SegmentIds(dir).size(), segments + 1);
    CrashAndDrop(store);
    EXPECT_EQ(SegmentIds(dir).size(), segments);
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(model.Verify(*store, false));
  }
  // 3. A checkpoint renamed into place whose directory was never synced.
  {
    SCOPED_TRACE("checkpoint without its directory sync");
    const std::string dir = dir_ / "c";
    Model model;
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    Workload w(seed + 2, model, 30);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    ASSERT_TRUE(w.Run(*store, 150).has_value());
    ASSERT_TRUE(store->Checkpoint().has_value());
    ASSERT_TRUE(w.Run(*store, 150).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    env_->SetCrashAfter(FaultOp::kDirOp, 2);  // create CHECKPOINT-...2.tmp, rename it
    auto s = store->Checkpoint();
    ASSERT_FALSE(s.has_value()) << "the directory sync after the rename was refused";
    EXPECT_TRUE(fs::exists(dir + "/" + CheckpointFileName(2))) << "renamed into place";
    CrashAndDrop(store);
    EXPECT_FALSE(fs::exists(dir + "/" + CheckpointFileName(2))) << "the rename was never durable";
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->recovery().checkpoint_sequence, 1u) << "the previous checkpoint, and a longer scan";
    EXPECT_TRUE(store->recovery().damaged_checkpoints.empty());
    EXPECT_TRUE(model.Verify(*store, false));
  }
}

// ---- Checkpoints ----

TEST_P(StoreRecoveryTest, CrashAtEachStepOfACheckpoint) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  bool completed = false;
  int used_old = 0, used_new = 0;
  for (std::uint64_t n = 1; n < 64 && !completed; ++n) {
    SCOPED_TRACE("crash after " + std::to_string(n) + " I/O operations of the checkpoint");
    const std::string dir = dir_ / ("n" + std::to_string(n));
    Model model;
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    ASSERT_TRUE(w.Run(*store, 150).has_value());
    ASSERT_TRUE(store->Checkpoint().has_value());  // checkpoint 1
    ASSERT_TRUE(w.Run(*store, 150).has_value());
    // Unsynced flushes at the end, so the checkpoint has log to sync as well.
    Workload::Mix writes_only = mix;
    writes_only.sync = writes_only.sync_all = 0;
    w.set_mix(writes_only);
    ASSERT_TRUE(w.Run(*store, 60).has_value());

    env_->SetCrashAfter(FaultOp::kAny, n);
    const bool ok = store->Checkpoint().has_value();
    completed = ok && !env_->crashed();
    CrashAndDrop(store, /*torn=*/n % 2 == 0, seed + n);
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(model.Verify(*store, false));
    const std::uint64_t used = store->recovery().checkpoint_sequence;
    EXPECT_TRUE(used == 1 || used == 2) << used;
    if (ok) {
      EXPECT_EQ(used, 2u) << "a checkpoint that returned OK is durable";
    }
    EXPECT_TRUE(store->recovery().damaged_checkpoints.empty()) << store->recovery().damaged_checkpoints.front();
    (used == 2 ? used_new : used_old)++;
    CrashAndDrop(store);
  }
  EXPECT_TRUE(completed) << "the checkpoint never completed within 64 operations";
  EXPECT_GT(used_old, 0);
  EXPECT_GT(used_new, 0);
}

TEST_P(StoreRecoveryTest, CrashAtEachStepOfCleaningASegment) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  StoreOptions options = Options();
  options.cleaner_max_live_fraction = 1.01;  // every finished segment is a candidate
  // One store with a log of several segments, closed cleanly; each crash point starts
  // from a copy of it.
  const std::string base = dir_ / "base";
  Model model;
  {
    auto store = MustOpen(base, options);
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 40);
    Workload::Mix mix;
    mix.checkpoint = 0;
    w.set_mix(mix);
    // Until the log spans several segments (the cleaner only takes finished ones).
    for (int i = 0; i < 40 && store_test::SegmentIds(base).size() < 4; ++i) {
      ASSERT_TRUE(w.Run(*store, 1000).has_value());
    }
    ASSERT_TRUE(store->Close().has_value());  // flushes every page: all of it is durable
  }
  ASSERT_GE(store_test::SegmentIds(base).size(), 4u) << "the workload should fill several segments";
  // Every page's state after the clean close: what each crashed cleaning must leave.
  std::map<PageId, std::string> expected;
  {
    const std::string probe = dir_ / "probe";
    store_test::CopyStoreDir(base, probe);
    auto store = MustOpen(probe, options);
    ASSERT_NE(store, nullptr);
    for (std::uint64_t pid = 0; pid < store->mapping().high_water(); ++pid) {
      auto state = store_test::PageState(*store, static_cast<PageId>(pid));
      ASSERT_TRUE(state.has_value()) << state.error().ToString();
      expected[static_cast<PageId>(pid)] = *state;
    }
    CrashAndDrop(store);
  }
  bool completed = false;
  int deleted_runs = 0;
  for (std::uint64_t n = 1; n < 400 && !completed; n += (n < 30 ? 1 : 9)) {
    SCOPED_TRACE("crash after " + std::to_string(n) + " I/O operations of the cleaner");
    const std::string dir = dir_ / ("n" + std::to_string(n));
    store_test::CopyStoreDir(base, dir);
    auto store = MustOpen(dir, options);
    ASSERT_NE(store, nullptr);
    env_->SetCrashAfter(FaultOp::kAny, n);
    auto cleaned = store->Clean(2);
    completed = cleaned.has_value() && !env_->crashed();
    if (completed) {
      EXPECT_FALSE(cleaned->cleaned.empty()) << "nothing was cleaned: the test proves nothing";
      if (!cleaned->deleted.empty()) ++deleted_runs;
    }
    CrashAndDrop(store, /*torn=*/n % 2 == 0, seed + n);
    // Whatever step the cleaner died at, every page is at its state from before.
    store = MustOpen(dir, options);
    ASSERT_NE(store, nullptr);
    for (const auto& [pid, state] : expected) {
      auto got = store_test::PageState(*store, pid);
      ASSERT_TRUE(got.has_value()) << "page " << pid << ": " << got.error().ToString();
      ASSERT_EQ(*got, state) << "page " << pid;
    }
    CrashAndDrop(store);
    std::filesystem::remove_all(dir);
  }
  EXPECT_TRUE(completed) << "the cleaner never completed within the crash points tried";
  EXPECT_GT(deleted_runs, 0) << "the completed run deleted no segment";
}

// ---- I/O errors ----

TEST_P(StoreRecoveryTest, EioOnFsyncStopsAcknowledging) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  Model model;
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  Workload w(seed, model, 40);
  ASSERT_TRUE(w.Run(*store, 250).has_value());
  ASSERT_TRUE(store->SyncAll().has_value());
  model.SyncedAll();
  const LssAddress durable = model.max_end();
  Workload::Mix writes_only;
  writes_only.sync = writes_only.sync_all = writes_only.checkpoint = writes_only.evict = writes_only.read_back = 0;
  w.set_mix(writes_only);
  ASSERT_TRUE(w.Run(*store, 80).has_value());
  ASSERT_GT(model.max_end(), durable);

  env_->FailNextSyncs(ErrorCode::kIOError, 1);
  auto s = store->Sync(model.max_end());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kIOError) << s.error().ToString();
  env_->ClearFaults();  // the disk works again: the store must not believe it
  auto again = store->SyncAll();
  ASSERT_FALSE(again.has_value()) << "a retried sync would claim writes the failed one may have dropped";
  EXPECT_EQ(again.error().code(), ErrorCode::kIOError);
  EXPECT_FALSE(store->Sync(model.max_end()).has_value());
  EXPECT_TRUE(store->Sync(durable).has_value()) << "what was durable before stays acknowledged";
  // New flushes and frees are refused with the same error.
  const PageId pid = w.live().begin()->first;
  ASSERT_TRUE(w.UpdateD(*store, pid).has_value());
  auto flushed = w.Flush(*store, pid);
  ASSERT_FALSE(flushed.has_value());
  EXPECT_EQ(flushed.error().code(), ErrorCode::kIOError);
  auto checkpoint = store->Checkpoint();
  ASSERT_FALSE(checkpoint.has_value());
  EXPECT_EQ(checkpoint.error().code(), ErrorCode::kIOError);
  auto closed = store->Close();
  ASSERT_FALSE(closed.has_value()) << "Close reports the failure";
  EXPECT_EQ(closed.error().code(), ErrorCode::kIOError);
  store.reset();
  ASSERT_TRUE(env_->SimulatePowerCut().has_value());
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(model.Verify(*store, false));
}

TEST_P(StoreRecoveryTest, EnospcOnWrite) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant == 0 ? "surfaces from Sync" : "surfaces from Flush");
    const std::string dir = dir_ / ("db" + std::to_string(variant));
    Model model;
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    Workload w(seed + variant, model, 40);
    ASSERT_TRUE(w.Run(*store, 250).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    Workload::Mix writes_only;
    writes_only.sync = writes_only.sync_all = writes_only.checkpoint = writes_only.evict = writes_only.read_back = 0;
    w.set_mix(writes_only);
    env_->FailNextWrites(ErrorCode::kNoSpace, 1);
    Status failed = OkStatus();
    if (variant == 0) {
      // The failed write surfaces from SyncAll, or from a write step if the log's I/O
      // thread wrote the buffer before (the scheduler decides which): NoSpace either way.
      for (int i = 0; i < 20 && failed; ++i) failed = w.Step(*store);
      if (failed) failed = store->SyncAll();
    } else {
      // Keep flushing: once a full buffer's write fails, flushes report it.
      for (int i = 0; i < 100000 && failed; ++i) failed = w.Step(*store);
    }
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code(), ErrorCode::kNoSpace) << failed.error().ToString();
    EXPECT_NE(failed.error().message().find("NoSpace"), std::string::npos) << failed.error().ToString();
    auto sync = store->SyncAll();
    ASSERT_FALSE(sync.has_value());
    EXPECT_EQ(sync.error().code(), ErrorCode::kNoSpace);
    const PageId pid = w.live().begin()->first;
    ASSERT_TRUE(w.UpdateD(*store, pid).has_value());
    auto flushed = w.Flush(*store, pid);
    ASSERT_FALSE(flushed.has_value());
    EXPECT_EQ(flushed.error().code(), ErrorCode::kNoSpace);
    EXPECT_FALSE(store->Close().has_value());
    store.reset();
    ASSERT_TRUE(env_->SimulatePowerCut().has_value());
    store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(model.Verify(*store, false));
    store.reset();
  }
}

// ---- Crashes during recovery ----

TEST_P(StoreRecoveryTest, CrashDuringRecoveryThenRecoverAgain) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  // A store whose log was cut by a power cut in the middle of a group commit: the new
  // segment's directory entry was synced, its contents were not (so the file is empty), and
  // the end of the previous segment is gone.
  const std::string image = dir_ / "image";
  Model model;
  {
    auto store = MustOpen(image);
    ASSERT_NE(store, nullptr);
    Workload w(seed, model, 30);
    ASSERT_TRUE(w.Run(*store, 200).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    Workload::Mix writes_only;
    writes_only.sync = writes_only.sync_all = writes_only.checkpoint = writes_only.evict = writes_only.read_back = 0;
    w.set_mix(writes_only);
    const std::size_t segments = SegmentIds(image).size();
    for (int i = 0; SegmentIds(image).size() == segments; ++i) {
      ASSERT_TRUE(w.Step(*store).has_value());
      ASSERT_LT(i, 100000);
    }
    env_->SetCrashAfter(FaultOp::kSync, 1);  // the directory sync, and no file sync
    EXPECT_FALSE(store->SyncAll().has_value());
    CrashAndDrop(store);
  }
  // Recovery without a crash: the reference.
  std::map<PageId, std::string> reference;
  std::vector<std::uint32_t> orphans;
  {
    CopyStoreDir(image, dir_ / "reference");
    auto store = MustOpen(dir_ / "reference");
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(model.Verify(*store, false, &reference));
    orphans = store->recovery().orphan_segments;
    CrashAndDrop(store);
  }
  EXPECT_FALSE(orphans.empty()) << "recovery sets the empty new segment aside";
  std::optional<PageId> touched;
  for (const auto& [pid, state] : reference) {
    if (!state.empty()) touched = pid;
  }
  ASSERT_TRUE(touched.has_value()) << "no page survived to write to";

  bool completed = false;
  for (std::uint64_t n = 1; n < 80 && !completed; ++n) {
    SCOPED_TRACE("crash after " + std::to_string(n) + " I/O operations");
    const std::string dir = dir_ / ("n" + std::to_string(n));
    CopyStoreDir(image, dir);
    // Open (renames, directory sync), one synced write (a new segment), and Close.
    env_->SetCrashAfter(FaultOp::kAny, n);
    bool write_synced = false;
    {
      auto store = Store::Open(dir, Options());
      if (store) {
        {
          auto g = (*store)->EnterGeneration();
          auto ref = (*store)->Read(g, *touched);
          if (ref) {
            auto out = (*store)->UpdateD(g, *touched, *ref, testing::UpdateRecord(*touched, "after-recovery"));
            ASSERT_TRUE(out.has_value() && out->installed);
            auto end = (*store)->Flush(g, *touched);
            write_synced = end && (*store)->Sync(*end).has_value();
          }
        }
        completed = (*store)->Close().has_value() && write_synced && !env_->crashed();
      } else {
        EXPECT_EQ(store.error().code(), ErrorCode::kAborted) << store.error().ToString();
      }
    }
    if (!env_->crashed()) env_->SetCrashAfter(FaultOp::kAny, 0);
    auto s = n % 2 == 0 ? env_->SimulateTornCrash(seed + n) : env_->SimulatePowerCut();
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    env_->ClearFaults();
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    for (const auto& [pid, want] : reference) {
      auto got = PageState(*store, pid);
      ASSERT_TRUE(got.has_value()) << "page " << pid << ": " << got.error().ToString();
      if (pid == *touched) {
        if (write_synced) {
          EXPECT_EQ(*got, "after-recovery|" + want) << "page " << pid << ": the synced write after recovery";
        } else {
          EXPECT_TRUE(*got == want || *got == "after-recovery|" + want) << "page " << pid << ": " << *got;
        }
      } else {
        EXPECT_EQ(*got, want) << "page " << pid;
      }
    }
    CrashAndDrop(store);
  }
  EXPECT_TRUE(completed) << "open, write and close never got through";
}

// ---- What Open fsyncs ----

// A process that crashed with records written but never synced (they are in the page cache,
// which outlives the process): recovery accepts them and the next process builds on them
// (its Close checkpoints pages whose newest records are among them). A power cut after
// that must not take them away, so recovery must have made them durable: the unsynced
// records span two segments, past the last SyncPoint.
TEST_P(StoreRecoveryTest, WhatRecoveryBuiltOnSurvivesALaterPowerCut) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  Model model;
  Workload w(seed, model, 30);
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(w.Run(*store, 200).has_value());
    ASSERT_TRUE(store->SyncAll().has_value());
    model.SyncedAll();
    w.set_mix(WritesOnly(Workload::Mix()));
    const std::size_t segments = SegmentIds(dir).size();
    for (int i = 0; SegmentIds(dir).size() < segments + 1 || i < 100; ++i) {
      ASSERT_TRUE(w.Step(*store).has_value());
      ASSERT_LT(i, 100000);
    }
    // The process dies: what it wrote stays (unsynced); its Close writes and syncs nothing.
    env_->FailNextWrites(ErrorCode::kIOError, 1 << 20);
    env_->SetFailAllSyncs(true);
    store.reset();
    env_->ClearFaults();
  }
  ASSERT_GT(env_->unsynced_operations(), 0u);
  std::map<PageId, std::string> recovered;
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(model.Verify(*store, false, &recovered));
    ASSERT_TRUE(store->Close().has_value());  // a checkpoint naming what recovery accepted
  }
  EXPECT_EQ(env_->unsynced_operations(), 0u) << "recovery left accepted records unsynced";
  ASSERT_TRUE(env_->SimulatePowerCut().has_value());
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  for (const auto& [pid, want] : recovered) {
    auto got = PageState(*store, pid);
    ASSERT_TRUE(got.has_value()) << "page " << pid << ": " << got.error().ToString();
    EXPECT_EQ(*got, want) << "page " << pid << ": recovered before the power cut";
  }
}

// A log a SyncPoint vouches for is not fsynced again at Open: after a clean close (its
// SyncPoint names the end of the log) a whole scan of several segments fsyncs only the
// last one, whose closing SyncPoint record itself no later SyncPoint covers.
TEST_P(StoreRecoveryTest, OpenFsyncsOnlyWhatNoSyncPointVouchesFor) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  Model model;
  Workload w(seed, model, 30);
  WriteSegmentsAndClose(dir, w, 3);
  RemoveCheckpoints(dir);  // a whole scan
  const FaultStats before = env_->stats();
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_GE(store->recovery().records_scanned, 4u);
  EXPECT_EQ(store->recovery().scan_start, LssAddress::Make(1, kSegmentHeaderSize));
  EXPECT_LE(env_->stats().syncs - before.syncs, 1u) << "Open fsynced segments a SyncPoint vouches for";
  ExpectEveryPageAsWritten(*store, model, w);
}

// Two segment files swapped by name: each header names the other's segment. Open refuses
// with Corruption naming the file and the segment its header holds (before anything on
// disk changes), whether the scan would reach the two (no checkpoint) or they lie below a
// checkpoint's scan start (which the scan never reads); swapped back, the store opens as
// written. A segment file of another store stays what it was: set aside as an orphan.
TEST_P(StoreRecoveryTest, SwappedSegmentFilesAreRefusedAtOpen) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string dir = dir_ / "db";
  Model model;
  Workload w(seed, model, 30);
  WriteSegmentsAndClose(dir, w, 4);
  auto swap = [](const std::string& in, std::uint32_t a, std::uint32_t b) {
    fs::rename(SegmentPath(in, a), in + "/swap.tmp");
    fs::rename(SegmentPath(in, b), SegmentPath(in, a));
    fs::rename(in + "/swap.tmp", SegmentPath(in, b));
  };
  auto names = [](const std::string& in) {
    std::set<std::string> out;
    for (const auto& entry : fs::directory_iterator(in)) out.insert(entry.path().filename().string());
    return out;
  };
  for (bool checkpoint : {true, false}) {
    SCOPED_TRACE(checkpoint ? "below the checkpoint's scan start" : "on the scanned log");
    const std::string copy = dir_ / (checkpoint ? "with-checkpoint" : "whole-scan");
    CopyStoreDir(dir, copy);
    if (!checkpoint) RemoveCheckpoints(copy);
    const std::uint32_t a = checkpoint ? 1 : 2;
    const std::uint32_t b = a + 1;
    swap(copy, a, b);
    const std::set<std::string> before = names(copy);
    auto refused = Store::Open(copy, Options());
    ASSERT_FALSE(refused.has_value()) << "a store with swapped segment files opened";
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption) << refused.error().ToString();
    EXPECT_NE(refused.error().message().find("segment file " + SegmentPath(copy, a) + " holds segment " +
                                             std::to_string(b) + "'s header"),
              std::string::npos)
        << refused.error().ToString();
    EXPECT_EQ(names(copy), before) << "a refused Open changed the directory";
    swap(copy, a, b);
    auto store = MustOpen(copy);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->recovery().orphan_segments.empty());
    ExpectEveryPageAsWritten(*store, model, w);
  }

  // Another store's segment 2 under a name past the log: foreign, set aside as before.
  const std::string other = dir_ / "other";
  Model other_model;
  Workload other_w(seed + 1, other_model, 30);
  WriteSegmentsAndClose(other, other_w, 2);
  const std::uint32_t past = SegmentIds(dir).back() + 1;
  fs::copy_file(SegmentPath(other, 2), SegmentPath(dir, past));
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().orphan_segments, std::vector<std::uint32_t>{past});
  ExpectEveryPageAsWritten(*store, model, w);
}

// Regression: a checkpoint taken before the writer created its first segment names a scan
// start in a segment that may never exist. After a later segment was set aside as an
// orphan, recovery used to start the next log at a segment id below that scan start, and
// the recovery after it, starting at the missing segment, never found the synced writes.
TEST_P(StoreRecoveryTest, ACheckpointBeforeTheFirstWriteDoesNotHideLaterSegments) {
  const std::string dir = dir_ / "db";
  auto put = [&](Store& store, const std::string& contents) -> Status {
    auto pid = store.Allocate();
    LLAMA_RETURN_IF_ERROR(pid);
    auto g = store.EnterGeneration();
    OwnedChain chain = testing::BaseChain(*pid, contents);
    auto ref = store.mapping().Read(g, *pid);
    LLAMA_RETURN_IF_ERROR(ref);
    auto out = store.UpdateR(g, *pid, *ref, chain);
    LLAMA_RETURN_IF_ERROR(out);
    auto end = store.Flush(g, *pid);
    LLAMA_RETURN_IF_ERROR(end);
    return store.Sync(*end);
  };
  auto contents = [&](Store& store) {
    std::set<std::string> out;
    for (PageId pid = kCatalogPage + 1; pid < 8; ++pid) {
      auto state = PageState(store, pid);
      EXPECT_TRUE(state.has_value()) << state.error().ToString();
      if (state && !state->empty()) out.insert(*state);
    }
    return out;
  };
  // 1. A synced page.
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(put(*store, "a").has_value());
  CrashAndDrop(store);
  // 2. A checkpoint before anything is written (its scan start: the new, uncreated segment).
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Checkpoint().has_value());
  CrashAndDrop(store);
  // 3. A group commit cut after its directory sync: a new segment file that stays empty.
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  env_->SetCrashAfter(FaultOp::kSync, 1);
  EXPECT_FALSE(put(*store, "lost").has_value());
  CrashAndDrop(store);
  // 4. Recovery sets the empty segment aside; another checkpoint before the first write.
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->recovery().orphan_segments.size(), 1u);
  ASSERT_TRUE(store->Checkpoint().has_value());
  CrashAndDrop(store);
  // 5. A synced write in the log that continues from there.
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(put(*store, "c").has_value());
  CrashAndDrop(store);
  // 6. Both synced pages are there.
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(contents(*store), (std::set<std::string>{"[base:a]", "[base:c]"}))
      << "recovery: scan " << Pos(store->recovery().scan_start) << ".." << Pos(store->recovery().scan_stop) << " "
      << store->recovery().stop_reason;
}

// ---- kill -9 of a real writer process ----

// What the child says through the pipe. Fixed size, well under PIPE_BUF, so every write
// is atomic.
struct KillReport {
  std::uint32_t kind;  // kSynced, kVerified, kMismatch, kFailed
  PageId pid;
  std::uint64_t counter;  // kSynced: the page's counter now durable; kMismatch: what it read
};
constexpr std::uint32_t kSynced = 0, kVerified = 1, kMismatch = 2, kFailed = 3;

// The counter a page's newest update carries ("c<counter>" as a delta or a base).
std::uint64_t CounterOf(const std::string& state) {
  const std::size_t c = state.find('c');
  if (state.empty() || c == std::string::npos) return 0;
  return std::strtoull(state.c_str() + c + 1, nullptr, 10);
}

void Send(int fd, KillReport report) {
  const char* p = reinterpret_cast<const char*>(&report);
  std::size_t left = sizeof report;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(20);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

// The child: opens the store (checking first that every page the parent heard about is at
// least as new as reported), then updates, flushes and syncs in a loop, reporting each
// page's counter once its Sync returned OK, until it is killed (it never stops by itself;
// a full pipe holds it back while the parent does not read, and a closed one ends it).
// Exits without unwinding.
[[noreturn]] void KillChild(const std::string& dir, IoBackend backend, int round,
                            const std::map<PageId, std::uint64_t>& reported, std::uint64_t seed, int fd) {
  StoreOptions options = store_test::SmallOptions(nullptr, backend);
  auto opened = Store::Open(dir, options);
  if (!opened) {
    Send(fd, {kFailed, 0, static_cast<std::uint64_t>(opened.error().code())});
    ::_exit(11);
  }
  Store& store = **opened;
  std::vector<PageId> pages;
  for (const auto& [pid, counter] : reported) {
    auto state = PageState(store, pid);
    const std::uint64_t got = state ? CounterOf(*state) : 0;
    if (got < counter) Send(fd, {kMismatch, pid, got});
    pages.push_back(pid);
  }
  Send(fd, {kVerified, 0, 0});
  for (int i = 0; i < 4; ++i) {
    auto pid = store.Allocate();
    if (!pid) ::_exit(12);
    pages.push_back(*pid);
  }
  std::mt19937_64 rng(seed);
  std::uint64_t counter = static_cast<std::uint64_t>(round + 1) * 1'000'000'000ull;
  std::map<PageId, std::uint64_t> pending;
  for (std::uint64_t i = 0;; ++i) {
    const PageId pid = pages[rng() % pages.size()];
    const std::string label = "c" + std::to_string(++counter);
    {
      auto g = store.EnterGeneration();
      for (;;) {
        auto ref = store.mapping().Read(g, pid);
        if (!ref) ::_exit(13);
        Result<UpdateOutcome> out = UpdateOutcome{false, *ref};
        if (i % 7 == 0) {
          OwnedChain chain = testing::BaseChain(pid, label);
          out = store.UpdateR(g, pid, *ref, chain);
        } else {
          out = store.UpdateD(g, pid, *ref, testing::UpdateRecord(pid, label));
        }
        if (!out) ::_exit(14);
        if (out->installed) break;
      }
      auto end = store.Flush(g, pid);
      if (!end) ::_exit(15);
      pending[pid] = counter;
      if (i % 5 == 4) {
        if (!store.Sync(*end)) ::_exit(16);
        for (const auto& [p, c] : pending) Send(fd, {kSynced, p, c});
        pending.clear();
      }
    }
    if (i % 97 == 96) {
      auto g = store.EnterGeneration();
      (void)store.Evict(g, pid);
    }
    if (i % 301 == 300 && !store.Checkpoint()) ::_exit(17);
  }
}

class StoreKillTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    // Only probe: no store and no thread may exist in this process before fork().
    std::string skip;
    if (testing_env::MakeEnvOrSkipReason(GetParam(), &skip) == nullptr) GTEST_SKIP() << skip;
  }
  store_test::TempDir dir_;
};

TEST_P(StoreKillTest, KillNineChildProcess) {
  const std::uint64_t seed = store_test::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::string dir = dir_ / "db";
  std::map<PageId, std::uint64_t> reported;  // the newest counter the child said was synced
  int verified = 0, killed = 0;
  const int rounds = std::max(3, Scaled(6));
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Read reports until the child verified the previous round and reported a random number
    // of synced updates, then kill -9, then drain the pipe. The kill point is chosen by the
    // child's progress, not by the clock: every child is killed mid-run after it checked.
    const std::size_t kill_after = 1 + rng() % 400;
    std::size_t synced_reports = 0;
    bool child_verified = false;
    std::vector<KillReport> reports;
    std::string partial;
    const int status = testing_kill::RunChildUntilKilled(
        [&](int fd) { KillChild(dir, GetParam(), round, reported, seed + static_cast<std::uint64_t>(round), fd); },
        [&](std::span<const char> chunk) {
          partial.append(chunk.begin(), chunk.end());
          while (partial.size() >= sizeof(KillReport)) {
            KillReport r;
            std::memcpy(&r, partial.data(), sizeof r);
            partial.erase(0, sizeof r);
            reports.push_back(r);
            child_verified |= r.kind == kVerified;
            if (r.kind == kSynced) ++synced_reports;
          }
          return child_verified && synced_reports >= kill_after;
        });
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
      ++killed;
    } else {
      ADD_FAILURE() << "child exit status " << status << " (it only stops when killed)";
    }
    for (const KillReport& r : reports) {
      switch (r.kind) {
        case kSynced:
          reported[r.pid] = std::max(reported[r.pid], r.counter);
          break;
        case kVerified:
          ++verified;
          break;
        case kMismatch:
          ADD_FAILURE() << "after kill -9, page " << r.pid << " is at counter " << r.counter << ", but "
                        << reported[r.pid] << " was synced";
          break;
        default:
          ADD_FAILURE() << "the child could not open the store: error code " << r.counter;
          break;
      }
    }
  }
  EXPECT_EQ(killed, rounds) << "every child is killed mid-run";
  EXPECT_EQ(verified, rounds) << "every child checked the previous round before its kill";
  ASSERT_FALSE(reported.empty()) << "no write was ever reported synced";
  // The last check, here (no more forks follow).
  auto store = Store::Open(dir, store_test::SmallOptions(nullptr, GetParam()));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  for (const auto& [pid, counter] : reported) {
    auto state = PageState(**store, pid);
    ASSERT_TRUE(state.has_value()) << "page " << pid << ": " << state.error().ToString();
    EXPECT_GE(CounterOf(*state), counter) << "page " << pid << " is \"" << *state << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreKillTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

INSTANTIATE_TEST_SUITE_P(Backends, StoreRecoveryTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama
