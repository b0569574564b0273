// LevelDB (Debian's libleveldb), configured like RocksDB: no compression, a block cache
// that holds the data set, a 64 MiB write buffer, sync per the mode.
#include <leveldb/cache.h>
#include <leveldb/db.h>

#include <map>
#include <mutex>

#include "bench/kv/log_structured_engine.h"

namespace kvbench {
namespace {

struct LevelDbTraits {
  using DB = leveldb::DB;
  using Slice = leveldb::Slice;
  using ReadOptions = leveldb::ReadOptions;
  using WriteOptions = leveldb::WriteOptions;
  using Iterator = leveldb::Iterator;
  static constexpr const char* kName = "leveldb";
  static void Close(DB* db);
};

// LevelDB leaves the block cache to the caller: each open database's cache, deleted
// after the database.
std::mutex caches_mu;
std::map<leveldb::DB*, std::unique_ptr<leveldb::Cache>> caches;

void LevelDbTraits::Close(DB* db) {
  delete db;
  std::lock_guard lock(caches_mu);
  caches.erase(db);
}

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenLevelDb(const EngineSettings& settings) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.compression = leveldb::kNoCompression;
  options.write_buffer_size = 64u << 20;
  std::unique_ptr<leveldb::Cache> cache(leveldb::NewLRUCache(settings.cache_bytes));
  options.block_cache = cache.get();
  leveldb::DB* db = nullptr;
  auto s = leveldb::DB::Open(options, settings.dir, &db);
  if (!s.ok()) return tl::unexpected(EngineError("leveldb", s.ToString()));
  {
    std::lock_guard lock(caches_mu);
    caches[db] = std::move(cache);
  }
  const std::string description = "LevelDB " + std::to_string(leveldb::kMajorVersion) + "." +
                                  std::to_string(leveldb::kMinorVersion) + ", no compression, " +
                                  std::to_string(settings.cache_bytes >> 20) + " MiB block cache, 64 MiB write buffer";
  return std::unique_ptr<KvEngine>(new LogStructuredEngine<LevelDbTraits>(db, settings.sync, description));
}

}  // namespace kvbench
