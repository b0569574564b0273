// pagedump on copies of a healthy store damaged each known way: truncation, a flipped
// bit, a zeroed tail, a deleted segment, a bad checkpoint, a bad STORE, a garbage segment,
// two segment files swapped by name.
// --verify exits 1 and names the place; no view crashes or hangs.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "tests/lss/store/store_test_util.h"
#include "tests/tools/pagedump/pagedump_test_util.h"

namespace llama::pagedump::testing {
namespace {

class PagedumpDamageTest : public SharedStoreTest {
 protected:
  // A fresh copy of the healthy store for this test to damage.
  void SetUp() override { dir_ = CopyStore(SharedDir(), copy_ / "db"); }

  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  static std::string SegmentName(std::uint32_t id) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "segment-%08x", id);
    return buf;
  }
  std::vector<std::string> Names(const std::string& prefix) const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(prefix)) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // --verify: exit 1, and returns the findings as "where: what" lines.
  std::vector<std::string> ExpectDamage() {
    const JsonValue verify = RunJson({dir_, "--verify"}, kExitDamage);
    std::vector<std::string> lines;
    if (!verify.is_object()) return lines;
    EXPECT_FALSE(verify.Find("clean")->as_bool());
    for (const JsonValue& f : verify.Find("damage")->as_array()) {
      lines.push_back(f.Find("where")->as_string() + ": " + f.Find("what")->as_string());
    }
    EXPECT_FALSE(lines.empty());
    // The text form says the same.
    const ToolRun text = RunTool({dir_, "--verify"});
    EXPECT_EQ(text.code, kExitDamage);
    EXPECT_NE(text.out.find("clean: false"), std::string::npos) << text.out;
    return lines;
  }
  // Where a file's bytes end before the zeros a preallocated segment ends in (a trailing
  // zero byte of the data itself is cut too, which only narrows what a test damages).
  static std::size_t DataEnd(const std::string& bytes) {
    const std::size_t last = bytes.find_last_not_of('\0');
    return last == std::string::npos ? 0 : last + 1;
  }
  static bool AnyContains(const std::vector<std::string>& lines, const std::string& needle) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
  static std::string Joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "  " + l + "\n";
    return out;
  }

  // Every view, text and JSON, on the damaged copy: never a crash, JSON always parses.
  void RunEveryView() {
    const ToolRun summary = RunTool({dir_, "--json"});
    ASSERT_TRUE(summary.code == kExitOk || summary.code == kExitDamage || summary.code == kExitUsage) << summary.code;
    if (summary.code != kExitOk) return;  // nothing readable: the error was reported
    auto parsed = JsonValue::Parse(summary.out);
    ASSERT_TRUE(parsed.has_value()) << summary.out;
    (void)RunTool({dir_});
    for (const JsonValue& s : parsed->Find("segments")->Find("list")->as_array()) {
      const std::string id = std::to_string(s.Find("id")->as_uint());
      EXPECT_EQ(RunTool({dir_, "--segment", id}).code, kExitOk);
      const ToolRun json = RunTool({dir_, "--segment", id, "--json"});
      EXPECT_TRUE(JsonValue::Parse(json.out).has_value()) << json.out;
    }
    for (const JsonValue& range : parsed->Find("pages")->Find("id_ranges")->as_array()) {
      for (std::uint64_t pid = range.as_array()[0].as_uint(); pid <= range.as_array()[1].as_uint(); ++pid) {
        const ToolRun page = RunTool({dir_, "--pid", std::to_string(pid), "--json"});
        EXPECT_EQ(page.code, kExitOk) << page.err;
        EXPECT_TRUE(JsonValue::Parse(page.out).has_value()) << page.out;
        (void)RunTool({dir_, "--pid", std::to_string(pid)});
      }
    }
  }

  // The record of segment `id` in the middle of it (from the healthy store's view).
  JsonValue MiddleRecord(std::uint32_t id) {
    const JsonValue segment = RunJson({dir_, "--segment", std::to_string(id)});
    const auto& rows = segment.Find("records")->as_array();
    return rows[rows.size() / 2];
  }

  ScratchDir copy_{"damage"};
  std::string dir_;
};

TEST_F(PagedumpDamageTest, HealthyCopyVerifies) {
  ASSERT_GE(Names("segment-").size(), 3u);
  EXPECT_EQ(RunTool({dir_, "--verify"}).code, kExitOk);
}

TEST_F(PagedumpDamageTest, BitFlipInARecordIsNamed) {
  const JsonValue record = MiddleRecord(1);
  const std::uint64_t offset = record.Find("offset")->as_uint();
  std::string bytes = ReadFile(File(SegmentName(1)));
  bytes[offset + 40] ^= 0x10;  // inside the body
  WriteFile(File(SegmentName(1)), bytes);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment 1 offset " + std::to_string(offset) + ": checksum mismatch"))
      << Joined(damage);
  // The segment view marks that record and goes on past it.
  const JsonValue segment = RunJson({dir_, "--segment", "1"});
  bool marked = false;
  for (const JsonValue& row : segment.Find("records")->as_array()) {
    if (row.Find("offset")->as_uint() == offset) {
      marked = !row.Find("checksum_ok")->as_bool() && row.Find("problem")->as_string() == "checksum mismatch";
    }
  }
  EXPECT_TRUE(marked) << segment.Write();
  EXPECT_EQ(segment.Find("end")->Find("how")->as_string(), "segment end");
  RunEveryView();
}

// With the checkpoints gone the scan starts at 1:40 and meets the flipped record; the
// SyncPoint the clean close wrote says the log was synced past it, so it is corruption
// (Store::Open would refuse), not a torn tail.
TEST_F(PagedumpDamageTest, DamageBeforeASyncedPositionIsCorruption) {
  for (const std::string& name : Names("CHECKPOINT-")) std::filesystem::remove(File(name));
  const std::uint64_t offset = MiddleRecord(1).Find("offset")->as_uint();
  std::string bytes = ReadFile(File(SegmentName(1)));
  bytes[offset + 40] ^= 0x10;
  WriteFile(File(SegmentName(1)), bytes);
  const auto damage = ExpectDamage();
  const std::string at = "segment 1 offset " + std::to_string(offset);
  EXPECT_TRUE(AnyContains(damage, "recovery: the log scan stops at 1:" + std::to_string(offset))) << Joined(damage);
  EXPECT_TRUE(AnyContains(damage, "corruption, not a torn tail")) << Joined(damage);
  EXPECT_TRUE(AnyContains(damage, "Store::Open would fail: log corruption at " + at)) << Joined(damage);
}

TEST_F(PagedumpDamageTest, TruncatedSegmentIsNamed) {
  std::filesystem::resize_file(File(SegmentName(1)), std::filesystem::file_size(File(SegmentName(1))) / 2);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment 1 offset")) << Joined(damage);
  RunEveryView();
}

// The log's last record cut short, and nothing past it says it was synced: a torn tail,
// as a crash or a full disk leaves it. Store::Open drops it and opens the store, so
// --verify notes it rather than calling it damage.
TEST_F(PagedumpDamageTest, TruncatedLastSegmentIsATornTail) {
  const std::string last = Names("segment-").back();
  std::filesystem::resize_file(File(last), DataEnd(ReadFile(File(last))) - 10);
  std::vector<PageId> pids;
  for (const auto& [pid, states] : written_->states) pids.push_back(pid);
  EXPECT_TRUE(PagesFailingToRead(dir_, pids).empty());
  const JsonValue verify = RunJson({dir_, "--verify"});
  bool noted = false;
  for (const JsonValue& f : verify.Find("notes")->as_array()) {
    noted = noted || (f.Find("where")->as_string() == "recovery" &&
                      f.Find("what")->as_string().find("torn tail") != std::string::npos);
  }
  EXPECT_TRUE(noted) << verify.Write();
  RunEveryView();
}

TEST_F(PagedumpDamageTest, ZeroedTailIsNamed) {
  std::string bytes = ReadFile(File(SegmentName(1)));
  const std::size_t from = bytes.size() / 2;
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(), '\0');
  WriteFile(File(SegmentName(1)), bytes);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment 1 offset")) << Joined(damage);
  EXPECT_TRUE(AnyContains(damage, "without a SegmentEnd")) << Joined(damage);
  RunEveryView();
}

TEST_F(PagedumpDamageTest, DeletedSegmentIsNamed) {
  // A segment that holds live state, other than the last.
  const JsonValue summary = RunJson({dir_});
  std::uint64_t victim = 0;
  const auto& list = summary.Find("segments")->Find("list")->as_array();
  for (std::size_t i = 0; i + 1 < list.size(); ++i) {
    if (list[i].Find("live_bytes")->as_uint() > 0) victim = list[i].Find("id")->as_uint();
  }
  ASSERT_NE(victim, 0u);
  std::filesystem::remove(File(SegmentName(static_cast<std::uint32_t>(victim))));
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment " + std::to_string(victim) + ", which is missing")) << Joined(damage);
  EXPECT_TRUE(AnyContains(damage, "Store::Open would fail")) << Joined(damage);
  RunEveryView();
}

TEST_F(PagedumpDamageTest, BadCheckpointIsNamed) {
  const std::string newest = Names("CHECKPOINT-").back();
  std::string bytes = ReadFile(File(newest));
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(File(newest), bytes);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, newest + ": ")) << Joined(damage);
  EXPECT_TRUE(AnyContains(damage, "recovery falls back")) << Joined(damage);
  RunEveryView();
}

TEST_F(PagedumpDamageTest, TruncatedCheckpointIsNamed) {
  const std::string newest = Names("CHECKPOINT-").back();
  std::filesystem::resize_file(File(newest), 10);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, newest + ": ")) << Joined(damage);
  RunEveryView();
}

TEST_F(PagedumpDamageTest, BadStoreFileFallsBackToSegmentHeaders) {
  WriteFile(File("STORE"), "garbage");
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "STORE: ")) << Joined(damage);
  const JsonValue summary = RunJson({dir_});
  EXPECT_EQ(summary.Find("store")->Find("store_id")->as_string(), HexU64Text(written_->store_id));
  RunEveryView();
}

TEST_F(PagedumpDamageTest, NoStoreFileIsNotAStore) {
  std::filesystem::remove(File("STORE"));
  const ToolRun run = RunTool({dir_, "--verify"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_NE(run.err.find("is not a llama-store (no STORE file)"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("STORE may have been deleted"), std::string::npos) << run.err;
}

TEST_F(PagedumpDamageTest, GarbageSegmentIsNamed) {
  std::mt19937_64 rng(7);
  std::string garbage(5000, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  WriteFile(File(SegmentName(0x63)), garbage);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment 99: header: ")) << Joined(damage);
  RunEveryView();
}

// Two segment files swapped by name: --verify says Store::Open would refuse, as it does.
TEST_F(PagedumpDamageTest, SwappedSegmentFilesAreNamed) {
  ASSERT_GE(Names("segment-").size(), 2u);
  std::filesystem::rename(File(SegmentName(1)), File("swap"));
  std::filesystem::rename(File(SegmentName(2)), File(SegmentName(1)));
  std::filesystem::rename(File("swap"), File(SegmentName(2)));
  const auto damage = ExpectDamage();
  EXPECT_TRUE(
      AnyContains(damage, "Store::Open would fail: segment file " + File(SegmentName(1)) + " holds segment 2's header"))
      << Joined(damage);
  RunEveryView();
}

TEST_F(PagedumpDamageTest, SegmentHeaderFlipIsNamed) {
  std::string bytes = ReadFile(File(SegmentName(2)));
  bytes[20] ^= 0x04;  // the store id
  WriteFile(File(SegmentName(2)), bytes);
  const auto damage = ExpectDamage();
  EXPECT_TRUE(AnyContains(damage, "segment 2: header: ")) << Joined(damage);
  RunEveryView();
}

// Every byte the store writes is covered by a checksum: one flipped bit anywhere in any
// file is damage, except in the log's last record: nothing past it says it was synced,
// so to Store::Open (and --verify) it is a torn tail (TruncatedLastSegmentIsATornTail).
// Seeded; LLAMA_TEST_SEED picks another sequence.
TEST_F(PagedumpDamageTest, AnySingleBitFlipIsFound) {
  const std::uint64_t seed = store_test::TestSeed();
  std::mt19937_64 rng(seed);
  std::vector<std::string> files = Names("");
  const std::string last_segment = Names("segment-").back();
  const JsonValue last_rows =
      RunJson({dir_, "--segment", std::to_string(std::stoul(last_segment.substr(8), nullptr, 16))});
  const std::size_t last_record = last_rows.Find("records")->as_array().back().Find("offset")->as_uint();
  const auto pristine = Snapshot(dir_);
  for (int trial = 0; trial < store_test::Scaled(12); ++trial) {
    const std::string name = files[rng() % files.size()];
    std::string bytes = pristine.at(name);
    // Not in the zeros past a preallocated segment's data: never read, so not damage.
    const std::size_t at = rng() % (name == last_segment ? last_record : DataEnd(bytes));
    const int bit = static_cast<int>(rng() % 8);
    bytes[at] = static_cast<char>(bytes[at] ^ (1 << bit));
    WriteFile(File(name), bytes);
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + name + " byte " + std::to_string(at) + " bit " +
                 std::to_string(bit));
    const ToolRun run = RunTool({dir_, "--verify"});
    EXPECT_EQ(run.code, kExitDamage) << run.out << run.err;
    if (trial < 3) RunEveryView();
    WriteFile(File(name), pristine.at(name));
  }
}

}  // namespace
}  // namespace llama::pagedump::testing
