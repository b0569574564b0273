// Shared by the pagedump tests: running the tool in-process, making a store with
// llama::Store, copying and damaging store directories.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "llama/env.h"
#include "llama/store.h"
#include "lss/env_extras/fault_injection_env.h"
#include "mapping/mapping_table.h"
#include "tests/lss/store/store_test_util.h"
#include "tools/pagedump/json_value.h"
#include "tools/pagedump/pagedump_cli.h"

namespace llama::pagedump::testing {

struct ToolRun {
  int code = -1;
  std::string out;
  std::string err;
};

// pagedump ARGS..., exactly as the binary runs it (POSIX env, no progress line).
inline ToolRun RunTool(const std::vector<std::string>& args) {
  static std::unique_ptr<Env> env = NewPosixEnv();
  std::ostringstream out, err;
  ToolRun run;
  run.code = RunPagedump(args, *env, out, err, false);
  run.out = out.str();
  run.err = err.str();
  return run;
}

// pagedump ARGS... --json, parsed; fails the test if the output is not JSON.
inline JsonValue RunJson(std::vector<std::string> args, int expected_code = kExitOk) {
  args.push_back("--json");
  const ToolRun run = RunTool(args);
  EXPECT_EQ(run.code, expected_code) << run.err << run.out;
  auto parsed = JsonValue::Parse(run.out);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().ToString()) << "\n" << run.out;
  return parsed ? *parsed : JsonValue();
}

inline std::string HexU64Text(std::uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}
inline std::string AddressTextOf(LssAddress a) {
  return std::to_string(a.segment()) + ":" + std::to_string(a.offset());
}

// A fresh directory under the system temp dir, removed with everything in it.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("llama-pagedump-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Every file of a directory with its bytes: compared before and after the tool runs.
inline std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string CopyStore(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  return to;
}

// What a test workload wrote, to compare with what pagedump shows.
struct Written {
  std::uint64_t store_id = 0;
  std::map<PageId, std::vector<std::string>> states;  // newest first; last: base contents
  std::uint64_t page_state_records = 0;               // one per flush that had something new
  std::uint64_t free_records = 0;
  std::size_t cleaned_segments = 0;
};

// Store options with small segments, so a small workload spans several of them.
inline StoreOptions SmallStoreOptions() {
  StoreOptions o;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 64 * 1024;
  o.flush_buffer_size = 8 * 1024;
  o.max_disk_chain = 4;
  o.cleaner_space_factor = 0;  // the tests decide when to clean
  return o;
}

inline std::string RandomText(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// Builds `pages` pages, each a base page of random text and deltas "p<i>.<d>" flushed in
// small groups (so a page's state spans several records), frees `frees` of them, and
// closes the store cleanly. Optionally cleans segments in between.
inline Written MakeStore(const std::string& dir, int pages, int frees, bool clean = false) {
  Written w;
  std::mt19937_64 rng(42);
  auto opened = Store::Open(dir, SmallStoreOptions());
  EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
  if (!opened) return w;
  std::unique_ptr<Store> store = std::move(*opened);
  w.store_id = store->store_id();
  std::vector<PageId> pids;
  auto flush = [&](PageId pid) {
    auto g = store->EnterGeneration();
    auto at = store->Flush(g, pid);
    EXPECT_TRUE(at.has_value()) << at.error().ToString();
    ++w.page_state_records;
  };
  for (int i = 0; i < pages; ++i) {
    auto g = store->EnterGeneration();
    auto pid = store->Allocate();
    EXPECT_TRUE(pid.has_value());
    if (!pid) return w;
    pids.push_back(*pid);
    const std::string contents = "base-" + std::to_string(i) + "-" + RandomText(rng, 1200 + 100 * (i % 10));
    OwnedChain base = PageChainBuilder::Base(Share(*BasePage::Create(*pid, 4096, AsBytes(contents))));
    auto ref = store->mapping().Read(g, *pid);
    EXPECT_TRUE(ref.has_value());
    auto out = store->UpdateR(g, *pid, *ref, base);
    EXPECT_TRUE(out.has_value() && out->installed);
    w.states[*pid] = {contents};
  }
  // Rounds of deltas over all pages, each flushed: records of different
  // pages interleave in the log, and each page's state spans several records.
  for (int round = 0; round < 9; ++round) {
    for (int i = 0; i < pages; ++i) {
      const PageId pid = pids[i];
      for (int d = 0; d <= (i + round) % 3; ++d) {
        auto g = store->EnterGeneration();
        const std::string payload = "p" + std::to_string(i) + "." + std::to_string(round) + "." + std::to_string(d);
        auto ref = store->mapping().Read(g, pid);
        EXPECT_TRUE(ref.has_value());
        auto out = store->UpdateD(g, pid, *ref, Share(*DeltaRecord::MakeUpdate(pid, AsBytes(payload))));
        EXPECT_TRUE(out.has_value() && out->installed);
        w.states[pid].insert(w.states[pid].begin(), payload);
      }
      flush(pid);
    }
  }
  if (clean) {
    // Wholly written first: the cleaner takes only segments the log writer's I/O finished,
    // which without this depends on how far its thread got.
    EXPECT_TRUE(store->SyncAll().has_value());
    auto cleaned = store->Clean(4);
    EXPECT_TRUE(cleaned.has_value()) << cleaned.error().ToString();
    if (cleaned) w.cleaned_segments = cleaned->cleaned.size();
  }
  for (int f = 0; f < frees; ++f) {
    auto g = store->EnterGeneration();
    const PageId pid = pids[static_cast<std::size_t>(f * 3)];
    auto at = store->Free(g, pid);
    EXPECT_TRUE(at.has_value()) << at.error().ToString();
    w.states.erase(pid);
    ++w.free_records;
  }
  auto closed = store->Close();
  EXPECT_TRUE(closed.has_value()) << closed.error().ToString();
  return w;
}

// A power cut under the open store: its writes that were not synced are gone, as on a
// disk after a crash. `env` is the store's Env.
inline void CrashStore(FaultInjectionEnv& env, std::unique_ptr<Store>& store) {
  env.SetCrashAfter(FaultOp::kAny, 0);
  store.reset();
  EXPECT_TRUE(env.SimulatePowerCut().has_value());
  env.ClearFaults();
}

// What --verify must agree with: Store::Open on a copy of `dir` (Open recovers, which
// changes a directory), then a read of every page in `pids`. Returns the pages whose read
// fails, as "page N"; fails the test if Open refuses the store.
inline std::set<std::string> PagesFailingToRead(const std::string& dir, const std::vector<PageId>& pids,
                                                StoreOptions options = SmallStoreOptions()) {
  std::set<std::string> failing;
  const std::string copy = dir + "-opened";
  std::filesystem::remove_all(copy);
  CopyStore(dir, copy);
  options.env = nullptr;
  options.create_if_missing = false;
  {
    auto store = Store::Open(copy, options);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    if (store) {
      for (PageId pid : pids) {
        // A page still on disk after the read was not brought in.
        auto state = store_test::PageState(**store, pid);
        if (!state || state->starts_with("(still on disk")) failing.insert("page " + std::to_string(pid));
      }
      EXPECT_TRUE((*store)->Close().has_value());
    }
  }
  std::filesystem::remove_all(copy);
  return failing;
}

// A store with `pages` pages of one delta each over a base, each flushed and synced, page
// 1 freed, then closed cleanly or crashed (a power cut: unsynced data is gone), and
// optionally opened again (recovery) and closed.
inline void MakeSmallStore(const std::string& dir, int pages, bool crash, bool reopen) {
  std::unique_ptr<Env> posix = NewPosixEnv();
  FaultInjectionEnv env(posix.get());
  StoreOptions options = SmallStoreOptions();
  options.env = &env;
  {
    auto store = Store::Open(dir, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    for (int i = 0; i < pages; ++i) {
      auto g = (*store)->EnterGeneration();
      auto pid = (*store)->Allocate();
      ASSERT_TRUE(pid.has_value());
      auto ref = (*store)->mapping().Read(g, *pid);
      ASSERT_TRUE(ref.has_value());
      OwnedChain base =
          PageChainBuilder::Base(Share(*BasePage::Create(*pid, 4096, AsBytes("base " + std::to_string(i)))));
      ASSERT_TRUE((*store)->UpdateR(g, *pid, *ref, base).has_value());
      ref = (*store)->mapping().Read(g, *pid);
      ASSERT_TRUE(ref.has_value());
      const std::string payload = "delta " + std::to_string(i);
      ASSERT_TRUE(
          (*store)->UpdateD(g, *pid, *ref, Share(*DeltaRecord::MakeUpdate(*pid, AsBytes(payload)))).has_value());
      auto at = (*store)->Flush(g, *pid);
      ASSERT_TRUE(at.has_value());
      ASSERT_TRUE((*store)->Sync(*at).has_value());
    }
    if (pages > 2) {
      auto g = (*store)->EnterGeneration();
      ASSERT_TRUE((*store)->Free(g, 1).has_value());
    }
    if (crash) {
      CrashStore(env, *store);
    } else {
      ASSERT_TRUE((*store)->Close().has_value());
    }
  }
  if (reopen) {
    auto store = Store::Open(dir, options);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_TRUE((*store)->Close().has_value());
  }
}

// A fixture whose tests share one healthy store, made once per test suite: 40 pages, two
// of them freed, closed cleanly.
class SharedStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir("shared");
    written_ = new Written(MakeStore(*scratch_ / "db", /*pages=*/40, /*frees=*/2));
  }
  static void TearDownTestSuite() {
    delete written_;
    delete scratch_;
    written_ = nullptr;
    scratch_ = nullptr;
  }
  static std::string SharedDir() { return *scratch_ / "db"; }

  inline static ScratchDir* scratch_ = nullptr;
  inline static Written* written_ = nullptr;
};

}  // namespace llama::pagedump::testing
