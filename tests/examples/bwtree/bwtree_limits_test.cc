// The Bw-tree's limits: key length against node size, the height bound, and Check()
// catching trees that are broken in the ways a lost subtree shows (issue 10: a one-byte
// level wrapped at 256 and Check() passed a tree that had lost every key).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "examples/bwtree/node_image.h"
#include "tests/examples/bwtree/bwtree_test_util.h"

namespace llama::bwtree::test {
namespace {

// 'p' x (len - 8) and an 8-digit index: ascending in i, as in the issue's repro.
std::string LongKey(std::size_t len, int i) {
  std::string digits = std::to_string(i);
  return std::string(len - 8, 'p') + std::string(8 - digits.size(), '0') + digits;
}

class BwTreeLimitsTest : public ::testing::Test, protected TreeFixture {};

BwTreeOptions Nodes(std::uint32_t node_bytes, std::uint32_t max_key_bytes = 0) {
  BwTreeOptions o;
  o.node_bytes = node_bytes;
  o.max_key_bytes = max_key_bytes;
  return o;
}

TEST(BwTreeMaxKeyBytesTest, FollowsTheNodeSize) {
  EXPECT_EQ(BwTree::MaxKeyBytesFor(256), 32u);
  EXPECT_EQ(BwTree::MaxKeyBytesFor(1024), 160u);
  EXPECT_EQ(BwTree::MaxKeyBytesFor(6203), 1023u);
  EXPECT_EQ(BwTree::MaxKeyBytesFor(6204), 1024u);
  EXPECT_EQ(BwTree::MaxKeyBytesFor(32768), kMaxKeyBytes);
}

// The issue's repro: 200-byte keys at node_bytes 256 used to grow a level every two
// inserts until the level byte wrapped, and every key was lost without an error. Such a
// key is now refused, naming the limit, and nothing is written.
TEST_F(BwTreeLimitsTest, Issue10LongKeysAtSmallNodesAreRefusedNotLost) {
  OpenTree(SmallStoreOptions(), Nodes(256));
  EXPECT_EQ(tree_->max_key_bytes(), 32u);
  for (int i = 0; i < 512; ++i) {
    Status s = tree_->Put(LongKey(200, i), "vvvv");
    ASSERT_FALSE(s.has_value()) << i;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().ToString().find("exceeds the limit of 32"), std::string::npos) << s.error().ToString();
  }
  std::map<std::string, std::string> model;
  EXPECT_TRUE(MatchesModel(*tree_, model));
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

// The same load at the longest key the node size allows: every key there, and the tree
// as short as a fan-out of two or more makes it.
TEST_F(BwTreeLimitsTest, LongestAllowedKeysInAscendingOrderKeepTheTreeShort) {
  OpenTree(SmallStoreOptions(), Nodes(256));
  std::map<std::string, std::string> model;
  for (int i = 0; i < 512; ++i) {
    const std::string key = LongKey(tree_->max_key_bytes(), i);
    ASSERT_TRUE(tree_->Put(key, "vvvv").has_value()) << i;
    model[key] = "vvvv";
  }
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree_, model, &shape));
  EXPECT_LE(shape.height(), 10u);  // 512 keys, two or more children per inner node
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
  OpenTree(SmallStoreOptions(), Nodes(256));
  EXPECT_TRUE(MatchesModel(*tree_, model));
}

TEST_F(BwTreeLimitsTest, OpenRefusesAKeyLimitTheNodesCannotHold) {
  OpenTree(SmallStoreOptions(), Nodes(1024, 160));
  EXPECT_EQ(tree_->max_key_bytes(), 160u);
  tree_.reset();
  auto refused = BwTree::Open(*store_, "t", Nodes(1024, 161));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().ToString().find("limit of 160 for node_bytes 1024"), std::string::npos)
      << refused.error().ToString();
  auto smaller = BwTree::Open(*store_, "t", Nodes(1024, 20));
  ASSERT_TRUE(smaller.has_value()) << smaller.error().ToString();
  EXPECT_FALSE((*smaller)->Put(std::string(21, 'k'), "v").has_value());
  EXPECT_TRUE((*smaller)->Put(std::string(20, 'k'), "v").has_value());
}

// A tree written with large nodes and long keys, reopened with small nodes: the old keys
// are read and erased, new short keys split nodes whose separators are far longer than
// the new node size allows, and the splits keep two children per inner node (else the
// tree would grow a level every few inserts).
TEST_F(BwTreeLimitsTest, ReopeningWithSmallerNodesKeepsLongKeysReadableAndTheTreeShort) {
  std::map<std::string, std::string> model;
  OpenTree(SmallStoreOptions(), Nodes(8192));
  for (int i = 0; i < 200; ++i) {
    const std::string key = LongKey(1000, i * 10);
    ASSERT_TRUE(tree_->Put(key, "old").has_value());
    model[key] = "old";
  }
  OpenTree(SmallStoreOptions(), Nodes(256));
  ASSERT_TRUE(MatchesModel(*tree_, model));
  EXPECT_FALSE(tree_->Put(LongKey(1000, 1), "x").has_value());  // over this open's limit
  for (int i = 0; i < 2000; ++i) {
    const std::string key = LongKey(32, i);
    ASSERT_TRUE(tree_->Put(key, "new").has_value()) << i;
    model[key] = "new";
    if (i % 3 == 0) {
      const std::string old = LongKey(1000, (i / 3) * 10);
      auto erased = tree_->Erase(old);
      ASSERT_TRUE(erased.has_value()) << erased.error().ToString();
      EXPECT_EQ(*erased, model.erase(old) == 1);
    }
  }
  TreeShape shape;
  ASSERT_TRUE(MatchesModel(*tree_, model, &shape));
  EXPECT_LE(shape.height(), 14u);
  EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
}

// The longest chain of the largest deltas (consolidate_after 64, 16 KiB values) is more
// than one log record holds: flushing it must still work, and nothing is lost.
TEST_F(BwTreeLimitsTest, LongChainsOfTheLargestValuesFlushAndReopen) {
  BwTreeOptions options;
  options.node_bytes = 32 * 1024;
  options.consolidate_after = 64;
  OpenTree(SmallStoreOptions(), options);
  std::map<std::string, std::string> model;
  for (int i = 0; i < 63; ++i) {
    const std::string key = LongKey(tree_->max_key_bytes(), i);
    const std::string value(kMaxValueBytes, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(tree_->Put(key, value).has_value()) << i;
    model[key] = value;
  }
  ASSERT_TRUE(MatchesModel(*tree_, model));
  // A quarter of a log record of deltas makes a chain heavy: writers folded it first.
  EXPECT_GT(tree_->stats().full_chain_folds, 0u);
  CloseAndReopen(SmallStoreOptions(), options);
  EXPECT_TRUE(MatchesModel(*tree_, model));
}

// A chain's weight is bounded on the write path, not only by the consolidation count:
// with consolidate_after 64, 8 KiB values and 256 KiB log records, a chain holds at most a
// quarter of a record of deltas (64 KiB, 8 of them) before the next writer folds it, and
// every state flushes.
TEST_F(BwTreeLimitsTest, AWriterFoldsAHeavyChainBeforeAddingToIt) {
  BwTreeOptions options;
  options.node_bytes = 32 * 1024;
  options.consolidate_after = 64;
  OpenTree(SmallStoreOptions(), options);
  std::map<std::string, std::string> model;
  const std::string value(8 * 1024, 'v');
  for (int i = 0; i < 9; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(tree_->Put(key, value).has_value()) << i;
    model[key] = value;
    EXPECT_EQ(tree_->stats().full_chain_folds, i < 8 ? 0u : 1u) << "after write " << i;
  }
  // The fold of 72 KiB of entries split the root leaf (nodes hold 32 KiB).
  const BwTreeStats stats = tree_->stats();
  EXPECT_GE(stats.consolidations + stats.splits + stats.root_splits, 1u);
  ASSERT_TRUE(store_->FlushAll().has_value());
  ASSERT_TRUE(MatchesModel(*tree_, model));
  CloseAndReopen(SmallStoreOptions(), options);
  EXPECT_TRUE(MatchesModel(*tree_, model));
}

TEST(BwTreeLevelBoundTest, AnImageAboveTheLevelLimitIsRefusedAndReadAsCorruption) {
  NodeContents node;
  node.level = kMaxLevel;
  std::vector<std::byte> image;
  ASSERT_TRUE(EncodeNodeImage(node, image).has_value());
  ASSERT_TRUE(NodeImage::Parse(image).has_value());
  node.level = kMaxLevel + 1;
  std::vector<std::byte> refused;
  auto s = EncodeNodeImage(node, refused);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  image[node_image_format::kLevelOffset] = std::byte{kMaxLevel + 1};
  auto parsed = NodeImage::Parse(image);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kCorruption);
}

// ---- Check() on deliberately broken trees ----

class BwTreeCheckTest : public ::testing::Test, protected TreeFixture {
 protected:
  void SetUp() override {
    OpenTree(SmallStoreOptions(), SmallNodeOptions());
    for (int i = 0; i < 600; ++i) ASSERT_TRUE(tree_->Put(KeyOf(i), "v" + std::to_string(i)).has_value());
    auto shape = tree_->Check();
    ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
    ASSERT_GE(shape->height(), 3u);
    ASSERT_TRUE(shape->store_pages_checked);
  }

  // The leftmost node `depth` levels below the root.
  PageId Leftmost(int depth) {
    auto g = store_->EnterGeneration();
    PageId pid = tree_->root();
    for (int d = 0; d < depth; ++d) pid = Contents(g, pid).entries[0].child;
    return pid;
  }
  NodeContents Contents(const GenerationGuard& g, PageId pid) {
    auto ref = store_->Read(g, pid);
    EXPECT_TRUE(ref.has_value());
    auto view = NodeView::Of(ref->state());
    EXPECT_TRUE(view.has_value());
    auto contents = view->Materialize();
    EXPECT_TRUE(contents.has_value());
    return *contents;
  }
  // Replaces the node's whole state with `contents` as its base page.
  void Rewrite(const GenerationGuard& g, PageId pid, const NodeContents& contents) {
    std::vector<std::byte> image;
    ASSERT_TRUE(EncodeNodeImage(contents, image).has_value());
    auto page = BasePage::Create(pid, BasePage::kMaxPageSize, image);
    ASSERT_TRUE(page.has_value());
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto head = store_->Read(g, pid);
    ASSERT_TRUE(head.has_value());
    auto out = store_->UpdateR(g, pid, *head, chain);
    ASSERT_TRUE(out.has_value() && out->installed);
  }
  ::testing::AssertionResult CheckFailsWith(const std::string& words) {
    auto shape = tree_->Check();
    if (shape) return ::testing::AssertionFailure() << "Check passed a broken tree";
    if (shape.error().code() != ErrorCode::kCorruption || shape.error().ToString().find(words) == std::string::npos) {
      return ::testing::AssertionFailure() << "Check said: " << shape.error().ToString();
    }
    return ::testing::AssertionSuccess();
  }
};

// The issue's failure: the root's level wrapped to 0, so the root read as a leaf and the
// whole tree below it was lost. Check() now counts the pages no walk reaches.
TEST_F(BwTreeCheckTest, CatchesARootWhoseLevelWrapped) {
  auto g = store_->EnterGeneration();
  NodeContents root = Contents(g, tree_->root());
  root.level = 0;
  for (Entry& e : root.entries) e = Entry{e.key, {}, 0, false};
  Rewrite(g, tree_->root(), root);
  EXPECT_TRUE(CheckFailsWith("pages in use"));
}

// A node whose side link skips its right neighbour, which its parent still names: the
// node now claims keys the parent routes elsewhere.
TEST_F(BwTreeCheckTest, CatchesANodeCoveringKeysItsParentRoutesElsewhere) {
  auto g = store_->EnterGeneration();
  const PageId left = Leftmost(1);
  NodeContents node = Contents(g, left);
  ASSERT_TRUE(node.right.has_value());
  const NodeContents next = Contents(g, *node.right);
  ASSERT_TRUE(next.right.has_value());
  node.high = next.high;
  node.right = next.right;
  Rewrite(g, left, node);
  EXPECT_TRUE(CheckFailsWith("outside"));
}

// A key moved into a leaf whose range does not hold it.
TEST_F(BwTreeCheckTest, CatchesAKeyOutsideItsLeaf) {
  auto g = store_->EnterGeneration();
  const PageId leaf = Leftmost(static_cast<int>(tree_->Check()->height()) - 1);
  NodeContents node = Contents(g, leaf);
  ASSERT_FALSE(node.high.infinite);
  const std::string beyond = std::string(node.high.key) + "x";
  node.entries.push_back(Entry{beyond, "stray", 0, false});
  Rewrite(g, leaf, node);
  EXPECT_TRUE(CheckFailsWith("outside its range"));
}

TEST_F(BwTreeCheckTest, CatchesALeakedPage) {
  ASSERT_TRUE(store_->Allocate().has_value());
  EXPECT_TRUE(CheckFailsWith("pages in use"));
}

// Another layer's root in the catalog: its pages cannot be counted, so the comparison
// is skipped (and said so) rather than failing a healthy tree.
TEST_F(BwTreeCheckTest, SkipsThePageCountWhenAnotherLayerSharesTheStore) {
  ASSERT_TRUE(store_->OpenRoot("not-a-bwtree").has_value());
  auto shape = tree_->Check();
  ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
  EXPECT_FALSE(shape->store_pages_checked);
}

}  // namespace
}  // namespace llama::bwtree::test
