// Property test of the Bw-tree across its whole option and size space: node sizes from
// the smallest allowed to the largest, key lengths from 0 to the node size's limit and
// value lengths from 0 to 16 KiB (with the extreme ratios: the longest keys with empty
// values, empty keys with the longest values), written in ascending, descending and
// random order by one or several threads. After every run the tree equals a std::map,
// Check() passes (which also counts the store's pages), and the height is logarithmic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examples/bwtree/node_image.h"
#include "tests/examples/bwtree/bwtree_test_util.h"

namespace llama::bwtree::test {
namespace {

enum class Order { kAscending, kDescending, kRandom };

struct PropertyCase {
  Order order;
  int threads;
};

std::string CaseName(const ::testing::TestParamInfo<PropertyCase>& info) {
  const char* order = info.param.order == Order::kAscending    ? "ascending"
                      : info.param.order == Order::kDescending ? "descending"
                                                               : "random";
  return std::string(order) + "_" + std::to_string(info.param.threads) + "threads";
}

// The run's node size: the smallest and the largest allowed first, then log-uniform.
std::uint32_t NodeBytesFor(int run, std::mt19937_64& rng) {
  if (run == 0) return 256;
  if (run == 1) return 32 * 1024;
  std::uniform_real_distribution<double> log2(8.0, 15.0);
  return static_cast<std::uint32_t>(std::exp2(log2(rng)));
}

// A length in [0, limit], at the extremes a third of the time.
std::size_t LengthUpTo(std::size_t limit, std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return 0;
    case 1:
      return limit;
    default:
      return rng() % (limit + 1);
  }
}

// `n` distinct keys of lengths 0 .. max_key, sorted. Half share one long prefix, so
// separators are long too; bytes include 0x00 and 0xff.
std::vector<std::string> MakeKeys(std::size_t n, std::size_t max_key, std::mt19937_64& rng) {
  std::set<std::string> keys;
  const std::string prefix(max_key, 'p');
  for (std::size_t attempts = 0; keys.size() < n && attempts < 50 * n; ++attempts) {
    std::string key = (rng() % 2 == 0) ? prefix.substr(0, LengthUpTo(max_key, rng)) : std::string();
    const std::size_t len = std::max(key.size(), LengthUpTo(max_key, rng));
    while (key.size() < len) key.push_back(static_cast<char>("\x00\x01pq\xfe\xff"[rng() % 6]));
    keys.insert(std::move(key));
  }
  return {keys.begin(), keys.end()};
}

// The extreme ratios on purpose: a long key gets a short value and a short key a long
// one, most of the time.
std::string ValueFor(const std::string& key, std::size_t max_key, int version, std::mt19937_64& rng) {
  const bool long_key = key.size() * 2 > max_key;
  const std::size_t len = rng() % 4 == 0 ? LengthUpTo(kMaxValueBytes, rng)
                          : long_key     ? rng() % 3
                                         : LengthUpTo(kMaxValueBytes, rng);
  std::string v = std::to_string(version) + ":";
  v.resize(std::max(len, v.size()), static_cast<char>('a' + version % 26));
  return v.substr(0, len);
}

class BwTreePropertyTest : public ::testing::TestWithParam<PropertyCase>, protected TreeFixture {
 protected:
  // Thread t owns keys t, t + T, t + 2T, ... of `order`: writes its keys in that order
  // (put, then for every third key an overwrite and for every fourth an erase), and keeps
  // its own model of them.
  void Writer(int t, const std::vector<std::string>& order, std::size_t max_key, std::uint64_t seed,
              std::map<std::string, std::string>* model) {
    std::mt19937_64 rng(seed);
    const auto threads = static_cast<std::size_t>(GetParam().threads);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = static_cast<std::size_t>(t); i < order.size(); i += threads) {
        const std::string& key = order[i];
        if (pass == 1 && i % 4 == 0) {
          auto erased = tree_->Erase(key);
          ASSERT_TRUE(erased.has_value()) << erased.error().ToString();
          ASSERT_EQ(*erased, model->erase(key) == 1);
          continue;
        }
        if (pass == 1 && i % 3 != 0) continue;
        std::string value = ValueFor(key, max_key, pass, rng);
        Status s = tree_->Put(key, value);
        ASSERT_TRUE(s.has_value()) << "key of " << key.size() << " bytes: " << s.error().ToString();
        (*model)[key] = std::move(value);
      }
    }
  }

  void RunOnce(int run, std::mt19937_64& rng) {
    BwTreeOptions options;
    options.node_bytes = NodeBytesFor(run, rng);
    options.consolidate_after = 1 + static_cast<std::uint32_t>(rng() % 8);
    tree_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_ / "db");  // a fresh store for every run
    OpenTree(SmallStoreOptions(), options);
    const std::size_t max_key = tree_->max_key_bytes();
    SCOPED_TRACE("run " + std::to_string(run) + ": node_bytes " + std::to_string(options.node_bytes) + ", max key " +
                 std::to_string(max_key));
    std::vector<std::string> order = MakeKeys(static_cast<std::size_t>(Scaled(500)), max_key, rng);
    if (GetParam().order == Order::kDescending) std::reverse(order.begin(), order.end());
    if (GetParam().order == Order::kRandom) std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::map<std::string, std::string>> models(static_cast<std::size_t>(GetParam().threads));
    std::vector<std::thread> writers;
    for (int t = 0; t < GetParam().threads; ++t) {
      writers.emplace_back(&BwTreePropertyTest::Writer, this, t, std::cref(order), max_key, rng(),
                           &models[static_cast<std::size_t>(t)]);
    }
    for (std::thread& w : writers) w.join();
    std::map<std::string, std::string> model;
    for (auto& m : models) model.merge(m);
    TreeShape shape;
    ASSERT_TRUE(MatchesModel(*tree_, model, &shape));
    // Every inner node a split makes has two children or more.
    const double bound = 2 + 2 * std::log2(static_cast<double>(order.size()) + 1);
    EXPECT_LE(static_cast<double>(shape.height()), bound);
    EXPECT_TRUE(NoLeakedPages(*store_, {tree_.get()}));
    OpenTree(SmallStoreOptions(), options);  // Close and reopen: the same contents
    ASSERT_TRUE(MatchesModel(*tree_, model));
  }
};

TEST_P(BwTreePropertyTest, ContentsMatchStdMapAtEveryNodeSizeAndKeyLength) {
  const std::uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED)");
  std::mt19937_64 rng(seed);
  for (int run = 0; run < std::max(3, Scaled(8)); ++run) {
    RunOnce(run, rng);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Orders, BwTreePropertyTest,
                         ::testing::Values(PropertyCase{Order::kAscending, 1}, PropertyCase{Order::kDescending, 1},
                                           PropertyCase{Order::kRandom, 1}, PropertyCase{Order::kAscending, 4},
                                           PropertyCase{Order::kDescending, 4}, PropertyCase{Order::kRandom, 4}),
                         CaseName);

}  // namespace
}  // namespace llama::bwtree::test
