// MappingTable::MarkFlushed: a flush puts its mark on a copy of the head instead of a node
// in front of it. The copy shares the head's record or page and the chain below; the old
// head is retired alone. Readers still walking from the old head are safe by the
// generation rule: the scripted tests below hold one on a real thread while the head is
// marked and the chain unlinked, with reclamation only where the script calls it, so every
// count is exact whatever the schedule (and ASan or TSan sees any early free).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "mapping/mapping_table.h"
#include "tests/mapping/scripted_thread.h"
#include "tests/mapping/test_pages.h"
#include "tests/pages/live_nodes.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::ScriptedThread;
using testing::UpdateRecord;
using Strings = std::vector<std::string>;

const LssAddress kFirst = LssAddress::Make(1, 64);
const LssAddress kSecond = LssAddress::Make(2, 128);

// Only TryReclaim reclaims (shards never reach their threshold): the test decides when.
MappingTable::Options OnlyExplicitReclaim() {
  MappingTable::Options options;
  options.generations.retire_batch = std::size_t{1} << 30;
  return options;
}

// Every test leaves as many live nodes as it found once its table is gone.
class MarkFlushedTest : public testing::LiveNodesTest {
 protected:
  void Release() override { table_.reset(); }
  MappingTable& table() { return *table_; }
  // The page's state after Update-R of a base page "base" and Update-D of `deltas`.
  PageRef MakePage(PageId pid, const Strings& deltas) {
    auto g = table().EnterGeneration();
    OwnedChain base = BaseChain(pid, "base");
    PageRef head = table().UpdateR(g, pid, *table().Read(g, pid), base)->head;
    for (const std::string& d : deltas) head = table().UpdateD(g, pid, head, UpdateRecord(pid, d))->head;
    return head;
  }

  std::optional<MappingTable> table_{std::in_place, OnlyExplicitReclaim()};
};

// The invariant: a flushed consolidated page is its base node in the slot, so a
// reader gets from the slot to the page's bytes in one load.
TEST_F(MarkFlushedTest, AFlushedConsolidatedPageIsItsBaseNodeInTheSlot) {
  const PageId pid = *table().Allocate();
  const PageRef before = MakePage(pid, {});
  const std::int64_t live = PageNode::live_count();
  {
    auto g = table().EnterGeneration();
    auto out = table().MarkFlushed(g, pid, before, kFirst);
    ASSERT_TRUE(out.has_value()) << out.error().ToString();
    ASSERT_TRUE(out->installed);
    const PageNode* head = table().Read(g, pid)->node();
    EXPECT_EQ(head, out->head.node());
    EXPECT_NE(head, before.node()) << "a copy, installed by CAS";
    EXPECT_TRUE(head->is_base());
    EXPECT_EQ(head->chain_length(), 1u);
    EXPECT_EQ(head->flushed_to(), kFirst);
    EXPECT_EQ(head->bottom(), head);
    EXPECT_EQ(head->base(), before.node()->base()) << "the page is shared, not copied";
    EXPECT_EQ(head->bytes().data(), before.node()->base()->contents().data());
    EXPECT_EQ(AsStringView(head->bytes()), "base");
    EXPECT_FALSE(before.node()->is_flush_point()) << "a published node never changes";
    EXPECT_EQ(Describe(out->head), (Strings{"<flushed>", "[base:base]"}));
  }
  EXPECT_EQ(table().generations().TryReclaim(), 1u) << "the old head, alone";
  EXPECT_EQ(PageNode::live_count(), live);
}

TEST_F(MarkFlushedTest, MarkingAChainCopiesItsHeadOnly) {
  const PageId pid = *table().Allocate();
  const PageRef before = MakePage(pid, {"u1", "u2"});
  const std::int64_t live = PageNode::live_count();
  {
    auto g = table().EnterGeneration();
    auto out = table().MarkFlushed(g, pid, before, kFirst);
    ASSERT_TRUE(out->installed);
    const PageNode* head = out->head.node();
    EXPECT_EQ(head->delta(), before.node()->delta()) << "the record is shared, not copied";
    EXPECT_EQ(head->next(), before.node()->next()) << "the chain below is shared";
    EXPECT_EQ(head->chain_length(), 3u);
    EXPECT_EQ(head->bottom(), before.node()->bottom());
    EXPECT_EQ(Describe(out->head), (Strings{"<flushed>", "u2", "u1", "[base:base]"}));
    // A second flush marks the new head again; the older mark below stays, unused.
    head = table().UpdateD(g, pid, out->head, UpdateRecord(pid, "u3"))->head.node();
    out = table().MarkFlushed(g, pid, PageRef::InMemory(head), kSecond);
    ASSERT_TRUE(out->installed);
    EXPECT_EQ(Describe(out->head), (Strings{"<flushed>", "u3", "<flushed>", "u2", "u1", "[base:base]"}));
  }
  EXPECT_EQ(table().generations().TryReclaim(), 2u) << "the two replaced heads, alone";
  EXPECT_EQ(PageNode::live_count(), live + 1) << "u3 was added";
}

TEST_F(MarkFlushedTest, ALostMarkChangesNothing) {
  const PageId pid = *table().Allocate();
  const PageRef stale = MakePage(pid, {"u1"});
  auto g = table().EnterGeneration();
  const PageRef current = table().UpdateD(g, pid, stale, UpdateRecord(pid, "u2"))->head;
  const std::int64_t live = PageNode::live_count();
  const std::size_t pending = table().generations().retired_pending();
  auto out = table().MarkFlushed(g, pid, stale, kFirst);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->installed);
  EXPECT_EQ(out->head, current);
  EXPECT_EQ(PageNode::live_count(), live) << "the unpublished copy is freed, the chain is not";
  EXPECT_EQ(table().generations().retired_pending(), pending);
  EXPECT_EQ(Describe(*table().Read(g, pid)), (Strings{"u2", "u1", "[base:base]"}));
}

TEST_F(MarkFlushedTest, OnlyAStateInMemoryAtAValidAddressCanBeMarked) {
  const PageId pid = *table().Allocate();
  auto g = table().EnterGeneration();
  auto empty = table().MarkFlushed(g, pid, *table().Read(g, pid), kFirst);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
  const PageRef on_disk = table().UpdateR(g, pid, *table().Read(g, pid), kFirst)->head;
  auto swapped = table().MarkFlushed(g, pid, on_disk, kSecond);
  ASSERT_FALSE(swapped.has_value());
  EXPECT_EQ(swapped.error().code(), ErrorCode::kInvalidArgument);
  const PageRef head = table().UpdateD(g, pid, on_disk, UpdateRecord(pid, "u1"))->head;
  auto no_address = table().MarkFlushed(g, pid, head, LssAddress());
  ASSERT_FALSE(no_address.has_value());
  EXPECT_EQ(no_address.error().code(), ErrorCode::kInvalidArgument);
  auto unallocated = table().MarkFlushed(g, pid + 1, head, kFirst);
  ASSERT_FALSE(unallocated.has_value());
  EXPECT_EQ(unallocated.error().code(), ErrorCode::kNotFound);
}

// A mark below the head (writers prepended since the flusher read the page): the nodes
// from the head down to the flushed one are copied, the copy of the flushed node carries
// the mark, the chain below it is shared, and the old nodes are retired alone.
TEST_F(MarkFlushedTest, AMarkBelowTheHeadCopiesThePathDownToIt) {
  const PageId pid = *table().Allocate();
  const PageRef flushed = MakePage(pid, {"u1"});
  const std::int64_t live = PageNode::live_count();
  {
    auto g = table().EnterGeneration();
    PageRef head = flushed;
    for (const char* w : {"w1", "w2"}) head = table().UpdateD(g, pid, head, UpdateRecord(pid, w))->head;
    auto out = table().MarkFlushed(g, pid, head, kFirst, flushed.node());
    ASSERT_TRUE(out.has_value()) << out.error().ToString();
    ASSERT_TRUE(out->installed);
    EXPECT_EQ(Describe(out->head), (Strings{"w2", "w1", "<flushed>", "u1", "[base:base]"}));
    const PageNode* w2 = out->head.node();
    const PageNode* w1 = w2->next();
    const PageNode* u1 = w1->next();
    EXPECT_NE(w2, head.node());
    EXPECT_EQ(w2->delta(), head.node()->delta()) << "records shared, not copied";
    EXPECT_NE(u1, flushed.node());
    EXPECT_EQ(u1->next(), flushed.node()->next()) << "the chain below the mark is shared";
    EXPECT_EQ(w2->chain_length(), 4u);
    EXPECT_EQ(w2->bottom(), flushed.node()->bottom());
    EXPECT_FALSE(flushed.node()->is_flush_point()) << "a published node never changes";
  }
  EXPECT_EQ(table().generations().TryReclaim(), 3u) << "w2, w1 and u1 as they were, alone";
  EXPECT_EQ(PageNode::live_count(), live + 2) << "w1 and w2 were added";
}

TEST_F(MarkFlushedTest, ALostMarkBelowTheHeadFreesEveryCopy) {
  const PageId pid = *table().Allocate();
  const PageRef flushed = MakePage(pid, {"u1"});
  auto g = table().EnterGeneration();
  const PageRef stale = table().UpdateD(g, pid, flushed, UpdateRecord(pid, "w1"))->head;
  const PageRef current = table().UpdateD(g, pid, stale, UpdateRecord(pid, "w2"))->head;
  const std::int64_t live = PageNode::live_count();
  const std::size_t pending = table().generations().retired_pending();
  auto out = table().MarkFlushed(g, pid, stale, kFirst, flushed.node());
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->installed);
  EXPECT_EQ(out->head, current);
  EXPECT_EQ(PageNode::live_count(), live);
  EXPECT_EQ(table().generations().retired_pending(), pending);
}

// Only unflushed Update deltas may lie between the head and the flushed node: past a
// mark, a PartialSwap, or off the chain, the flushed state is not what the record holds.
TEST_F(MarkFlushedTest, AMarkBelowAnythingButFreshUpdatesIsRefused) {
  const PageId pid = *table().Allocate();
  const PageRef u1 = MakePage(pid, {"u1"});
  auto g = table().EnterGeneration();
  const PageRef u2 = table().UpdateD(g, pid, u1, UpdateRecord(pid, "u2"))->head;
  const PageRef marked = table().MarkFlushed(g, pid, u2, kFirst)->head;
  const PageRef w1 = table().UpdateD(g, pid, marked, UpdateRecord(pid, "w1"))->head;
  auto below_mark = table().MarkFlushed(g, pid, w1, kSecond, marked.node()->next());
  ASSERT_FALSE(below_mark.has_value());
  EXPECT_EQ(below_mark.error().code(), ErrorCode::kInvalidArgument);
  auto the_marked = table().MarkFlushed(g, pid, w1, kSecond, marked.node());
  ASSERT_FALSE(the_marked.has_value()) << "already a flush point";
  auto off_chain = table().MarkFlushed(g, pid, w1, kSecond, u2.node());
  ASSERT_FALSE(off_chain.has_value()) << "the node the first mark replaced";
  auto ps = Share(*DeltaRecord::MakePartialSwap(pid, kFirst));
  const PageRef swap = table().UpdateD(g, pid, w1, ps, marked.node())->head;
  const PageRef w2 = table().UpdateD(g, pid, swap, UpdateRecord(pid, "w2"))->head;
  auto below_swap = table().MarkFlushed(g, pid, w2, kSecond, w1.node());
  ASSERT_FALSE(below_swap.has_value());
  EXPECT_EQ(below_swap.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(CanMarkBelow(w2.node(), w2.node()));
  EXPECT_TRUE(CanMarkBelow(w1.node(), w1.node()));
  EXPECT_FALSE(CanMarkBelow(w2.node(), nullptr));
}

// A PartialSwap head's DAG edge points onto the spine the copy shares: it stays valid.
TEST_F(MarkFlushedTest, ACopiedPartialSwapKeepsItsEdgeOnTheSpine) {
  const PageId pid = *table().Allocate();
  const PageRef u1 = MakePage(pid, {"u1"});
  auto g = table().EnterGeneration();
  auto ps = Share(*DeltaRecord::MakePartialSwap(pid, kFirst));
  const PageRef head = table().UpdateD(g, pid, u1, ps, u1.node())->head;
  auto out = table().MarkFlushed(g, pid, head, kSecond);
  ASSERT_TRUE(out->installed);
  EXPECT_EQ(out->head.node()->last_flushed(), u1.node());
  EXPECT_TRUE(IsOnSpine(out->head.node(), u1.node()));
}

// A reader on its own thread: enters a generation, reads the page's head, and later walks
// the chain from that head again, or one node at a time, when the script says so.
class ScriptedPageReader {
 public:
  ScriptedPageReader(MappingTable& table, PageId pid) : table_(table), pid_(pid) {}
  const PageNode* EnterAndRead() {
    thread_.Run([this] {
      guard_.emplace(table_.EnterGeneration());
      head_ = table_.Read(*guard_, pid_)->node();
    });
    return head_;
  }
  // What the reader sees walking from the head it read (and the base page's bytes).
  Strings Walk() { return WalkFrom(head_); }
  void Leave() {
    thread_.Run([this] { guard_.reset(); });
  }
  // A walk taken one node at a time: Step moves from the head read last (or the node
  // stepped to last) to the next node and says what it is, as Describe would.
  std::string Step() {
    std::string seen;
    thread_.Run([&] {
      at_ = at_ == nullptr ? head_ : at_->next();
      seen = Describe(PageRef::InMemory(at_)).front();
    });
    return seen;
  }
  // The rest of the walk from the node stepped to last, that node included.
  Strings Rest() { return WalkFrom(at_); }

 private:
  Strings WalkFrom(const PageNode* from) {
    Strings seen;
    thread_.Run([&] {
      seen = Describe(PageRef::InMemory(from));
      seen.emplace_back(AsStringView(PageState(from).bottom()->bytes()));
    });
    return seen;
  }

  MappingTable& table_;
  const PageId pid_;
  std::optional<GenerationGuard> guard_;
  const PageNode* head_ = nullptr;
  const PageNode* at_ = nullptr;
  ScriptedThread thread_;  // last: joined before the guard it touches goes away
};

// The retire step's generation rule: the old head is freed alone, and only once no reader
// can still be on it; the chain below, now the copy's, is freed only when a later CAS
// unlinks it and no reader is left either. A reader that read the old head before the
// mark walks it, and the chain below it, after the mark and after the whole state was
// replaced, and still sees the same nodes and bytes.
TEST_F(MarkFlushedTest, AReaderOnTheOldHeadWalksTheSameStateAfterTheMarkAndAnUnlink) {
  const PageId pid = *table().Allocate();
  MakePage(pid, {"u1"});
  const std::int64_t live = PageNode::live_count();
  ScriptedPageReader reader(table(), pid);
  const PageNode* old_head = reader.EnterAndRead();
  const Strings seen = reader.Walk();
  EXPECT_EQ(seen, (Strings{"u1", "[base:base]", "base"}));
  {
    auto g = table().EnterGeneration();
    auto marked = table().MarkFlushed(g, pid, PageRef::InMemory(old_head), kFirst);
    ASSERT_TRUE(marked->installed);
    OwnedChain consolidated = BaseChain(pid, "consolidated");
    ASSERT_TRUE(table().UpdateR(g, pid, marked->head, consolidated)->installed);
  }
  EXPECT_EQ(table().generations().TryReclaim(), 0u) << "the reader may still be on both";
  EXPECT_EQ(PageNode::live_count(), live + 2) << "old head, copy and base live; the new base";
  EXPECT_EQ(reader.Walk(), seen);
  reader.Leave();
  EXPECT_EQ(table().generations().TryReclaim(), 2u) << "the old head alone, and the copy's chain";
  EXPECT_EQ(PageNode::live_count(), live - 1) << "only the consolidated base is left";
}

// The path copy under a reader: a reader that read the head before writers' deltas were
// flushed below them is halfway down the old chain when the mark lands beneath it (the
// flusher copies the whole path from the head to the flushed node). It finishes its walk
// on the old nodes, which stay as they were (no mark appears in them) and stay allocated,
// retired one by one, until the reader leaves; the copies' chain, unlinked by a
// consolidation meanwhile, waits for the reader too.
TEST_F(MarkFlushedTest, AReaderHalfwayDownThePathFinishesOnTheOldNodesWhileTheyAreCopied) {
  const PageId pid = *table().Allocate();
  const PageRef flushed = MakePage(pid, {"u1"});  // what the flusher encoded
  {
    auto g = table().EnterGeneration();
    PageRef head = flushed;
    for (const char* w : {"w1", "w2"}) head = table().UpdateD(g, pid, head, UpdateRecord(pid, w))->head;
  }
  const std::int64_t live = PageNode::live_count();
  ScriptedPageReader reader(table(), pid);
  const PageNode* old_head = reader.EnterAndRead();
  EXPECT_EQ(reader.Step(), "w2");
  EXPECT_EQ(reader.Step(), "w1");  // the reader stands on a node the mark copies
  {
    auto g = table().EnterGeneration();
    auto marked = table().MarkFlushed(g, pid, PageRef::InMemory(old_head), kFirst, flushed.node());
    ASSERT_TRUE(marked.has_value()) << marked.error().ToString();
    ASSERT_TRUE(marked->installed);
    EXPECT_EQ(Describe(marked->head), (Strings{"w2", "w1", "<flushed>", "u1", "[base:base]"}));
    EXPECT_EQ(PageNode::live_count(), live + 3) << "w2, w1 and u1 copied; the old ones only retired";
    EXPECT_EQ(table().generations().TryReclaim(), 0u) << "the reader may be on any of the old nodes";
    EXPECT_EQ(reader.Rest(), (Strings{"w1", "u1", "[base:base]", "base"})) << "the old path, unmarked";
    OwnedChain consolidated = BaseChain(pid, "consolidated");
    ASSERT_TRUE(table().UpdateR(g, pid, marked->head, consolidated)->installed);
  }
  EXPECT_EQ(table().generations().TryReclaim(), 0u) << "the reader may still be on the old nodes or the base";
  EXPECT_EQ(PageNode::live_count(), live + 4) << "the old path, its copies, the shared base; the new base";
  EXPECT_EQ(reader.Step(), "u1");
  EXPECT_EQ(reader.Rest(), (Strings{"u1", "[base:base]", "base"}));
  EXPECT_EQ(reader.Walk(), (Strings{"w2", "w1", "u1", "[base:base]", "base"})) << "from the old head, as before";
  reader.Leave();
  EXPECT_EQ(table().generations().TryReclaim(), 4u) << "w2, w1 and u1 as they were, alone; the copies' chain";
  EXPECT_EQ(PageNode::live_count(), live - 3) << "only the consolidated base is left";
}

}  // namespace
}  // namespace llama
