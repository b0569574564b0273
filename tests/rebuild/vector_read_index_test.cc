// The snapshot read path through the publication's read index (rebuild/vector_read_index.h):
// at(i) (copying, into a buffer, and in place), for_each, range and iteration against a
// std::vector model at many tree shapes; an old snapshot read while newer publications
// replace its pages and its leaves are evicted; readers on several snapshots at once while
// writers publish (run it under tsan).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "rebuild/tree_page.h"
#include "rebuild/vector_format.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

enum class ReadWay { kAt, kAtInto, kWith, kView, kForEach, kRange, kIterate };
constexpr ReadWay kWays[] = {ReadWay::kAt,      ReadWay::kAtInto, ReadWay::kWith,   ReadWay::kView,
                             ReadWay::kForEach, ReadWay::kRange,  ReadWay::kIterate};

// The snapshot's elements read one way; ranges in random chunks. Records the first error.
std::vector<std::string> ReadAll(const VectorSnapshot& snap, ReadWay way, std::mt19937_64& rng, std::string* error) {
  std::vector<std::string> out;
  auto failed = [&](const Status& s) {
    if (!s && error->empty()) *error = s.error().ToString();
    return !s;
  };
  if (way == ReadWay::kIterate) {
    auto it = snap.begin();
    for (; it != snap.end(); ++it) out.emplace_back(*it);
    failed(it.error());
    return out;
  }
  std::string buffer;
  for (std::uint64_t i = 0; i < snap.size();) {
    const std::uint64_t chunk = way == ReadWay::kForEach || way == ReadWay::kRange ? 1 + rng() % 97 : 1;
    Status s = OkStatus();
    if (way == ReadWay::kAt) {
      auto v = snap.at(i);
      s = v ? OkStatus() : Status(tl::unexpected(v.error()));
      if (v) out.push_back(*v);
    } else if (way == ReadWay::kAtInto) {
      s = snap.at(i, &buffer);
      if (s) out.push_back(buffer);
    } else if (way == ReadWay::kView) {
      auto v = snap.view(i);
      s = v ? OkStatus() : Status(tl::unexpected(v.error()));
      if (v) out.emplace_back(*v);
    } else if (way == ReadWay::kWith) {
      s = snap.with(i, [&](std::string_view v) { out.emplace_back(v); });
    } else if (way == ReadWay::kForEach) {
      s = snap.for_each(i, chunk, [&](std::uint64_t k, std::string_view v) {
        if (k != out.size()) ADD_FAILURE() << "for_each gave index " << k << " for " << out.size();
        out.emplace_back(v);
        return true;
      });
    } else {
      auto part = snap.range(i, chunk);
      s = part ? OkStatus() : Status(tl::unexpected(part.error()));
      if (part) out.insert(out.end(), part->begin(), part->end());
    }
    if (failed(s)) return out;
    i += chunk;
  }
  return out;
}

// Every way of reading gives `model`; a past-the-end index is InvalidArgument.
void ExpectReadsEqual(const VectorSnapshot& snap, const std::vector<std::string>& model, std::mt19937_64& rng) {
  ASSERT_EQ(snap.size(), model.size()) << "generation " << snap.generation();
  for (ReadWay way : kWays) {
    std::string error;
    EXPECT_TRUE(SameSequence(ReadAll(snap, way, rng, &error), model))
        << "way " << static_cast<int>(way) << ", generation " << snap.generation();
    EXPECT_EQ(error, "") << "way " << static_cast<int>(way);
  }
  auto past = snap.at(snap.size());
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code(), ErrorCode::kInvalidArgument);
  std::string out;
  EXPECT_FALSE(snap.at(snap.size() + 5, &out).has_value());
  auto tail = snap.range(snap.size(), 10);
  ASSERT_TRUE(tail.has_value());
  EXPECT_TRUE(tail->empty());
}

// Applies `writes` random single-writer operations (every one valid, some batched) to the
// vector and the model, and waits until they are published.
void WriteRandom(Vector& vec, std::vector<std::string>& model, std::mt19937_64& rng, int writes,
                 const std::string& tag) {
  Result<VectorTicket> last = VectorTicket{};
  for (int i = 0; i < writes; ++i) {
    std::vector<VectorOp> ops;
    const int n = rng() % 6 == 0 ? 2 + static_cast<int>(rng() % 4) : 1;
    std::vector<std::string> scratch = model;
    for (int k = 0; k < n; ++k) {
      ops.push_back(RandomOp(rng, scratch.size(), tag + std::to_string(i)));
      ASSERT_TRUE(ApplyToModel(scratch, {ops.back()}));
    }
    last = Submit(vec, ops);
    ASSERT_TRUE(last.has_value()) << last.error().ToString();
    model = std::move(scratch);
  }
  ASSERT_TRUE(vec.WaitVisible(*last).has_value());
}

class VectorReadIndexTest : public ::testing::TestWithParam<Shape> {
 protected:
  TempDir dir_;
};

// Snapshots after rounds of random writes read like the model, every way, through a
// fresh publication (descent first, then the index once built) and a prepared one; old
// snapshots still read their own contents at the end.
TEST_P(VectorReadIndexTest, EveryReadMatchesTheModel) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "reads", SmallVector(GetParam()));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  std::vector<std::string> model;
  std::vector<std::pair<VectorSnapshot, std::vector<std::string>>> held;
  const int rounds = Scaled(8);
  for (int round = 0; round < rounds; ++round) {
    WriteRandom(**vec, model, rng, 30 + static_cast<int>(rng() % 300), "r" + std::to_string(round) + ".");
    VectorSnapshot snap = (*vec)->Snapshot();
    if (round % 2 == 1) {
      ASSERT_TRUE(snap.prepare_reads().has_value());
    }
    ExpectReadsEqual(snap, model, rng);
    if (snap.size() > 0) {
      EXPECT_GT(snap.read_index_leaves(), 0u) << "reading every element builds the index";
    }
    held.emplace_back(std::move(snap), model);
  }
  for (auto& [snap, contents] : held) ExpectReadsEqual(snap, contents, rng);
  held.clear();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

// Every tree page reachable from a snapshot's root (inner nodes and leaves).
void CollectTreePages(Store& store, PageId pid, std::uint8_t height, std::vector<PageId>& out) {
  out.push_back(pid);
  if (height == 0) return;
  std::vector<PageId> children;
  {
    auto guard = store.EnterGeneration();
    auto bytes = ReadTreePage(store, guard, pid);
    ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
    auto inner = InnerView::Parse(*bytes);
    ASSERT_TRUE(inner.has_value()) << inner.error().ToString();
    for (std::uint32_t k = 0; k < inner->count(); ++k) children.push_back(inner->child(k));
  }
  for (PageId child : children) CollectTreePages(store, child, static_cast<std::uint8_t>(height - 1), out);
}

// An old snapshot, its read index built, still reads its own elements after newer
// publications replaced its pages and every one of them was evicted (read back on demand),
// with a memory budget small enough that the background evictor runs too.
TEST(VectorReadIndexEvictionTest, AnOldSnapshotReadsItsEvictedLeavesBack) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  StoreOptions so = VectorStoreOptions();
  so.memory_budget = 32 << 10;
  so.maintenance_interval_ms = 1;
  auto store = Store::Open(dir.path() + "/db", so);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "evicted", SmallVector(Shape{4, 8}));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  std::vector<std::string> model;
  WriteRandom(**vec, model, rng, Scaled(1500), "a");
  VectorSnapshot old = (*vec)->Snapshot();
  const std::vector<std::string> old_model = model;
  ASSERT_TRUE(old.prepare_reads().has_value());
  ExpectReadsEqual(old, old_model, rng);

  // Newer publications: every element updated (so every leaf replaced), more random writes.
  VectorWriteBatch updates;
  for (std::uint64_t i = 0; i < model.size(); ++i) {
    model[i] = "new" + std::to_string(i);
    updates.Update(i, model[i]);
  }
  ASSERT_TRUE((*vec)->Write(updates).has_value());
  WriteRandom(**vec, model, rng, Scaled(500), "b");
  EXPECT_GE((*vec)->metrics().pages_pending_free, 1u) << "the old snapshot holds its replaced pages";

  std::vector<PageId> pages;
  CollectTreePages(**store, old.root(), old.height(), pages);
  const StoreStats before = (*store)->stats();
  {
    auto guard = (*store)->EnterGeneration();
    for (PageId pid : pages) ASSERT_TRUE((*store)->Evict(guard, pid).has_value()) << "page " << pid;
  }
  ExpectReadsEqual(old, old_model, rng);
  EXPECT_GT((*store)->stats().reads_from_disk, before.reads_from_disk) << "evicted leaves were read back";
  ExpectReadsEqual((*vec)->Snapshot(), model, rng);
  old.release();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

// Readers on several snapshots at once (copies of one publication shared between them, so
// they race to build its index) while writers publish and a tiny budget evicts pages. Each
// read equals the serial replay of the writes below its snapshot's watermark.
TEST(VectorReadIndexConcurrencyTest, ReadersOnSeveralSnapshotsWhileWritersPublish) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  TempDir dir;
  StoreOptions so = VectorStoreOptions();
  so.memory_budget = 64 << 10;
  so.maintenance_interval_ms = 1;
  auto store = Store::Open(dir.path() + "/db", so);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "concurrent", SmallVector(Shape{4, 4}));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  constexpr int kWriters = 2, kReaders = 3;
  const int per_writer = Scaled(1000);
  std::vector<std::vector<std::pair<std::uint64_t, std::vector<VectorOp>>>> logs(kWriters);
  struct Seen {
    std::uint64_t watermark;
    std::vector<std::string> contents;
  };
  std::vector<std::vector<Seen>> seen(kReaders);
  std::atomic<int> writers_left{kWriters};
  std::mutex shared_mu;
  VectorSnapshot shared;  // guarded by shared_mu: a publication several readers read at once
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      for (int i = 0; i < per_writer; ++i) {
        const std::uint64_t size = (*vec)->Snapshot().size();
        std::vector<VectorOp> ops{RandomOp(rng, size, std::to_string(t) + "." + std::to_string(i), 2)};
        auto ticket = Submit(**vec, ops);
        ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
        logs[t].emplace_back(ticket->timestamp, std::move(ops));
      }
      writers_left.fetch_sub(1);
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(seed * 57 + r);
      for (int n = 0; writers_left.load() > 0 || n < 3; ++n) {
        VectorSnapshot snap;
        {
          std::lock_guard lock(shared_mu);
          if (!shared.valid() || rng() % 2 == 0) shared = (*vec)->Snapshot();
          snap = shared;
        }
        std::string error;
        seen[r].push_back({snap.watermark(), ReadAll(snap, kWays[rng() % std::size(kWays)], rng, &error)});
        EXPECT_EQ(error, "");
      }
    });
  }
  for (auto& th : threads) th.join();
  shared.release();
  std::map<std::uint64_t, const std::vector<VectorOp>*> order;
  for (const auto& log : logs) {
    for (const auto& [ts, ops] : log) order.emplace(ts, &ops);
  }
  std::size_t checked = 0;
  for (const auto& reader : seen) {
    for (const Seen& s : reader) {
      std::vector<std::string> expect;
      for (auto it = order.begin(); it != order.end() && it->first < s.watermark; ++it)
        ApplyToModel(expect, *it->second);
      EXPECT_TRUE(SameSequence(s.contents, expect)) << "watermark " << s.watermark;
      ++checked;
    }
  }
  EXPECT_GE(checked, std::size_t{3 * kReaders});
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

// Views of an old snapshot's elements (view(i), and the iterator's when the index pins the
// leaves) stay valid and unchanged while newer publications replace every page, other
// publications' pages are reclaimed, and a thread evicts the old snapshot's pages over and
// over; with and without a memory budget (pinned by the index, or by view). Run under tsan
// and asan: a view into a freed or rewritten page is a report there, and a wrong value here.
class VectorViewTest : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(VectorViewTest, ViewsOutliveReplacementEvictionAndReclaim) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  StoreOptions so = VectorStoreOptions();
  so.memory_budget = GetParam();
  auto store = Store::Open(dir.path() + "/db", so);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto vec = Vector::Open(**store, "views", SmallVector(Shape{4, 8}));
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  std::vector<std::string> model;
  WriteRandom(**vec, model, rng, Scaled(600), "a");
  VectorSnapshot old = (*vec)->Snapshot();
  const std::vector<std::string> old_model = model;
  ASSERT_TRUE(old.prepare_reads().has_value());
  EXPECT_EQ(old.read_index_pins_leaves(), so.memory_budget == 0);
  std::vector<std::string_view> views;
  for (std::uint64_t i = 0; i < old.size(); ++i) {
    auto v = old.view(i);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    views.push_back(*v);
  }
  std::vector<std::string_view> iterated;  // long-lived only when the index pins the leaves
  if (old.read_index_pins_leaves()) {
    for (auto it = old.begin(); it != old.end(); ++it) iterated.push_back(*it);
  }
  std::vector<PageId> pages;
  CollectTreePages(**store, old.root(), old.height(), pages);

  std::atomic<bool> writing{true};
  std::thread evictor([&] {
    while (writing.load()) {
      auto guard = (*store)->EnterGeneration();
      for (PageId pid : pages) ASSERT_TRUE((*store)->Evict(guard, pid).has_value()) << "page " << pid;
    }
  });
  std::thread writer([&] {
    std::mt19937_64 wrng(seed + 1);
    for (int round = 0; round < 4; ++round) {
      VectorWriteBatch updates;  // every leaf replaced
      for (std::uint64_t i = 0; i < model.size(); ++i) updates.Update(i, "r" + std::to_string(round) + "." + model[i]);
      for (std::uint64_t i = 0; i < model.size(); ++i) model[i] = "r" + std::to_string(round) + "." + model[i];
      auto ticket = (*vec)->Write(updates);
      ASSERT_TRUE(ticket.has_value()) << ticket.error().ToString();
      ASSERT_TRUE((*vec)->WaitVisible(*ticket).has_value());
      VectorSnapshot between = (*vec)->Snapshot();  // read, then released: its pages are reclaimed
      ASSERT_TRUE(between.prepare_reads().has_value());
      WriteRandom(**vec, model, wrng, Scaled(100), "w" + std::to_string(round) + ".");
    }
    writing.store(false);
  });
  for (int pass = 0; writing.load() || pass < 2; ++pass) {
    for (std::size_t i = 0; i < views.size(); ++i) ASSERT_EQ(views[i], old_model[i]) << "view " << i;
    for (std::size_t i = 0; i < iterated.size(); ++i) ASSERT_EQ(iterated[i], old_model[i]) << "iterated " << i;
  }
  writer.join();
  evictor.join();
  // Viewing again after the pages were evicted and read back: under a budget the leaf
  // pinned by the first view stays the one viewed (the read-back copy is not pinned a
  // second time), so the view is the same bytes; with the index pinning, also the same.
  for (std::uint64_t i = 0; i < old.size(); ++i) {
    auto again = old.view(i);
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    EXPECT_EQ(*again, old_model[i]) << "view " << i;
    EXPECT_EQ(again->data(), views[i].data()) << "view " << i << " moved to another copy of its leaf";
  }
  EXPECT_GT((*vec)->metrics().pages_reclaimed, 0u) << "pages of released publications were reclaimed";
  ExpectReadsEqual(old, old_model, rng);
  ExpectReadsEqual((*vec)->Snapshot(), model, rng);
  old.release();
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

INSTANTIATE_TEST_SUITE_P(Budgets, VectorViewTest, ::testing::Values(0, 32 << 10),
                         [](const ::testing::TestParamInfo<std::uint64_t>& p) {
                           return p.param == 0 ? std::string("NoBudget") : "Budget" + std::to_string(p.param);
                         });

INSTANTIATE_TEST_SUITE_P(Shapes, VectorReadIndexTest,
                         ::testing::Values(Shape{3, 2}, Shape{3, 7}, Shape{4, 3}, Shape{5, 16}, Shape{7, 2},
                                           Shape{8, 5}, Shape{16, 4}, Shape{32, 2}, Shape{32, 64}, Shape{32, 0}),
                         ShapeName);

}  // namespace
}  // namespace llama::vector_test
