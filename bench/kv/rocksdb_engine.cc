// RocksDB (Debian's librocksdb), configured to compare and tuned for point lookups as RocksDB's
// tuning guide recommends (what ColumnFamilyOptions::OptimizeForPointLookup sets, spelled out
// here so the block cache keeps our size): a 10-bit Bloom filter per table, the hash index in
// data blocks, a whole-key Bloom filter in the memtable, a block cache that holds the data
// set; with the guide's general options (dynamic level sizes, 1 MiB bytes_per_sync), no
// compression and a 64 MiB write buffer. Two variants: the WAL on (sync per the mode), and
// the WAL off (WriteOptions::disableWAL: in the memtable only until it is flushed; no sync).
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
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
  struct Resources {};  // the options' cache and filter policy are shared_ptrs the DB keeps
  static constexpr const char* kName = "rocksdb";
  static void Close(DB* db) {
    (void)db->Close();
    delete db;
  }
};

Result<std::unique_ptr<KvEngine>> Open(const EngineSettings& settings, bool wal) {
  if (settings.sync && !wal) {
    return tl::unexpected(EngineError("rocksdb", "a synced write needs the WAL (disableWAL cannot sync)"));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kNoCompression;
  options.compression_per_level.clear();
  options.write_buffer_size = 64u << 20;
  options.level_compaction_dynamic_level_bytes = true;
  options.bytes_per_sync = 1u << 20;
  options.memtable_prefix_bloom_size_ratio = 0.02;
  options.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(settings.cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  table.data_block_hash_table_util_ratio = 0.75;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, settings.dir, &db);
  if (!s.ok()) return tl::unexpected(EngineError("rocksdb", s.ToString()));
  rocksdb::WriteOptions write;
  write.sync = settings.sync;
  write.disableWAL = !wal;
  const std::string description =
      "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
      std::to_string(ROCKSDB_PATCH) + " (Debian's build: assertions on), no compression, " +
      std::to_string(settings.cache_bytes >> 20) +
      " MiB block cache, 10-bit Bloom filter, data block hash index, memtable whole-key Bloom filter (0.02), "
      "dynamic level bytes, bytes_per_sync 1 MiB, 64 MiB write buffer; " +
      (wal ? "WAL on; unsynced Put: written to the WAL file (write(2)), synced Put: WriteOptions.sync (fdatasync, "
             "group commit)"
           : "WriteOptions.disableWAL: a Put is in the memtable only until the memtable is flushed; never synced");
  return std::unique_ptr<KvEngine>(new LogStructuredEngine<RocksDbTraits>({}, db, write, description));
}

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenRocksDb(const EngineSettings& settings) { return Open(settings, true); }

Result<std::unique_ptr<KvEngine>> OpenRocksDbNoWal(const EngineSettings& settings) { return Open(settings, false); }

}  // namespace kvbench
