// The segment cleaner: live page states move to the log tail, dead segments are deleted
// once no checkpoint or reader needs them, and space stays within a small factor of the
// live data under an update-heavy workload.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "llama/store.h"
#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::UpdateRecord;
using testing_env::TempDir;

StoreOptions SmallStore() {
  StoreOptions o;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 64 * 1024;
  o.flush_buffer_size = 16 * 1024;
  o.compression_level = 0;     // keep record sizes predictable
  o.cleaner_space_factor = 0;  // the test cleans when it wants to
  return o;
}

// The page's contents as the tests compare them: Describe() without the flush marks and
// the Relocation bookkeeping nodes.
std::vector<std::string> Contents(Store& store, PageId pid) {
  auto g = store.EnterGeneration();
  auto ref = store.Read(g, pid);
  EXPECT_TRUE(ref.has_value()) << ref.error().ToString();
  if (!ref) return {};
  std::vector<std::string> out;
  for (const std::string& s : Describe(*ref)) {
    if (s != "<flushed>" && s != "<Relocation>") out.push_back(s);
  }
  return out;
}

// Allocates `n` pages, gives each a 1500-byte base page and flushes it: together they fill
// most of the first segment.
std::vector<PageId> FlushedBasePages(Store& store, int n) {
  std::vector<PageId> pages;
  auto g = store.EnterGeneration();
  for (int i = 0; i < n; ++i) {
    const PageId pid = *store.Allocate();
    OwnedChain state = BaseChain(pid, std::string(1500, 'b'));
    EXPECT_TRUE(store.UpdateR(g, pid, *store.Read(g, pid), state)->installed);
    EXPECT_TRUE(store.Flush(g, pid).has_value());
    pages.push_back(pid);
  }
  return pages;
}

TEST(StoreCleanerTest, UpdateHeavyWorkloadStaysWithinSpaceFactor) {
  TempDir dir;
  std::map<PageId, std::vector<std::string>> model;
  std::mt19937 rng(11);
  {
    auto store = *Store::Open(dir.path(), SmallStore());
    std::vector<PageId> pages;
    for (int i = 0; i < 40; ++i) pages.push_back(*store->Allocate());
    std::uint64_t max_log = 0, max_live = 0;
    for (int round = 0; round < 60; ++round) {
      auto g = store->EnterGeneration();
      for (PageId pid : pages) {
        // Rewrite the page whole (a new base) and add a delta: each flush supersedes the
        // page's previous records, so the log fills with dead bytes.
        const std::string contents =
            "r" + std::to_string(round) + "p" + std::to_string(pid) + std::string(200 + rng() % 200, 'x');
        PageRef head = *store->Read(g, pid);
        OwnedChain state = BaseChain(pid, contents);
        ASSERT_TRUE(store->UpdateR(g, pid, head, state)->installed);
        head = *store->Read(g, pid);
        ASSERT_TRUE(store->UpdateD(g, pid, head, UpdateRecord(pid, "d"))->installed);
        ASSERT_TRUE(store->Flush(g, pid).has_value());
        model[pid] = {"d", "[base:" + contents + "]"};
        if (pid % 3 == 0) {
          ASSERT_TRUE(store->Evict(g, pid).has_value());
        }
      }
      ASSERT_TRUE(store->SyncAll().has_value());
      if (round % 5 == 4) {
        auto cleaned = store->Clean(8);
        ASSERT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
      }
      const StoreStats s = store->stats();
      max_log = std::max(max_log, s.log_bytes);
      max_live = std::max(max_live, s.live_bytes);
    }
    const StoreStats s = store->stats();
    std::cout << "log " << s.log_bytes << " bytes in " << s.segments << " segments for " << s.live_bytes
              << " live bytes (max log " << max_log << ")\n";
    // 60 rounds wrote ~60x the live data; cleaning keeps the log within a small factor of
    // it (plus the segments the writer and the retained checkpoints still need).
    EXPECT_LT(s.log_bytes, 4 * s.live_bytes + 8 * 64 * 1024);
    for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(*store, pid), expected) << pid;
    ASSERT_TRUE(store->Close().has_value());
  }
  auto reopened = Store::Open(dir.path(), SmallStore());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(**reopened, pid), expected) << pid;
}

TEST(StoreCleanerTest, RelocatedPagesKeepFlushingIncrementally) {
  TempDir dir;
  std::map<PageId, std::vector<std::string>> model;
  StoreOptions options = SmallStore();
  options.max_disk_chain = 1000;             // flushes stay incremental: base records stay live in segment 1
  options.cleaner_max_live_fraction = 1.01;  // clean even fully live segments
  {
    auto store = *Store::Open(dir.path(), options);
    const std::vector<PageId> pages = FlushedBasePages(*store, 30);
    ASSERT_FALSE(HasFailure());
    for (PageId pid : pages) model[pid] = {"[base:" + std::string(1500, 'b') + "]"};
    {
      auto g = store->EnterGeneration();
      // Fill more segments with garbage so the first ones become the cleaner's choice.
      for (int i = 0; i < 300; ++i) {
        const PageId pid = pages[static_cast<std::size_t>(i) % pages.size()];
        if (i % 2 == 0) {
          ASSERT_TRUE(store->Evict(g, pid).has_value());
        }
        ASSERT_TRUE(
            store->UpdateD(g, pid, *store->Read(g, pid), UpdateRecord(pid, "u" + std::to_string(i)))->installed);
        model[pid].insert(model[pid].begin(), "u" + std::to_string(i));
        ASSERT_TRUE(store->Flush(g, pid).has_value());
      }
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    auto cleaned = store->Clean(4);
    ASSERT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
    EXPECT_FALSE(cleaned->cleaned.empty());
    EXPECT_GT(cleaned->pages_relocated, 0u);
    EXPECT_EQ(cleaned->deleted, cleaned->cleaned) << "no reader or checkpoint holds them";
    // Pages moved while in memory carry a Relocation delta; new deltas flush on top of it.
    auto g = store->EnterGeneration();
    for (PageId pid : pages) {
      ASSERT_TRUE(store->UpdateD(g, pid, *store->Read(g, pid), UpdateRecord(pid, "after"))->installed);
      model[pid].insert(model[pid].begin(), "after");
      ASSERT_TRUE(store->Flush(g, pid).has_value());
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(*store, pid), expected) << pid;
  }
  auto reopened = Store::Open(dir.path(), options);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(**reopened, pid), expected) << pid;
}

// A page consolidated in memory (a new base by Update-R, not flushed yet) no longer refers
// to its records on disk, which stay its durable state until its next flush. The cleaner
// used to retry such a page 64 times, spending log space on a failed-flush marker each
// time, before skipping it; it now skips it at once and spends nothing. Once the pages
// are flushed, the next pass cleans the segment.
TEST(StoreCleanerTest, PagesConsolidatedInMemoryAreSkippedWithoutSpendingLogSpace) {
  TempDir dir;
  std::map<PageId, std::vector<std::string>> model;
  StoreOptions options = SmallStore();
  options.cleaner_max_live_fraction = 1.01;  // clean even fully live segments
  {
    auto store = *Store::Open(dir.path(), options);
    const std::vector<PageId> pages = FlushedBasePages(*store, 30);
    ASSERT_FALSE(HasFailure());
    {
      auto g = store->EnterGeneration();
      // Later segments, so the first one is the cleaner's choice.
      const PageId filler = *store->Allocate();
      for (int i = 0; i < 200; ++i) {
        OwnedChain state = BaseChain(filler, std::string(1000, 'f') + std::to_string(i));
        ASSERT_TRUE(store->UpdateR(g, filler, *store->Read(g, filler), state)->installed);
        ASSERT_TRUE(store->Flush(g, filler).has_value());
      }
      // Consolidate every page in memory: the records in the first segment are still their
      // durable state, and nothing in memory points at them.
      for (PageId pid : pages) {
        const std::string contents = "consolidated " + std::to_string(pid);
        OwnedChain state = BaseChain(pid, contents);
        ASSERT_TRUE(store->UpdateR(g, pid, *store->Read(g, pid), state)->installed);
        model[pid] = {"[base:" + contents + "]"};
      }
    }  // no reader left: cleaned segments can be deleted
    ASSERT_TRUE(store->SyncAll().has_value());
    const std::uint64_t markers_before = store->stats().failed_flushes;
    auto cleaned = store->Clean(64);
    ASSERT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
    auto has_segment_1 = [](const Store::CleanResult& r) {
      return std::find(r.cleaned.begin(), r.cleaned.end(), 1u) != r.cleaned.end();
    };
    EXPECT_FALSE(has_segment_1(*cleaned)) << "its records are still the pages' durable state";
    EXPECT_EQ(cleaned->pages_skipped, pages.size());
    EXPECT_EQ(store->stats().failed_flushes, markers_before) << "no log space spent on retries";
    {
      auto g = store->EnterGeneration();
      for (PageId pid : pages) ASSERT_TRUE(store->Flush(g, pid).has_value());
    }
    ASSERT_TRUE(store->SyncAll().has_value());
    cleaned = store->Clean(64);
    ASSERT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
    EXPECT_TRUE(has_segment_1(*cleaned)) << "the flushes left its records dead";
    EXPECT_EQ(cleaned->pages_skipped, 0u);
    EXPECT_EQ(store->stats().failed_flushes, markers_before);
    for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(*store, pid), expected) << pid;
  }
  // The store was not closed: recovery finds the flushed pages.
  auto reopened = Store::Open(dir.path(), options);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  for (const auto& [pid, expected] : model) ASSERT_EQ(Contents(**reopened, pid), expected) << pid;
}

TEST(StoreCleanerTest, ASegmentIsNotDeletedWhileAReaderMayReadIt) {
  TempDir dir;
  auto store = *Store::Open(dir.path(), SmallStore());
  std::vector<PageId> pages;
  {
    auto g = store->EnterGeneration();
    for (int i = 0; i < 60; ++i) {
      const PageId pid = *store->Allocate();
      pages.push_back(pid);
      OwnedChain state = BaseChain(pid, std::string(2000, 'z'));
      ASSERT_TRUE(store->UpdateR(g, pid, *store->Read(g, pid), state)->installed);
      ASSERT_TRUE(store->Evict(g, pid).has_value());
    }
    // Rewrite every other page: the first segments become half dead, worth cleaning.
    for (std::size_t i = 0; i < pages.size(); i += 2) {
      OwnedChain state = BaseChain(pages[i], std::string(2000, 'y'));
      ASSERT_TRUE(store->UpdateR(g, pages[i], *store->Read(g, pages[i]), state)->installed);
      ASSERT_TRUE(store->Evict(g, pages[i]).has_value());
    }
  }
  ASSERT_TRUE(store->SyncAll().has_value());
  auto reader = std::make_unique<GenerationGuard>(store->EnterGeneration());
  auto cleaned = store->Clean(2);
  ASSERT_TRUE(cleaned.has_value());
  ASSERT_FALSE(cleaned->cleaned.empty());
  EXPECT_TRUE(cleaned->deleted.empty()) << "a reader in an older generation is still inside";
  for (std::uint32_t seg : cleaned->cleaned) {
    EXPECT_TRUE(std::filesystem::exists(dir / SegmentFileName(seg))) << seg;
  }
  reader.reset();
  ASSERT_TRUE(store->Checkpoint().has_value());  // deletes what is now safe
  for (std::uint32_t seg : cleaned->cleaned) {
    EXPECT_FALSE(std::filesystem::exists(dir / SegmentFileName(seg))) << seg;
  }
  for (PageId pid : pages) ASSERT_EQ(Contents(*store, pid).size(), 1u) << pid;
}

}  // namespace
}  // namespace llama
