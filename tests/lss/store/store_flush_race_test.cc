// A flush racing the page's writers. Store::Flush encodes the page, then marks the node it
// read as the head; Update deltas that writers prepend in that window stay above the mark,
// unflushed, instead of sending the flush back to encode the page again. Only a change
// that takes the flushed node off the chain (a consolidation, an eviction) restarts it.
// The writers here run inside the flush's window through StoreOptions::test_hook, so every
// interleaving is scripted and every count exact.
//
// The regression: a vector's rebuilder flushing a buffer page that a writer kept
// prepending to lost "64 races in a row" and failed the vector (CI, seed
// 16582320607487907209 of VectorReadIndexTest B32L2).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama/coding.h"
#include "llama/store.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/mapping/test_pages.h"
#include "tests/pages/live_nodes.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::UpdateRecord;
using testing_env::TempDir;
using Strings = std::vector<std::string>;

class StoreFlushRaceTest : public testing::LiveNodesTest {
 protected:
  void Release() override { store_.reset(); }

  // Opens the store with `hook` as its test hook; the hook may use store() and the page.
  Store& Open(std::function<void(std::string_view, PageId)> hook) {
    StoreOptions o;
    o.io_backend = IoBackend::kPosix;
    o.segment_size = 64 * 1024;
    o.flush_buffer_size = 16 * 1024;
    o.compression_level = 0;
    o.cleaner_space_factor = 0;
    o.test_hook = std::move(hook);
    store_.reset();
    auto opened = Store::Open(dir_.path(), o);
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    store_ = std::move(*opened);
    return *store_;
  }
  Store& store() { return *store_; }

  // A page holding base "base" and the Update deltas `deltas`, nothing flushed.
  PageId NewPage(const Strings& deltas) {
    auto g = store().EnterGeneration();
    const PageId pid = *store().Allocate();
    OwnedChain base = BaseChain(pid, "base");
    EXPECT_TRUE(store().UpdateR(g, pid, *store().Read(g, pid), base)->installed);
    for (const std::string& d : deltas) Prepend(pid, d);
    return pid;
  }
  // A writer's Update-D, retried until it lands.
  void Prepend(PageId pid, const std::string& payload) {
    auto g = store().EnterGeneration();
    for (;;) {
      auto out = store().UpdateD(g, pid, *store().mapping().Read(g, pid), UpdateRecord(pid, payload));
      ASSERT_TRUE(out.has_value()) << out.error().ToString();
      if (out->installed) return;
    }
  }
  // A consolidation: the page's chain replaced by one base page (Update-R).
  void Consolidate(PageId pid, const std::string& contents) {
    auto g = store().EnterGeneration();
    OwnedChain base = BaseChain(pid, contents);
    ASSERT_TRUE(store().UpdateR(g, pid, *store().mapping().Read(g, pid), base)->installed);
  }
  Strings State(PageId pid) {
    auto g = store().EnterGeneration();
    return Describe(*store().mapping().Read(g, pid));
  }
  // The page as it reads back from the log alone.
  Strings StateAfterEviction(PageId pid) {
    auto g = store().EnterGeneration();
    EXPECT_TRUE(store().Evict(g, pid).has_value());
    EXPECT_TRUE(store().mapping().Read(g, pid)->on_disk());
    auto back = store().Read(g, pid);
    EXPECT_TRUE(back.has_value()) << back.error().ToString();
    return back ? Describe(*back) : Strings{};
  }
  Result<LssAddress> Flush(PageId pid) {
    auto g = store().EnterGeneration();
    return store().Flush(g, pid);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

// A writer prepends while the flush encodes: the flush lands at once, its mark on the node
// it encoded from, with the writer's delta above it and unflushed. The next flush writes
// that delta alone.
TEST_F(StoreFlushRaceTest, ADeltaPrependedWhileEncodingStaysAboveTheMark) {
  int writes = 0;
  Open([&](std::string_view step, PageId pid) {
    if (step == "flush encoded" && writes == 0) Prepend(pid, "w" + std::to_string(++writes));
  });
  const PageId pid = NewPage({"u1"});
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"w1", "<flushed>", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  EXPECT_EQ(store().stats().flushes, 1u);
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"<flushed>", "w1", "<flushed>", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().flushes, 2u);
  EXPECT_EQ(StateAfterEviction(pid), (Strings{"<flushed>", "w1", "u1", "[base:base]"}));
}

// A writer wins the CAS itself (it prepends after log space is reserved): the mark is
// installed on the next try, under the new delta, and no reservation is dropped.
TEST_F(StoreFlushRaceTest, ADeltaPrependedAfterTheReservationCostsNoFailedFlush) {
  int writes = 0;
  Open([&](std::string_view step, PageId pid) {
    if (step == "flush reserved" && writes < 3) Prepend(pid, "w" + std::to_string(++writes));
  });
  const PageId pid = NewPage({"u1", "u2"});
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"w1", "<flushed>", "u2", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  ASSERT_TRUE(Flush(pid).has_value());
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"w3", "<flushed>", "w2", "<flushed>", "w1", "<flushed>", "u2", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  EXPECT_EQ(StateAfterEviction(pid), (Strings{"<flushed>", "w3", "w2", "w1", "u2", "u1", "[base:base]"}));
}

// The CI failure's shape: a writer prepends in every window of every try, far more often
// than the flush's 64 tries. The flush still lands on its first try.
TEST_F(StoreFlushRaceTest, AWriterInEveryWindowDoesNotStarveTheFlush) {
  int writes = 0;
  Open([&](std::string_view, PageId pid) {
    if (writes < 200) Prepend(pid, "w" + std::to_string(++writes));
  });
  const PageId pid = NewPage({"u1"});
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(writes, 2) << "one try: encoded, reserved";
  EXPECT_EQ(State(pid), (Strings{"w2", "w1", "<flushed>", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Flush(pid).has_value()) << "flush " << i;
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  EXPECT_EQ(store().stats().flushes, 101u);
  const Strings back = StateAfterEviction(pid);
  ASSERT_EQ(back.size(), 203u) << "the mark, 200 writes, u1, the base";
  EXPECT_EQ(back[1], "w200");
  EXPECT_EQ(back[200], "w1");
}

// A consolidation while the flush encodes takes the node it read off the chain: the flush
// starts over before reserving anything, and writes the new base.
TEST_F(StoreFlushRaceTest, AConsolidationWhileEncodingRestartsBeforeReserving) {
  bool done = false;
  Open([&](std::string_view step, PageId pid) {
    if (step == "flush encoded" && !done) {
      done = true;
      Consolidate(pid, "consolidated");
    }
  });
  const PageId pid = NewPage({"u1"});
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"<flushed>", "[base:consolidated]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  EXPECT_EQ(store().stats().flushes, 1u);
  EXPECT_EQ(StateAfterEviction(pid), (Strings{"<flushed>", "[base:consolidated]"}));
}

// A consolidation after the reservation: that reservation is dropped (one failed-flush
// marker in the log) and the next try writes the new base.
TEST_F(StoreFlushRaceTest, AConsolidationAfterTheReservationDropsIt) {
  bool done = false;
  Open([&](std::string_view step, PageId pid) {
    if (step == "flush reserved" && !done) {
      done = true;
      Prepend(pid, "w1");
      Consolidate(pid, "consolidated");
    }
  });
  const PageId pid = NewPage({"u1"});
  ASSERT_TRUE(Flush(pid).has_value());
  EXPECT_EQ(State(pid), (Strings{"<flushed>", "[base:consolidated]"}));
  EXPECT_EQ(store().stats().failed_flushes, 1u);
  EXPECT_EQ(store().stats().flushes, 1u);
  EXPECT_EQ(StateAfterEviction(pid), (Strings{"<flushed>", "[base:consolidated]"}));
}

// A flush of the writer's delta by another flusher inside the window marks it: the first
// flush's node is no longer under only unflushed deltas, so it starts over, finds nothing
// new and returns a position covering the other flush.
TEST_F(StoreFlushRaceTest, AnotherFlushInsideTheWindowRestartsIt) {
  bool done = false;
  Open([&](std::string_view step, PageId pid) {
    if (step == "flush encoded" && !done) {
      done = true;
      Prepend(pid, "w1");
      auto inner = Flush(pid);
      ASSERT_TRUE(inner.has_value()) << inner.error().ToString();
    }
  });
  const PageId pid = NewPage({"u1"});
  auto end = Flush(pid);
  ASSERT_TRUE(end.has_value()) << end.error().ToString();
  EXPECT_EQ(State(pid), (Strings{"<flushed>", "w1", "u1", "[base:base]"}));
  EXPECT_EQ(store().stats().failed_flushes, 0u);
  EXPECT_EQ(store().stats().flushes, 1u);
  auto g = store().EnterGeneration();
  EXPECT_GT(*end, store().mapping().Read(g, pid)->node()->flushed_to()) << "covers the inner flush's record";
}

}  // namespace
}  // namespace llama
