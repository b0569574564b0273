// Model test: seeded random sequences of mapping-table operations, checked after every
// step against a std::map from page id to the state described as strings.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mapping/mapping_table.h"
#include "tests/mapping/test_pages.h"

namespace llama {
namespace {

using testing::BaseChain;
using testing::Describe;
using testing::UpdateRecord;
using Model = std::map<PageId, std::vector<std::string>>;

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

class MappingModel {
 public:
  explicit MappingModel(std::uint32_t seed) : rng_(seed) {
    MappingTable::Options options;
    options.generations.retire_batch = 4;  // reclaim often, so reuse happens in the run
    table_ = std::make_unique<MappingTable>(options);
  }

  void Step() {
    const int op = Pick(0, 99);
    if (model_.empty() || op < 10) return Allocate();
    const PageId pid = RandomLivePage();
    auto g = table_->EnterGeneration();
    if (op < 15) {
      ASSERT_TRUE(table_->Free(g, pid).has_value());
      model_.erase(pid);
    } else if (op < 60) {
      const PageRef head = *table_->Read(g, pid);
      const std::string payload = "p" + std::to_string(pid) + "." + std::to_string(counter_++);
      auto out = table_->UpdateD(g, pid, head, UpdateRecord(pid, payload));
      ASSERT_TRUE(out.has_value() && out->installed);
      model_[pid].insert(model_[pid].begin(), payload);
    } else if (op < 70) {
      // A stale expected head loses the race and is told the current head.
      const PageRef stale = *table_->Read(g, pid);
      auto first = table_->UpdateD(g, pid, stale, UpdateRecord(pid, "w"));
      ASSERT_TRUE(first->installed);
      model_[pid].insert(model_[pid].begin(), "w");
      auto lost = table_->UpdateD(g, pid, stale, UpdateRecord(pid, "l"));
      ASSERT_TRUE(lost.has_value());
      EXPECT_FALSE(lost->installed);
      EXPECT_EQ(lost->head, first->head);
    } else if (op < 80) {
      // Consolidate the updates (not a disk tail) into a base page.
      const PageRef head = *table_->Read(g, pid);
      std::vector<std::string> parts = model_[pid];
      if (!parts.empty() && parts.back().starts_with("[disk")) return;
      const std::string contents = Join(parts);
      if (contents.size() > 4000) return;
      OwnedChain state = BaseChain(pid, contents);
      ASSERT_TRUE(table_->UpdateR(g, pid, head, state)->installed);
      model_[pid] = {"[base:" + contents + "]"};
    } else if (op < 85) {
      const PageRef head = *table_->Read(g, pid);
      const LssAddress where = LssAddress::Make(1 + Pick(0, 100), 64 * Pick(1, 1000));
      ASSERT_TRUE(table_->UpdateR(g, pid, head, where)->installed);
      model_[pid] = {"[disk:" + std::to_string(where.raw()) + "]"};
    } else if (op < 90) {
      table_->generations().TryReclaim();
    } else {
      // Ids that are not live read as NotFound.
      const PageId probe = static_cast<PageId>(Pick(0, static_cast<int>(table_->high_water()) + 2));
      auto ref = table_->Read(g, probe);
      EXPECT_EQ(ref.has_value(), model_.contains(probe)) << "page " << probe;
    }
  }

  void CheckAll() {
    auto g = table_->EnterGeneration();
    for (const auto& [pid, expected] : model_) {
      auto ref = table_->Read(g, pid);
      ASSERT_TRUE(ref.has_value()) << "page " << pid;
      ASSERT_EQ(Describe(*ref), expected) << "page " << pid;
    }
    EXPECT_EQ(table_->pages_in_use(), model_.size());
  }

 private:
  void Allocate() {
    auto pid = table_->Allocate();
    ASSERT_TRUE(pid.has_value());
    ASSERT_FALSE(model_.contains(*pid)) << "live id " << *pid << " handed out twice";
    model_[*pid] = {};
  }
  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  PageId RandomLivePage() {
    auto it = model_.begin();
    std::advance(it, Pick(0, static_cast<int>(model_.size()) - 1));
    return it->first;
  }

  std::mt19937 rng_;
  std::unique_ptr<MappingTable> table_;
  Model model_;
  int counter_ = 0;
};

TEST(MappingTableModelTest, RandomOperationSequencesMatchTheModel) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    MappingModel model(seed);
    for (int step = 0; step < 1500; ++step) {
      model.Step();
      if (::testing::Test::HasFatalFailure()) return;
      if (step % 50 == 0) model.CheckAll();
    }
    model.CheckAll();
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace llama
