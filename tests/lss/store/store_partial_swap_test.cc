// LLAMA's partial swap: the flushed part of a page's chain leaves memory, the unflushed
// deltas stay, and Read brings the rest back.
#include <gtest/gtest.h>

#include "llama/store.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::UpdateRecord;
using testing_env::TempDir;

std::vector<std::string> Kinds(PageState state) {
  std::vector<std::string> out;
  for (const PageNode& node : state) {
    out.push_back(node.is_base() ? "base" : std::string(DeltaKindName(node.delta()->kind())));
  }
  return out;
}

TEST(StorePartialSwapTest, FlushedPartLeavesMemoryUnflushedDeltasStay) {
  TempDir dir;
  StoreOptions o;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 64 * 1024;
  o.flush_buffer_size = 16 * 1024;
  o.cleaner_space_factor = 0;  // the test cleans when it wants to
  auto store = *Store::Open(dir.path(), o);
  const PageId pid = *store->Allocate();
  std::vector<std::string> expected;
  {
    auto g = store->EnterGeneration();
    OwnedChain base = BaseChain(pid, "base");
    ASSERT_TRUE(store->UpdateR(g, pid, *store->Read(g, pid), base)->installed);
    ASSERT_TRUE(store->UpdateD(g, pid, *store->Read(g, pid), UpdateRecord(pid, "flushed"))->installed);
    ASSERT_TRUE(store->Flush(g, pid).has_value());
    for (const char* d : {"new1", "new2"}) {
      ASSERT_TRUE(store->UpdateD(g, pid, *store->Read(g, pid), UpdateRecord(pid, d))->installed);
    }
    expected = Describe(*store->Read(g, pid));
    EXPECT_EQ(expected, (std::vector<std::string>{"new2", "new1", "<flushed>", "flushed", "[base:base]"}));
  }
  {
    auto g = store->EnterGeneration();
    ASSERT_TRUE(store->PartialSwap(g, pid).has_value());
    // The mapping table now holds only the unflushed deltas over a PartialSwap delta.
    auto raw = store->mapping().Read(g, pid);
    ASSERT_TRUE(raw->in_memory());
    EXPECT_EQ(Kinds(raw->state()), (std::vector<std::string>{"Update", "Update", "PartialSwap"}));
    EXPECT_FALSE(raw->state().bottom()->prior_on_disk().is_null());
    EXPECT_TRUE(store->PartialSwap(g, pid).has_value()) << "a second swap has nothing to do";
  }
  {
    auto g = store->EnterGeneration();
    const auto before = store->stats().reads_from_disk;
    auto back = store->Read(g, pid);
    ASSERT_TRUE(back.has_value()) << back.error().ToString();
    EXPECT_EQ(Describe(*back), (std::vector<std::string>{"new2", "new1", "<PartialSwap>", "flushed", "[base:base]"}));
    EXPECT_EQ(store->stats().reads_from_disk, before + 1);
    // Flushing now writes only the two new deltas, chained onto the swapped-out record.
    ASSERT_TRUE(store->Flush(g, pid).has_value());
    ASSERT_TRUE(store->PartialSwap(g, pid).has_value());
  }
  ASSERT_TRUE(store->Close().has_value());
  auto reopened = Store::Open(dir.path(), o);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  auto g = (*reopened)->EnterGeneration();
  auto ref = (*reopened)->Read(g, pid);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(Describe(*ref), (std::vector<std::string>{"<flushed>", "new2", "new1", "flushed", "[base:base]"}));
}

}  // namespace
}  // namespace llama
