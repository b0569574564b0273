// The durable vector's benchmarks, each side by side with its peer or limit in one run
// (pair them with bench/compare.py; figures in README):
//
//   BM_Append/llama, BM_Append/rocksdb            100-byte appends vs RocksDB puts (16-byte
//                                                 key, same value), no sync
//   BM_SyncedAppend/llama, .../rocksdb            the same, every write synced (group
//                                                 commit), 1 and 8 threads
//   BM_RandomAt/llama, BM_RandomAt/std_vector     random at(i) on 10 million 8-byte
//                                                 elements, all cached (LLAMA_BENCH_AT_N)
//   BM_RandomAtInto/llama                         the same through at(i, &out) (a reused buffer)
//   BM_Iterate/llama, BM_Iterate/std_vector       sequential iteration over the same, per
//                                                 element (the snapshot's iterator)
//   BM_InsertErase/llama, .../std_vector          insert + erase at random indices at 1
//                                                 million elements, amortized; the vector's
//                                                 time includes publishing every op
//   BM_WriterLatency/llama/rebuilding, .../idle   append latency p50/p99/p99.9 (counters,
//                                                 microseconds) while a 192k-operation batch is
//                                                 rebuilt vs with the rebuilder idle
// Counters pages_per_op and disk_per_live_byte report write amplification.
#include <benchmark/benchmark.h>
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
#include "rebuild/vector.h"
#include "util/coding.h"

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
    last = g_vec.vec->append(value, VectorWriteOptions{sync});
    if (!last) Fail(last.error().ToString());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    if (!g_vec.vec->wait_visible(*last)) Fail("visible");
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

std::uint64_t AtCount() {
  const char* n = std::getenv("LLAMA_BENCH_AT_N");
  return n ? std::strtoull(n, nullptr, 10) : 10'000'000;
}

// Fills a vector with n 8-byte values (batches of 1000 appends) and waits for them.
void Fill(Opened& o, std::uint64_t n) {
  Result<VectorTicket> last = VectorTicket{};
  for (std::uint64_t i = 0; i < n;) {
    VectorWriteBatch batch;
    for (int k = 0; k < 1000 && i < n; ++k, ++i) {
      char v[8];
      EncodeFixed64(reinterpret_cast<std::byte*>(v), i);
      batch.append(std::string_view(v, 8));
    }
    last = o.vec->write(batch);
    if (!last) Fail(last.error().ToString());
  }
  if (!o.vec->wait_visible(*last)) Fail("visible");
}

// Opens a vector, fills it with AtCount() elements and returns a snapshot of them all.
VectorSnapshot OpenFilled(Opened& o, const std::string& name) {
  o.Open(name);
  const std::uint64_t n = AtCount();
  Fill(o, n);
  VectorSnapshot snap = o.vec->snapshot();
  if (snap.size() != n) Fail("size");
  return snap;
}

void BM_RandomAt_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "at");
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
  const std::uint64_t n = AtCount();
  std::vector<std::string> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i].assign(8, static_cast<char>(i));
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    std::string copy = v[rng() % n];  // at() returns a copy too
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
}
// The same through the view accessor into a reused buffer: no allocation per read.
void BM_RandomAtInto_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "at_into");
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
BENCHMARK(BM_RandomAtInto_llama)->Name("BM_RandomAtInto/llama")->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_RandomAt_llama)->Name("BM_RandomAt/llama")->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_RandomAt_std_vector)->Name("BM_RandomAt/std_vector")->UseRealTime()->MinTime(2.0);

// ---- sequential iteration ----

// One item = one element: the iterator steps on, restarting at the end.
void BM_Iterate_llama(benchmark::State& state) {
  Opened o;
  VectorSnapshot snap = OpenFilled(o, "iterate");
  {
    auto it = snap.begin();
    const auto end = snap.end();
    for (auto _ : state) {
      benchmark::DoNotOptimize((*it).data());
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
  const std::uint64_t n = AtCount();
  std::vector<std::string> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i].assign(8, static_cast<char>(i));
  auto it = v.begin();
  for (auto _ : state) {
    benchmark::DoNotOptimize(it->data());
    if (++it == v.end()) it = v.begin();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Iterate_llama)->Name("BM_Iterate/llama")->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Iterate_std_vector)->Name("BM_Iterate/std_vector")->UseRealTime()->MinTime(2.0);

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
      if (!o.vec->insert(rng() % kMiddleN, "12345678")) Fail("insert");
      last = o.vec->erase(rng() % kMiddleN);
      if (!last) Fail("erase");
    }
    if (!o.vec->wait_visible(*last)) Fail("visible");
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
          for (int k = 0; k < 1000; ++k) batch.prepend("x");
          if (auto r = o.vec->write(batch); !r) Fail("prepend: " + r.error().ToString());
        }
      });
    }
    for (auto& l : loaders) l.join();
    std::vector<double> us;
    // 5000 appends: what one buffer slot holds with the rebuilder idle.
    for (int n = 0; n < 5000; ++n) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto r = o.vec->append("12345678"); !r) Fail("append: " + r.error().ToString());
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
