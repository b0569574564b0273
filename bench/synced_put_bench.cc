// Synced writes side by side with the disk's own limit and RocksDB, at 1 to 32 threads
// (issue "Durable writes at the disk's limit"). Every row acknowledges a write only once it
// is durable (fdatasync or its io_uring equivalent has returned):
//
//   BM_SyncedPut/raw_overwrite   pwrite of kRecordBytes at the next offset of a file that was
//                                written whole before (the blocks exist) + fdatasync: what
//                                one writer can get from the disk, the limit (fio's rate)
//   BM_SyncedPut/raw_prealloc    the same into a fallocated, never written file (unwritten
//                                extents: each fdatasync also commits their conversion)
//   BM_SyncedPut/store           Store: Update-D of a 100-byte delta on the thread's own page
//                                (every 16th put an Update-R to one base page instead: a
//                                consolidation), Flush, Sync (group commit across threads)
//   BM_SyncedPut/store_one_sync  the same with one group commit in the disk at a time
//                                (StoreOptions::max_syncs_in_flight = 1)
//   BM_SyncedPut/store_uring     the same on each I/O backend (the rows above use the
//   BM_SyncedPut/store_posix     store's automatic choice)
//   BM_SyncedPut/bwtree          BwTree::Put of a 16-byte key and a 100-byte value, sync
//   BM_SyncedPut/vector          Vector::Append of a 100-byte value, sync
//   BM_SyncedPut/rocksdb         RocksDB Put of the same key and value, WriteOptions::sync
//
// Raw writers each own a region of one shared file (one fdatasync per write each, no group
// commit: what N independent synced writers get). Counters: fdatasyncs_per_put (the log's
// file and directory syncs divided by acknowledged puts; rocksdb and raw rows leave it out).
// Compare with:
//   python3 bench/compare.py build/release/bench/synced_put_bench --baseline raw_overwrite
// Environment: LLAMA_BENCH_DIR picks the file system (default: the system temp dir).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "examples/bwtree/bwtree.h"
#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/store.h"
#include "llama/vector.h"

namespace llama {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Fail(const std::string& what) { bench::Fail("synced_put_bench", what); }

constexpr std::size_t kValueBytes = 100;
// The framed size of one synced Store put (a page record holding one 100-byte Update
// delta), rounded: the raw rows write as many bytes per fdatasync.
constexpr std::size_t kRecordBytes = 192;
// Store rows: every this many puts a page's chain is replaced by one base page, as an
// access method consolidates (else the chain, and each flush of it whole, grows forever).
constexpr std::uint64_t kConsolidateEvery = 16;
constexpr std::uint64_t kRawRegionBytes = 64ull << 20;  // per thread; a run wraps around it

void ThreadCounts(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 4, 8, 16, 32}) b->Threads(threads);
  b->UseRealTime()->MinTime(1.0);
}

std::string Key(int thread, std::uint64_t i) {
  std::string key(16, '\0');
  EncodeFixed64(reinterpret_cast<std::byte*>(key.data()), static_cast<std::uint64_t>(thread));
  EncodeFixed64(reinterpret_cast<std::byte*>(key.data() + 8), i);
  return key;
}

// ---- the disk's limit ----

struct RawFile {
  fs::path dir;
  int fd = -1;
};
RawFile g_raw;

void OpenRawFile(bool overwrite, int threads) {
  g_raw.dir = bench::BenchDir(overwrite ? "raw-overwrite" : "raw-prealloc");
  g_raw.fd = ::open((g_raw.dir / "data").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (g_raw.fd < 0) Fail("raw: open");
  const std::uint64_t bytes = kRawRegionBytes * static_cast<std::uint64_t>(threads);
  if (overwrite) {
    std::vector<char> chunk(1 << 20, 'x');
    for (std::uint64_t at = 0; at < bytes; at += chunk.size()) {
      if (::pwrite(g_raw.fd, chunk.data(), chunk.size(), static_cast<off_t>(at)) < 0) Fail("raw: fill");
    }
  } else if (::posix_fallocate(g_raw.fd, 0, static_cast<off_t>(bytes)) != 0) {
    Fail("raw: fallocate");
  }
  if (::fsync(g_raw.fd) != 0) Fail("raw: fsync");
}

void BM_Raw(benchmark::State& state, bool overwrite) {
  if (state.thread_index() == 0) OpenRawFile(overwrite, state.threads());
  const std::uint64_t region = kRawRegionBytes * static_cast<std::uint64_t>(state.thread_index());
  std::vector<char> record(kRecordBytes, 'r');
  std::uint64_t at = 0;
  for (auto _ : state) {
    if (::pwrite(g_raw.fd, record.data(), record.size(), static_cast<off_t>(region + at)) < 0) Fail("raw: pwrite");
    if (::fdatasync(g_raw.fd) != 0) Fail("raw: fdatasync");
    at = (at + kRecordBytes) % (kRawRegionBytes - kRecordBytes);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    ::close(g_raw.fd);
    fs::remove_all(g_raw.dir);
  }
}
BENCHMARK_CAPTURE(BM_Raw, overwrite, true)->Name("BM_SyncedPut/raw_overwrite")->Apply(ThreadCounts);
BENCHMARK_CAPTURE(BM_Raw, prealloc, false)->Name("BM_SyncedPut/raw_prealloc")->Apply(ThreadCounts);

// ---- llama-store ----

struct LlamaStore {
  fs::path dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<bwtree::BwTree> tree;
  std::unique_ptr<Vector> vector;
  std::uint64_t fdatasyncs_before = 0;
};
LlamaStore g_llama;

struct LlamaConfig {
  std::uint32_t max_syncs_in_flight = StoreOptions{}.max_syncs_in_flight;
  IoBackend io_backend = StoreOptions{}.io_backend;
};

void OpenLlama(const char* name, LlamaConfig config = {}) {
  g_llama.dir = bench::BenchDir(name);
  StoreOptions o;
  o.io_backend = config.io_backend;
  o.compression_level = 0;
  o.max_syncs_in_flight = config.max_syncs_in_flight;
  auto store = Store::Open(g_llama.dir.string(), o);
  if (!store) Fail(store.error().ToString());
  g_llama.store = std::move(*store);
}

// Counted from before the first timed put: opening the store syncs too.
void StartCounting() { g_llama.fdatasyncs_before = g_llama.store->stats().log_fdatasyncs; }

// Thread 0, after its loop: every thread ran state.iterations() puts (Google Benchmark
// runs the same count on each), and the loop's end waited for all of them.
void CloseLlama(benchmark::State& state) {
  const std::uint64_t total_puts = state.iterations() * static_cast<std::uint64_t>(state.threads());
  const std::uint64_t fdatasyncs = g_llama.store->stats().log_fdatasyncs - g_llama.fdatasyncs_before;
  state.counters["fdatasyncs_per_put"] =
      benchmark::Counter(static_cast<double>(fdatasyncs) / static_cast<double>(total_puts ? total_puts : 1));
  g_llama.vector.reset();
  g_llama.tree.reset();
  if (auto s = g_llama.store->Close(); !s) Fail(s.error().ToString());
  g_llama.store.reset();
  fs::remove_all(g_llama.dir);
}

std::vector<PageId> g_pages;  // one per thread, allocated by thread 0 before the loop

void BM_Store(benchmark::State& state, LlamaConfig config) {
  if (state.thread_index() == 0) {
    OpenLlama("store", config);
    g_pages.clear();
    for (int t = 0; t < state.threads(); ++t) g_pages.push_back(*g_llama.store->Allocate());
    StartCounting();
  }
  std::byte value[kValueBytes] = {};
  std::uint64_t i = 0;
  for (auto _ : state) {
    const PageId pid = g_pages[static_cast<std::size_t>(state.thread_index())];
    auto g = g_llama.store->EnterGeneration();
    auto ref = g_llama.store->Read(g, pid);
    if (!ref) Fail(ref.error().ToString());
    if (++i % kConsolidateEvery == 0) {
      // What an access method does with a long chain: one base page holding it all.
      auto base = BasePage::Create(pid, 4096, value);
      if (!base) Fail(base.error().ToString());
      OwnedChain chain = PageChainBuilder::Base(Share(std::move(*base)));
      auto out = g_llama.store->UpdateR(g, pid, *ref, chain);
      if (!out || !out->installed) Fail("store: consolidate");
    } else {
      auto out = g_llama.store->UpdateD(g, pid, *ref, Share(*DeltaRecord::MakeUpdate(pid, value)));
      if (!out || !out->installed) Fail("store: update");
    }
    auto end = g_llama.store->Flush(g, pid);
    if (!end) Fail(end.error().ToString());
    if (auto s = g_llama.store->Sync(*end); !s) Fail(s.error().ToString());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) CloseLlama(state);
}
BENCHMARK_CAPTURE(BM_Store, default, LlamaConfig{})->Name("BM_SyncedPut/store")->Apply(ThreadCounts);
BENCHMARK_CAPTURE(BM_Store, one_sync, LlamaConfig{.max_syncs_in_flight = 1})
    ->Name("BM_SyncedPut/store_one_sync")
    ->Apply(ThreadCounts);
BENCHMARK_CAPTURE(BM_Store, uring, LlamaConfig{.io_backend = IoBackend::kIoUring})
    ->Name("BM_SyncedPut/store_uring")
    ->Apply(ThreadCounts);
BENCHMARK_CAPTURE(BM_Store, posix, LlamaConfig{.io_backend = IoBackend::kPosix})
    ->Name("BM_SyncedPut/store_posix")
    ->Apply(ThreadCounts);

void BM_BwTree(benchmark::State& state) {
  if (state.thread_index() == 0) {
    OpenLlama("bwtree");
    auto tree = bwtree::BwTree::Open(*g_llama.store, "bench");
    if (!tree) Fail(tree.error().ToString());
    g_llama.tree = std::move(*tree);
    StartCounting();
  }
  const std::string value(kValueBytes, 'v');
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (auto s = g_llama.tree->Put(Key(state.thread_index(), i++), value, {.sync = true}); !s) {
      Fail(s.error().ToString());
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) CloseLlama(state);
}
BENCHMARK(BM_BwTree)->Name("BM_SyncedPut/bwtree")->Apply(ThreadCounts);

void BM_Vector(benchmark::State& state) {
  if (state.thread_index() == 0) {
    OpenLlama("vector");
    auto vec = Vector::Open(*g_llama.store, "bench");
    if (!vec) Fail(vec.error().ToString());
    g_llama.vector = std::move(*vec);
    StartCounting();
  }
  const std::string value(kValueBytes, 'v');
  for (auto _ : state) {
    if (auto t = g_llama.vector->Append(value, {.sync = true}); !t) Fail(t.error().ToString());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) CloseLlama(state);
}
BENCHMARK(BM_Vector)->Name("BM_SyncedPut/vector")->Apply(ThreadCounts);

// ---- RocksDB, configured for synced small writes as its wiki recommends: the WAL with
// sync=true and nothing else (no compression of 100-byte values) ----

struct Rocks {
  fs::path dir;
  std::unique_ptr<rocksdb::DB> db;
};
Rocks g_rocks;

void BM_RocksDb(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_rocks.dir = bench::BenchDir("rocksdb");
    rocksdb::Options o;
    o.create_if_missing = true;
    o.compression = rocksdb::kNoCompression;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(o, g_rocks.dir.string(), &db).ok()) Fail("rocksdb: open");
    g_rocks.db.reset(db);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const std::string value(kValueBytes, 'v');
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (!g_rocks.db->Put(wo, Key(state.thread_index(), i++), value).ok()) Fail("rocksdb: put");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_rocks.db.reset();
    fs::remove_all(g_rocks.dir);
  }
}
BENCHMARK(BM_RocksDb)->Name("BM_SyncedPut/rocksdb")->Apply(ThreadCounts);

}  // namespace
}  // namespace llama
