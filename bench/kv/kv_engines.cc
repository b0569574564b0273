#include "bench/kv/kv_engine.h"

namespace kvbench {

std::vector<EngineEntry> AvailableEngines() {
  std::vector<EngineEntry> engines{{"llama", OpenLlama}};
#ifdef KV_WITH_ROCKSDB
  engines.push_back({"rocksdb", OpenRocksDb});
  engines.push_back({"rocksdb-nowal", OpenRocksDbNoWal, /*syncs=*/false});
#endif
#ifdef KV_WITH_LMDB
  engines.push_back({"lmdb", OpenLmdb});
#endif
#ifdef KV_WITH_LEVELDB
  engines.push_back({"leveldb", OpenLevelDb});
#endif
#ifdef KV_WITH_WIREDTIGER
  engines.push_back({"wiredtiger", OpenWiredTiger});
#endif
  return engines;
}

}  // namespace kvbench
