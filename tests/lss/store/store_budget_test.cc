// The memory budget: a workload larger than the budget works, memory stays near the
// budget, and pages evicted by the background evictor read back intact.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "llama/store.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::UpdateRecord;
using testing_env::TempDir;

// A page's contents: its id, filled to 8 KiB less the header (a base page holds, and the
// budget counts, what its contents need, so each page must really hold 8 KiB).
std::string PageContents(PageId pid) {
  std::string contents = "page " + std::to_string(pid) + " ";
  contents.resize(8192 - base_page_format::kHeaderSize, '.');
  return contents;
}

TEST(StoreBudgetTest, WorkloadLargerThanTheBudgetStaysNearIt) {
  TempDir dir;
  StoreOptions o;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 1 << 20;
  o.flush_buffer_size = 64 * 1024;
  o.memory_budget = 512 * 1024;  // the workload below holds ~10 MiB of page state
  o.maintenance_interval_ms = 5;
  auto store = *Store::Open(dir.path(), o);
  constexpr int kThreads = 2, kPagesPerThread = 600;
  std::atomic<std::uint64_t> max_resident{0};
  std::vector<std::vector<PageId>> pages(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPagesPerThread; ++i) {
        auto g = store->EnterGeneration();
        const PageId pid = *store->Allocate();
        pages[t].push_back(pid);
        OwnedChain state = BaseChain(pid, PageContents(pid), 8192);
        // The background evictor may swap the page out between a Read and the CAS: retry,
        // as any user of Update-D / Update-R does.
        for (bool installed = false; !installed;) {
          auto out = store->UpdateR(g, pid, *store->Read(g, pid), state);
          ASSERT_TRUE(out.has_value()) << out.error().ToString();
          installed = out->installed;
        }
        const DeltaHandle delta = UpdateRecord(pid, "d");
        for (bool installed = false; !installed;) {
          auto out = store->UpdateD(g, pid, *store->Read(g, pid), delta);
          ASSERT_TRUE(out.has_value()) << out.error().ToString();
          installed = out->installed;
        }
        const std::uint64_t r = store->stats().resident_bytes;
        std::uint64_t seen = max_resident.load();
        while (r > seen && !max_resident.compare_exchange_weak(seen, r)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const StoreStats s = store->stats();
  std::cout << "budget " << o.memory_budget << ", max resident " << max_resident.load() << ", evictions " << s.evictions
            << ", error '" << s.maintenance_error << "'\n";
  EXPECT_TRUE(s.maintenance_error.empty());
  // Writers help once the evictor falls behind by a budget: memory never gets far past 2x.
  EXPECT_LE(max_resident.load(), 2 * o.memory_budget + 64 * 1024);
  // Who evicted what (the background evictor or a writer) depends on timing; that a page
  // now on disk was evicted, and that most pages are (each is over 8 KiB, the budget is
  // 512 KiB), does not.
  std::uint64_t on_disk = 0;
  {
    auto g = store->EnterGeneration();
    for (const auto& list : pages) {
      for (PageId pid : list) {
        auto ref = store->mapping().Read(g, pid);
        ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
        if (ref->on_disk()) ++on_disk;
      }
    }
  }
  EXPECT_GE(store->stats().evictions, on_disk);  // read after the count: the evictor goes on
  // Resident bytes only fell since `s` was read, and a page in memory holds over 8 KiB.
  EXPECT_GE(on_disk + s.resident_bytes / 8192, std::uint64_t{kThreads * kPagesPerThread});
  EXPECT_LE(s.resident_bytes, 2 * o.memory_budget + 64 * 1024);
  // Everything reads back: the pages on disk from disk.
  for (const auto& list : pages) {
    for (PageId pid : list) {
      auto g = store->EnterGeneration();
      auto ref = store->Read(g, pid);
      ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
      const auto described = testing::Describe(*ref);
      ASSERT_EQ(described.back(), "[base:" + PageContents(pid) + "]");
    }
  }
  EXPECT_GE(store->stats().reads_from_disk, on_disk);
  ASSERT_TRUE(store->Close().has_value());
}

}  // namespace
}  // namespace llama
