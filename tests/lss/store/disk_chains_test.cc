// DiskChains: per-page record lists and live bytes per segment (lss/store/disk_chains.h).
#include "lss/store/disk_chains.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace llama {
namespace {

PageDiskRecord Rec(std::uint32_t segment, std::uint32_t offset, std::uint32_t length) {
  return PageDiskRecord{LssAddress::Make(segment, offset), length};
}

auto Allocated() {
  return [] { return true; };
}

TEST(DiskChainsTest, EmptyKnowsNothing) {
  DiskChains chains;
  EXPECT_FALSE(chains.Find(1).has_value());
  EXPECT_FALSE(chains.Newest(1).has_value());
  EXPECT_EQ(chains.Length(1), 0u);
  EXPECT_EQ(chains.page_count(), 0u);
  EXPECT_EQ(chains.live_bytes(), 0u);
  EXPECT_TRUE(chains.PagesIn(1).empty());
}

TEST(DiskChainsTest, DeltaRecordsStackNewestFirstAndCountLiveBytes) {
  DiskChains chains;
  chains.Add(7, Rec(1, 100, 50), /*replaces_chain=*/true, Allocated());
  chains.Add(7, Rec(1, 200, 30), false, Allocated());
  chains.Add(7, Rec(2, 40, 20), false, Allocated());
  EXPECT_EQ(*chains.Find(7), (DiskChains::Chain{Rec(2, 40, 20), Rec(1, 200, 30), Rec(1, 100, 50)}));
  EXPECT_EQ(chains.Newest(7), Rec(2, 40, 20));
  EXPECT_EQ(chains.Newest(7)->end(), LssAddress::Make(2, 60));
  EXPECT_EQ(chains.Length(7), 3u);
  EXPECT_EQ(chains.LiveBytesIn(1), 80u);
  EXPECT_EQ(chains.LiveBytesIn(2), 20u);
  EXPECT_EQ(chains.live_bytes(), 100u);
  EXPECT_EQ(chains.LiveBytesBySegment(), (std::map<std::uint32_t, std::uint64_t>{{1, 80}, {2, 20}}));
}

TEST(DiskChainsTest, AWholeRecordReplacesOnlyWhatIsOlder) {
  DiskChains chains;
  chains.Add(3, Rec(1, 100, 50), true, Allocated());
  chains.Add(3, Rec(1, 300, 10), false, Allocated());
  // Two flushes raced: the newer delta record (1, 300) got here before the whole record
  // at (1, 200) that it does not build on. The whole one drops only (1, 100).
  chains.Add(3, Rec(1, 200, 40), true, Allocated());
  EXPECT_EQ(*chains.Find(3), (DiskChains::Chain{Rec(1, 300, 10), Rec(1, 200, 40)}));
  EXPECT_EQ(chains.LiveBytesIn(1), 50u);
  // A newer whole record drops everything.
  chains.Add(3, Rec(2, 40, 70), true, Allocated());
  EXPECT_EQ(*chains.Find(3), (DiskChains::Chain{Rec(2, 40, 70)}));
  EXPECT_EQ(chains.LiveBytesIn(1), 0u);
  EXPECT_EQ(chains.LiveBytesIn(2), 70u);
}

TEST(DiskChainsTest, AddAfterFreeIsSkipped) {
  DiskChains chains;
  chains.Add(4, Rec(1, 100, 50), true, Allocated());
  chains.Erase(4);
  bool asked = false;
  chains.Add(4, Rec(1, 200, 20), false, [&] {
    asked = true;
    return false;  // the page was freed after the flush's CAS
  });
  EXPECT_TRUE(asked);
  EXPECT_FALSE(chains.Find(4).has_value());
  EXPECT_EQ(chains.live_bytes(), 0u);
}

TEST(DiskChainsTest, EraseDropsTheListAndItsBytes) {
  DiskChains chains;
  chains.Add(1, Rec(1, 100, 50), true, Allocated());
  chains.Add(2, Rec(1, 150, 25), true, Allocated());
  chains.Erase(1);
  chains.Erase(9);  // not there: nothing happens
  EXPECT_FALSE(chains.Find(1).has_value());
  EXPECT_EQ(chains.page_count(), 1u);
  EXPECT_EQ(chains.LiveBytesIn(1), 25u);
}

TEST(DiskChainsTest, SpliceMovedKeepsNewerRecordsInFront) {
  DiskChains chains;
  chains.Add(5, Rec(1, 100, 50), true, Allocated());
  chains.Add(5, Rec(1, 200, 30), false, Allocated());
  const PageDiskRecord snapshot_head = Rec(1, 200, 30);
  // A flush landed after the cleaner's snapshot.
  chains.Add(5, Rec(3, 40, 15), false, Allocated());
  chains.SpliceMoved(5, snapshot_head, Rec(3, 100, 70));
  EXPECT_EQ(*chains.Find(5), (DiskChains::Chain{Rec(3, 40, 15), Rec(3, 100, 70)}));
  EXPECT_EQ(chains.LiveBytesIn(1), 0u);
  EXPECT_EQ(chains.LiveBytesIn(3), 85u);
}

TEST(DiskChainsTest, SpliceMovedAfterAWholeFlushOrAFreeChangesNothing) {
  DiskChains chains;
  chains.Add(5, Rec(1, 100, 50), true, Allocated());
  chains.Add(5, Rec(2, 40, 60), true, Allocated());  // replaced meanwhile
  chains.SpliceMoved(5, Rec(1, 100, 50), Rec(3, 40, 50));
  EXPECT_EQ(*chains.Find(5), (DiskChains::Chain{Rec(2, 40, 60)}));
  EXPECT_EQ(chains.LiveBytesIn(3), 0u);
  chains.Erase(5);
  chains.SpliceMoved(5, Rec(2, 40, 60), Rec(3, 100, 60));
  EXPECT_FALSE(chains.Find(5).has_value()) << "a freed page does not come back";
  EXPECT_EQ(chains.live_bytes(), 0u);
}

TEST(DiskChainsTest, PagesInNamesEveryPageWithARecordThere) {
  DiskChains chains;
  chains.Add(1, Rec(1, 100, 50), true, Allocated());
  chains.Add(1, Rec(2, 40, 10), false, Allocated());
  chains.Add(2, Rec(2, 60, 10), true, Allocated());
  chains.Add(3, Rec(3, 40, 10), true, Allocated());
  std::vector<PageId> in_two = chains.PagesIn(2);
  std::sort(in_two.begin(), in_two.end());
  EXPECT_EQ(in_two, (std::vector<PageId>{1, 2}));
  EXPECT_EQ(chains.PagesIn(1), (std::vector<PageId>{1}));
  EXPECT_TRUE(chains.PagesIn(4).empty());
}

TEST(DiskChainsTest, SnapshotIsSortedByPageAndRaisesTheNewestEnd) {
  DiskChains chains;
  chains.Add(9, Rec(1, 100, 50), true, Allocated());
  chains.Add(2, Rec(2, 40, 10), true, Allocated());
  chains.Add(5, Rec(1, 300, 20), true, Allocated());
  LssAddress newest_end = LssAddress::Make(1, 500);
  const std::vector<CheckpointPage> pages = chains.Snapshot(&newest_end);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0], (CheckpointPage{2, {Rec(2, 40, 10)}}));
  EXPECT_EQ(pages[1], (CheckpointPage{5, {Rec(1, 300, 20)}}));
  EXPECT_EQ(pages[2], (CheckpointPage{9, {Rec(1, 100, 50)}}));
  EXPECT_EQ(newest_end, LssAddress::Make(2, 50));
  LssAddress later = LssAddress::Make(4, 40);
  (void)chains.Snapshot(&later);
  EXPECT_EQ(later, LssAddress::Make(4, 40)) << "never lowered";
}

TEST(DiskChainsTest, LoadReplacesEverythingAndSkipsEmptyLists) {
  DiskChains chains;
  chains.Add(1, Rec(1, 100, 50), true, Allocated());
  chains.Load({{2, {Rec(2, 80, 30), Rec(2, 40, 20)}}, {3, {}}});
  EXPECT_FALSE(chains.Find(1).has_value());
  EXPECT_FALSE(chains.Find(3).has_value());
  EXPECT_EQ(chains.page_count(), 1u);
  EXPECT_EQ(chains.LiveBytesIn(1), 0u);
  EXPECT_EQ(chains.LiveBytesIn(2), 50u);
}

TEST(DiskChainsTest, ForgetSegmentDropsItsEntry) {
  DiskChains chains;
  chains.Add(1, Rec(1, 100, 50), true, Allocated());
  chains.Add(1, Rec(2, 40, 50), true, Allocated());
  EXPECT_EQ(chains.LiveBytesBySegment(), (std::map<std::uint32_t, std::uint64_t>{{1, 0}, {2, 50}}));
  chains.ForgetSegment(1);
  EXPECT_EQ(chains.LiveBytesBySegment(), (std::map<std::uint32_t, std::uint64_t>{{2, 50}}));
}

}  // namespace
}  // namespace llama
