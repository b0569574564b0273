// WiredTiger (Debian's libwiredtiger): one connection, one B-tree table (key_format=u,
// value_format=u: raw bytes; no block compressor, so no compression), a session and a
// cursor per thread (a session is single-threaded), every operation an auto-commit
// transaction. The cache holds the data set, like the others' block caches. Logging is on
// in both modes (commit-level durability; without it a write is durable only at the next
// checkpoint), and no periodic checkpoints run. Synced: transaction_sync=(enabled=true,
// method=fsync), every commit's log record is flushed to disk before it returns (concurrent
// commits share a flush: group commit). Unsynced: method=none, every commit's log record is
// written to the log file (write(2)) before it returns, never flushed: it survives a
// process crash, not a power cut, like RocksDB's and LevelDB's unsynced writes to their log.
#include <wiredtiger.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/kv/kv_engine.h"

namespace kvbench {
namespace {

constexpr const char* kTable = "table:kv";

tl::unexpected<llama::Error> Fail(int rc) { return tl::unexpected(EngineError("wiredtiger", wiredtiger_strerror(rc))); }

WT_ITEM Item(std::string_view bytes) {
  WT_ITEM item{};
  item.data = bytes.data();
  item.size = bytes.size();
  return item;
}

std::string Bytes(const WT_ITEM& item) { return std::string(static_cast<const char*>(item.data), item.size); }

// A thread's session and its cursor on the table.
struct Handle {
  WT_SESSION* session = nullptr;
  WT_CURSOR* cursor = nullptr;
};

// The handles of threads that ended, for the next threads to take (each run starts new
// threads); closing the connection closes them with every other session.
struct IdleHandles {
  std::mutex mu;
  std::vector<Handle> handles;
};

class WiredTigerEngine final : public KvEngine {
 public:
  WiredTigerEngine(WT_CONNECTION* conn, std::string description) : conn_(conn), description_(std::move(description)) {}
  ~WiredTigerEngine() override { (void)conn_->close(conn_, nullptr); }

  Status Put(std::string_view key, std::string_view value) override {
    auto cursor = Cursor();
    LLAMA_RETURN_IF_ERROR(cursor);
    WT_CURSOR* c = *cursor;
    WT_ITEM k = Item(key);
    WT_ITEM v = Item(value);
    int rc = 0;
    do {  // WT_ROLLBACK: a concurrent update of the key; the auto-commit transaction is redone
      c->set_key(c, &k);
      c->set_value(c, &v);
      rc = c->insert(c);
    } while (rc == WT_ROLLBACK);
    if (rc != 0) return Fail(rc);
    return llama::OkStatus();
  }
  Result<bool> Get(std::string_view key, std::string* value) override {
    auto cursor = Cursor();
    LLAMA_RETURN_IF_ERROR(cursor);
    WT_CURSOR* c = *cursor;
    WT_ITEM k = Item(key);
    c->set_key(c, &k);
    int rc = c->search(c);
    if (rc == 0) {
      WT_ITEM v{};
      rc = c->get_value(c, &v);
      if (rc == 0) *value = Bytes(v);
    }
    const int reset = c->reset(c);  // let go of the page the search pinned
    if (rc == WT_NOTFOUND) return false;
    if (rc == 0) rc = reset;
    if (rc != 0) return Fail(rc);
    return true;
  }
  Status Scan(std::string_view start, std::size_t n, std::vector<std::pair<std::string, std::string>>* out) override {
    out->clear();
    auto cursor = Cursor();
    LLAMA_RETURN_IF_ERROR(cursor);
    WT_CURSOR* c = *cursor;
    WT_ITEM k = Item(start);
    c->set_key(c, &k);
    int exact = 0;
    int rc = c->search_near(c, &exact);
    if (rc == 0 && exact < 0) rc = c->next(c);  // it landed on the key before `start`
    for (; rc == 0 && out->size() < n; rc = c->next(c)) {
      WT_ITEM key_item{};
      WT_ITEM value_item{};
      if ((rc = c->get_key(c, &key_item)) != 0 || (rc = c->get_value(c, &value_item)) != 0) break;
      out->emplace_back(Bytes(key_item), Bytes(value_item));
    }
    const int reset = c->reset(c);
    if (rc == WT_NOTFOUND || rc == 0) rc = reset;
    if (rc != 0) return Fail(rc);
    return llama::OkStatus();
  }
  std::string Describe() const override { return description_; }

 private:
  // This thread's cursor. A thread keeps its handle for its life and then leaves it to the
  // engine's idle list, unless the engine is gone (and the handle closed with it).
  Result<WT_CURSOR*> Cursor() {
    struct Slot {
      std::weak_ptr<IdleHandles> owner;
      const IdleHandles* owner_id = nullptr;  // owner's address, checked without locking it
      Handle handle;
      void Release() {
        if (auto idle = owner.lock()) {
          std::lock_guard lock(idle->mu);
          idle->handles.push_back(handle);
        }
        owner.reset();
        owner_id = nullptr;
        handle = {};
      }
      ~Slot() { Release(); }
    };
    thread_local Slot slot;
    if (slot.owner_id == idle_.get() && !slot.owner.expired()) return slot.handle.cursor;
    slot.Release();
    Handle handle;
    {
      std::lock_guard lock(idle_->mu);
      if (!idle_->handles.empty()) {
        handle = idle_->handles.back();
        idle_->handles.pop_back();
      }
    }
    if (handle.session == nullptr) {
      if (int rc = conn_->open_session(conn_, nullptr, nullptr, &handle.session); rc != 0) return Fail(rc);
      if (int rc = handle.session->open_cursor(handle.session, kTable, nullptr, nullptr, &handle.cursor); rc != 0) {
        (void)handle.session->close(handle.session, nullptr);
        return Fail(rc);
      }
    }
    slot.owner = idle_;
    slot.owner_id = idle_.get();
    slot.handle = handle;
    return handle.cursor;
  }

  WT_CONNECTION* const conn_;
  const std::shared_ptr<IdleHandles> idle_ = std::make_shared<IdleHandles>();
  const std::string description_;
};

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenWiredTiger(const EngineSettings& settings) {
  const std::string method = settings.sync ? "fsync" : "none";
  // session_max: a session per thread (up to kv_bench's 256) and WiredTiger's own.
  const std::string config =
      "create,exclusive=true,use_environment=false,cache_size=" + std::to_string(settings.cache_bytes) +
      ",session_max=512,log=(enabled=true),transaction_sync=(enabled=true,method=" + method + ")";
  WT_CONNECTION* conn = nullptr;
  if (int rc = wiredtiger_open(settings.dir.c_str(), nullptr, config.c_str(), &conn); rc != 0) return Fail(rc);
  const std::string description =
      "WiredTiger " + std::to_string(WIREDTIGER_VERSION_MAJOR) + "." + std::to_string(WIREDTIGER_VERSION_MINOR) + "." +
      std::to_string(WIREDTIGER_VERSION_PATCH) + ", B-tree table key_format=u,value_format=u, no compression, " +
      std::to_string(settings.cache_bytes >> 20) +
      " MiB cache, a session and cursor per thread, auto-commit, log on, no periodic checkpoints; unsynced Put: "
      "transaction_sync=(enabled=true,method=none) (log record written with write(2) at commit), synced Put: "
      "method=fsync (group commit)";
  auto engine = std::make_unique<WiredTigerEngine>(conn, description);  // closes conn from here on
  WT_SESSION* session = nullptr;
  if (int rc = conn->open_session(conn, nullptr, nullptr, &session); rc != 0) return Fail(rc);
  if (int rc = session->create(session, kTable, "key_format=u,value_format=u"); rc != 0) return Fail(rc);
  if (int rc = session->close(session, nullptr); rc != 0) return Fail(rc);
  return std::unique_ptr<KvEngine>(std::move(engine));
}

}  // namespace kvbench
