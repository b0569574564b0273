// The vector's buffer pages (rebuild/vector_buffers.cc). After a publication, the
// rebuilder cuts the consumed entries off each buffer page and flushes it; a flush that
// keeps losing to changes of the page (Busy) is left to the page's next flush instead of
// failing the vector. The store's test hook (StoreOptions::test_hook) loses every try of
// that flush on purpose, so the Busy is certain and every count exact.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llama/page_state.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

// Store::Flush reports Busy after losing this many tries in a row (StoreImpl::kFlushAttempts).
constexpr int kFlushTries = 64;

// While armed on a page, makes every flush of it lose its try: right after the flush
// encoded the page, the page's state is replaced by an identical one made of new nodes
// (what a consolidation does), so the node the flush read is off the chain and the flush
// starts over without reserving log space. The entries on the page do not change.
struct LoseFlushes {
  Store* store = nullptr;
  std::atomic<bool> armed{false};
  std::atomic<PageId> page{0};
  std::atomic<int> encoded{0};  // tries of flushes of `page`
  std::atomic<int> reserved{0};

  void operator()(std::string_view step, PageId pid) {
    if (!armed.load() || pid != page.load()) return;
    if (step == "flush reserved") ++reserved;
    if (step != "flush encoded") return;
    ++encoded;
    auto g = store->EnterGeneration();
    auto ref = store->Read(g, pid);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    std::vector<DeltaHandle> deltas;  // newest first
    BasePageHandle base;
    for (const PageNode& node : ref->state()) {
      if (node.is_base()) {
        base = node.base_handle();
      } else {
        ASSERT_TRUE(node.delta()->view().is_update()) << "a buffer page holds Update deltas only";
        deltas.push_back(node.delta_handle());
      }
    }
    ASSERT_NE(base, nullptr) << "a buffer page in memory has its base";
    OwnedChain copy = PageChainBuilder::Base(base);
    for (auto it = deltas.rbegin(); it != deltas.rend(); ++it) copy = PageChainBuilder::Prepend(*it, std::move(copy));
    auto out = store->UpdateR(g, pid, *ref, copy);
    ASSERT_TRUE(out.has_value() && out->installed) << "nothing else changes the page meanwhile";
  }
};

TEST(VectorBuffersTest, ABusyFlushOfATruncatedBufferIsLeftToItsNextFlush) {
  TempDir tmp;
  LoseFlushes hook;
  StoreOptions so = VectorStoreOptions();
  so.test_hook = [&hook](std::string_view step, PageId pid) { hook(step, pid); };
  auto store = Store::Open(tmp.path() + "/db", so);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  hook.store = store->get();
  VectorOptions o = SmallVector(Shape{32, 64});
  o.writer_slots = 1;
  // Rebuilds only when WaitVisible asks for one, so the test knows which rebuild truncates.
  o.initial_batch_window = o.max_batch_window = 1 << 16;
  o.max_delay_us = UINT32_MAX;
  auto vec = Vector::Open(**store, "v", o);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  const PageId buffer = (*vec)->config().buffers.at(0);

  Result<VectorTicket> last = VectorTicket{};
  for (const char* v : {"a", "b", "c"}) {
    last = (*vec)->Append(v);
    ASSERT_TRUE(last.has_value()) << last.error().ToString();
  }
  const std::uint64_t failed_flushes = (*store)->stats().failed_flushes;
  const std::uint64_t rebuilds = (*vec)->metrics().rebuild_count;
  hook.page = buffer;
  hook.armed = true;
  auto visible = (*vec)->WaitVisible(*last);
  ASSERT_TRUE(visible.has_value()) << "the Busy flush does not fail the rebuild: " << visible.error().ToString();
  hook.armed = false;
  EXPECT_EQ(hook.encoded.load(), kFlushTries) << "one flush of the buffer, every try lost";
  EXPECT_EQ(hook.reserved.load(), 0) << "each try lost before reserving";
  EXPECT_EQ((*store)->stats().failed_flushes, failed_flushes) << "so no failed-flush marker was logged";
  EXPECT_EQ((*vec)->metrics().rebuild_count, rebuilds + 1);
  EXPECT_TRUE(SameSequence(Contents((*vec)->Snapshot()), {"a", "b", "c"}));
  {
    // The entries are cut off in memory (flow control counts them consumed); the page
    // itself is not flushed: the log still holds them, which recovery skips (they are
    // below the published watermark).
    auto g = (*store)->EnterGeneration();
    auto ref = (*store)->Read(g, buffer);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    EXPECT_EQ(ref->state().chain_length(), 1u) << "the empty base alone";
    EXPECT_TRUE(ref->node()->is_base());
    EXPECT_FALSE(ref->node()->is_flush_point());
  }

  // The vector goes on: the next truncation's flush lands, and the page is flushed again.
  auto d = (*vec)->Append("d");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  ASSERT_TRUE((*vec)->WaitVisible(*d).has_value());
  EXPECT_EQ(hook.encoded.load(), kFlushTries) << "disarmed";
  {
    auto g = (*store)->EnterGeneration();
    auto ref = (*store)->Read(g, buffer);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    EXPECT_EQ(ref->state().chain_length(), 1u);
    EXPECT_TRUE(ref->node()->is_flush_point());
  }
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();

  auto reopened = Vector::Open(**store, "v", o);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  EXPECT_TRUE(SameSequence(Contents((*reopened)->Snapshot()), {"a", "b", "c", "d"}));
  EXPECT_EQ((*reopened)->metrics().replayed_at_open, 0u) << "every entry was published";
  ASSERT_TRUE((*reopened)->Close().has_value());
  reopened->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

}  // namespace
}  // namespace llama::vector_test
