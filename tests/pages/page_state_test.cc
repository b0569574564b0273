// PageNode, PageChainBuilder and PageState: building chains, the DAG rule of PartialSwap
// nodes, the iterator (every node once, head first), bottom() and flush marks known
// without a walk, and that freeing chains frees every node (PageNode::live_count).
#include "llama/page_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/page_node.h"
#include "tests/pages/live_nodes.h"

namespace llama {
namespace {

constexpr PageId kPid = 5;

DeltaHandle Update(std::string_view payload) {
  auto r = DeltaRecord::MakeUpdate(kPid, AsBytes(payload));
  EXPECT_TRUE(r.has_value());
  return Share(std::move(*r));
}

DeltaHandle PartialSwap(LssAddress last_flushed = LssAddress::Make(3, 0x100)) {
  auto r = DeltaRecord::MakePartialSwap(kPid, last_flushed);
  EXPECT_TRUE(r.has_value());
  return Share(std::move(*r));
}

BasePageHandle Page(std::string_view contents) {
  auto p = BasePage::Create(kPid, 4096, AsBytes(contents));
  EXPECT_TRUE(p.has_value());
  return Share(std::move(*p));
}

// Base <- "u1" <- ... <- "uN", returned head first.
OwnedChain UpdatesOverBase(int n) {
  OwnedChain chain = PageChainBuilder::Base(Page("base"));
  for (int i = 1; i <= n; ++i) {
    chain = PageChainBuilder::Prepend(Update("u" + std::to_string(i)), std::move(chain));
  }
  return chain;
}

// The nodes in iteration order.
std::vector<const PageNode*> Visit(const PageState& state) {
  std::vector<const PageNode*> out;
  for (const PageNode& node : state) out.push_back(&node);
  return out;
}

// The nodes by following next() from the head.
std::vector<const PageNode*> Spine(const PageNode* head) {
  std::vector<const PageNode*> out;
  for (const PageNode* n = head; n != nullptr; n = n->next()) out.push_back(n);
  return out;
}

// A readable description of a visit: payloads, "<PS>" and "[base]".
std::string Describe(const PageState& state) {
  std::string out;
  for (const PageNode& node : state) {
    if (!out.empty()) out += ' ';
    if (node.is_base()) {
      out += "[" + std::string(AsStringView(node.base()->contents())) + "]";
    } else if (node.delta()->is_partial_swap()) {
      out += "<PS>";
    } else {
      out += AsStringView(node.delta()->payload());
    }
  }
  return out;
}

// Every test must leave as many live nodes as it found: no chain leaks.
using PageStateTest = testing::LiveNodesTest;

TEST_F(PageStateTest, ABaseChainIsOneBaseNode) {
  OwnedChain chain = PageChainBuilder::Base(Page("only"));
  EXPECT_EQ(PageNode::live_count(), live_at_start_ + 1);
  const PageNode& node = *chain;
  EXPECT_TRUE(node.is_base());
  EXPECT_FALSE(node.is_delta());
  EXPECT_EQ(node.kind(), PageNode::Kind::kBase);
  ASSERT_NE(node.base(), nullptr);
  EXPECT_EQ(node.base(), node.base_handle().get());
  EXPECT_EQ(AsStringView(node.base()->contents()), "only");
  EXPECT_EQ(node.delta(), nullptr);
  EXPECT_EQ(node.next(), nullptr);
  EXPECT_TRUE(node.prior_on_disk().is_null());
  EXPECT_EQ(node.last_flushed(), nullptr);
  EXPECT_EQ(node.chain_length(), 1u);

  const PageState state(chain.get());
  EXPECT_FALSE(state.empty());
  EXPECT_EQ(state.chain_length(), 1u);
  EXPECT_EQ(state.bottom(), chain.get());
  EXPECT_EQ(state.base(), node.base());
}

TEST_F(PageStateTest, PrependBuildsAChainWhoseLengthsCountDown) {
  OwnedChain chain = UpdatesOverBase(3);
  EXPECT_EQ(PageNode::live_count(), live_at_start_ + 4);
  const std::vector<const PageNode*> spine = Spine(chain.get());
  ASSERT_EQ(spine.size(), 4u);
  for (std::size_t i = 0; i < spine.size(); ++i) {
    EXPECT_EQ(spine[i]->chain_length(), 4 - i) << "node " << i;
  }
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(spine[i]->is_delta());
    ASSERT_NE(spine[i]->delta(), nullptr);
    EXPECT_EQ(spine[i]->delta(), spine[i]->delta_handle().get());
    EXPECT_EQ(spine[i]->base(), nullptr);
    EXPECT_TRUE(spine[i]->prior_on_disk().is_null());
    EXPECT_EQ(spine[i]->last_flushed(), nullptr);
  }
  EXPECT_TRUE(spine[3]->is_base());

  const PageState state(chain.get());
  EXPECT_EQ(state.head(), chain.get());
  EXPECT_EQ(state.chain_length(), 4u);
  EXPECT_EQ(Describe(state), "u3 u2 u1 [base]");
  EXPECT_EQ(state.bottom(), spine[3]);
  EXPECT_EQ(state.base(), spine[3]->base());
}

TEST_F(PageStateTest, IteratorVisitsEveryNodeOnceHeadFirst) {
  OwnedChain chain = UpdatesOverBase(6);
  const PageState state(chain.get());
  const std::vector<const PageNode*> visited = Visit(state);
  EXPECT_EQ(visited, Spine(chain.get()));
  EXPECT_EQ(visited.size(), state.chain_length());
  EXPECT_EQ(std::set<const PageNode*>(visited.begin(), visited.end()).size(), visited.size());
  EXPECT_EQ(visited.front(), state.head());
  EXPECT_EQ(visited.back(), state.bottom());
  EXPECT_EQ(std::distance(state.begin(), state.end()), 7);

  // The iterator's own operations.
  PageStateIterator it = state.begin();
  EXPECT_EQ(&*it, chain.get());
  EXPECT_EQ(it->chain_length(), 7u);
  PageStateIterator old = it++;
  EXPECT_EQ(&*old, chain.get());
  EXPECT_EQ(&*it, chain->next());
  EXPECT_EQ(&*++it, chain->next()->next());
  EXPECT_NE(it, state.end());
  EXPECT_EQ(PageStateIterator(), state.end());
}

TEST_F(PageStateTest, ReachesDiskIsKnownFromTheBottomUp) {
  // Wholly in memory: over a base, or deltas with nothing below.
  EXPECT_FALSE(UpdatesOverBase(3)->reaches_disk());
  EXPECT_FALSE(PageChainBuilder::Prepend(Update("a"), nullptr)->reaches_disk());
  // Continues on disk: a delta over an LSS address, and every node stacked on it.
  OwnedChain over_disk = PageChainBuilder::OverDisk(PartialSwap(), LssAddress::Make(3, 0x100));
  EXPECT_TRUE(over_disk->reaches_disk());
  OwnedChain on_top = PageChainBuilder::Prepend(Update("b"), std::move(over_disk));
  on_top = PageChainBuilder::Prepend(Update("c"), std::move(on_top));
  EXPECT_TRUE(on_top->reaches_disk());
  EXPECT_EQ(on_top->chain_length(), 3u);
}

TEST_F(PageStateTest, AnEmptyStateHasNothingToVisit) {
  const PageState state;
  EXPECT_TRUE(state.empty());
  EXPECT_EQ(state.head(), nullptr);
  EXPECT_EQ(state.chain_length(), 0u);
  EXPECT_EQ(state.begin(), state.end());
  EXPECT_EQ(state.bottom(), nullptr);
  EXPECT_EQ(state.base(), nullptr);
}

TEST_F(PageStateTest, AChainOfDeltasOnlyHasNoBase) {
  OwnedChain chain = PageChainBuilder::Prepend(Update("b"), PageChainBuilder::Prepend(Update("a"), nullptr));
  const PageState state(chain.get());
  EXPECT_EQ(state.chain_length(), 2u);
  EXPECT_EQ(Describe(state), "b a");
  EXPECT_EQ(state.bottom(), chain->next());
  EXPECT_TRUE(state.bottom()->is_delta());
  EXPECT_EQ(state.base(), nullptr);
}

TEST_F(PageStateTest, OverDiskNodesExposeWhereTheirPriorStateIs) {
  const LssAddress prior = LssAddress::Make(4, 0x2000);
  OwnedChain bottom = PageChainBuilder::OverDisk(Update("d"), prior);
  EXPECT_EQ(bottom->prior_on_disk(), prior);
  EXPECT_EQ(bottom->next(), nullptr);
  EXPECT_EQ(bottom->chain_length(), 1u);

  OwnedChain chain = PageChainBuilder::Prepend(Update("e"), std::move(bottom));
  EXPECT_TRUE(chain->prior_on_disk().is_null()) << "its prior state is in memory";
  EXPECT_EQ(chain->chain_length(), 2u);
  const PageState state(chain.get());
  EXPECT_EQ(Describe(state), "e d");
  ASSERT_NE(state.bottom(), nullptr);
  EXPECT_EQ(state.bottom()->prior_on_disk(), prior);
  EXPECT_EQ(state.base(), nullptr) << "the base is on disk";
}

// A PartialSwap over u3 u2 u1 [base] whose last_flushed is the node at `depth` below it
// (0 = the immediate prior). The visit must still see every node exactly once.
TEST_F(PageStateTest, APartialSwapEdgeOntoTheSpineIsVisitedOnce) {
  for (std::size_t depth = 0; depth < 4; ++depth) {
    SCOPED_TRACE("last_flushed at depth " + std::to_string(depth));
    OwnedChain below = UpdatesOverBase(3);
    const PageNode* target = Spine(below.get())[depth];
    auto chain = PageChainBuilder::PrependPartialSwap(PartialSwap(), std::move(below), target);
    ASSERT_TRUE(chain.has_value()) << chain.error().ToString();
    const PageNode* head = chain->get();
    EXPECT_EQ(head->last_flushed(), target);
    EXPECT_TRUE(IsOnSpine(head, target));
    EXPECT_TRUE(head->delta()->is_partial_swap());
    EXPECT_EQ(head->chain_length(), 5u);

    const PageState state(head);
    const std::vector<const PageNode*> visited = Visit(state);
    EXPECT_EQ(visited, Spine(head));
    EXPECT_EQ(visited.size(), 5u);
    EXPECT_EQ(std::count(visited.begin(), visited.end(), target), 1);
    EXPECT_EQ(Describe(state), "<PS> u3 u2 u1 [base]");
    EXPECT_EQ(state.base(), Spine(head).back()->base());
  }
}

TEST_F(PageStateTest, PartialSwapsStackAndMayHaveNoInMemoryTarget) {
  OwnedChain base = UpdatesOverBase(1);
  const PageNode* u1 = base.get();
  auto first = PageChainBuilder::PrependPartialSwap(PartialSwap(), std::move(base), u1);
  ASSERT_TRUE(first.has_value());
  const PageNode* ps1 = first->get();
  OwnedChain mid = PageChainBuilder::Prepend(Update("u2"), std::move(*first));
  // A second PartialSwap pointing at the first one, itself deeper on the spine.
  auto second = PageChainBuilder::PrependPartialSwap(PartialSwap(), std::move(mid), ps1);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(Describe(PageState(second->get())), "<PS> u2 <PS> u1 [base]");
  EXPECT_EQ(Visit(PageState(second->get())).size(), 5u);

  // A null last_flushed: the flushed part is no longer in memory.
  auto over_disk = PageChainBuilder::PrependPartialSwap(
      PartialSwap(), PageChainBuilder::OverDisk(Update("x"), LssAddress::Make(3, 0x100)), nullptr);
  ASSERT_TRUE(over_disk.has_value());
  EXPECT_EQ((*over_disk)->last_flushed(), nullptr);
  EXPECT_EQ(Describe(PageState(over_disk->get())), "<PS> x");
}

TEST_F(PageStateTest, PrependPartialSwapRefusesAnOffSpineTarget) {
  OwnedChain other = UpdatesOverBase(2);
  for (const PageNode* stranger : Spine(other.get())) {
    auto chain = PageChainBuilder::PrependPartialSwap(PartialSwap(), UpdatesOverBase(2), stranger);
    ASSERT_FALSE(chain.has_value());
    EXPECT_EQ(chain.error().code(), ErrorCode::kInvalidArgument);
  }
  // The spine runs downwards only: a node above is not on it.
  OwnedChain chain = UpdatesOverBase(2);
  EXPECT_FALSE(IsOnSpine(chain->next(), chain.get()));
  EXPECT_TRUE(IsOnSpine(chain.get(), chain->next()));
  EXPECT_TRUE(IsOnSpine(chain.get(), chain.get()));
  EXPECT_FALSE(IsOnSpine(nullptr, chain.get()));
}

TEST_F(PageStateTest, PrependPartialSwapRefusesAnythingButAPartialSwapRecord) {
  OwnedChain reference = UpdatesOverBase(1);
  auto flush = DeltaRecord::MakeFlush(kPid, LssAddress::Make(2, 0));
  auto reloc = DeltaRecord::MakeRelocation(kPid, LssAddress::Make(1, 0), LssAddress::Make(2, 0));
  ASSERT_TRUE(flush.has_value() && reloc.has_value());
  for (DeltaHandle wrong : {Update("not a ps"), Share(std::move(*flush)), Share(std::move(*reloc)), DeltaHandle()}) {
    OwnedChain below = UpdatesOverBase(1);
    const PageNode* target = below.get();
    auto chain = PageChainBuilder::PrependPartialSwap(wrong, std::move(below), target);
    ASSERT_FALSE(chain.has_value());
    EXPECT_EQ(chain.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(PageStateTest, LiveCountReturnsToItsStartWhenChainsAreFreed) {
  {
    OwnedChain a = UpdatesOverBase(10);
    OwnedChain b = UpdatesOverBase(0);
    EXPECT_EQ(PageNode::live_count(), live_at_start_ + 12);
    a.reset();
    EXPECT_EQ(PageNode::live_count(), live_at_start_ + 1);
    // FreeChain on a released head frees the whole chain below it.
    OwnedChain c = UpdatesOverBase(4);
    FreeChain(c.release());
    EXPECT_EQ(PageNode::live_count(), live_at_start_ + 1);
    FreeChain(nullptr);
  }
  EXPECT_EQ(PageNode::live_count(), live_at_start_);
}

TEST_F(PageStateTest, AVeryLongChainFreesWithoutRecursion) {
  constexpr int kLength = 200000;
  const DeltaHandle shared = Update("same record in every node");
  OwnedChain chain = PageChainBuilder::Base(Page("deep"));
  for (int i = 0; i < kLength; ++i) chain = PageChainBuilder::Prepend(shared, std::move(chain));
  EXPECT_EQ(chain->chain_length(), static_cast<std::uint32_t>(kLength + 1));
  EXPECT_EQ(PageNode::live_count(), live_at_start_ + kLength + 1);
  EXPECT_EQ(shared.use_count(), kLength + 1);
  chain.reset();
  EXPECT_EQ(PageNode::live_count(), live_at_start_);
  EXPECT_EQ(shared.use_count(), 1);
}

TEST_F(PageStateTest, RecordsAndPagesOutliveTheChainsThatShareThem) {
  const DeltaHandle record = Update("kept");
  const BasePageHandle page = Page("kept base");
  {
    OwnedChain one = PageChainBuilder::Prepend(record, PageChainBuilder::Base(page));
    OwnedChain two = PageChainBuilder::Prepend(record, PageChainBuilder::Base(page));
    EXPECT_EQ(one->delta(), two->delta()) << "nodes share the record, not copies of it";
    EXPECT_EQ(one->next()->base(), two->next()->base());
    EXPECT_EQ(record.use_count(), 3);
    EXPECT_EQ(page.use_count(), 3);
  }
  EXPECT_EQ(record.use_count(), 1);
  EXPECT_EQ(page.use_count(), 1);
  EXPECT_EQ(AsStringView(record->payload()), "kept");
  EXPECT_EQ(AsStringView(page->contents()), "kept base");
}

// Every node knows the bottom of its chain from link time: PageState::bottom() is one load,
// and for a consolidated page (one base node) it is the head itself.
TEST_F(PageStateTest, BottomIsKnownWithoutAWalkAndIsWhereTheWalkEnds) {
  std::vector<OwnedChain> chains;
  for (int n = 0; n <= 4; ++n) chains.push_back(UpdatesOverBase(n));
  chains.push_back(
      PageChainBuilder::Prepend(Update("a"), PageChainBuilder::OverDisk(Update("b"), LssAddress::Make(2, 64))));
  chains.push_back(PageChainBuilder::Prepend(Update("a"), nullptr));
  for (const OwnedChain& chain : chains) {
    for (const PageNode* node : Spine(chain.get())) {
      EXPECT_EQ(node->bottom(), Spine(node).back()) << Describe(PageState(node));
      EXPECT_EQ(PageState(node).bottom(), node->bottom());
    }
  }
  const PageState consolidated(chains.front().get());
  EXPECT_EQ(consolidated.bottom(), consolidated.head());
  EXPECT_EQ(consolidated.base(), consolidated.head()->base());
}

// A chain's nodes carry no flush mark until one is put on its head; the mark is on that
// node only, and marking adds no node.
TEST_F(PageStateTest, MarkFlushedMarksOnlyTheHeadOfAnUnpublishedChain) {
  OwnedChain chain = UpdatesOverBase(2);
  for (const PageNode* node : Spine(chain.get())) {
    EXPECT_FALSE(node->is_flush_point());
    EXPECT_TRUE(node->flushed_to().is_null());
  }
  const std::int64_t live = PageNode::live_count();
  const LssAddress at = LssAddress::Make(4, 0x200);
  PageChainBuilder::MarkFlushed(chain, at);
  EXPECT_EQ(PageNode::live_count(), live);
  EXPECT_EQ(chain->chain_length(), 3u);
  EXPECT_TRUE(chain->is_flush_point());
  EXPECT_EQ(chain->flushed_to(), at);
  EXPECT_FALSE(chain->next()->is_flush_point());
  EXPECT_FALSE(chain->next()->next()->is_flush_point());
}

}  // namespace
}  // namespace llama
