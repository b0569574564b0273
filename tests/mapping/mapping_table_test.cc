#include "mapping/mapping_table.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::UpdateRecord;
using Strings = std::vector<std::string>;

TEST(MappingTableTest, AllocateGivesAnEmptyPage) {
  MappingTable table;
  auto pid = table.Allocate();
  ASSERT_TRUE(pid.has_value());
  auto g = table.EnterGeneration();
  auto ref = table.Read(g, *pid);
  ASSERT_TRUE(ref.has_value());
  EXPECT_TRUE(ref->empty());
  EXPECT_EQ(table.pages_in_use(), 1u);
}

TEST(MappingTableTest, ReadOfUnallocatedIdIsNotFound) {
  MappingTable table;
  auto g = table.EnterGeneration();
  for (PageId pid : {PageId{0}, PageId{4095}, PageId{4096}, PageId{0xFFFFFFFF}}) {
    auto ref = table.Read(g, pid);
    ASSERT_FALSE(ref.has_value()) << pid;
    EXPECT_EQ(ref.error().code(), ErrorCode::kNotFound);
  }
}

TEST(MappingTableTest, UpdateDPrependsAndBuildsAChain) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  PageRef head = *table.Read(g, pid);
  for (const char* op : {"a", "b", "c"}) {
    auto out = table.UpdateD(g, pid, head, UpdateRecord(pid, op));
    ASSERT_TRUE(out.has_value());
    ASSERT_TRUE(out->installed);
    head = out->head;
  }
  EXPECT_EQ(Describe(*table.Read(g, pid)), (Strings{"c", "b", "a"}));
  EXPECT_EQ(head.node()->chain_length(), 3u);
}

TEST(MappingTableTest, FailedCasReportsTheCurrentHead) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  const PageRef stale = *table.Read(g, pid);
  auto first = table.UpdateD(g, pid, stale, UpdateRecord(pid, "winner"));
  ASSERT_TRUE(first->installed);
  auto second = table.UpdateD(g, pid, stale, UpdateRecord(pid, "loser"));
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->installed);
  EXPECT_EQ(second->head, first->head);
  // Retrying against the reported head succeeds.
  auto retry = table.UpdateD(g, pid, second->head, UpdateRecord(pid, "loser"));
  EXPECT_TRUE(retry->installed);
  EXPECT_EQ(Describe(retry->head), (Strings{"loser", "winner"}));
}

TEST(MappingTableTest, UpdateDRejectsAMismatchedPid) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  auto out = table.UpdateD(g, pid, *table.Read(g, pid), UpdateRecord(pid + 1, "x"));
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code(), ErrorCode::kInvalidArgument);
}

TEST(MappingTableTest, UpdateRReplacesAndRetiresTheOldChain) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  const auto nodes_before = PageNode::live_count();
  {
    auto g = table.EnterGeneration();
    PageRef head = *table.Read(g, pid);
    for (const char* op : {"a", "b"}) head = table.UpdateD(g, pid, head, UpdateRecord(pid, op))->head;
    OwnedChain consolidated = BaseChain(pid, "ab");
    auto out = table.UpdateR(g, pid, head, consolidated);
    ASSERT_TRUE(out->installed);
    EXPECT_EQ(consolidated, nullptr) << "the table owns an installed state";
    EXPECT_EQ(Describe(*table.Read(g, pid)), (Strings{"[base:ab]"}));
    // The old chain is retired, not freed, while this guard may still follow it.
    EXPECT_EQ(Describe(head), (Strings{"b", "a"}));
  }
  table.generations().TryReclaim();
  EXPECT_EQ(PageNode::live_count(), nodes_before + 1);
}

TEST(MappingTableTest, LostUpdateRLeavesTheStateWithTheCaller) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  const PageRef stale = *table.Read(g, pid);
  ASSERT_TRUE(table.UpdateD(g, pid, stale, UpdateRecord(pid, "a"))->installed);
  OwnedChain mine = BaseChain(pid, "mine");
  auto out = table.UpdateR(g, pid, stale, mine);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->installed);
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(Describe(out->head), (Strings{"a"}));
}

TEST(MappingTableTest, SwapOutAndDeltasOverDisk) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  PageRef head = table.UpdateD(g, pid, *table.Read(g, pid), UpdateRecord(pid, "a"))->head;
  const LssAddress where = LssAddress::Make(3, 128);
  auto out = table.UpdateR(g, pid, head, where);
  ASSERT_TRUE(out->installed);
  EXPECT_TRUE(out->head.on_disk());
  EXPECT_EQ(out->head.address(), where);
  auto over = table.UpdateD(g, pid, out->head, UpdateRecord(pid, "b"));
  ASSERT_TRUE(over->installed);
  EXPECT_EQ(over->head.node()->prior_on_disk(), where);
  EXPECT_EQ(over->head.node()->next(), nullptr);
  EXPECT_EQ(Describe(over->head), (Strings{"b", "[disk:" + std::to_string(where.raw()) + "]"}));
  auto bad = table.UpdateR(g, pid, over->head, LssAddress());
  EXPECT_FALSE(bad.has_value());
}

TEST(MappingTableTest, PartialSwapKeepsItsDagEdgeOnTheSpine) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  auto g = table.EnterGeneration();
  OwnedChain base = BaseChain(pid, "base");
  PageRef head = *table.Read(g, pid);
  head = table.UpdateR(g, pid, head, base)->head;
  head = table.UpdateD(g, pid, head, UpdateRecord(pid, "u1"))->head;
  const PageNode* flushed = head.node();
  auto ps = Share(*DeltaRecord::MakePartialSwap(pid, LssAddress::Make(1, 64)));
  auto out = table.UpdateD(g, pid, head, ps, flushed);
  ASSERT_TRUE(out->installed);
  EXPECT_EQ(out->head.node()->last_flushed(), flushed);
  EXPECT_EQ(Describe(out->head), (Strings{"<PartialSwap>", "u1", "[base:base]"}));
  // An edge to a node that is not on the chain breaks the DAG rule.
  OwnedChain elsewhere = BaseChain(pid, "other");
  auto bad = table.UpdateD(g, pid, out->head, ps, elsewhere.get());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  // Only PartialSwap deltas carry the edge.
  auto bad_kind = table.UpdateD(g, pid, out->head, UpdateRecord(pid, "x"), flushed);
  EXPECT_FALSE(bad_kind.has_value());
}

TEST(MappingTableTest, FreedIdIsNotFoundAndReusedOnlyAfterReclamation) {
  MappingTable table;
  const PageId pid = *table.Allocate();
  {
    auto g = table.EnterGeneration();
    PageRef head = table.UpdateD(g, pid, *table.Read(g, pid), UpdateRecord(pid, "a"))->head;
    ASSERT_TRUE(table.Free(g, pid).has_value());
    EXPECT_EQ(table.Read(g, pid).error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(table.Free(g, pid).error().code(), ErrorCode::kNotFound);
    auto stale = table.UpdateD(g, pid, head, UpdateRecord(pid, "b"));
    ASSERT_FALSE(stale.has_value());
    EXPECT_EQ(stale.error().code(), ErrorCode::kNotFound);
    // This guard still pins the id: new allocations get other ids.
    table.generations().TryReclaim();
    for (int i = 0; i < 10; ++i) EXPECT_NE(*table.Allocate(), pid);
    EXPECT_EQ(Describe(head), (Strings{"a"})) << "retired chain still readable";
  }
  table.generations().TryReclaim();
  EXPECT_EQ(*table.Allocate(), pid);
  auto g = table.EnterGeneration();
  EXPECT_TRUE(table.Read(g, pid)->empty()) << "a reused id starts empty";
}

TEST(MappingTableTest, IdLimitGivesResourceExhausted) {
  MappingTable::Options options;
  options.id_limit = 5;
  MappingTable table(options);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(table.Allocate().has_value());
  auto over = table.Allocate();
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code(), ErrorCode::kResourceExhausted);
  {
    auto g = table.EnterGeneration();
    ASSERT_TRUE(table.Free(g, 2).has_value());
  }
  table.generations().TryReclaim();
  EXPECT_EQ(*table.Allocate(), 2u);
}

TEST(MappingTableTest, DirectoryGrowsWithIdsInUse) {
  MappingTable table;
  EXPECT_EQ(table.directory_bytes(), 0u);
  std::set<PageId> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(*table.Allocate());
  EXPECT_EQ(ids.size(), 10000u);
  // 10000 ids span three 4096-slot leaves under one middle level.
  const std::uint64_t three_leaves = 3 * 4096 * 8;
  EXPECT_GE(table.directory_bytes(), three_leaves);
  EXPECT_LE(table.directory_bytes(), three_leaves + 4096 * 8);
  EXPECT_EQ(table.high_water(), 10000u);
}

}  // namespace
}  // namespace llama
