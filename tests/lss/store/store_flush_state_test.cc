// Where the store keeps a page's flush state: on the node it covers (PageNode::flushed_to),
// never in a node in front of it. A flushed consolidated page is one base node in its slot
// (one load from the slot to its bytes), after a flush, a read-back, a cleaner move or
// recovery; eviction, partial swap and the cleaner find its flush point there; a reader
// holding the head a flush replaced still reads the same bytes; and no node is leaked or
// freed twice (PageNode::live_count, and ASan in that preset).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "llama/store.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/scripted_thread.h"
#include "tests/mapping/test_pages.h"
#include "tests/pages/live_nodes.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::ScriptedThread;
using testing::UpdateRecord;
using testing_env::TempDir;
using Strings = std::vector<std::string>;

StoreOptions Options() {
  StoreOptions o;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 64 * 1024;
  o.flush_buffer_size = 16 * 1024;
  o.compression_level = 0;
  o.cleaner_space_factor = 0;  // the tests clean when they want to
  // Only explicit passes reclaim (shards never reach their threshold): the tests decide.
  o.mapping.generations.retire_batch = std::size_t{1} << 30;
  return o;
}

// Every test leaves as many live nodes as it found once its store is gone.
class StoreFlushStateTest : public testing::LiveNodesTest {
 protected:
  void Release() override { store_.reset(); }
  Store& Open(StoreOptions options = Options()) {
    store_.reset();
    auto opened = Store::Open(dir_.path(), options);
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    store_ = std::move(*opened);
    return *store_;
  }
  // A fresh page holding a base page with `contents`, not flushed.
  PageId NewPage(const std::string& contents) {
    auto g = store_->EnterGeneration();
    const PageId pid = *store_->Allocate();
    OwnedChain base = BaseChain(pid, contents);
    EXPECT_TRUE(store_->UpdateR(g, pid, *store_->Read(g, pid), base)->installed);
    return pid;
  }
  // The page's slot as it is, without reading anything back.
  PageRef Slot(const GenerationGuard& g, PageId pid) { return *store_->mapping().Read(g, pid); }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

// The page's head is its base node, marked where the page was flushed.
void ExpectFlushedBase(PageRef ref, const std::string& contents) {
  ASSERT_TRUE(ref.in_memory());
  const PageNode* head = ref.node();
  EXPECT_TRUE(head->is_base());
  EXPECT_EQ(head->chain_length(), 1u);
  EXPECT_TRUE(head->is_flush_point());
  EXPECT_EQ(ref.state().bottom(), head);
  EXPECT_EQ(AsStringView(head->bytes()), contents);
}

TEST_F(StoreFlushStateTest, FlushOfAConsolidatedPageLeavesItsBaseInTheSlot) {
  Store& store = Open();
  const PageId pid = NewPage("base");
  auto g = store.EnterGeneration();
  const PageNode* before = Slot(g, pid).node();
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  const PageRef after = Slot(g, pid);
  ExpectFlushedBase(after, "base");
  EXPECT_NE(after.node(), before) << "a marked copy replaced the head";
  EXPECT_EQ(after.node()->base(), before->base()) << "sharing the page";
  EXPECT_EQ(after.node()->bytes().data(), before->bytes().data()) << "and its bytes";
  auto pinned = store.PinBase(g, pid);
  ASSERT_TRUE(pinned.has_value());
  EXPECT_EQ(pinned->get(), after.node()->base());
  // Nothing new: a second flush changes nothing.
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  EXPECT_EQ(Slot(g, pid), after);
  // The mark is where the page is on disk: eviction swaps the page out to exactly there.
  const LssAddress flushed = after.node()->flushed_to();
  ASSERT_TRUE(store.Evict(g, pid).has_value());
  ASSERT_TRUE(Slot(g, pid).on_disk());
  EXPECT_EQ(Slot(g, pid).address(), flushed);
}

TEST_F(StoreFlushStateTest, AReadBackPageIsItsBaseMarkedWhereItWasRead) {
  Store& store = Open();
  const PageId pid = NewPage("base");
  auto g = store.EnterGeneration();
  ASSERT_TRUE(store.Evict(g, pid).has_value());
  const LssAddress slot = Slot(g, pid).address();
  const auto reads = store.stats().reads_from_disk;
  auto ref = store.Read(g, pid);
  ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
  ExpectFlushedBase(*ref, "base");
  EXPECT_EQ(ref->node()->flushed_to(), slot);
  EXPECT_EQ(store.stats().reads_from_disk, reads + 1);
  // Read again: in memory, O(1), the same node.
  EXPECT_EQ(store.Read(g, pid)->node(), ref->node());
  EXPECT_EQ(store.stats().reads_from_disk, reads + 1);
}

// Flushing a chain with deltas marks a copy of its head; what was written is what is
// above the previous mark.
TEST_F(StoreFlushStateTest, FlushOfAChainMarksACopyOfItsHead) {
  Store& store = Open();
  const PageId pid = NewPage("base");
  auto g = store.EnterGeneration();
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  for (const char* d : {"u1", "u2"}) {
    ASSERT_TRUE(store.UpdateD(g, pid, Slot(g, pid), UpdateRecord(pid, d))->installed);
  }
  const PageNode* u2 = Slot(g, pid).node();
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  const PageRef head = Slot(g, pid);
  EXPECT_EQ(Describe(head), (Strings{"<flushed>", "u2", "u1", "<flushed>", "[base:base]"}));
  EXPECT_EQ(head.node()->chain_length(), 3u) << "nothing put in front";
  EXPECT_EQ(head.node()->delta(), u2->delta());
  EXPECT_EQ(head.node()->next(), u2->next());
  const LssAddress flushed = head.node()->flushed_to();
  ASSERT_TRUE(store.Evict(g, pid).has_value());
  EXPECT_EQ(Slot(g, pid).address(), flushed);
  EXPECT_EQ(Describe(*store.Read(g, pid)), (Strings{"<flushed>", "u2", "u1", "[base:base]"}));
  EXPECT_EQ(Slot(g, pid).node()->flushed_to(), flushed);
}

TEST_F(StoreFlushStateTest, PartialSwapOfAFlushedBaseReadsBackAsItsBase) {
  Store& store = Open();
  const PageId pid = NewPage("base");
  auto g = store.EnterGeneration();
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  const LssAddress flushed = Slot(g, pid).node()->flushed_to();
  ASSERT_TRUE(store.PartialSwap(g, pid).has_value());
  const PageRef swapped = Slot(g, pid);
  ASSERT_TRUE(swapped.in_memory());
  EXPECT_EQ(Describe(swapped), (Strings{"<PartialSwap>", "[disk:" + std::to_string(flushed.raw()) + "]"}));
  EXPECT_EQ(swapped.node()->delta()->last_flushed(), flushed);
  ASSERT_TRUE(store.PartialSwap(g, pid).has_value());
  EXPECT_EQ(Slot(g, pid), swapped) << "nothing left to swap";
  // Nothing was kept above the PartialSwap: the page reads back as an evicted one does.
  auto back = store.Read(g, pid);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  ExpectFlushedBase(*back, "base");
  EXPECT_EQ(back->node()->flushed_to(), flushed);
}

TEST_F(StoreFlushStateTest, PartialSwapKeepsUnflushedDeltasAndTheirMarksReadBack) {
  Store& store = Open();
  const PageId pid = NewPage("base");
  auto g = store.EnterGeneration();
  ASSERT_TRUE(store.UpdateD(g, pid, Slot(g, pid), UpdateRecord(pid, "u1"))->installed);
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  ASSERT_TRUE(store.UpdateD(g, pid, Slot(g, pid), UpdateRecord(pid, "u2"))->installed);
  ASSERT_TRUE(store.PartialSwap(g, pid).has_value());
  EXPECT_EQ(Describe(Slot(g, pid)).size(), 3u) << "u2, the PartialSwap, the disk address";
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  const LssAddress u2_flushed = Slot(g, pid).node()->flushed_to();
  ASSERT_FALSE(u2_flushed.is_null());
  // Read back under the kept u2: its mark comes along, so nothing is written again.
  auto back = store.Read(g, pid);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(Describe(*back), (Strings{"<flushed>", "u2", "<PartialSwap>", "u1", "[base:base]"}));
  EXPECT_EQ(back->node()->flushed_to(), u2_flushed);
  const auto flushes = store.stats().flushes;
  ASSERT_TRUE(store.Flush(g, pid).has_value());
  EXPECT_EQ(store.stats().flushes, flushes);
}

// The cleaner moves a flushed head's mark to where it copied the page: the page stays one
// base node in its slot, with no Relocation delta in front.
TEST_F(StoreFlushStateTest, TheCleanerMovesTheMarkOfAFlushedBase) {
  StoreOptions options = Options();
  options.cleaner_max_live_fraction = 1.01;  // clean even fully live segments
  Store& store = Open(options);
  std::vector<PageId> pages;
  std::vector<LssAddress> before;
  {
    auto g = store.EnterGeneration();
    for (int i = 0; i < 30; ++i) {
      pages.push_back(NewPage(std::string(1500, 'b')));
      ASSERT_TRUE(store.Flush(g, pages.back()).has_value());
      before.push_back(Slot(g, pages.back()).node()->flushed_to());
    }
    // Later segments, so the first one is the cleaner's choice.
    const PageId filler = NewPage("filler");
    for (int i = 0; i < 200; ++i) {
      OwnedChain state = BaseChain(filler, std::string(1000, 'f') + std::to_string(i));
      ASSERT_TRUE(store.UpdateR(g, filler, Slot(g, filler), state)->installed);
      ASSERT_TRUE(store.Flush(g, filler).has_value());
    }
  }
  ASSERT_TRUE(store.SyncAll().has_value());
  auto cleaned = store.Clean(64);
  ASSERT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
  auto was_cleaned = [&](std::uint32_t segment) {
    return std::find(cleaned->cleaned.begin(), cleaned->cleaned.end(), segment) != cleaned->cleaned.end();
  };
  ASSERT_TRUE(was_cleaned(1));
  auto g = store.EnterGeneration();
  for (std::size_t i = 0; i < pages.size(); ++i) {
    SCOPED_TRACE("page " + std::to_string(pages[i]));
    const PageRef ref = Slot(g, pages[i]);
    ExpectFlushedBase(ref, std::string(1500, 'b'));
    const LssAddress moved = ref.node()->flushed_to();
    if (was_cleaned(before[i].segment())) {
      EXPECT_NE(moved, before[i]);
      EXPECT_FALSE(was_cleaned(moved.segment()));
    }
    ASSERT_TRUE(store.Evict(g, pages[i]).has_value());
    EXPECT_EQ(Slot(g, pages[i]).address(), moved);
    EXPECT_EQ(AsStringView(store.Read(g, pages[i])->node()->bytes()), std::string(1500, 'b'));
  }
}

TEST_F(StoreFlushStateTest, AfterRecoveryAReadPageIsItsBaseMarkedAtItsSlot) {
  PageId pid = 0;
  {
    Store& store = Open();
    pid = NewPage("durable");
    ASSERT_TRUE(store.Close().has_value());
  }
  Store& store = Open();
  auto g = store.EnterGeneration();
  const PageRef slot = Slot(g, pid);
  ASSERT_TRUE(slot.on_disk());
  auto ref = store.Read(g, pid);
  ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
  ExpectFlushedBase(*ref, "durable");
  EXPECT_EQ(ref->node()->flushed_to(), slot.address());
}

// A reader holding the head a flush replaces, on its own thread: it reads the same bytes
// after the flush, after more flushes and after eviction, since everything it could reach
// waits for it to leave. Then all of it is reclaimed.
TEST_F(StoreFlushStateTest, AReaderOnTheReplacedHeadReadsTheSameBytes) {
  Store& store = Open();
  const PageId pid = NewPage("contents");
  std::optional<GenerationGuard> guard;
  const PageNode* seen = nullptr;
  auto read_bytes = [&] { return std::string(AsStringView(PageState(seen).bottom()->bytes())); };
  ScriptedThread reader;
  reader.Run([&] {
    guard.emplace(store.EnterGeneration());
    seen = Slot(*guard, pid).node();
  });
  {
    auto g = store.EnterGeneration();
    ASSERT_TRUE(store.Flush(g, pid).has_value());
    EXPECT_NE(Slot(g, pid).node(), seen);
    ASSERT_TRUE(store.UpdateD(g, pid, Slot(g, pid), UpdateRecord(pid, "u1"))->installed);
    ASSERT_TRUE(store.Evict(g, pid).has_value());
  }
  const std::uint64_t reclaimed = store.mapping().generations().reclaimed_total();
  store.mapping().generations().TryReclaim();
  EXPECT_EQ(store.mapping().generations().reclaimed_total(), reclaimed) << "the reader holds them all";
  std::string bytes;
  reader.Run([&] { bytes = read_bytes(); });
  EXPECT_EQ(bytes, "contents");
  EXPECT_FALSE(seen->is_flush_point()) << "a published node never changes";
  EXPECT_EQ(seen->chain_length(), 1u);
  reader.Run([&] { guard.reset(); });
  store.mapping().generations().TryReclaim();
  EXPECT_EQ(store.mapping().generations().retired_pending(), 0u);
  EXPECT_EQ(PageNode::live_count(), live_at_start_) << "the page is on disk: no node of it is left";
}

}  // namespace
}  // namespace llama
