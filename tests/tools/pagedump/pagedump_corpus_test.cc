// The fuzzer's seed corpus, fuzz/corpus/pagedump/: store bundles (tools/pagedump/
// store_bundle.h) of real stores. This test checks that every committed seed still is
// what its name says (a healthy store verifies clean, a "bad_" one is damage), and, run
// with LLAMA_WRITE_PAGEDUMP_CORPUS=1, writes the seeds afresh from stores it makes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "llama/vector.h"
#include "tests/tools/pagedump/pagedump_test_util.h"
#include "tools/pagedump/store_bundle.h"

namespace llama::pagedump::testing {
namespace {

const std::string kCorpus = std::string(LLAMA_SOURCE_DIR) + "/fuzz/corpus/pagedump";

std::vector<std::byte> Bytes(const std::string& s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}
std::string Text(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

StoreFiles ReadStore(const std::string& dir) {
  StoreFiles files;
  for (const auto& [name, bytes] : Snapshot(dir)) files[name] = Bytes(bytes);
  return files;
}

void WriteStore(const StoreFiles& files, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : files) WriteFile(dir + "/" + name, Text(bytes));
}

TEST(PagedumpCorpusTest, WriteSeedsWhenAsked) {
  if (std::getenv("LLAMA_WRITE_PAGEDUMP_CORPUS") == nullptr)
    GTEST_SKIP() << "set LLAMA_WRITE_PAGEDUMP_CORPUS=1 to rewrite the seeds";
  ScratchDir scratch("corpus");
  std::map<std::string, StoreFiles> seeds;
  MakeSmallStore(scratch / "small", 4, false, false);
  seeds["small_clean"] = ReadStore(scratch / "small");
  MakeSmallStore(scratch / "crashed", 6, true, false);
  seeds["crashed"] = ReadStore(scratch / "crashed");
  MakeSmallStore(scratch / "recovered", 6, true, true);
  seeds["recovered"] = ReadStore(scratch / "recovered");
  MakeStore(scratch / "multi", 12, 1);
  seeds["multi_record_chains"] = ReadStore(scratch / "multi");
  {
    auto store = Store::Open(scratch / "vector", SmallStoreOptions());
    ASSERT_TRUE(store.has_value());
    VectorOptions small;
    small.branching = 4;
    small.leaf_max_elements = 4;
    small.writer_slots = 1;
    auto vec = Vector::Open(**store, "v", small);
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    std::optional<VectorTicket> last;
    for (int i = 0; i < 30; ++i) last = *(*vec)->Append("e" + std::to_string(i));
    ASSERT_TRUE((*vec)->WaitVisible(*last).has_value());
    ASSERT_TRUE((*vec)->Update(3, "updated").has_value());
    ASSERT_TRUE((*vec)->Close().has_value());
    vec->reset();
    ASSERT_TRUE((*store)->Close().has_value());
  }
  seeds["vector"] = ReadStore(scratch / "vector");
  StoreFiles bad = seeds["small_clean"];
  bad["segment-00000001"][200] ^= std::byte{0x08};
  seeds["bad_bit_flip"] = bad;
  bad = seeds["small_clean"];
  bad.rbegin()->second.resize(bad.rbegin()->second.size() / 2);  // the last segment
  seeds["bad_truncated_segment"] = bad;
  bad = seeds["small_clean"];
  for (auto& [name, bytes] : bad) {
    if (name.starts_with("CHECKPOINT-")) bytes.resize(20);
  }
  seeds["bad_checkpoints"] = bad;
  std::filesystem::create_directories(kCorpus);
  for (const auto& [name, files] : seeds) {
    auto bundle = BundleStore(files);
    ASSERT_TRUE(bundle.has_value()) << bundle.error().ToString();
    WriteFile(kCorpus + "/" + name, Text(*bundle));
  }
}

TEST(PagedumpCorpusTest, SeedsAreWhatTheirNamesSay) {
  ASSERT_TRUE(std::filesystem::is_directory(kCorpus)) << kCorpus;
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    ScratchDir scratch("seed");
    WriteStore(UnbundleStore(Bytes(ReadFile(entry.path().string()))), scratch / "db");
    const ToolRun run = RunTool({scratch / "db", "--verify"});
    EXPECT_EQ(run.code, name.starts_with("bad_") ? kExitDamage : kExitOk) << run.out << run.err;
    ++seeds;
  }
  EXPECT_GE(seeds, 5);
}

TEST(PagedumpCorpusTest, BundleRoundTrips) {
  StoreFiles files;
  files["STORE"] = Bytes("id");
  files["segment-00000003"] = Bytes("segment bytes");
  files["CHECKPOINT-0000000000000002"] = Bytes("");
  files["STORE.tmp"] = Bytes("x");
  auto bundle = BundleStore(files);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_EQ(UnbundleStore(*bundle), files);
  files["segment-00000100"] = Bytes("too high a tag");
  EXPECT_FALSE(BundleStore(files).has_value());
  // Any bytes unbundle: lengths past the end are cut.
  const std::vector<std::byte> junk =
      Bytes(std::string("\x01\xff\xff\xff\xff"
                        "abc\x00\x02",
                        10));
  const StoreFiles unbundled = UnbundleStore(junk);
  ASSERT_TRUE(unbundled.contains("segment-00000001"));
  EXPECT_EQ(Text(unbundled.at("segment-00000001")), std::string("abc\x00\x02", 5));
}

}  // namespace
}  // namespace llama::pagedump::testing
