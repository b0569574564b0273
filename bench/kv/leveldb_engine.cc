// LevelDB (Debian's libleveldb), configured like RocksDB: no compression, a block cache
// that holds the data set, a 10-bit Bloom filter per table (LevelDB's documented filter
// setup: NewBloomFilterPolicy(10), deleted after the database), a 64 MiB write buffer,
// sync per the mode.
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>

#include "bench/kv/log_structured_engine.h"

namespace kvbench {
namespace {

struct LevelDbTraits {
  using DB = leveldb::DB;
  using Slice = leveldb::Slice;
  using ReadOptions = leveldb::ReadOptions;
  using WriteOptions = leveldb::WriteOptions;
  using Iterator = leveldb::Iterator;
  // LevelDB leaves the block cache and the filter policy to the caller, to delete after the
  // database.
  struct Resources {
    std::unique_ptr<leveldb::Cache> cache;
    std::unique_ptr<const leveldb::FilterPolicy> filter;
  };
  static constexpr const char* kName = "leveldb";
  static void Close(DB* db) { delete db; }
};

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenLevelDb(const EngineSettings& settings) {
  LevelDbTraits::Resources resources{std::unique_ptr<leveldb::Cache>(leveldb::NewLRUCache(settings.cache_bytes)),
                                     std::unique_ptr<const leveldb::FilterPolicy>(leveldb::NewBloomFilterPolicy(10))};
  leveldb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.compression = leveldb::kNoCompression;
  options.write_buffer_size = 64u << 20;
  options.block_cache = resources.cache.get();
  options.filter_policy = resources.filter.get();
  leveldb::DB* db = nullptr;
  auto s = leveldb::DB::Open(options, settings.dir, &db);
  if (!s.ok()) return tl::unexpected(EngineError("leveldb", s.ToString()));
  leveldb::WriteOptions write;
  write.sync = settings.sync;
  const std::string description =
      "LevelDB " + std::to_string(leveldb::kMajorVersion) + "." + std::to_string(leveldb::kMinorVersion) +
      " (Debian's build: assertions on), no compression, " + std::to_string(settings.cache_bytes >> 20) +
      " MiB block cache, 10-bit Bloom filter, 64 MiB write buffer; unsynced Put: written to the log file (write(2)), "
      "synced Put: WriteOptions.sync (fdatasync, group commit)";
  return std::unique_ptr<KvEngine>(
      new LogStructuredEngine<LevelDbTraits>(std::move(resources), db, write, description));
}

}  // namespace kvbench
