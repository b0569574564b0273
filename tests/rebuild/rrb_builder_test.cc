// RrbBuilder alone (no rebuilder thread): random operations replayed in batches onto
// published trees, each tree read back and compared with a std::vector, and its shape
// checked (heights, counts, size tables, regular nodes, node fill).
#include "rebuild/rrb_builder.h"

#include <fstream>
#include <functional>

#include "rebuild/published_tree.h"
#include "rebuild/tree_page.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

class RrbBuilderTest : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
    config_.branching = GetParam().branching;
    // 0: leaves filled to their page, as Vector resolves it.
    config_.leaf_max_elements =
        GetParam().leaf_max_elements != 0 ? GetParam().leaf_max_elements : MaxLeafElements(config_.leaf_page_size);
    config_.buffers = {1};
  }
  void TearDown() override {
    if (store_) {
      ASSERT_TRUE(store_->Close().has_value());
    }
  }

  // Walks the tree checking every node; returns the elements below pid.
  std::uint64_t CheckShape(PageId pid, int height, std::uint64_t expect_size, bool is_root) {
    auto guard = store_->EnterGeneration();
    auto bytes = ReadTreePage(*store_, guard, pid);
    EXPECT_TRUE(bytes.has_value());
    if (!bytes) return 0;
    if (height == 0) {
      auto leaf = LeafView::Parse(*bytes);
      EXPECT_TRUE(leaf.has_value());
      EXPECT_TRUE(leaf->Validate().has_value());
      EXPECT_LE(leaf->size(), config_.leaf_max_elements);
      EXPECT_GT(leaf->size(), 0u);
      EXPECT_EQ(leaf->size(), expect_size) << "leaf " << pid;
      return leaf->size();
    }
    auto inner = InnerView::Parse(*bytes);
    EXPECT_TRUE(inner.has_value());
    if (!inner) return 0;
    EXPECT_TRUE(inner->Validate().has_value());
    EXPECT_EQ(inner->height(), height);
    EXPECT_LE(inner->count(), config_.branching);
    if (is_root) {
      EXPECT_GE(inner->count(), 2u) << "an inner root has two children at least";
    }
    EXPECT_EQ(inner->total(), expect_size) << "inner " << pid;
    const std::uint64_t full = FullSubtreeSize(config_, static_cast<std::uint8_t>(height - 1));
    std::uint64_t sum = 0;
    for (std::uint32_t k = 0; k < inner->count(); ++k) {
      const std::uint64_t first = inner->before(k, full);
      const std::uint64_t end = k + 1 == inner->count() ? inner->total() : inner->before(k + 1, full);
      sum += CheckShape(inner->child(k), height - 1, end - first, false);
    }
    EXPECT_EQ(sum, inner->total());
    return sum;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  VectorConfig config_;
};

TEST_P(RrbBuilderTest, BatchesOfRandomOperationsMatchStdVector) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::mt19937_64 rng(seed);
  RrbBuilder::Tree tree;
  std::vector<std::string> model;
  std::uint64_t generation = 0;
  const int batches = Scaled(60);
  for (int b = 0; b < batches; ++b) {
    RrbBuilder builder(*store_, config_, tree);
    // Phases: grow by appends, then mixed, then shrink, so trees get deep and shallow again.
    const int n = 1 + static_cast<int>(rng() % 80);
    for (int i = 0; i < n; ++i) {
      VectorEntry entry;
      entry.timestamp = ++generation;
      const int count = rng() % 5 == 0 ? 2 + static_cast<int>(rng() % 3) : 1;
      std::vector<std::string> scratch = model;
      for (int k = 0; k < count; ++k) {
        VectorOp op = RandomOp(rng, scratch.size(), std::to_string(b) + "." + std::to_string(i), 3, 300);
        if (b < batches / 3 && rng() % 2 == 0) op = VectorOp{VectorOpCode::kAppend, 0, "a" + std::to_string(i)};
        if (b > 2 * batches / 3 && scratch.size() > 0 && rng() % 3 != 0)
          op = VectorOp{VectorOpCode::kErase, rng() % scratch.size(), {}};
        ApplyToModel(scratch, {op});
        entry.ops.push_back(std::move(op));
      }
      const bool ok = ApplyToModel(model, entry.ops);
      auto s = builder.Apply(entry);
      ASSERT_EQ(s.has_value(), ok) << "batch " << b << " entry " << i << (s ? "" : ": " + s.error().ToString());
      ASSERT_EQ(builder.size(), model.size());
    }
    auto written = builder.Materialize();
    ASSERT_TRUE(written.has_value()) << written.error().ToString();
    tree = written->tree;
    ASSERT_EQ(tree.size, model.size());
    auto published = std::make_shared<const PublishedTree>(generation, 0, tree, store_.get(), &config_);
    VectorSnapshot snap(published);
    ASSERT_TRUE(SameSequence(Contents(snap), model)) << "batch " << b;
    if (tree.root != 0) CheckShape(tree.root, tree.height, tree.size, true);
    if (HasFailure()) return;
  }
}

// Appends alone keep the tree regular: every inner node radix-indexed, leaves full.
TEST_P(RrbBuilderTest, AppendsBuildARegularTree) {
  RrbBuilder::Tree tree;
  const std::uint64_t n = Scaled(1000);
  for (std::uint64_t done = 0; done < n;) {
    RrbBuilder builder(*store_, config_, tree);
    for (int i = 0; i < 37 && done < n; ++i, ++done) {
      ASSERT_TRUE(
          builder.Apply(VectorEntry{done + 1, 0, 0, {{VectorOpCode::kAppend, 0, std::to_string(done)}}}).has_value());
    }
    auto written = builder.Materialize();
    ASSERT_TRUE(written.has_value());
    tree = written->tree;
  }
  std::function<void(PageId, int)> walk = [&](PageId pid, int height) {
    auto guard = store_->EnterGeneration();
    auto bytes = ReadTreePage(*store_, guard, pid);
    ASSERT_TRUE(bytes.has_value());
    if (height == 0) return;
    auto inner = InnerView::Parse(*bytes);
    ASSERT_TRUE(inner.has_value());
    // Leaves filled to their page (L0) are bounded by bytes, not by a count, so they are
    // not all of one count and the tree is relaxed.
    if (GetParam().leaf_max_elements != 0) {
      EXPECT_FALSE(inner->relaxed()) << "inner node " << pid << " at height " << height;
    }
    for (std::uint32_t k = 0; k < inner->count(); ++k) walk(inner->child(k), height - 1);
  };
  walk(tree.root, tree.height);
  auto published = std::make_shared<const PublishedTree>(1, 0, tree, store_.get(), &config_);
  VectorSnapshot snap(published);
  for (std::uint64_t i = 0; i < n; i += 7) EXPECT_EQ(*snap.at(i), std::to_string(i));
}

INSTANTIATE_TEST_SUITE_P(Shapes, RrbBuilderTest, kShapes, ShapeName);

}  // namespace
}  // namespace llama::vector_test
namespace llama::vector_test {
namespace {
TEST_P(RrbBuilderTest, OneLongBatchOfMixedOperations) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::mt19937_64 rng(seed);
  RrbBuilder builder(*store_, config_, {});
  std::vector<std::string> model;
  for (int i = 0; i < Scaled(3000); ++i) {
    VectorOp op = RandomOp(rng, model.size(), std::to_string(i), 2);
    if (rng() % 3 == 0) op = VectorOp{VectorOpCode::kAppend, 0, "a" + std::to_string(i)};
    const bool ok = ApplyToModel(model, {op});
    auto s = builder.Apply(VectorEntry{static_cast<std::uint64_t>(i + 1), 0, 0, {op}});
    ASSERT_EQ(s.has_value(), ok) << i;
    ASSERT_EQ(builder.size(), model.size()) << "after op " << i << " " << VectorOpName(op.code) << " " << op.index;
  }
  auto written = builder.Materialize();
  ASSERT_TRUE(written.has_value());
  auto published = std::make_shared<const PublishedTree>(1, 0, written->tree, store_.get(), &config_);
  EXPECT_TRUE(SameSequence(Contents(VectorSnapshot(published)), model));
  CheckShape(written->tree.root, written->tree.height, written->tree.size, true);
}
}  // namespace
}  // namespace llama::vector_test
