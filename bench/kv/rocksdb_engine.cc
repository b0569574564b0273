// RocksDB (Debian's librocksdb), configured to compare: no compression, a block cache
// that holds the data set, a 64 MiB write buffer, the WAL on, sync per the mode.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>

#include "bench/kv/log_structured_engine.h"

namespace kvbench {
namespace {

struct RocksDbTraits {
  using DB = rocksdb::DB;
  using Slice = rocksdb::Slice;
  using ReadOptions = rocksdb::ReadOptions;
  using WriteOptions = rocksdb::WriteOptions;
  using Iterator = rocksdb::Iterator;
  static constexpr const char* kName = "rocksdb";
  static void Close(DB* db) {
    (void)db->Close();
    delete db;
  }
};

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenRocksDb(const EngineSettings& settings) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kNoCompression;
  options.compression_per_level.clear();
  options.write_buffer_size = 64u << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(settings.cache_bytes);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, settings.dir, &db);
  if (!s.ok()) return tl::unexpected(EngineError("rocksdb", s.ToString()));
  const std::string description = "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) +
                                  "." + std::to_string(ROCKSDB_PATCH) + ", no compression, " +
                                  std::to_string(settings.cache_bytes >> 20) +
                                  " MiB block cache, 64 MiB write buffer, WAL on";
  return std::unique_ptr<KvEngine>(new LogStructuredEngine<RocksDbTraits>(db, settings.sync, description));
}

}  // namespace kvbench
