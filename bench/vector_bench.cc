// The durable vector's benchmarks, each side by side with its peer or limit in one run
// (pair them with bench/compare.py; figures in README):
//
//   BM_Append/llama, BM_Append/rocksdb            100-byte appends vs RocksDB puts (16-byte
//                                                 key, same value), no sync
//   BM_SyncedAppend/llama, .../rocksdb            the same, every write synced (group
//                                                 commit), 1 and 8 threads
//   BM_RandomAt/{llama,std_vector,immer}/n:N      random at(i) on N = 1 and 10 million 8-byte
//                                                 elements, all cached (LLAMA_BENCH_AT_N, when
//                                                 set, replaces N in every run)
//   BM_RandomAtInto/llama/n:N                     the same through at(i, &out) (a reused buffer)
//   BM_Iterate/{llama,std_vector,immer}/n:N       sequential iteration over the same, per
//                                                 element (the snapshot's iterator)
//   BM_InsertErase/{llama,std_vector,immer}       insert + erase at random indices at 1
//                                                 million elements, amortized; the vector's
//                                                 time includes publishing every op; immer's
//                                                 are persistent ops, v = v.insert(i, x).erase(j)
// The immer columns (immer::flex_vector<std::string>, a persistent RRB vector) are built
// only with LLAMA_HAVE_IMMER (bench/CMakeLists.txt: LLAMA_IMMER_DIR). The RandomAt and
// Iterate runs report bytes_per_element: the heap's growth (mallinfo2) while the container
// was built, for all three (for llama around Fill; see SetBytesPerElement).
//   BM_WriterLatency/llama/rebuilding, .../idle   append latency p50/p99/p99.9 (counters,
//                                                 microseconds) while a 192k-operation batch is
//                                                 rebuilt vs with the rebuilder idle
// Counters pages_per_op and disk_per_live_byte report write amplification.
#include <benchmark/benchmark.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(LLAMA_HAVE_IMMER)
#include <immer/flex_vector.hpp>
#include <immer/flex_vector_transient.hpp>
#endif
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "llama/coding.h"
#include "llama/store.h"
#include "llama/vector.h"

namespace llama {
namespace {

namespace fs = std::filesystem;

using bench::BenchDir;
[[noreturn]] void Fail(const std::string& what) { bench::Fail("vector_bench", what); }

StoreOptions BenchStore() {
  StoreOptions o;
  o.compression_level = 0;
  o.cleaner_space_factor = 0;
  return o;
}

struct Opened {
  fs::path dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<Vector> vec;
  void Open(const std::string& name, VectorOptions vo = {}) {
    dir = BenchDir(name);
    auto s = Store::Open(dir.string(), BenchStore());
    if (!s) Fail(s.error().ToString());
    store = std::move(*s);
    auto v = Vector::Open(*store, "bench", vo);
    if (!v) Fail(v.error().ToString());
    vec = std::move(*v);
  }
  void Close() {
    if (vec && !vec->Close()) Fail("vector close");
    vec.reset();
    if (store && !store->Close()) Fail("store close");
    store.reset();
    fs::remove_all(dir);
  }
};

std::uint64_t DirBytes(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? e.file_size() : 0;
  return n;
}

// ---- appends vs RocksDB puts ----

Opened g_vec;
std::unique_ptr<rocksdb::DB> g_rocks;
fs::path g_rocks_dir;

void AppendLlama(benchmark::State& state, bool sync) {
  if (state.thread_index() == 0) g_vec.Open("append");
  const std::string value(100, 'v');
  Result<VectorTicket> last = VectorTicket{};
  for (auto _ : state) {
    last = g_vec.vec->Append(value, VectorWriteOptions{sync});
    if (!last) Fail(last.error().ToString());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    if (!g_vec.vec->WaitVisible(*last)) Fail("visible");
    const VectorMetrics m = g_vec.vec->metrics();
    state.counters["pages_per_op"] = static_cast<double>(m.pages_written) / std::max<std::uint64_t>(m.size, 1);
    if (!g_vec.store->FlushAll()) Fail("flush");
    const double live = static_cast<double>(std::max<std::uint64_t>(m.size * 100, 1));
    // Space the directory takes (segments are preallocated whole, so a short run shows a
    // whole segment), and log bytes written, which preallocation does not change.
    state.counters["disk_per_live_byte"] = static_cast<double>(DirBytes(g_vec.dir)) / live;
    state.counters["log_written_per_live_byte"] = static_cast<double>(g_vec.store->stats().bytes_written) / live;
    g_vec.Close();
  }
}

void PutRocks(benchmark::State& state, bool sync) {
  if (state.thread_index() == 0) {
    g_rocks_dir = BenchDir("rocks");
    rocksdb::Options o;
    o.create_if_missing = true;
    o.compression = rocksdb::kNoCompression;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(o, g_rocks_dir.string(), &db).ok()) Fail("rocksdb open");
    g_rocks.reset(db);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  const std::string value(100, 'v');
  std::uint64_t i = 0;
  for (auto _ : state) {
    char key[16];
    EncodeFixed64(reinterpret_cast<std::byte*>(key), static_cast<std::uint64_t>(state.thread_index()));
    EncodeFixed64(reinterpret_cast<std::byte*>(key + 8), i++);
    if (!g_rocks->Put(wo, rocksdb::Slice(key, 16), value).ok()) Fail("rocksdb put");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_rocks.reset();
    fs::remove_all(g_rocks_dir);
  }
}

void BM_Append_llama(benchmark::State& s) { AppendLlama(s, false); }
void BM_Append_rocksdb(benchmark::State& s) { PutRocks(s, false); }
void BM_SyncedAppend_llama(benchmark::State& s) { AppendLlama(s, true); }
void BM_SyncedAppend_rocksdb(benchmark::State& s) { PutRocks(s, true); }
BENCHMARK(BM_Append_llama)->Name("BM_Append/llama")->Threads(1)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Append_rocksdb)->Name("BM_Append/rocksdb")->Threads(1)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SyncedAppend_llama)->Name("BM_SyncedAppend/llama")->Threads(1)->Threads(8)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SyncedAppend_rocksdb)
    ->Name("BM_SyncedAppend/rocksdb")
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime()
    ->MinTime(1.0);

// ---- random reads ----

// Elements for the random-read and iteration benchmarks: the benchmark's argument (1 M and
// 10 M are registered), or LLAMA_BENCH_AT_N for every one of them when it is set.
std::uint64_t AtCount(const benchmark::State& state) {
  const char* n = std::getenv("LLAMA_BENCH_AT_N");
  return n ? std::strtoull(n, nullptr, 10) : static_cast<std::uint64_t>(state.range(0));
}
void AtArgs(benchmark::internal::Benchmark* b) { b->ArgName("n")->Arg(1'000'000)->Arg(10'000'000); }

// Bytes the heap has handed out and not taken back: glibc's mallinfo2, which sums every
// arena (the store's background threads allocate in their own), `uordblks` for chunks in
// the arenas plus `hblkhd` for the mmapped ones (a large std::vector buffer is one).
// Without glibc the bytes_per_element counters read 0.
std::uint64_t HeapInUse() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#else
  return 0;
#endif
}
// bytes_per_element: the heap's growth while a container was built, per element. The same
// measure for all three containers: for llama the growth around Fill (the vector's pages in
// memory, its read index and whatever the store and rebuilder hold on to at that point;
// StoreStats::resident_bytes is not used, it is only kept when a memory budget is set).
void SetBytesPerElement(benchmark::State& state, std::uint64_t before, std::uint64_t after, std::uint64_t n) {
  state.counters["bytes_per_element"] =
      (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(std::max<std::uint64_t>(n, 1));
}

// Fills a vector with n 8-byte values (batches of 1000 appends) and waits for them.
void Fill(Opened& o, std::uint64_t n) {
  Result<VectorTicket> last = VectorTicket{};
  for (std::uint64_t i = 0; i < n;) {
    VectorWriteBatch batch;
    for (int k = 0; k < 1000 && i < n; ++k, ++i) {
      char v[8];
      EncodeFixed64(reinterpret_cast<std::byte*>(v), i);
      batch.Append(std::string_view(v, 8));
    }
    last = o.vec->Write(batch);
    if (!last) Fail(last.error().ToString());
  }
  if (!o.vec->WaitVisible(*last)) Fail("visible");
}

// Opens a vector, fills it with AtCount() elements (reporting bytes_per_element) and
// returns a snapshot of them all.
VectorSnapshot OpenFilled(Opened& o, const std::string& name, benchmark::State& state) {
  o.Open(name);
  const std::uint64_t n = AtCount(state);
  const std::uint64_t before = HeapInUse();
  Fill(o, n);
  SetBytesPerElement(state, before, HeapInUse(), n);
  VectorSnapshot snap = o.vec->Snapshot();
  if (snap.size() != n) Fail("size");
  return snap;
}

// The std::vector and immer columns hold the same elements: n 8-byte strings.
std::vector<std::string> BuildStdVector(benchmark::State& state) {
  const std::uint64_t n = AtCount(state);
  const std::uint64_t before = HeapInUse();
  std::vector<std::string> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i].assign(8, static_cast<char>(i));
  SetBytesPerElement(state, before, HeapInUse(), n);
  return v;
}

#if defined(LLAMA_HAVE_IMMER)
// immer's persistent RRB vector (bench/CMakeLists.txt, LLAMA_IMMER_DIR), built through a
// transient, with immer's default memory policy. That policy keeps up to 1024 freed nodes
// per node size on free lists, so a build after an earlier one may reuse up to about a MB
// without asking malloc: bytes_per_element can read low by up to ~1 byte at 1 M elements.
immer::flex_vector<std::string> BuildImmer(benchmark::State& state) {
  const std::uint64_t n = AtCount(state);
  const std::uint64_t before = HeapInUse();
  auto t = immer::flex_vector<std::string>{}.transient();
  for (std::uint64_t i = 0; i < n; ++i) t.push_back(std::string(8, static_cast<char>(i)));
  immer::flex_vector<std::string> v = t.persistent();
  SetBytesPerElement(state, before, HeapInUse(), n);
  if (v.size() != n) Fail("immer size");
  return v;
}
#endif

void BM_RandomAt_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "at", state);
  const std::uint64_t n = snap.size();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto v = snap.at(rng() % n);
    if (!v) Fail(v.error().ToString());
    benchmark::DoNotOptimize(v->data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["height"] = snap.height();
  snap.release();
  o.Close();
}
void BM_RandomAt_std_vector(benchmark::State& state) {
  const std::vector<std::string> v = BuildStdVector(state);
  const std::uint64_t n = v.size();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    std::string copy = v[rng() % n];  // at() returns a copy too
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
}
#if defined(LLAMA_HAVE_IMMER)
void BM_RandomAt_immer(benchmark::State& state) {
  const immer::flex_vector<std::string> v = BuildImmer(state);
  const std::uint64_t n = v.size();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    std::string copy = v[rng() % n];  // a copy, as the other two columns
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
}
#endif
// The same through the view accessor into a reused buffer: no allocation per read.
void BM_RandomAtInto_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "at_into", state);
  const std::uint64_t n = snap.size();
  std::mt19937_64 rng(1);
  std::string out;
  for (auto _ : state) {
    if (auto s = snap.at(rng() % n, &out); !s) Fail(s.error().ToString());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  snap.release();
  o.Close();
}
BENCHMARK(BM_RandomAtInto_llama)->Name("BM_RandomAtInto/llama")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_RandomAt_llama)->Name("BM_RandomAt/llama")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_RandomAt_std_vector)->Name("BM_RandomAt/std_vector")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
#if defined(LLAMA_HAVE_IMMER)
BENCHMARK(BM_RandomAt_immer)->Name("BM_RandomAt/immer")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
#endif

// ---- sequential iteration ----

// One item = one element: the iterator steps on, restarting at the end. Each step reads the
// element's first byte, as a loop that looks at the elements does (a loop that only takes
// std::string::data() never touches the characters of a short string).
void BM_Iterate_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "iterate", state);
  {
    auto it = snap.begin();
    const auto end = snap.end();
    for (auto _ : state) {
      benchmark::DoNotOptimize((*it).front());
      if (++it == end) {
        if (!it.error()) Fail(it.error().error().ToString());
        it = snap.begin();
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  snap.release();
  o.Close();
}
void BM_Iterate_std_vector(benchmark::State& state) {
  const std::vector<std::string> v = BuildStdVector(state);
  auto it = v.begin();
  for (auto _ : state) {
    benchmark::DoNotOptimize(it->front());
    if (++it == v.end()) it = v.begin();
  }
  state.SetItemsProcessed(state.iterations());
}
#if defined(LLAMA_HAVE_IMMER)
void BM_Iterate_immer(benchmark::State& state) {
  const immer::flex_vector<std::string> v = BuildImmer(state);
  auto it = v.begin();
  const auto end = v.end();
  for (auto _ : state) {
    benchmark::DoNotOptimize(it->front());
    if (++it == end) it = v.begin();
  }
  state.SetItemsProcessed(state.iterations());
}
#endif
BENCHMARK(BM_Iterate_llama)->Name("BM_Iterate/llama")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Iterate_std_vector)->Name("BM_Iterate/std_vector")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
#if defined(LLAMA_HAVE_IMMER)
BENCHMARK(BM_Iterate_immer)->Name("BM_Iterate/immer")->Apply(AtArgs)->UseRealTime()->MinTime(2.0);
#endif

// ---- insert and erase in the middle ----

constexpr std::uint64_t kMiddleN = 1'000'000;

void BM_InsertErase_llama(benchmark::State& state) {
  Opened o;
  o.Open("middle");
  Fill(o, kMiddleN);
  std::mt19937_64 rng(2);
  std::uint64_t ops = 0;
  for (auto _ : state) {
    // 1000 inserts and 1000 erases, then wait until all of it is published.
    Result<VectorTicket> last = VectorTicket{};
    for (int k = 0; k < 1000; ++k) {
      if (!o.vec->Insert(rng() % kMiddleN, "12345678")) Fail("insert");
      last = o.vec->Erase(rng() % kMiddleN);
      if (!last) Fail("erase");
    }
    if (!o.vec->WaitVisible(*last)) Fail("visible");
    ops += 2000;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  const VectorMetrics m = o.vec->metrics();
  state.counters["pages_per_op"] = static_cast<double>(m.pages_written) / static_cast<double>(m.total_batch_entries);
  o.Close();
}
void BM_InsertErase_std_vector(benchmark::State& state) {
  std::vector<std::string> v(kMiddleN, "12345678");
  std::mt19937_64 rng(2);
  std::uint64_t ops = 0;
  for (auto _ : state) {
    for (int k = 0; k < 1000; ++k) {
      v.insert(v.begin() + static_cast<std::ptrdiff_t>(rng() % kMiddleN), "12345678");
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(rng() % kMiddleN));
    }
    ops += 2000;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
}
#if defined(LLAMA_HAVE_IMMER)
// Each insert and each erase a persistent operation: v = v.insert(i, x).erase(j).
void BM_InsertErase_immer(benchmark::State& state) {
  auto t = immer::flex_vector<std::string>{}.transient();
  for (std::uint64_t i = 0; i < kMiddleN; ++i) t.push_back("12345678");
  immer::flex_vector<std::string> v = t.persistent();
  std::mt19937_64 rng(2);
  std::uint64_t ops = 0;
  for (auto _ : state) {
    for (int k = 0; k < 1000; ++k) {
      const auto i = static_cast<std::size_t>(rng() % kMiddleN);
      const auto j = static_cast<std::size_t>(rng() % kMiddleN);
      v = v.insert(i, "12345678").erase(j);
    }
    ops += 2000;
  }
  if (v.size() != kMiddleN) Fail("immer size");
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
}
#endif
BENCHMARK(BM_InsertErase_llama)
    ->Name("BM_InsertErase/llama")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
BENCHMARK(BM_InsertErase_std_vector)
    ->Name("BM_InsertErase/std_vector")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
#if defined(LLAMA_HAVE_IMMER)
BENCHMARK(BM_InsertErase_immer)
    ->Name("BM_InsertErase/immer")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
#endif

// ---- writer latency during a large rebuild ----

void WriterLatency(benchmark::State& state, bool rebuilding) {
  for (auto _ : state) {
    Opened o;
    VectorOptions vo;
    vo.initial_batch_window = 1 << 20;  // the rebuilder waits for the big batch...
    vo.min_batch_window = 1 << 20;
    vo.max_batch_window = 1 << 20;
    vo.max_delay_us = rebuilding ? 1000 : 1000000000;  // ...or is idle for the whole run
    vo.max_buffer_bytes = 900 << 10;                   // below the store's 1 MiB record limit
    vo.writer_slots = 16;                              // the measuring writer gets a slot of its own
    o.Open(rebuilding ? "lat-rebuild" : "lat-idle", vo);
    // A large batch pending (192k prepends: 8 threads, one buffer slot each, 24 batches of
    // 1000), then (rebuilding) the rebuilder starts on it while a writer measures.
    std::vector<std::thread> loaders;
    for (int t = 0; t < 8; ++t) {
      loaders.emplace_back([&] {
        for (int b = 0; b < 24; ++b) {
          VectorWriteBatch batch;
          for (int k = 0; k < 1000; ++k) batch.Prepend("x");
          if (auto r = o.vec->Write(batch); !r) Fail("prepend: " + r.error().ToString());
        }
      });
    }
    for (auto& l : loaders) l.join();
    std::vector<double> us;
    // 5000 appends: what one buffer slot holds with the rebuilder idle.
    for (int n = 0; n < 5000; ++n) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto r = o.vec->Append("12345678"); !r) Fail("append: " + r.error().ToString());
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[static_cast<std::size_t>(p * static_cast<double>(us.size() - 1))]; };
    state.counters["p50_us"] = pct(0.5);
    state.counters["p99_us"] = pct(0.99);
    state.counters["p999_us"] = pct(0.999);
    state.counters["rebuilds_during"] = static_cast<double>(o.vec->metrics().rebuild_count);
    state.SetItemsProcessed(static_cast<std::int64_t>(us.size()));
    o.Close();
  }
}
void BM_WriterLatency_rebuilding(benchmark::State& s) { WriterLatency(s, true); }
void BM_WriterLatency_idle(benchmark::State& s) { WriterLatency(s, false); }
BENCHMARK(BM_WriterLatency_rebuilding)
    ->Name("BM_WriterLatency/llama/rebuilding")
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriterLatency_idle)
    ->Name("BM_WriterLatency/llama/idle")
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace llama
