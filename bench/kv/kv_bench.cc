// kv_bench: the key-value comparison. One run measures llama-store's Bw-tree and the peers
// this build has (RocksDB with and without its WAL, LMDB, LevelDB, WiredTiger) on the same
// machine, workload by workload (each workload runs on every engine back to back, so a
// noisy minute hurts them alike), and prints one table of ops/s with the ratio of ours to
// each peer; the same figures go to a JSON file that bench/kv/plot_kv.py draws as an SVG
// bar chart.
//
//   build/release/bench/kv/kv_bench [--keys 1000000] [--threads 4] [--json kv_bench.json]
//
// What runs (bench/kv/README.md has the settings): fill sequential, fill random, read
// random (all present), read random (half missing), YCSB C and A, each at 1 and at
// --threads threads, with 16-byte keys and 100-byte values; YCSB E on a database loaded
// afresh; fill random and read random with 1 KiB values on a quarter of the keys; and fill
// random with every write synced (without the engines that cannot sync: rocksdb-nowal).
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/kv/kv_engine.h"
#include "bench/kv/workload.h"

namespace kvbench {
namespace {

namespace fs = std::filesystem;

struct Config {
  std::uint64_t keys = 1'000'000;
  int threads = 4;
  std::uint64_t durable_ops = 10'000;
  std::string dir;
  std::string json = "kv_bench.json";
  std::vector<std::string> engines;
  std::uint64_t seed = 42;
};

struct Row {
  std::string workload;
  std::size_t value_bytes;
  int threads;
  std::string engine;
  RunResult result;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "kv_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string Human(double ops) {
  char buf[32];
  if (ops >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", ops / 1e6);
  } else if (ops >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f k", ops / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", ops);
  }
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class Bench {
 public:
  Bench(Config config, std::vector<EngineEntry> engines) : config_(std::move(config)), engines_(std::move(engines)) {}

  void RunAll() {
    const std::vector<int> thread_counts =
        config_.threads > 1 ? std::vector<int>{1, config_.threads} : std::vector<int>{1};
    const std::uint64_t n = config_.keys;
    Workloads small(n, 100, config_.seed);
    for (int t : thread_counts) Fresh(small, {"fillseq", Kind::kFillSeq, n}, 100, t, false, false);
    std::map<std::string, std::unique_ptr<KvEngine>> loaded;
    for (int t : thread_counts) {
      auto kept = Fresh(small, {"fillrandom", Kind::kFillRandom, n}, 100, t, false, t == thread_counts.back());
      for (auto& [name, engine] : kept) loaded[name] = std::move(engine);
    }
    const std::vector<WorkloadSpec> on_loaded = {
        {"readrandom", Kind::kReadRandom, n},
        {"readmissing", Kind::kReadMissing, n},
        {"ycsb-c", Kind::kYcsbC, n},
        {"ycsb-a", Kind::kYcsbA, n},
    };
    for (const WorkloadSpec& spec : on_loaded) {
      for (int t : thread_counts) {
        for (const EngineEntry& e : engines_) Measure(small, spec, 100, t, e.name, *loaded.at(e.name));
      }
    }
    Close(loaded);

    // YCSB E on a database loaded afresh (YCSB's guidance: reload before E), not on one that
    // YCSB A has updated; each thread count's run inserts keys that no earlier run inserted.
    const std::uint64_t e_ops = std::max<std::uint64_t>(1, n / 10);
    loaded = Fresh(small, {"load", Kind::kFillRandom, n}, 100, config_.threads, false, true, /*record=*/false);
    for (std::size_t i = 0; i < thread_counts.size(); ++i) {
      const WorkloadSpec spec{"ycsb-e", Kind::kYcsbE, e_ops, n + i * e_ops};
      for (const EngineEntry& e : engines_) Measure(small, spec, 100, thread_counts[i], e.name, *loaded.at(e.name));
    }
    Close(loaded);

    // 1 KiB values, on a quarter of the keys.
    const std::uint64_t big_n = std::max<std::uint64_t>(1, n / 4);
    Workloads big(big_n, 1024, config_.seed + 1);
    for (int t : thread_counts) {
      auto kept = Fresh(big, {"fillrandom", Kind::kFillRandom, big_n}, 1024, t, false, t == thread_counts.back());
      for (auto& [name, engine] : kept) loaded[name] = std::move(engine);
    }
    for (int t : thread_counts) {
      for (const EngineEntry& e : engines_) {
        Measure(big, {"readrandom", Kind::kReadRandom, big_n}, 1024, t, e.name, *loaded.at(e.name));
      }
    }
    Close(loaded);

    // Durable: every write synced (each engine's own sync option; group commit allowed), by
    // the engines that can sync.
    for (int t : thread_counts)
      Fresh(small, {"fillrandom-sync", Kind::kFillRandom, config_.durable_ops}, 100, t, true, false);
  }

  void PrintTable(std::ostream& out) const {
    out << "\n| workload | value | threads |";
    for (const EngineEntry& e : engines_) out << " " << e.name << " ops/s |";
    for (std::size_t i = 1; i < engines_.size(); ++i) out << " llama / " << engines_[i].name << " |";
    out << "\n|---|---:|---:|";
    for (std::size_t i = 0; i < 2 * engines_.size() - 1; ++i) out << "---:|";
    out << "\n";
    for (const auto& [key, by_engine] : Grouped()) {
      const auto& [order, workload, value_bytes, threads] = key;
      (void)order;
      out << "| " << workload << " | " << value_bytes << " B | " << threads << " |";
      for (const EngineEntry& e : engines_) {
        auto it = by_engine.find(e.name);
        out << " " << (it == by_engine.end() ? "-" : Human(it->second)) << " |";
      }
      const auto ours = by_engine.find("llama");
      for (std::size_t i = 1; i < engines_.size(); ++i) {
        auto peer = by_engine.find(engines_[i].name);
        char ratio[32] = "-";
        if (ours != by_engine.end() && peer != by_engine.end() && peer->second > 0) {
          std::snprintf(ratio, sizeof ratio, "%.2fx", ours->second / peer->second);
        }
        out << " " << ratio << " |";
      }
      out << "\n";
    }
  }

  void WriteJson(const std::string& path, const std::string& command) const {
    std::ofstream out(path);
    if (!out) Die("cannot write " + path);
    utsname u{};
    ::uname(&u);
    const std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
    out << "{\n  \"command\": " << JsonString(command) << ",\n  \"date\": " << JsonString(date)
        << ",\n  \"machine\": {\"cores\": " << std::thread::hardware_concurrency()
        << ", \"kernel\": " << JsonString(std::string(u.sysname) + " " + u.release)
        << "},\n  \"settings\": {\"keys\": " << config_.keys << ", \"key_bytes\": " << kKeyBytes
        << ", \"threads\": " << config_.threads << ", \"durable_ops\": " << config_.durable_ops
        << "},\n  \"engines\": {";
    for (std::size_t i = 0; i < engines_.size(); ++i) {
      auto it = descriptions_.find(engines_[i].name);
      out << (i ? ", " : "") << JsonString(engines_[i].name) << ": "
          << JsonString(it == descriptions_.end() ? "" : it->second);
    }
    out << "},\n  \"results\": [\n";
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const Row& r = rows_[i];
      out << "    {\"workload\": " << JsonString(r.workload) << ", \"value_bytes\": " << r.value_bytes
          << ", \"threads\": " << r.threads << ", \"engine\": " << JsonString(r.engine) << ", \"ops\": " << r.result.ops
          << ", \"seconds\": " << r.result.seconds << ", \"ops_per_sec\": " << r.result.ops_per_sec() << "}"
          << (i + 1 < rows_.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
  }

 private:
  using GroupKey = std::tuple<std::size_t, std::string, std::size_t, int>;  // first seen, workload, value, threads

  std::map<GroupKey, std::map<std::string, double>> Grouped() const {
    std::map<std::tuple<std::string, std::size_t, int>, std::size_t> first;
    std::map<GroupKey, std::map<std::string, double>> groups;
    for (const Row& r : rows_) {
      auto [it, added] = first.try_emplace({r.workload, r.value_bytes, r.threads}, first.size());
      groups[{it->second, r.workload, r.value_bytes, r.threads}][r.engine] = r.result.ops_per_sec();
    }
    return groups;
  }

  std::unique_ptr<KvEngine> Open(const EngineEntry& e, std::size_t value_bytes, bool sync, const std::string& tag) {
    const fs::path dir = fs::path(config_.dir) / (e.name + "-" + tag);
    fs::remove_all(dir);
    fs::create_directories(dir);
    EngineSettings settings;
    settings.dir = dir.string();
    settings.sync = sync;
    settings.value_bytes = value_bytes;
    settings.expected_keys = config_.keys;
    auto engine = e.open(settings);
    if (!engine) Die("opening " + e.name + ": " + engine.error().ToString());
    descriptions_[e.name] = (*engine)->Describe();
    dirs_[engine->get()] = dir;
    return std::move(*engine);
  }

  void Close(std::map<std::string, std::unique_ptr<KvEngine>>& engines) {
    for (auto& [name, engine] : engines) {
      const fs::path dir = dirs_[engine.get()];
      engine.reset();
      fs::remove_all(dir);
    }
    engines.clear();
  }

  // Each engine (that can sync, if `sync`) on a fresh database: runs `spec` (a row of the
  // results if `record`), then closes it unless `keep`.
  std::map<std::string, std::unique_ptr<KvEngine>> Fresh(Workloads& w, const WorkloadSpec& spec,
                                                         std::size_t value_bytes, int threads, bool sync, bool keep,
                                                         bool record = true) {
    std::map<std::string, std::unique_ptr<KvEngine>> kept;
    for (const EngineEntry& e : engines_) {
      if (sync && !e.syncs) continue;
      auto engine =
          Open(e, value_bytes, sync, spec.name + "-" + std::to_string(value_bytes) + "-" + std::to_string(threads));
      Measure(w, spec, value_bytes, threads, e.name, *engine, record);
      kept[e.name] = std::move(engine);
    }
    if (!keep) Close(kept);
    return kept;
  }

  void Measure(Workloads& w, const WorkloadSpec& spec, std::size_t value_bytes, int threads, const std::string& name,
               KvEngine& engine, bool record = true) {
    auto result = w.Run(engine, spec, threads);
    if (!result) Die(spec.name + " on " + name + ": " + result.error().ToString());
    std::fprintf(stderr, "%-16s %5zu B %2d threads %-13s %12.0f ops/s (%.2f s)%s\n", spec.name.c_str(), value_bytes,
                 threads, name.c_str(), result->ops_per_sec(), result->seconds, record ? "" : " (not a row)");
    if (record) rows_.push_back({spec.name, value_bytes, threads, name, *result});
  }

  const Config config_;
  const std::vector<EngineEntry> engines_;
  std::vector<Row> rows_;
  std::map<std::string, std::string> descriptions_;
  std::map<const KvEngine*, fs::path> dirs_;
};

}  // namespace
}  // namespace kvbench

int main(int argc, char** argv) {
  using namespace kvbench;
  Config config;
  const char* bench_dir = std::getenv("LLAMA_BENCH_DIR");
  config.dir = (fs::path(bench_dir ? bench_dir : fs::temp_directory_path().string()) /
                ("llama-kv-bench-" + std::to_string(::getpid())))
                   .string();
  CLI::App app{"The key-value comparison: llama-store's Bw-tree vs RocksDB, LMDB, LevelDB and WiredTiger"};
  app.add_option("--keys", config.keys, "keys loaded (16-byte keys, 100-byte values)")
      ->check(CLI::Range(1000, 1'000'000'000));
  app.add_option("--threads", config.threads, "the multi-threaded runs' thread count")->check(CLI::Range(1, 256));
  app.add_option("--durable-ops", config.durable_ops, "synced puts in the durable run")
      ->check(CLI::Range(100, 100'000'000));
  app.add_option("--dir", config.dir, "where the databases go (default $LLAMA_BENCH_DIR or the temp dir)");
  app.add_option("--json", config.json, "where the results go");
  app.add_option("--engines", config.engines, "a subset of: llama rocksdb rocksdb-nowal lmdb leveldb wiredtiger");
  app.add_option("--seed", config.seed, "workload seed");
  CLI11_PARSE(app, argc, argv);

  std::vector<EngineEntry> engines;
  for (EngineEntry& e : AvailableEngines()) {
    if (config.engines.empty() ||
        std::find(config.engines.begin(), config.engines.end(), e.name) != config.engines.end()) {
      engines.push_back(std::move(e));
    }
  }
  if (engines.empty() || engines.front().name != "llama") Die("llama must be among the engines (it is the subject)");
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  fs::create_directories(config.dir);
  const auto started = std::chrono::steady_clock::now();
  Bench bench(config, engines);
  bench.RunAll();
  fs::remove_all(config.dir);
  bench.PrintTable(std::cout);
  bench.WriteJson(config.json, command);
  std::printf("\n%zu engines, %.0f s in all; results in %s\n", engines.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), config.json.c_str());
  return 0;
}
