// pagedump --verify agrees with Store::Open: stores Open accepts, and whose pages all read
// back, are not damaged (docs/PAGEDUMP.md, "What --verify checks"). Each case is one that
// once raised a false alarm (issue 15, "pagedump --verify without false alarms").
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "tests/lss/store/store_test_util.h"
#include "tests/tools/pagedump/pagedump_test_util.h"

namespace llama::pagedump::testing {
namespace {

std::string SegmentPathOf(const std::string& dir, std::uint32_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "segment-%08x", id);
  return dir + "/" + buf;
}

std::string Findings(const JsonValue& verify, const char* which) {
  std::string out;
  for (const JsonValue& f : verify.Find(which)->as_array()) {
    out += "  " + f.Find("where")->as_string() + ": " + f.Find("what")->as_string() + "\n";
  }
  return out;
}

// Random bytes: they do not compress, so records are as long as their contents.
std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// --verify finds no damage, and a note that contains `needle`.
void ExpectCleanWithNote(const std::string& dir, const std::string& needle) {
  const JsonValue verify = RunJson({dir, "--verify"});
  EXPECT_TRUE(verify.Find("clean")->as_bool()) << Findings(verify, "damage");
  EXPECT_NE(Findings(verify, "notes").find(needle), std::string::npos) << Findings(verify, "notes");
}

// Gives `pid` a base page of `bytes` random bytes and flushes it; returns the flush's
// position.
LssAddress WriteBase(Store& store, PageId pid, const std::string& tag, std::size_t bytes) {
  static std::mt19937_64 rng(15);
  auto g = store.EnterGeneration();
  const std::string contents = tag + RandomBytes(rng, bytes);
  OwnedChain base = PageChainBuilder::Base(Share(*BasePage::Create(pid, 4096, AsBytes(contents))));
  auto ref = store.mapping().Read(g, pid);
  EXPECT_TRUE(ref.has_value());
  if (!ref) return LssAddress();
  auto out = store.UpdateR(g, pid, *ref, base);
  EXPECT_TRUE(out.has_value() && out->installed);
  auto at = store.Flush(g, pid);
  EXPECT_TRUE(at.has_value()) << at.error().ToString();
  return at ? *at : LssAddress();
}

// Each test's own directory, and an Env that can cut the power.
class PagedumpVerifyTest : public ::testing::Test {
 protected:
  StoreOptions CrashableOptions() {
    StoreOptions o = SmallStoreOptions();
    o.env = &env_;
    return o;
  }

  ScratchDir scratch_{"verify"};
  const std::string dir_ = scratch_ / "db";
  std::unique_ptr<Env> posix_ = NewPosixEnv();
  FaultInjectionEnv env_{posix_.get()};
};

// Segment 1 ends without a SegmentEnd (a crash); segment 2 resumed from there. Once the
// cleaner deleted segment 2, nothing names segment 1's end any more, yet the store is
// healthy: recovery starts past both, and segment 1's live pages read back.
TEST_F(PagedumpVerifyTest, CrashedSegmentWhoseResumingSegmentWasCleanedVerifies) {
  StoreOptions options = CrashableOptions();
  // Segment 1 (cold pages, mostly live) is never cleaned; the hot page's segments are.
  options.cleaner_max_live_fraction = 0.5;
  std::vector<PageId> cold;
  {
    auto store = Store::Open(dir_, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (int i = 0; i < 14; ++i) {  // about 42 KiB of the 64 KiB segment 1
      auto pid = (*store)->Allocate();
      ASSERT_TRUE(pid.has_value());
      cold.push_back(*pid);
      const LssAddress at = WriteBase(**store, *pid, "cold " + std::to_string(i), 3000);
      ASSERT_TRUE((*store)->Sync(at).has_value());
    }
    CrashStore(env_, *store);
  }
  {
    auto store = Store::Open(dir_, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    auto hot = (*store)->Allocate();
    ASSERT_TRUE(hot.has_value());
    for (int i = 0; i < 80; ++i) WriteBase(**store, *hot, "hot " + std::to_string(i), 3000);
    ASSERT_TRUE((*store)->SyncAll().has_value());
    // Cleaning deletes a segment once the checkpoints it takes no longer refer to it; a
    // later pass deletes what an earlier one had to leave.
    for (int pass = 0; pass < 4 && std::filesystem::exists(SegmentPathOf(dir_, 2)); ++pass) {
      ASSERT_TRUE((*store)->Clean(4).has_value());
    }
    ASSERT_TRUE((*store)->Close().has_value());
    cold.push_back(*hot);
  }
  ASSERT_TRUE(std::filesystem::exists(SegmentPathOf(dir_, 1)));
  ASSERT_FALSE(std::filesystem::exists(SegmentPathOf(dir_, 2))) << "the cleaner kept segment 2";
  EXPECT_TRUE(PagesFailingToRead(dir_, cold, options).empty());
  ExpectCleanWithNote(dir_, "segment 1 offset");
}

// The same segment end, but segment 2 is there and follows segment 1 in order (its header
// resumes from nothing): segment 1 lost its SegmentEnd, which is damage.
TEST_F(PagedumpVerifyTest, SegmentEndLostBeforeAnExistingSuccessorIsDamage) {
  MakeStore(dir_, /*pages=*/40, /*frees=*/0);
  std::string bytes = ReadFile(SegmentPathOf(dir_, 1));
  const std::size_t end = bytes.find_last_not_of('\0') + 1;
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(end - log_format::kSegmentEndRecordSize), bytes.end(), '\0');
  WriteFile(SegmentPathOf(dir_, 1), bytes);
  const JsonValue verify = RunJson({dir_, "--verify"}, kExitDamage);
  EXPECT_NE(Findings(verify, "damage").find("without a SegmentEnd"), std::string::npos) << Findings(verify, "damage");
}

// Without preallocation a full disk (or a crash) can leave the log's last record cut
// short by the end of its file: Store::Open drops it as a torn tail (nothing says it was
// synced), so --verify notes it.
TEST_F(PagedumpVerifyTest, RecordCutShortAtTheEndOfTheLogIsATornTail) {
  StoreOptions options = CrashableOptions();
  options.preallocate_segments = false;
  std::vector<PageId> pids;
  {
    auto store = Store::Open(dir_, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (int i = 0; i < 6; ++i) {
      auto pid = (*store)->Allocate();
      ASSERT_TRUE(pid.has_value());
      pids.push_back(*pid);
      const LssAddress at = WriteBase(**store, *pid, "page " + std::to_string(i), 2000);
      ASSERT_TRUE((*store)->Sync(at).has_value());
    }
    std::mt19937_64 rng(7);
    {  // The last record, written but its end never reached the disk.
      auto g = (*store)->EnterGeneration();
      auto ref = (*store)->mapping().Read(g, pids[0]);
      ASSERT_TRUE(ref.has_value());
      auto delta = Share(*DeltaRecord::MakeUpdate(pids[0], AsBytes(RandomBytes(rng, 900))));
      ASSERT_TRUE((*store)->UpdateD(g, pids[0], *ref, delta).has_value());
      ASSERT_TRUE((*store)->Flush(g, pids[0]).has_value());
    }
    ASSERT_TRUE((*store)->SyncAll().has_value());
    // A crash (no Close: no SegmentEnd, no closing SyncPoint); everything was synced.
    CrashStore(env_, *store);
  }
  const std::uint32_t last = store_test::SegmentIds(dir_).back();
  const std::string path = SegmentPathOf(dir_, last);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  EXPECT_TRUE(PagesFailingToRead(dir_, pids, options).empty());
  ExpectCleanWithNote(dir_, "torn tail");
}

// 4 KiB zeroed in the middle of a live segment: the records after the hole still start at
// their addresses, and a read (following the page's record chain from its newest record)
// finds them. --verify names exactly the pages whose read fails.
TEST_F(PagedumpVerifyTest, ZeroedBlockDamagesOnlyThePagesThatFailToRead) {
  const Written written = MakeStore(dir_, /*pages=*/40, /*frees=*/0);
  const JsonValue summary = RunJson({dir_});
  const std::string scan_start = summary.Find("recovery")->Find("scan_start")->as_string();
  const std::uint64_t scan_segment = std::stoull(scan_start.substr(0, scan_start.find(':')));
  // The live records of a segment below the scan start (Open does not scan it): the hole
  // covers the middle one.
  std::uint32_t victim = 0;
  for (const JsonValue& s : summary.Find("segments")->Find("list")->as_array()) {
    const std::uint64_t id = s.Find("id")->as_uint();
    if (id < scan_segment && s.Find("live_bytes")->as_uint() > 0 && victim == 0)
      victim = static_cast<std::uint32_t>(id);
  }
  ASSERT_NE(victim, 0u) << summary.Write();
  std::vector<std::uint64_t> live;
  for (const auto& [pid, states] : written.states) {
    const JsonValue page = RunJson({dir_, "--pid", std::to_string(pid)});
    for (const JsonValue& r : page.Find("recovery_lists")->as_array()) {
      const std::string& at = r.Find("address")->as_string();
      if (std::stoull(at.substr(0, at.find(':'))) == victim) live.push_back(std::stoull(at.substr(at.find(':') + 1)));
    }
  }
  ASSERT_GE(live.size(), 2u);
  std::sort(live.begin(), live.end());
  // From the first live record up to 4 KiB, but not into the next live one: the records
  // past the hole are intact.
  const std::size_t from = live[0];
  const std::size_t to = std::min<std::size_t>(from + 4096, live[1]);
  std::string bytes = ReadFile(SegmentPathOf(dir_, victim));
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.begin() + static_cast<std::ptrdiff_t>(to), '\0');
  WriteFile(SegmentPathOf(dir_, victim), bytes);

  // What a read through the Store says.
  std::vector<PageId> pids;
  for (const auto& [pid, states] : written.states) pids.push_back(pid);
  const std::set<std::string> unreadable = PagesFailingToRead(dir_, pids);
  ASSERT_FALSE(unreadable.empty()) << "the hole hit no live record";
  ASSERT_LT(unreadable.size(), written.states.size());

  const JsonValue verify = RunJson({dir_, "--verify"}, kExitDamage);
  std::set<std::string> damaged;
  for (const JsonValue& f : verify.Find("damage")->as_array()) {
    const std::string& where = f.Find("where")->as_string();
    if (where.starts_with("page ")) damaged.insert(where);
  }
  EXPECT_EQ(damaged, unreadable) << Findings(verify, "damage");
}

}  // namespace
}  // namespace llama::pagedump::testing
