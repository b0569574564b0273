// Store::Open and StoreImage (pagedump's offline view) agree on every store directory:
// clean, cut by a power cut or a torn crash, damaged before a synced position, missing a
// segment, with unreachable segments, with a damaged checkpoint. Both follow one
// RecoveryPlan (lss/recovery/recovery_plan.h); these tests hold them to it: Store::Open
// refuses exactly when the view says it would, and what it recovers (checkpoint, scan,
// stop, orphans, every page's address) is what the view shows. A refused open changes
// nothing on disk; making a plan writes nothing (StoreImage reads through a ReadOnlyEnv).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "llama/store.h"
#include "lss/env_extras/read_only_env.h"
#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/recovery/store_image.h"
#include "mapping/mapping_table.h"
#include "tests/lss/store/store_test_util.h"

namespace llama::store_test {
namespace {

namespace fs = std::filesystem;

// Every regular file of a directory, name -> bytes.
std::map<std::string, std::vector<char>> Files(const std::string& dir) {
  std::map<std::string, std::vector<char>> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().filename().string()] = ReadFileBytes(entry.path().string());
  }
  return files;
}

class RecoveryAgreementTest : public StoreTestBase {
 protected:
  std::string Dir(const std::string& name) const { return dir_.path() + "/" + name; }

  void SetUp() override {
    StoreTestBase::SetUp();
    if (base_env_ != nullptr) read_only_ = std::make_unique<ReadOnlyEnv>(*base_env_);
  }

  // A store in "db" after `steps` of a seeded workload (which checkpoints now and then);
  // left open for the test to close or crash.
  std::unique_ptr<Store> Build(std::uint64_t seed, int steps, const std::string& name = "db") {
    auto store = MustOpen(Dir(name));
    if (store == nullptr) return nullptr;
    Workload workload(seed, model_);
    EXPECT_TRUE(workload.Run(*store, steps).has_value());
    Fill(*store);
    EXPECT_TRUE(store->SyncAll().has_value());
    return store;
  }
  // Rewrites a few pages of nearly 4 KiB several times, so the log spans several segments
  // and the older ones hold live and dead records.
  void Fill(Store& store) {
    std::vector<PageId> pids;
    for (int i = 0; i < 16; ++i) pids.push_back(store.Allocate().value());
    for (int round = 0; round < 6; ++round) {
      for (PageId pid : pids) {
        auto g = store.EnterGeneration();
        std::string contents(3000, '\0');
        std::uint64_t x = (std::uint64_t{pid} << 8 | static_cast<std::uint64_t>(round)) * 0x9E3779B97F4A7C15ull;
        for (char& ch : contents) {  // incompressible, so every record is about 3 KiB
          x = x * 6364136223846793005ull + 1442695040888963407ull;
          ch = static_cast<char>(x >> 56);
        }
        OwnedChain chain = testing::BaseChain(pid, contents);
        auto ref = store.Read(g, pid);
        ASSERT_TRUE(ref.has_value());
        ASSERT_TRUE(store.UpdateR(g, pid, *ref, chain).has_value());
        ASSERT_TRUE(store.Flush(g, pid).has_value());
      }
    }
  }
  // A store built as above and closed cleanly.
  void BuildClosed(std::uint64_t seed, int steps) {
    auto store = Build(seed, steps);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Close().has_value());
  }

  StoreOptions OpenOptions(RecoveryMode mode) {
    StoreOptions o = SmallOptions(base_env_.get(), GetParam());
    o.create_if_missing = false;
    o.recovery_mode = mode;
    return o;  // no memory budget, no cleaner: nothing moves a page after Open
  }

  void RemoveCheckpoints(const std::string& dir) {
    for (const auto& [name, bytes] : Files(dir)) {
      if (LooksLikeCheckpointFileName(name)) fs::remove(dir + "/" + name);
    }
  }

  // The addresses of the records in segment `id` (a scan from the log's beginning).
  std::vector<LssAddress> RecordsIn(const std::string& dir, std::uint32_t id) {
    std::vector<LssAddress> out;
    auto image = MustImage(dir);
    if (!image) return out;
    const std::uint32_t segment_size = image->identity().segment_size;
    SegmentSet segments(*read_only_, dir, image->identity().store_id, segment_size);
    auto scanner = LogScanner::Open(segments, LssAddress::Make(1, log_format::kSegmentHeaderSize), segment_size);
    EXPECT_TRUE(scanner.has_value());
    if (!scanner) return out;
    for (;;) {
      auto next = scanner->Next();
      if (!next || !next->has_value()) break;
      if ((*next)->address.segment() == id) out.push_back((*next)->address);
    }
    return out;
  }

  Result<StoreImage> MustImage(const std::string& dir) {
    auto image = StoreImage::Open(*read_only_, dir);
    EXPECT_TRUE(image.has_value()) << image.error().ToString();
    return image;
  }

  // The heart of every test: the view of `name`, then Store::Open in both modes on copies.
  void ExpectAgreement(const std::string& name = "db") {
    const auto before = Files(Dir(name));
    auto image = MustImage(Dir(name));
    ASSERT_TRUE(image.has_value());
    EXPECT_EQ(Files(Dir(name)), before) << "StoreImage changed the directory";
    const RecoveryView& view = image->recovery();

    // The default mode refuses exactly what the view says it would, and changes nothing.
    CopyStoreDir(Dir(name), Dir(name + "-refuse"));
    {
      auto store = Store::Open(Dir(name + "-refuse"), OpenOptions(RecoveryMode::kRefuseOnCorruption));
      EXPECT_EQ(store.has_value(), view.open_failure.empty()) << "view: " << view.open_failure;
      if (!store) {
        const std::string expected = view.corruption.empty() ? view.failure->message() : view.corruption;
        EXPECT_NE(store.error().message().find(expected), std::string::npos)
            << store.error().ToString() << "\nview: " << expected;
        EXPECT_EQ(Files(Dir(name + "-refuse")), before) << "a refused open changed the directory";
      }
    }

    // Cutting at corruption opens everything but a failure, and recovers what the view shows.
    CopyStoreDir(Dir(name), Dir(name + "-cut"));
    auto store = Store::Open(Dir(name + "-cut"), OpenOptions(RecoveryMode::kTruncateAtCorruption));
    ASSERT_EQ(store.has_value(), !view.failure.has_value()) << (view.failure ? view.failure->ToString() : "");
    if (!store) return;
    ExpectReportMatches(**store, view);
    ASSERT_TRUE((*store)->Close().has_value());
    // What the store wrote while opening (orphans set aside, a cut remembered) leaves a
    // directory the view opens without objection.
    auto after = MustImage(Dir(name + "-cut"));
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->recovery().open_failure, "");
  }

  void ExpectReportMatches(Store& store, const RecoveryView& view) {
    const RecoveryReport& r = store.recovery();
    EXPECT_EQ(r.checkpoint_sequence, view.checkpoint_sequence.value_or(0));
    EXPECT_EQ(r.damaged_checkpoints, view.damaged_checkpoints);
    EXPECT_EQ(r.scan_start, view.scan_start);
    EXPECT_EQ(r.records_scanned, view.records_scanned);
    EXPECT_EQ(r.scan_stop, view.scanned ? view.stop.position : LssAddress());
    EXPECT_EQ(r.records_past_stop, view.scanned ? view.stop.records_past : 0);
    EXPECT_EQ(r.corruption, view.corruption);
    EXPECT_EQ(r.orphan_segments, view.orphans);
    EXPECT_EQ(r.pages_recovered, view.pages.chains().size());
    auto g = store.EnterGeneration();
    for (const auto& [pid, chain] : view.pages.chains()) {
      auto ref = store.mapping().Read(g, pid);
      ASSERT_TRUE(ref.has_value()) << "page " << pid;
      ASSERT_TRUE(ref->on_disk()) << "page " << pid;
      EXPECT_EQ(ref->address(), chain.front().address) << "page " << pid;
    }
  }

  Model model_;
  std::unique_ptr<ReadOnlyEnv> read_only_;  // over base_env_: StoreImage can change nothing
};

TEST_P(RecoveryAgreementTest, CleanClose) {
  BuildClosed(11, 300);
  auto image = MustImage(Dir("db"));
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->recovery().open_failure, "");
  EXPECT_TRUE(image->recovery().checkpoint_sequence.has_value());
  ExpectAgreement();
}

TEST_P(RecoveryAgreementTest, PowerCut) {
  auto store = Build(12, 300);
  ASSERT_NE(store, nullptr);
  Workload more(1012, model_);
  (void)more.Run(*store, 100);  // unsynced: lost or kept, recovery decides
  CrashAndDrop(store);
  ExpectAgreement();
}

TEST_P(RecoveryAgreementTest, TornCrashes) {
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    SCOPED_TRACE("torn crash seed " + std::to_string(seed));
    const std::string name = "db" + std::to_string(seed);
    model_ = Model();
    auto store = Build(20 + seed, 250, name);
    ASSERT_NE(store, nullptr);
    Workload more(2000 + seed, model_);
    (void)more.Run(*store, 150);
    CrashAndDrop(store, /*torn=*/true, seed);
    ExpectAgreement(name);
  }
}

// Without checkpoints the scan starts at the log's beginning and meets a flipped bit in a
// record that a later SyncPoint says was synced: corruption, not a torn tail.
TEST_P(RecoveryAgreementTest, DamageBeforeASyncedPosition) {
  BuildClosed(13, 300);
  RemoveCheckpoints(Dir("db"));
  const std::vector<LssAddress> records = RecordsIn(Dir("db"), 1);
  ASSERT_GE(records.size(), 3u);
  const LssAddress victim = records[records.size() / 2];
  std::vector<char> bytes = ReadFileBytes(SegmentPath(Dir("db"), 1));
  bytes[victim.offset() + log_format::kFrameHeaderSize + 2] ^= 0x10;
  fs::remove(SegmentPath(Dir("db"), 1));
  AppendFileBytes(SegmentPath(Dir("db"), 1), bytes);
  auto image = MustImage(Dir("db"));
  ASSERT_TRUE(image.has_value());
  EXPECT_NE(image->recovery().corruption, "");
  EXPECT_EQ(image->recovery().stop.position, victim);
  ExpectAgreement();
}

// A segment cut short before the last one: the log stops there, every later segment is
// unreachable (orphans) and a SyncPoint in them proves the cut is damage.
TEST_P(RecoveryAgreementTest, UnreachableSegmentsAreOrphans) {
  BuildClosed(14, 400);
  RemoveCheckpoints(Dir("db"));
  const std::vector<std::uint32_t> ids = SegmentIds(Dir("db"));
  ASSERT_GE(ids.size(), 3u);
  const std::uint32_t victim = ids[ids.size() - 2];
  const std::vector<LssAddress> records = RecordsIn(Dir("db"), victim);
  ASSERT_GE(records.size(), 2u);
  fs::resize_file(SegmentPath(Dir("db"), victim), records[records.size() / 2].offset() + 5);
  auto image = MustImage(Dir("db"));
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->recovery().orphans, (std::vector<std::uint32_t>{ids.back()}));
  ExpectAgreement();
}

// A segment that a page's durable state needs is gone: no mode opens that.
TEST_P(RecoveryAgreementTest, MissingSegment) {
  BuildClosed(15, 400);
  auto healthy = MustImage(Dir("db"));
  ASSERT_TRUE(healthy.has_value());
  std::set<std::uint32_t> needed;
  for (const auto& [pid, chain] : healthy->recovery().pages.chains()) {
    for (const PageDiskRecord& r : chain) needed.insert(r.address.segment());
  }
  const std::vector<std::uint32_t> ids = SegmentIds(Dir("db"));
  ASSERT_FALSE(needed.empty());
  ASSERT_LT(*needed.begin(), ids.back());
  fs::remove(SegmentPath(Dir("db"), *needed.begin()));
  auto image = MustImage(Dir("db"));
  ASSERT_TRUE(image.has_value());
  ASSERT_TRUE(image->recovery().failure.has_value());
  EXPECT_NE(image->recovery().failure->message().find("is missing"), std::string::npos);
  ExpectAgreement();
}

// The newest checkpoint does not decode: both fall back to the one before it.
TEST_P(RecoveryAgreementTest, DamagedNewestCheckpoint) {
  auto store = Build(16, 300);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Checkpoint().has_value());
  ASSERT_TRUE(store->Close().has_value());
  std::vector<std::string> checkpoints;
  for (const auto& [name, bytes] : Files(Dir("db"))) {
    if (ParseCheckpointFileName(name)) checkpoints.push_back(name);
  }
  ASSERT_EQ(checkpoints.size(), 2u);
  std::vector<char> bytes = ReadFileBytes(Dir("db") + "/" + checkpoints.back());
  bytes[bytes.size() / 2] ^= 0x01;
  fs::remove(Dir("db") + "/" + checkpoints.back());
  AppendFileBytes(Dir("db") + "/" + checkpoints.back(), bytes);
  auto image = MustImage(Dir("db"));
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->recovery().damaged_checkpoints.size(), 1u);
  EXPECT_EQ(image->recovery().checkpoint_sequence, ParseCheckpointFileName(checkpoints.front()));
  ExpectAgreement();
}

// The plan does not depend on the I/O backend; POSIX is always there.
INSTANTIATE_TEST_SUITE_P(Posix, RecoveryAgreementTest, ::testing::Values(IoBackend::kPosix),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama::store_test
