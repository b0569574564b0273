// pagedump on stores made by llama::Store: the views show what was written, --verify
// passes on a healthy store (closed cleanly, cleaned, crashed, recovered), and nothing
// the tool does changes the directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/tools/pagedump/pagedump_test_util.h"

namespace llama::pagedump::testing {
namespace {

class PagedumpStoreTest : public SharedStoreTest {
 protected:
  static std::string Dir() { return SharedDir(); }
};

std::string RenderTool(const std::vector<std::string>& args) { return RunTool(args).out; }

std::uint64_t KindCount(const JsonValue& summary, const std::string& kind) {
  for (const JsonValue& row : summary.Find("records_by_kind")->as_array()) {
    if (row.Find("kind")->as_string() == kind) return row.Find("records")->as_uint();
  }
  return 0;
}

std::size_t CountFiles(const std::string& dir, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with(prefix)) ++n;
  }
  return n;
}

TEST_F(PagedumpStoreTest, SummaryCountsMatchWhatWasWritten) {
  const JsonValue summary = RunJson({Dir()});
  ASSERT_TRUE(summary.is_object());
  EXPECT_EQ(summary.as_object().front().first, "schema");
  EXPECT_EQ(summary.Find("schema")->as_uint(), 1u);
  EXPECT_EQ(summary.Find("view")->as_string(), "summary");
  EXPECT_EQ(summary.Find("store")->Find("store_id")->as_string(), HexU64Text(written_->store_id));
  EXPECT_EQ(summary.Find("store")->Find("segment_size")->as_uint(), 64u * 1024);
  EXPECT_TRUE(summary.Find("clean")->as_bool()) << summary.Write();
  // The I/O settings the store ran with, as its newest checkpoint recorded them.
  const JsonValue* io = summary.Find("store")->Find("io_backend");
  ASSERT_TRUE(io != nullptr && io->is_object()) << summary.Write();
  EXPECT_EQ(io->Find("requested")->as_string(), "posix");
  EXPECT_EQ(io->Find("in_use")->as_string(), "posix");
  EXPECT_FALSE(io->Find("fell_back")->as_bool());
  EXPECT_EQ(io->Find("flush_buffer_size")->as_uint(), SmallStoreOptions().flush_buffer_size);
  EXPECT_EQ(io->Find("flush_buffers")->as_uint(), SmallStoreOptions().flush_buffers);
  EXPECT_EQ(io->Find("compression_level")->as_int(), SmallStoreOptions().compression_level);
  EXPECT_EQ(io->Find("max_disk_chain")->as_uint(), SmallStoreOptions().max_disk_chain);

  const std::size_t segment_files = CountFiles(Dir(), "segment-");
  EXPECT_GE(segment_files, 3u) << "the workload should span several segments\n" << RenderTool({Dir()});
  EXPECT_EQ(summary.Find("segments")->Find("count")->as_uint(), segment_files);
  EXPECT_EQ(summary.Find("segments")->Find("list")->as_array().size(), segment_files);
  EXPECT_EQ(KindCount(summary, "PageState"), written_->page_state_records);
  EXPECT_EQ(KindCount(summary, "FreePage"), written_->free_records);
  // Every segment ends with a SegmentEnd; the last names one never written.
  EXPECT_EQ(KindCount(summary, "SegmentEnd"), segment_files);
  EXPECT_EQ(KindCount(summary, "damaged"), 0u);

  const JsonValue* pages = summary.Find("pages");
  EXPECT_EQ(pages->Find("count")->as_uint(), written_->states.size());
  std::uint64_t in_ranges = 0;
  for (const JsonValue& range : pages->Find("id_ranges")->as_array()) {
    const std::uint64_t lo = range.as_array()[0].as_uint(), hi = range.as_array()[1].as_uint();
    for (std::uint64_t pid = lo; pid <= hi; ++pid) {
      EXPECT_TRUE(written_->states.contains(static_cast<PageId>(pid))) << pid;
      ++in_ranges;
    }
  }
  EXPECT_EQ(in_ranges, written_->states.size());

  // The checkpoint recovery would use is the newest; the live bytes add up.
  const JsonValue* checkpoints = summary.Find("checkpoints");
  const auto& list = checkpoints->Find("list")->as_array();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(checkpoints->Find("used_by_recovery")->as_uint(), list.back().Find("sequence")->as_uint());
  EXPECT_TRUE(list.back().Find("used")->as_bool());
  EXPECT_EQ(list.back().Find("writer_settings")->Write(), io->Write());
  std::uint64_t live = 0;
  for (const JsonValue& s : summary.Find("segments")->Find("list")->as_array()) live += s.Find("live_bytes")->as_uint();
  EXPECT_EQ(live, summary.Find("segments")->Find("live_bytes")->as_uint());
  EXPECT_GT(live, 0u);

  // What Store::Open finds on a copy agrees.
  ScratchDir copy("reopen");
  CopyStore(Dir(), copy / "db");
  StoreOptions options = SmallStoreOptions();
  options.create_if_missing = false;
  auto store = Store::Open(copy / "db", options);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->recovery().pages_recovered, written_->states.size());
  EXPECT_EQ((*store)->recovery().checkpoint_sequence, checkpoints->Find("used_by_recovery")->as_uint());
  EXPECT_EQ(AddressTextOf((*store)->recovery().scan_stop), summary.Find("recovery")->Find("stop")->as_string());
  ASSERT_TRUE((*store)->Close().has_value());
}

TEST_F(PagedumpStoreTest, PageViewShowsTheDeltasInOrder) {
  for (const auto& [pid, state] : written_->states) {
    const JsonValue page = RunJson({Dir(), "--pid", std::to_string(pid)});
    ASSERT_TRUE(page.is_object());
    EXPECT_EQ(page.Find("pid")->as_uint(), pid);
    EXPECT_TRUE(page.Find("problems")->as_array().empty()) << page.Write();
    const auto& chain = page.Find("chain")->as_array();
    ASSERT_EQ(chain.size(), state.size()) << "page " << pid << "\n" << page.Write();
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const JsonValue& entry = chain[i];
      EXPECT_EQ(entry.Find("position")->as_uint(), i);
      const JsonValue* decoded = entry.Find("decoded");
      ASSERT_TRUE(decoded != nullptr && decoded->is_object()) << entry.Write();
      EXPECT_EQ(decoded->Find("decoder")->as_string(), "text");
      EXPECT_EQ(decoded->Find("value")->as_string(), state[i]) << "page " << pid << " position " << i;
      if (i + 1 < chain.size()) {
        EXPECT_EQ(entry.Find("type")->as_string(), "delta");
        EXPECT_EQ(entry.Find("kind")->as_string(), "Update");
        EXPECT_EQ(entry.Find("pid")->as_uint(), pid);
        EXPECT_EQ(entry.Find("len")->as_uint(), 33 + state[i].size());
        EXPECT_EQ(entry.Find("plen")->as_uint(), state[i].size());
        EXPECT_EQ(entry.Find("bits")->as_string(), "U");
        EXPECT_EQ(entry.Find("packed_bits")->as_string(), "0x20");
      } else {
        EXPECT_EQ(entry.Find("type")->as_string(), "base page");
        EXPECT_EQ(entry.Find("page_size")->as_uint(), 4096u);
        EXPECT_EQ(entry.Find("used")->as_uint(), state[i].size());
      }
    }
    // The records, newest first, linked by their prior pointers.
    const auto& records = page.Find("records")->as_array();
    const auto& listed = page.Find("recovery_lists")->as_array();
    ASSERT_EQ(records.size(), listed.size());
    EXPECT_EQ(page.Find("slot")->as_string(), records.front().Find("address")->as_string());
    for (std::size_t i = 0; i + 1 < records.size(); ++i) {
      EXPECT_EQ(records[i].Find("prior")->as_string(), records[i + 1].Find("address")->as_string());
    }
    EXPECT_TRUE(records.back().Find("prior")->is_null());
  }
}

TEST_F(PagedumpStoreTest, SegmentViewListsEveryRecord) {
  const JsonValue summary = RunJson({Dir()});
  std::uint64_t records = 0;
  for (const JsonValue& s : summary.Find("segments")->Find("list")->as_array()) {
    const std::string id = std::to_string(s.Find("id")->as_uint());
    const JsonValue segment = RunJson({Dir(), "--segment", id});
    EXPECT_TRUE(segment.Find("header")->Find("ok")->as_bool());
    const auto& rows = segment.Find("records")->as_array();
    EXPECT_EQ(rows.size(), s.Find("records")->as_uint());
    std::uint64_t expected_offset = 40;
    for (const JsonValue& row : rows) {
      EXPECT_EQ(row.Find("offset")->as_uint(), expected_offset) << "records are back to back";
      EXPECT_TRUE(row.Find("checksum_ok")->as_bool());
      EXPECT_TRUE(row.Find("problem")->is_null());
      expected_offset += row.Find("frame_bytes")->as_uint();
    }
    EXPECT_EQ(rows.back().Find("kind")->as_string(), "SegmentEnd");
    EXPECT_EQ(segment.Find("end")->Find("how")->as_string(), "segment end");
    records += rows.size();
  }
  std::uint64_t by_kind = 0;
  for (const JsonValue& row : summary.Find("records_by_kind")->as_array()) by_kind += row.Find("records")->as_uint();
  EXPECT_EQ(records, by_kind);
}

TEST_F(PagedumpStoreTest, VerifyPassesAndTextViewsRender) {
  const ToolRun verify = RunTool({Dir(), "--verify"});
  EXPECT_EQ(verify.code, kExitOk) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("clean: true"), std::string::npos) << verify.out;
  const JsonValue json = RunJson({Dir(), "--verify"});
  EXPECT_TRUE(json.Find("clean")->as_bool());
  EXPECT_TRUE(json.Find("damage")->as_array().empty()) << json.Write();
  EXPECT_EQ(json.Find("pages_checked")->as_uint(), written_->states.size());

  const ToolRun summary = RunTool({Dir()});
  EXPECT_EQ(summary.code, kExitOk);
  EXPECT_NE(summary.out.find("store_id: " + HexU64Text(written_->store_id)), std::string::npos) << summary.out;
  const ToolRun segment = RunTool({Dir(), "--segment", "1"});
  EXPECT_EQ(segment.code, kExitOk);
  EXPECT_NE(segment.out.find("PageState"), std::string::npos) << segment.out;
  const ToolRun page = RunTool({Dir(), "--pid", std::to_string(written_->states.begin()->first)});
  EXPECT_EQ(page.code, kExitOk);
  EXPECT_NE(page.out.find(written_->states.begin()->second.front()), std::string::npos) << page.out;
}

TEST_F(PagedumpStoreTest, NeverChangesTheStore) {
  const auto before = Snapshot(Dir());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{Dir()},
                                             {Dir(), "--verify"},
                                             {Dir(), "--json"},
                                             {Dir(), "--segment", "1"},
                                             {Dir(), "--pid", "1", "--hex-bytes", "0"}}) {
    (void)RunTool(args);
  }
  EXPECT_EQ(Snapshot(Dir()), before);
}

TEST_F(PagedumpStoreTest, UsageErrorsExitTwo) {
  ScratchDir empty("empty");
  const std::vector<std::vector<std::string>> cases = {
      {},                                       // no directory
      {Dir(), "--segment", "1", "--pid", "1"},  // two views
      {Dir(), "--verify", "--pid", "1"},
      {Dir(), "--segment", "nope"},
      {Dir(), "--bogus"},
      {Dir(), "--segment", "999"},  // no such segment
      {Dir(), "--pid", "4000000"},  // no such page
      {empty.path()},               // not a store
      {empty / "missing"},          // no such directory
  };
  for (const auto& args : cases) {
    const ToolRun run = RunTool(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(run.code, kExitUsage) << joined << "\n" << run.out << run.err;
    EXPECT_FALSE(run.err.empty()) << joined;
  }
  const ToolRun not_store = RunTool({empty.path()});
  EXPECT_NE(not_store.err.find("is not a llama-store"), std::string::npos) << not_store.err;
  EXPECT_EQ(RunTool({"--help"}).code, kExitOk);
}

// A malformed or out-of-range number is a usage error in pagedump's own words, one line
// naming the option (docs/PAGEDUMP.md, "Exit codes"), never the parser's raw text; the
// same for any other parse error.
TEST_F(PagedumpStoreTest, MalformedNumbersArePagedumpErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {Dir(), "--pid", "-1"},
      {Dir(), "--pid", "abc"},
      {Dir(), "--pid", "4294967296"},  // above a page id
      {Dir(), "--pid", "1x"},
      {Dir(), "--pid", ""},
      {Dir(), "--segment", "-3"},
      {Dir(), "--segment", "+1"},
      {Dir(), "--hex-bytes", "-5", "--pid", "1"},
      {Dir(), "--hex-bytes", "5.5", "--pid", "1"},
      {Dir(), "--hex-bytes", "99999999999999999999", "--pid", "1"},
      {Dir(), "--vector", "v", "--generation", "-1"},
      {Dir(), "--bogus"},
  };
  for (const auto& args : cases) {
    const ToolRun run = RunTool(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(run.code, kExitUsage) << joined << "\n" << run.out << run.err;
    EXPECT_TRUE(run.err.starts_with("pagedump: ")) << joined << "\n" << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << joined << "\n" << run.err;
    EXPECT_EQ(run.err.find("Could not convert"), std::string::npos) << joined << "\n" << run.err;
    EXPECT_TRUE(run.out.empty()) << joined << "\n" << run.out;
  }
  EXPECT_NE(RunTool({Dir(), "--pid", "-1"}).err.find("--pid"), std::string::npos);
  EXPECT_NE(RunTool({Dir(), "--hex-bytes", "-5", "--pid", "1"}).err.find("--hex-bytes"), std::string::npos);
  // Numbers that are fine still are.
  EXPECT_EQ(RunTool({Dir(), "--pid", "2", "--hex-bytes", "0"}).code, kExitOk);
  EXPECT_EQ(RunTool({Dir(), "--segment", "1"}).code, kExitOk);
}

// A store that went through the cleaner (segments deleted, pages relocated) is healthy.
TEST(PagedumpHealthyStoreTest, CleanedStoreVerifies) {
  ScratchDir scratch("cleaned");
  const Written written = MakeStore(scratch / "db", 40, 0, /*clean=*/true);
  EXPECT_GT(written.cleaned_segments, 0u);
  const JsonValue verify = RunJson({scratch / "db", "--verify"});
  EXPECT_TRUE(verify.Find("clean")->as_bool()) << verify.Write();
  const JsonValue summary = RunJson({scratch / "db"});
  EXPECT_EQ(summary.Find("pages")->Find("count")->as_uint(), written.states.size());
}

// A store whose writer crashed (power cut: unsynced data gone) is healthy too: its log
// just ends without a SegmentEnd, which is a note. So is the store after recovery.
TEST(PagedumpHealthyStoreTest, CrashedAndRecoveredStoresVerify) {
  ScratchDir scratch("crashed");
  const std::string dir = scratch / "db";
  MakeSmallStore(dir, 30, /*crash=*/true, /*reopen=*/false);
  const JsonValue crashed = RunJson({dir, "--verify"});
  EXPECT_TRUE(crashed.Find("clean")->as_bool()) << crashed.Write();
  bool noted = false;
  for (const JsonValue& note : crashed.Find("notes")->as_array()) {
    noted = noted || note.Find("what")->as_string().find("not closed cleanly") != std::string::npos;
  }
  EXPECT_TRUE(noted) << crashed.Write();
  StoreOptions options = SmallStoreOptions();
  options.create_if_missing = false;
  {
    auto store = Store::Open(dir, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->Close().has_value());
  }
  const JsonValue recovered = RunJson({dir, "--verify"});
  EXPECT_TRUE(recovered.Find("clean")->as_bool()) << recovered.Write();
  // Every page was synced; the free of page 1 was not, so it may be lost.
  EXPECT_GE(RunJson({dir}).Find("pages")->Find("count")->as_uint(), 29u);
}

}  // namespace
}  // namespace llama::pagedump::testing
