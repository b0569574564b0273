// The Bw-tree's read path reads nodes in place: a Get into a caller's string that has the
// capacity, on a tree whose nodes are consolidated (a base page, perhaps under llama's
// Flush delta and a split's Birth stamp), allocates nothing, for present and absent keys
// alike; and a cursor walking such a tree again with the buffers of its first walk
// allocates nothing either.
//
// This binary replaces the global operator new and delete with versions that count the
// allocations of the calling thread (a thread_local count, so the store's own threads do
// not add to it). The replacement works under AddressSanitizer and ThreadSanitizer too:
// the counting versions allocate with malloc, which the sanitizers intercept, so the
// counts are asserted in every build. The first test also checks that the counter sees
// an allocation it must see (the copy the other Get returns), so a counter that counted
// nothing could not pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "examples/bwtree/bwtree_cursor.h"
#include "tests/examples/bwtree/bwtree_test_util.h"

namespace {

// Trivially constructed, so reading it from operator new needs no initialization guard.
thread_local std::uint64_t allocations = 0;

void* CountedAlloc(std::size_t size, std::size_t align) {
  ++allocations;
  size = std::max<std::size_t>(size, 1);
  void* p = align <= alignof(std::max_align_t) ? std::malloc(size)
                                               : std::aligned_alloc(align, (size + align - 1) / align * align);
  return p;
}

void* CountedNew(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
  void* p = CountedAlloc(size, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return CountedNew(size); }
void* operator new[](std::size_t size) { return CountedNew(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  return CountedNew(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return CountedNew(size, static_cast<std::size_t>(align));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return CountedAlloc(size, alignof(std::max_align_t));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return CountedAlloc(size, alignof(std::max_align_t));
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return CountedAlloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return CountedAlloc(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace llama::bwtree::test {
namespace {

// Values of 20 to 80 bytes: past std::string's inline capacity, so copying one into a
// string without the room allocates.
std::string LongValue(std::uint64_t i, std::mt19937_64& rng) {
  return "value-" + std::to_string(i) + std::string(14 + rng() % 60, static_cast<char>('a' + i % 26));
}

class BwTreeReadPathTest : public ::testing::Test, public TreeFixture {
 protected:
  // Keys 2i hold a value, keys 2i+1 are absent. Every node is consolidated when a delta
  // goes on (consolidate_after 1, at both levels), so each node is a base page (a split's
  // new node also has its Birth stamp), flushed or not: after FlushAll, under llama's
  // Flush delta.
  void BuildConsolidatedTree(std::uint64_t seed) {
    BwTreeOptions options = SmallNodeOptions(512, 1);
    options.inner_consolidate_after = 1;
    ASSERT_NO_FATAL_FAILURE(OpenTree(SmallStoreOptions(), options));
    std::mt19937_64 rng(seed);
    const std::uint64_t keys = static_cast<std::uint64_t>(Scaled(3000));
    std::vector<std::uint64_t> order(keys);
    for (std::uint64_t i = 0; i < keys; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::uint64_t i : order) {
      model_[KeyOf(2 * i)] = LongValue(i, rng);
      ASSERT_TRUE(tree_->Put(KeyOf(2 * i), model_[KeyOf(2 * i)]).has_value());
    }
    for (std::uint64_t i = 0; i < keys; ++i) absent_.push_back(KeyOf(2 * i + 1));
    auto shape = tree_->Check();
    ASSERT_TRUE(shape.has_value()) << shape.error().ToString();
    ASSERT_GE(shape->height(), 3u) << "the Gets should cross inner nodes";
    middle_ = std::next(model_.begin(), static_cast<std::ptrdiff_t>(model_.size() / 2))->first;
  }

  std::map<std::string, std::string> model_;
  std::vector<std::string> absent_;
  std::string middle_;  // a key in the middle of model_
};

// Allocations made by Gets of every key of the model and of every absent key (and of a key
// below them all), into one string with room for any value; each Get's result is checked.
::testing::AssertionResult GetsAllocateNothing(BwTree& tree, const std::map<std::string, std::string>& model,
                                               const std::vector<std::string>& absent) {
  std::string value;
  value.reserve(256);
  std::uint64_t gets = 0, allocating_gets = 0;
  auto get = [&](const std::string& key, const std::string* expected) -> ::testing::AssertionResult {
    value.assign("untouched");
    const std::uint64_t before = allocations;
    auto found = tree.Get(key, &value);
    const std::uint64_t made = allocations - before;
    ++gets;
    if (made != 0) ++allocating_gets;
    if (!found) return ::testing::AssertionFailure() << found.error().ToString();
    if (*found != (expected != nullptr) || value != (expected != nullptr ? *expected : std::string("untouched"))) {
      return ::testing::AssertionFailure() << "a Get returned what the model does not hold";
    }
    return ::testing::AssertionSuccess();
  };
  for (const auto& [k, v] : model) {
    if (auto ok = get(k, &v); !ok) return ok;
  }
  for (const std::string& k : absent) {
    if (auto ok = get(k, nullptr); !ok) return ok;
  }
  if (auto ok = get(std::string(), nullptr); !ok) return ok;
  if (allocating_gets != 0)
    return ::testing::AssertionFailure() << allocating_gets << " of " << gets << " Gets allocated";
  return ::testing::AssertionSuccess();
}

TEST_F(BwTreeReadPathTest, GetIntoAStringWithCapacityAllocatesNothing) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  ASSERT_NO_FATAL_FAILURE(BuildConsolidatedTree(seed));
  // The counter sees the copy that the other Get returns.
  const std::uint64_t before_copy = allocations;
  auto copy = tree_->Get(model_.begin()->first);
  const std::uint64_t copy_allocations = allocations - before_copy;
  ASSERT_TRUE(copy.has_value() && copy->has_value());
  EXPECT_GE(copy_allocations, 1u);
  // Consolidated nodes not flushed since (the state a synced write would flush), then the
  // same under llama's Flush deltas.
  EXPECT_TRUE(GetsAllocateNothing(*tree_, model_, absent_)) << "before the flush";
  ASSERT_TRUE(store_->FlushAll().has_value());
  EXPECT_TRUE(GetsAllocateNothing(*tree_, model_, absent_)) << "after the flush";
}

TEST_F(BwTreeReadPathTest, GetAfterAReopenAllocatesNothingOnceThePagesAreIn) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  ASSERT_NO_FATAL_FAILURE(BuildConsolidatedTree(seed));
  ASSERT_TRUE(store_->FlushAll().has_value());
  // Reopened, every page is on disk: the first Get of each brings it in (allocating), under
  // the Flush delta Store::Read puts on it; from then on it is read in place.
  const BwTreeOptions options = tree_->options();
  ASSERT_NO_FATAL_FAILURE(OpenTree(SmallStoreOptions(), options));
  std::string value;
  for (const auto& [k, v] : model_) ASSERT_TRUE(tree_->Get(k, &value).has_value());
  const std::uint64_t reads_from_disk = store_->stats().reads_from_disk;
  EXPECT_GT(reads_from_disk, 0u);
  value.reserve(256);
  const std::uint64_t before = allocations;
  for (const auto& [k, v] : model_) {
    auto found = tree_->Get(k, &value);
    ASSERT_TRUE(found.has_value() && *found && value == v);
  }
  for (const std::string& k : absent_) {
    auto found = tree_->Get(k, &value);
    ASSERT_TRUE(found.has_value() && !*found);
  }
  EXPECT_EQ(allocations - before, 0u);
  EXPECT_EQ(store_->stats().reads_from_disk, reads_from_disk);
}

TEST_F(BwTreeReadPathTest, ACursorReusesItsBuffersFromLeafToLeaf) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  ASSERT_NO_FATAL_FAILURE(BuildConsolidatedTree(seed));
  BwTree::Cursor cursor(*tree_);
  // The first walk sizes the buffers to the largest leaf.
  std::size_t rows = 0;
  Status s = cursor.Seek("");
  for (; s && cursor.Valid(); s = cursor.Next()) ++rows;
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  ASSERT_EQ(rows, model_.size());
  // The second walk, from the start and then from the middle, allocates nothing.
  auto it = model_.begin();
  const std::uint64_t before = allocations;
  for (s = cursor.Seek(""); s && cursor.Valid(); s = cursor.Next(), ++it) {
    if (it == model_.end() || cursor.key() != it->first || cursor.value() != it->second) break;
  }
  const bool walked_all = s.has_value() && !cursor.Valid() && it == model_.end();
  Status from_middle = cursor.Seek(middle_);
  const std::uint64_t made = allocations - before;
  EXPECT_TRUE(walked_all) << "the second walk differs from the model";
  ASSERT_TRUE(from_middle.has_value() && cursor.Valid());
  EXPECT_EQ(cursor.key(), middle_);
  EXPECT_EQ(made, 0u);
}

}  // namespace
}  // namespace llama::bwtree::test
