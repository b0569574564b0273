#include "llama/generation_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/mapping/reclaim_ledger.h"

namespace llama {
namespace {

using testing::ReclaimLedger;

GenerationManager::Options Eager() {
  GenerationManager::Options o;
  o.retire_batch = 1;  // reclaim on every retirement: makes timing visible to the tests
  return o;
}

TEST(GenerationManagerTest, ReclaimsAtOnceWithoutReaders) {
  ReclaimLedger ledger;
  GenerationManager gm(Eager());
  ledger.Retire(gm, 1);
  EXPECT_EQ(ledger.times_reclaimed(1), 1);
  EXPECT_EQ(gm.retired_pending(), 0u);
  EXPECT_EQ(gm.reclaimed_total(), 1u);
}

TEST(GenerationManagerTest, ReaderBlocksWhatItCouldSeeUntilItLeaves) {
  ReclaimLedger ledger;
  GenerationManager gm(Eager());
  {
    GenerationGuard reader = gm.Enter();
    ledger.Retire(gm, 1);
    EXPECT_EQ(ledger.times_reclaimed(1), 0) << "reclaimed while a reader could hold it";
    EXPECT_EQ(gm.TryReclaim(), 0u);
    EXPECT_EQ(gm.retired_pending(), 1u);
    EXPECT_EQ(gm.active_readers(), 1u);
  }
  EXPECT_EQ(gm.active_readers(), 0u);
  EXPECT_EQ(gm.TryReclaim(), 1u);
  EXPECT_EQ(ledger.times_reclaimed(1), 1);
}

TEST(GenerationManagerTest, StalledReaderHoldsBackOnlyWhatItCanSee) {
  ReclaimLedger ledger;
  GenerationManager gm(Eager());
  ledger.Retire(gm, 1);  // retired before the reader entered
  GenerationGuard stalled = gm.Enter();
  ledger.Retire(gm, 2);  // retired while it is inside
  GenerationGuard later = gm.Enter();
  EXPECT_EQ(ledger.times_reclaimed(1), 1);
  EXPECT_EQ(ledger.times_reclaimed(2), 0);
  EXPECT_GE(later.generation(), stalled.generation());
  { GenerationGuard dropped = std::move(later); }
  gm.TryReclaim();
  EXPECT_EQ(ledger.times_reclaimed(2), 0) << "the stalled reader is still inside";
  { GenerationGuard released = std::move(stalled); }
  gm.TryReclaim();
  EXPECT_EQ(ledger.times_reclaimed(2), 1);
}

TEST(GenerationManagerTest, NestedGuardsOnOneThreadUseTwoSlots) {
  GenerationManager gm;
  GenerationGuard outer = gm.Enter();
  GenerationGuard inner = gm.Enter();
  EXPECT_EQ(gm.active_readers(), 2u);
  EXPECT_LE(gm.oldest_active_generation(), outer.generation());
}

TEST(GenerationManagerTest, EnterWaitsForAFreeSlot) {
  GenerationManager::Options o;
  o.reader_slots = 1;
  GenerationManager gm(o);
  std::atomic<bool> entered{false};
  auto holder = std::make_unique<GenerationGuard>(gm.Enter());
  std::thread waiter([&] {
    GenerationGuard g = gm.Enter();
    entered = true;
  });
  // The waiter found the only slot busy (it yields only then) and has not entered since.
  while (gm.slot_waits() == 0) std::this_thread::yield();
  EXPECT_FALSE(entered.load()) << "a second guard got the only slot";
  EXPECT_EQ(gm.active_readers(), 1u);
  holder.reset();
  waiter.join();
  EXPECT_TRUE(entered.load());
}

TEST(GenerationManagerTest, DestructorReclaimsEverything) {
  ReclaimLedger ledger;
  {
    GenerationManager gm;  // default batch: nothing reclaimed during the loop
    for (std::uintptr_t i = 0; i < 10; ++i) ledger.Retire(gm, i);
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ledger.times_reclaimed(i), 1) << i;
}

TEST(GenerationManagerTest, BacklogStaysBoundedAfterAStalledReaderLeaves) {
  ReclaimLedger ledger;
  GenerationManager gm;  // batch 64
  auto stalled = std::make_unique<GenerationGuard>(gm.Enter());
  for (std::uintptr_t i = 0; i < 500; ++i) ledger.Retire(gm, i);
  EXPECT_EQ(gm.retired_pending(), 500u);
  stalled.reset();
  for (std::uintptr_t i = 500; i < 1024; ++i) ledger.Retire(gm, i);
  // Once the reader is gone, the shard's backed-off threshold is reached again and the
  // backlog drains; what is left is below one threshold.
  EXPECT_LT(gm.retired_pending(), 1024u - 500u);
  gm.TryReclaim();
  EXPECT_EQ(gm.retired_pending(), 0u);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(ledger.times_reclaimed(i), 1) << i;
}

}  // namespace
}  // namespace llama
