// KvEngine: the key-value interface the comparison drives, with one adapter per engine
// (llama-store's Bw-tree and, when their Debian packages are installed, RocksDB, LMDB,
// LevelDB and WiredTiger). Every adapter is used from many threads at once.
//
// Settings are chosen to be comparable (bench/kv/README.md): no compression anywhere,
// caches large enough for the whole data set, and the same sync mode: with `sync`, every
// write is durable when Put returns (each engine's own sync option; group commit where the
// engine has it), without it no engine waits for the disk. bench/kv/README.md says which
// setting gives which promise, engine by engine.
//
// Ownership: an engine owns its database files under `dir` for its lifetime; Open
// creates them, the destructor closes them (the caller removes the directory).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llama/status.h"

namespace kvbench {

using llama::Result;
using llama::Status;

struct EngineSettings {
  std::string dir;                                 // an empty directory the engine may fill
  bool sync = false;                               // every write durable before Put returns
  std::size_t cache_bytes = std::size_t{1} << 30;  // block cache / map size headroom
  std::size_t value_bytes = 100;                   // a hint (node sizes, map size)
  std::size_t expected_keys = 1'000'000;
};

class KvEngine {
 public:
  virtual ~KvEngine() = default;
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  // True and *value set if the key is there.
  virtual Result<bool> Get(std::string_view key, std::string* value) = 0;
  // Up to `n` pairs with key >= start, in order, into *out (cleared first).
  virtual Status Scan(std::string_view start, std::size_t n, std::vector<std::pair<std::string, std::string>>* out) = 0;
  // What the engine is configured with, for the report (both sync modes' settings).
  virtual std::string Describe() const = 0;
};

using EngineFactory = std::function<Result<std::unique_ptr<KvEngine>>(const EngineSettings&)>;

struct EngineEntry {
  std::string name;  // "llama", "rocksdb", "rocksdb-nowal", "lmdb", "leveldb", "wiredtiger"
  EngineFactory open;
  bool syncs = true;  // false: it cannot make a write durable when Put returns; left out of the synced rows
};

// The engines this build has, ours first.
std::vector<EngineEntry> AvailableEngines();

Result<std::unique_ptr<KvEngine>> OpenLlama(const EngineSettings& settings);
#ifdef KV_WITH_ROCKSDB
Result<std::unique_ptr<KvEngine>> OpenRocksDb(const EngineSettings& settings);
// RocksDB with WriteOptions::disableWAL: a write is in the memtable only until it is flushed
// (the promise our unsynced writes make); it cannot sync.
Result<std::unique_ptr<KvEngine>> OpenRocksDbNoWal(const EngineSettings& settings);
#endif
#ifdef KV_WITH_LMDB
Result<std::unique_ptr<KvEngine>> OpenLmdb(const EngineSettings& settings);
#endif
#ifdef KV_WITH_LEVELDB
Result<std::unique_ptr<KvEngine>> OpenLevelDb(const EngineSettings& settings);
#endif
#ifdef KV_WITH_WIREDTIGER
Result<std::unique_ptr<KvEngine>> OpenWiredTiger(const EngineSettings& settings);
#endif

// An error value from another library's status text.
inline llama::Error EngineError(const std::string& engine, const std::string& what) {
  return llama::Error(llama::ErrorCode::kIOError, engine + ": " + what);
}

}  // namespace kvbench
