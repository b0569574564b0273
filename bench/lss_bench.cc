// Log-structured store benchmarks, each side by side with its physical limit or its peer
// in the same run (pair them with bench/compare.py; see bench/README.md). Synced writes
// are in synced_put_bench.cc.
//
//   BM_LogAppend/llama            LogWriter appends of 4 KiB records, one sync at the end
//   BM_LogAppend/pwrite           a plain sequential pwrite loop of the same bytes, one
//                                 fdatasync: the limit            (items = bytes)
//   BM_Recovery/llama             Store::Open of a store whose log must be scanned whole
//   BM_Recovery/read              reading the same segment files sequentially (items = bytes)
//
// Environment: LLAMA_BENCH_DIR (default: the system temp dir) picks the file system;
// LLAMA_BENCH_RECOVERY_MIB (default 1024) the log size for BM_Recovery.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/store.h"
#include "lss/file/file_names.h"
#include "lss/log/log_writer.h"

namespace llama {
namespace {

namespace fs = std::filesystem;

using bench::BenchDir;
[[noreturn]] void Fail(const std::string& what) { bench::Fail("lss_bench", what); }

constexpr std::size_t kAppendBytes = 64u << 20;
constexpr std::size_t kRecordBody = 4096;

void BM_LogAppend_llama(benchmark::State& state) {
  std::vector<std::byte> body(kRecordBody, std::byte{0x5a});
  auto env = NewPosixEnv();
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path dir = BenchDir("append");
    SegmentSet segments(*env, dir.string(), 1, 64u << 20);
    auto writer = LogWriter::Open(segments, 1, LssAddress(), LogWriter::Options{});
    if (!writer) Fail(writer.error().ToString());
    state.ResumeTiming();
    for (std::size_t n = 0; n < kAppendBytes; n += FramedSize(kRecordBody)) {
      if (!(*writer)->Append(log_format::RecordKind::kApplication, body)) Fail("append");
    }
    if (auto s = (*writer)->Close(); !s) Fail(s.error().ToString());
    state.PauseTiming();
    writer->reset();
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kAppendBytes));
}
BENCHMARK(BM_LogAppend_llama)->Name("BM_LogAppend/llama")->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LogAppend_pwrite(benchmark::State& state) {
  std::vector<std::byte> chunk(1u << 20, std::byte{0x5a});
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path dir = BenchDir("pwrite");
    const int fd = ::open((dir / "file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) Fail("open");
    state.ResumeTiming();
    for (std::size_t off = 0; off < kAppendBytes; off += chunk.size()) {
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(chunk.size())) {
        Fail("pwrite");
      }
    }
    if (::fdatasync(fd) != 0) Fail("fdatasync");
    state.PauseTiming();
    ::close(fd);
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kAppendBytes));
}
BENCHMARK(BM_LogAppend_pwrite)->Name("BM_LogAppend/pwrite")->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- recovery ----

fs::path g_recovery_dir;
std::uint64_t g_recovery_bytes = 0;
std::vector<fs::path> g_recovery_segments;  // the log's files, as built

// Puts the directory back as BuildRecoveryStore left it: an Open resumes the log in a new
// (preallocated) segment and Close writes a checkpoint. Without this every iteration would
// scan one more segment than the last (a fresh one, whose zeros the kernel must allocate),
// and BM_Recovery/read would read files recovery never saw.
void ResetRecoveryDir() {
  for (const auto& entry : fs::directory_iterator(g_recovery_dir)) {
    const std::string name = entry.path().filename().string();
    const bool segment = ParseSegmentFileName(name) != 0;
    if (LooksLikeCheckpointFileName(name) ||
        (segment && std::find(g_recovery_segments.begin(), g_recovery_segments.end(), entry.path()) ==
                        g_recovery_segments.end())) {
      fs::remove(entry.path());
    }
  }
}

void BuildRecoveryStore() {
  if (!g_recovery_dir.empty()) return;
  const char* mib_env = std::getenv("LLAMA_BENCH_RECOVERY_MIB");
  const std::uint64_t target = (mib_env ? std::strtoull(mib_env, nullptr, 10) : 1024) << 20;
  g_recovery_dir = BenchDir("recovery");
  std::atexit([] { fs::remove_all(g_recovery_dir); });
  StoreOptions o;
  o.compression_level = 0;
  o.segment_size = 64u << 20;
  o.cleaner_space_factor = 0;  // keep the whole log: recovery must scan all of it
  auto store = *Store::Open(g_recovery_dir.string(), o);
  std::vector<std::byte> contents(8000, std::byte{0x42});
  std::uint64_t written = 0;
  std::vector<PageId> pages;
  for (int i = 0; i < 4096; ++i) pages.push_back(*store->Allocate());
  for (std::size_t i = 0; written < target; ++i) {
    const PageId pid = pages[i % pages.size()];
    auto g = store->EnterGeneration();
    OwnedChain state = PageChainBuilder::Base(Share(*BasePage::Create(pid, 8192, contents)));
    if (!store->UpdateR(g, pid, *store->Read(g, pid), state)) Fail("update");
    if (!store->Flush(g, pid)) Fail("flush");
    written += contents.size() + 100;
  }
  if (auto s = store->Close(); !s) Fail(s.error().ToString());
  store.reset();
  for (const auto& entry : fs::directory_iterator(g_recovery_dir)) {
    const std::string name = entry.path().filename().string();
    if (LooksLikeCheckpointFileName(name)) fs::remove(entry.path());  // force a whole scan
    if (ParseSegmentFileName(name) != 0) {
      g_recovery_segments.push_back(entry.path());
      g_recovery_bytes += fs::file_size(entry.path());
    }
  }
  std::sort(g_recovery_segments.begin(), g_recovery_segments.end());
}

void BM_Recovery_llama(benchmark::State& state) {
  BuildRecoveryStore();
  StoreOptions o;
  o.cleaner_space_factor = 0;
  for (auto _ : state) {
    auto store = Store::Open(g_recovery_dir.string(), o);
    if (!store) Fail(store.error().ToString());
    state.PauseTiming();
    if (auto s = (*store)->Close(); !s) Fail(s.error().ToString());
    store->reset();
    ResetRecoveryDir();  // the next open scans the same log again
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_recovery_bytes));
}
BENCHMARK(BM_Recovery_llama)->Name("BM_Recovery/llama")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_Recovery_read(benchmark::State& state) {
  BuildRecoveryStore();
  std::vector<char> chunk(1u << 20);
  for (auto _ : state) {
    std::uint64_t total = 0;
    for (const fs::path& path : g_recovery_segments) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ssize_t n;
      off_t off = 0;
      while ((n = ::pread(fd, chunk.data(), chunk.size(), off)) > 0) {
        off += n;
        total += static_cast<std::uint64_t>(n);
      }
      ::close(fd);
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_recovery_bytes));
}
BENCHMARK(BM_Recovery_read)->Name("BM_Recovery/read")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace llama
