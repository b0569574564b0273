// LMDB (Debian's liblmdb): one environment, one database, opened MDB_WRITEMAP (commits
// write into the shared map directly, no malloc'd dirty pages; LMDB's docs: faster for a
// database that fits in RAM). Each Put is one write transaction (LMDB runs one writer at a
// time); each Get a read transaction that every thread keeps and renews, as LMDB
// recommends. Synced: no sync flag, so every commit msyncs the map and then the meta page
// with MS_SYNC before it returns. Unsynced: MDB_MAPASYNC, the flag LMDB's docs prefer to
// MDB_NOSYNC with MDB_WRITEMAP: the msyncs are MS_ASYNC (no wait; a no-op on Linux), the
// commit is in the shared map (the kernel's page cache) and the kernel writes it back when
// it likes.
#include <lmdb.h>

#include <string>

#include "bench/kv/kv_engine.h"

namespace kvbench {
namespace {

std::string LmdbError(int rc) { return mdb_strerror(rc); }

class LmdbEngine final : public KvEngine {
 public:
  LmdbEngine(MDB_env* env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
  ~LmdbEngine() override { mdb_env_close(env_); }

  Status Put(std::string_view key, std::string_view value) override {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return Fail(rc);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (int rc = mdb_put(txn, dbi_, &k, &v, 0); rc != 0) {
      mdb_txn_abort(txn);
      return Fail(rc);
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return Fail(rc);
    return llama::OkStatus();
  }
  Result<bool> Get(std::string_view key, std::string* value) override {
    auto txn = ReadTxn();
    LLAMA_RETURN_IF_ERROR(txn);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    const int rc = mdb_get(*txn, dbi_, &k, &v);
    bool found = false;
    if (rc == 0) {
      value->assign(static_cast<const char*>(v.mv_data), v.mv_size);
      found = true;
    }
    mdb_txn_reset(*txn);
    if (rc != 0 && rc != MDB_NOTFOUND) return tl::unexpected(EngineError("lmdb", LmdbError(rc)));
    return found;
  }
  Status Scan(std::string_view start, std::size_t n, std::vector<std::pair<std::string, std::string>>* out) override {
    out->clear();
    auto txn = ReadTxn();
    LLAMA_RETURN_IF_ERROR(txn);
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(*txn, dbi_, &cursor);
    if (rc == 0) {
      MDB_val k{start.size(), const_cast<char*>(start.data())};
      MDB_val v;
      for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < n;
           rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        out->emplace_back(std::string(static_cast<const char*>(k.mv_data), k.mv_size),
                          std::string(static_cast<const char*>(v.mv_data), v.mv_size));
      }
      mdb_cursor_close(cursor);
    }
    mdb_txn_reset(*txn);
    if (rc != 0 && rc != MDB_NOTFOUND) return Fail(rc);
    return llama::OkStatus();
  }
  std::string Describe() const override {
    return std::string(MDB_VERSION_STRING) +
           ", MDB_WRITEMAP, one write transaction per Put; unsynced Put: MDB_MAPASYNC (committed into the shared map, "
           "msync MS_ASYNC), synced Put: msync MS_SYNC of the map and the meta page per commit";
  }

 private:
  static Status Fail(int rc) { return tl::unexpected(EngineError("lmdb", LmdbError(rc))); }

  // This thread's read transaction, renewed (one per thread and environment; LMDB keeps a
  // reader slot per thread). The environment outlives every thread that reads it here.
  Result<MDB_txn*> ReadTxn() {
    struct Slot {
      MDB_env* env = nullptr;
      MDB_txn* txn = nullptr;
      ~Slot() {
        if (txn != nullptr) mdb_txn_abort(txn);
      }
    };
    thread_local Slot slot;
    if (slot.env != env_) {
      if (slot.txn != nullptr) mdb_txn_abort(slot.txn);
      slot.txn = nullptr;
      slot.env = env_;
      if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &slot.txn); rc != 0) {
        slot.env = nullptr;
        return tl::unexpected(EngineError("lmdb", LmdbError(rc)));
      }
      return slot.txn;
    }
    if (int rc = mdb_txn_renew(slot.txn); rc != 0) return tl::unexpected(EngineError("lmdb", LmdbError(rc)));
    return slot.txn;
  }

  MDB_env* env_;
  MDB_dbi dbi_;
};

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenLmdb(const EngineSettings& settings) {
  MDB_env* env = nullptr;
  auto fail = [&](int rc) -> Result<std::unique_ptr<KvEngine>> {
    if (env != nullptr) mdb_env_close(env);
    return tl::unexpected(EngineError("lmdb", LmdbError(rc)));
  };
  if (int rc = mdb_env_create(&env); rc != 0) return fail(rc);
  // Room for the data set several times over (the map is sparse until written).
  const std::size_t data = settings.expected_keys * (settings.value_bytes + 64);
  if (int rc = mdb_env_set_mapsize(env, std::max<std::size_t>(std::size_t{1} << 30, 4 * data)); rc != 0)
    return fail(rc);
  if (int rc = mdb_env_set_maxreaders(env, 512); rc != 0) return fail(rc);
  const unsigned flags = MDB_WRITEMAP | (settings.sync ? 0u : MDB_MAPASYNC);
  if (int rc = mdb_env_open(env, settings.dir.c_str(), flags, 0644); rc != 0) return fail(rc);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) return fail(rc);
  if (int rc = mdb_dbi_open(txn, nullptr, 0, &dbi); rc != 0) {
    mdb_txn_abort(txn);
    return fail(rc);
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return fail(rc);
  return std::unique_ptr<KvEngine>(new LmdbEngine(env, dbi));
}

}  // namespace kvbench
