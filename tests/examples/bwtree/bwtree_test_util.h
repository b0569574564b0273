// Shared by the Bw-tree tests: a store in a temporary directory with a tree on it, store
// and tree options that force many small nodes, keys and values derived from numbers,
// and a full comparison of a tree with a std::map model.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>

#include "examples/bwtree/bwtree.h"
#include "llama/store.h"
#include "tests/lss/store/store_test_util.h"

namespace llama::bwtree::test {

using store_test::Scaled;
using store_test::TempDir;
using store_test::TestSeed;

// Small segments and buffers (so a test crosses many of both), no background cleaning
// unless asked.
inline StoreOptions SmallStoreOptions(Env* env = nullptr) {
  StoreOptions o;
  o.env = env;
  o.segment_size = 1u << 20;
  o.flush_buffer_size = 256u << 10;
  o.flush_buffers = 4;
  o.cleaner_space_factor = 0;
  return o;
}

// Tiny nodes: a few thousand keys make a tree four or five levels deep.
inline BwTreeOptions SmallNodeOptions(std::uint32_t node_bytes = 256, std::uint32_t consolidate_after = 4) {
  BwTreeOptions o;
  o.node_bytes = node_bytes;
  o.consolidate_after = consolidate_after;
  return o;
}

// Key i: 4 to 12 bytes whose order is not i's order, with zero and 0xff bytes in them.
inline std::string KeyOf(std::uint64_t i) {
  std::uint64_t x = i * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  std::string key;
  const std::size_t len = 4 + (i % 9);
  for (std::size_t b = 0; b < len; ++b) {
    key.push_back(static_cast<char>(b < 8 ? (x >> (56 - 8 * b)) & 0xff : (i >> (8 * (b - 8))) & 0xff));
  }
  key.push_back(static_cast<char>(i & 0xff));  // distinct keys for distinct i
  key.push_back(static_cast<char>((i >> 8) & 0xff));
  return key;
}

// A value that names its writer and a version, of 0 to 60 bytes.
inline std::string ValueOf(std::uint64_t writer, std::uint64_t version, std::mt19937_64& rng) {
  std::string v = std::to_string(writer) + "." + std::to_string(version) + ":";
  v.append(rng() % 48, static_cast<char>('a' + version % 26));
  return v;
}

inline std::unique_ptr<Store> MustOpenStore(const std::string& dir, const StoreOptions& options) {
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return store ? std::move(*store) : nullptr;
}

inline std::unique_ptr<BwTree> MustOpenTree(Store& store, const BwTreeOptions& options, std::string_view name = "t") {
  auto tree = BwTree::Open(store, name, options);
  EXPECT_TRUE(tree.has_value()) << tree.error().ToString();
  return tree ? std::move(*tree) : nullptr;
}

// A temporary directory and a store and tree opened in it on demand; the base of the
// fixtures (mixed into a ::testing::Test or TestWithParam).
class TreeFixture {
 protected:
  // (Re)opens the store at dir_/db and the tree on it; fails the test if either fails.
  void OpenTree(const StoreOptions& store_options, const BwTreeOptions& tree_options) {
    tree_.reset();
    store_.reset();
    store_ = MustOpenStore(dir_ / "db", store_options);
    ASSERT_NE(store_, nullptr);
    tree_ = MustOpenTree(*store_, tree_options);
    ASSERT_NE(tree_, nullptr);
  }
  // Closes the tree and the store cleanly, then opens both again.
  void CloseAndReopen(const StoreOptions& store_options, const BwTreeOptions& tree_options) {
    tree_.reset();
    ASSERT_TRUE(store_->Close().has_value());
    OpenTree(store_options, tree_options);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BwTree> tree_;
};

// Pages the store holds beyond what its trees reach (every tree in the store must be
// given): every page is the catalog page, a tree's pending page, or a page Check() finds
// the tree holding. 0 unless a page leaked. For quiescent trees (Check() walks them
// now: a Get may have split a node since an earlier Check()).
inline ::testing::AssertionResult NoLeakedPages(Store& store, const std::vector<BwTree*>& trees) {
  std::int64_t held = 1;  // the catalog page
  for (BwTree* tree : trees) {
    auto shape = tree->Check();
    if (!shape) return ::testing::AssertionFailure() << "Check: " << shape.error().ToString();
    if (shape->pending != 0) return ::testing::AssertionFailure() << shape->pending << " pending records are left";
    held += 1 + static_cast<std::int64_t>(shape->pages);
  }
  const auto in_use = static_cast<std::int64_t>(store.stats().pages_in_use);
  if (in_use != held) {
    return ::testing::AssertionFailure() << "the store holds " << in_use << " pages, the trees " << held;
  }
  return ::testing::AssertionSuccess();
}

// The tree holds exactly `model`: a full scan, a scan from the middle, and a Get of every
// key; and Check() passes. Returns the shape Check() found.
inline ::testing::AssertionResult MatchesModel(BwTree& tree, const std::map<std::string, std::string>& model,
                                               TreeShape* shape_out = nullptr) {
  auto shape = tree.Check();
  if (!shape) return ::testing::AssertionFailure() << "Check: " << shape.error().ToString();
  if (shape->keys != model.size()) {
    return ::testing::AssertionFailure() << "the tree holds " << shape->keys << " keys, the model " << model.size();
  }
  auto all = tree.Scan("", model.size() + 10);
  if (!all) return ::testing::AssertionFailure() << "Scan: " << all.error().ToString();
  if (all->size() != model.size()) {
    return ::testing::AssertionFailure() << "a full scan returned " << all->size() << " pairs, the model has "
                                         << model.size();
  }
  auto it = model.begin();
  for (const auto& [k, v] : *all) {
    if (k != it->first || v != it->second) {
      return ::testing::AssertionFailure() << "scan and model differ at key of " << it->first.size() << " bytes";
    }
    ++it;
  }
  for (const auto& [k, v] : model) {
    auto got = tree.Get(k);
    if (!got) return ::testing::AssertionFailure() << "Get: " << got.error().ToString();
    if (!*got || **got != v) return ::testing::AssertionFailure() << "Get of a key in the model disagrees";
  }
  if (shape_out != nullptr) *shape_out = *shape;
  return ::testing::AssertionSuccess();
}

}  // namespace llama::bwtree::test
