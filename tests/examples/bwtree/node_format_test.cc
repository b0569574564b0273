// The Bw-tree's byte formats and the node view: node images and delta payloads round-trip,
// every truncation and bit flip of them decodes to a clean error or to something in
// bounds (never a crash, under the sanitizers too), and NodeView reads a chain of deltas
// over a base exactly as docs/BWTREE.md says.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "examples/bwtree/bw_delta.h"
#include "examples/bwtree/node_image.h"
#include "examples/bwtree/node_view.h"
#include "llama/coding.h"
#include "llama/page_node.h"

namespace llama::bwtree {
namespace {

NodeContents Leaf(std::string_view low, HighKey high, std::optional<PageId> right,
                  std::vector<std::pair<std::string_view, std::string_view>> kv) {
  NodeContents c;
  c.low = low;
  c.high = high;
  c.right = right;
  for (auto [k, v] : kv) c.entries.push_back(Entry{k, v, 0, false});
  return c;
}

std::vector<std::byte> Image(const NodeContents& c) {
  std::vector<std::byte> out;
  EXPECT_TRUE(EncodeNodeImage(c, out).has_value());
  EXPECT_EQ(out.size(), EncodedNodeSize(c));
  return out;
}

TEST(NodeImageTest, LeafRoundTrips) {
  const NodeContents c = Leaf("b", HighKey::At("m"), 7, {{"b", "1"}, {"c", ""}, {std::string_view("d\0x", 3), "33"}});
  const auto bytes = Image(c);
  auto image = NodeImage::Parse(bytes);
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  EXPECT_TRUE(image->leaf());
  EXPECT_EQ(image->low(), "b");
  EXPECT_EQ(image->high(), HighKey::At("m"));
  EXPECT_EQ(image->right(), std::optional<PageId>(7));
  ASSERT_EQ(image->size(), 3u);
  EXPECT_EQ(image->At(2)->key, std::string_view("d\0x", 3));
  EXPECT_EQ(image->At(2)->value, "33");
  EXPECT_EQ(*image->LowerBound("c"), 1u);
  EXPECT_EQ(*image->LowerBound("ca"), 2u);
  EXPECT_EQ(*image->LowerBound("z"), 3u);
  EXPECT_FALSE(image->Find("ca")->has_value());
  EXPECT_EQ((*image->Find("c"))->value, "");
}

TEST(NodeImageTest, InnerRoundTripsWithTombstones) {
  NodeContents c;
  c.level = 2;
  c.entries = {Entry{"", {}, 4, false}, Entry{"k", {}, 9, true}, Entry{"q", {}, 12, false}};
  const auto bytes = Image(c);
  auto image = NodeImage::Parse(bytes);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->level(), 2);
  EXPECT_TRUE(image->high().infinite);
  EXPECT_FALSE(image->right().has_value());
  EXPECT_EQ(image->At(1)->child, 9u);
  EXPECT_TRUE(image->At(1)->tombstone);
  EXPECT_FALSE(image->At(2)->tombstone);
}

TEST(NodeImageTest, RejectsKeysAndValuesOverTheLimits) {
  const std::string big_key(kMaxKeyBytes + 1, 'k'), big_value(kMaxValueBytes + 1, 'v');
  std::vector<std::byte> out;
  EXPECT_EQ(EncodeNodeImage(Leaf("", {}, {}, {{big_key, "v"}}), out).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(EncodeNodeImage(Leaf("", {}, {}, {{"k", big_value}}), out).error().code(), ErrorCode::kInvalidArgument);
}

// Reads everything a reader can read from `bytes`; only clean errors may come out.
void ReadAllOf(std::span<const std::byte> bytes) {
  auto image = NodeImage::Parse(bytes);
  if (!image) {
    EXPECT_EQ(image.error().code(), ErrorCode::kCorruption);
    return;
  }
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(image->size(), 64); ++i) {
    auto e = image->At(i);
    if (!e) {
      EXPECT_EQ(e.error().code(), ErrorCode::kCorruption);
    }
  }
  (void)image->LowerBound("m");
  std::vector<Entry> all;
  (void)image->AppendAll(all);
}

TEST(NodeImageTest, DamagedImagesGiveCorruptionNeverACrash) {
  NodeContents c;
  c.level = 1;
  c.low = "a";
  c.high = HighKey::At("z");
  c.right = 3;
  c.entries = {Entry{"a", {}, 1, false}, Entry{"f", {}, 2, true}, Entry{"p", {}, 5, false}};
  const auto inner = Image(c);
  const auto leaf = Image(Leaf("", {}, {}, {{"a", "xyz"}, {"b", "12345"}, {"c", "q"}}));
  std::mt19937_64 rng(42);
  for (const auto& good : {inner, leaf}) {
    for (std::size_t n = 0; n < good.size(); ++n) ReadAllOf(std::span<const std::byte>(good.data(), n));
    for (int round = 0; round < 2000; ++round) {
      auto bad = good;
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
        bad[rng() % bad.size()] ^= static_cast<std::byte>(1u << (rng() % 8));
      }
      ReadAllOf(bad);
    }
  }
}

TEST(BwDeltaTest, EveryKindRoundTrips) {
  auto insert = BwDelta::Insert("key", std::string_view("v\0v", 3));
  auto d = BwDelta::Decode(insert);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->tag, DeltaTag::kInsert);
  EXPECT_EQ(d->key, "key");
  EXPECT_EQ(d->value, std::string_view("v\0v", 3));
  auto del = BwDelta::Decode(BwDelta::Delete(""));
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->tag, DeltaTag::kDelete);
  EXPECT_EQ(del->key, "");
  for (DeltaTag tag : {DeltaTag::kSplit, DeltaTag::kIndexInsert, DeltaTag::kIndexTombstone, DeltaTag::kIndexErase}) {
    const auto bytes = BwDelta::KeyAndPage(tag, "sep", 0xfffffffe);
    auto kp = BwDelta::Decode(bytes);
    ASSERT_TRUE(kp.has_value());
    EXPECT_EQ(kp->tag, tag);
    EXPECT_EQ(kp->key, "sep");
    EXPECT_EQ(kp->pid, 0xfffffffeu);
  }
  EXPECT_EQ(BwDelta::Decode(BwDelta::RemoveNode())->tag, DeltaTag::kRemoveNode);
  EXPECT_EQ(BwDelta::Decode(BwDelta::RemoveNode())->nonce, 0u);
  // The stamps: RemoveNode with a nonce, Birth, Retire.
  const auto removed = BwDelta::RemoveNode(0x0123456789abcdefull);
  EXPECT_EQ(BwDelta::Decode(removed)->tag, DeltaTag::kRemoveNode);
  EXPECT_EQ(BwDelta::Decode(removed)->nonce, 0x0123456789abcdefull);
  for (DeltaTag tag : {DeltaTag::kBirth, DeltaTag::kRetire}) {
    auto stamp = BwDelta::Decode(BwDelta::Stamp(tag, 42));
    ASSERT_TRUE(stamp.has_value());
    EXPECT_EQ(stamp->tag, tag);
    EXPECT_EQ(stamp->nonce, 42u);
  }
  EXPECT_FALSE(BwDelta::Decode(BwDelta::Stamp(DeltaTag::kBirth, 0)).has_value()) << "a zero nonce";
  const auto image = Image(Leaf("m", {}, {}, {{"m", "1"}}));
  const auto merge_bytes = BwDelta::Merge(17, image);
  auto merge = BwDelta::Decode(merge_bytes);
  ASSERT_TRUE(merge.has_value());
  EXPECT_EQ(merge->pid, 17u);
  EXPECT_EQ(merge->image.size(), image.size());
}

TEST(BwDeltaTest, TruncatedOrPaddedPayloadsAreCorruption) {
  const std::vector<std::vector<std::byte>> payloads = {BwDelta::Insert("key", "value"),
                                                        BwDelta::Delete("key"),
                                                        BwDelta::KeyAndPage(DeltaTag::kSplit, "k", 1),
                                                        BwDelta::RemoveNode(),
                                                        BwDelta::Stamp(DeltaTag::kBirth, 7),
                                                        BwDelta::Stamp(DeltaTag::kRetire, 7)};
  for (const auto& p : payloads) {
    for (std::size_t n = 0; n < p.size(); ++n) {
      auto d = BwDelta::Decode(std::span<const std::byte>(p.data(), n));
      EXPECT_FALSE(d.has_value()) << "tag " << static_cast<int>(p[0]) << " cut to " << n;
    }
    auto padded = p;
    padded.push_back(std::byte{0});
    EXPECT_FALSE(BwDelta::Decode(padded).has_value()) << "tag " << static_cast<int>(p[0]) << " with a byte more";
  }
  const std::byte unknown[] = {std::byte{99}};
  EXPECT_EQ(BwDelta::Decode(unknown).error().code(), ErrorCode::kCorruption);
}

// ---- NodeView over real page chains ----

class NodeViewTest : public ::testing::Test {
 protected:
  void Base(const NodeContents& c) {
    const auto bytes = Image(c);
    chain_ = PageChainBuilder::Base(Share(*BasePage::Create(1, 4096, bytes)));
  }
  void Add(const std::vector<std::byte>& payload) {
    chain_ = PageChainBuilder::Prepend(Share(*DeltaRecord::MakeUpdate(1, payload)), std::move(chain_));
  }
  void AddFlush() {
    chain_ = PageChainBuilder::Prepend(Share(*DeltaRecord::MakeFlush(1, LssAddress::Make(1, 64))), std::move(chain_));
  }
  NodeView View() {
    auto v = NodeView::Of(PageState(chain_.get()));
    EXPECT_TRUE(v.has_value()) << v.error().ToString();
    return *v;
  }
  std::string Get(const NodeView& v, std::string_view key) {
    auto e = v.Find(key);
    EXPECT_TRUE(e.has_value());
    return *e ? "=" + std::string((*e)->value) : "-";
  }
  OwnedChain chain_;
};

TEST_F(NodeViewTest, DeltasOverABaseNewestFirst) {
  Base(Leaf("", {}, {}, {{"a", "1"}, {"c", "3"}, {"e", "5"}}));
  AddFlush();
  Add(BwDelta::Insert("b", "2"));
  Add(BwDelta::Delete("c"));
  Add(BwDelta::Insert("a", "1'"));
  NodeView v = View();
  EXPECT_EQ(v.delta_count(), 3u);
  EXPECT_TRUE(v.unflushed());
  EXPECT_EQ(Get(v, "a"), "=1'");
  EXPECT_EQ(Get(v, "b"), "=2");
  EXPECT_EQ(Get(v, "c"), "-");
  EXPECT_EQ(Get(v, "e"), "=5");
  auto all = v.Materialize();
  ASSERT_TRUE(all.has_value());
  std::string keys;
  for (const Entry& e : all->entries) keys += std::string(e.key) + std::string(e.value) + " ";
  EXPECT_EQ(keys, "a1' b2 e5 ");
}

TEST_F(NodeViewTest, AFlushAboveEverythingMeansNothingUnflushed) {
  Base(Leaf("", {}, {}, {{"a", "1"}}));
  Add(BwDelta::Insert("b", "2"));
  AddFlush();
  EXPECT_FALSE(View().unflushed());
}

TEST_F(NodeViewTest, SplitCutsTheRangeAndMergeExtendsIt) {
  Base(Leaf("", {}, {}, {{"a", "1"}, {"m", "13"}, {"t", "20"}}));
  Add(BwDelta::Insert("p", "16"));
  Add(BwDelta::KeyAndPage(DeltaTag::kSplit, "m", 5));
  NodeView split = View();
  EXPECT_EQ(split.high(), HighKey::At("m"));
  EXPECT_EQ(split.right(), std::optional<PageId>(5));
  EXPECT_FALSE(split.Covers("p"));
  EXPECT_EQ(split.Materialize()->entries.size(), 1u);
  // The right sibling (5) is merged back, with other contents, ending at "x".
  const auto image = Image(Leaf("m", HighKey::At("x"), 8, {{"m", "M"}, {"w", "W"}}));
  Add(BwDelta::Merge(5, image));
  NodeView merged = View();
  EXPECT_EQ(merged.high(), HighKey::At("x"));
  EXPECT_EQ(merged.right(), std::optional<PageId>(8));
  EXPECT_EQ(Get(merged, "m"), "=M");
  EXPECT_EQ(Get(merged, "p"), "-") << "the old delta past the split no longer counts";
  EXPECT_EQ(Get(merged, "t"), "-") << "the old base entry past the split no longer counts";
  EXPECT_EQ(Get(merged, "a"), "=1");
  auto contents = merged.Materialize();
  ASSERT_TRUE(contents.has_value());
  std::string keys;
  for (const Entry& e : contents->entries) keys += std::string(e.key);
  EXPECT_EQ(keys, "amw");
}

TEST_F(NodeViewTest, InnerRoutingSkipsTombstones) {
  NodeContents c;
  c.level = 1;
  c.entries = {Entry{"", {}, 10, false}, Entry{"g", {}, 11, false}, Entry{"p", {}, 12, false}};
  Base(c);
  Add(BwDelta::KeyAndPage(DeltaTag::kIndexInsert, "k", 13));
  Add(BwDelta::KeyAndPage(DeltaTag::kIndexTombstone, "p", 12));
  NodeView v = View();
  std::vector<Entry> skipped;
  auto route = v.FloorLive("r", true, &skipped);
  ASSERT_TRUE(route.has_value() && route->has_value());
  EXPECT_EQ((*route)->child, 13u) << "past the tombstone at p, the live entry at k";
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].child, 12u);
  EXPECT_EQ((*v.FloorLive("h", true))->child, 11u);
  EXPECT_EQ((*v.FloorLive("g", true))->child, 11u);
  EXPECT_EQ((*v.FloorLive("g", false))->child, 10u);
  EXPECT_EQ((*v.Predecessor("p"))->child, 13u);
  Add(BwDelta::KeyAndPage(DeltaTag::kIndexErase, "p", 12));
  NodeView erased = View();
  EXPECT_FALSE(erased.Find("p")->has_value());
  EXPECT_EQ(erased.Materialize()->entries.size(), 3u);
}

TEST_F(NodeViewTest, RemoveNodeMarksTheNodeRemoved) {
  Base(Leaf("", {}, {}, {}));
  EXPECT_FALSE(View().removed());
  Add(BwDelta::RemoveNode());
  EXPECT_TRUE(View().removed());
}

TEST_F(NodeViewTest, AChainWithoutABaseIsCorruption) {
  chain_ = PageChainBuilder::Prepend(Share(*DeltaRecord::MakeUpdate(1, BwDelta::Insert("a", "b"))), nullptr);
  EXPECT_EQ(NodeView::Of(PageState(chain_.get())).error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace llama::bwtree
