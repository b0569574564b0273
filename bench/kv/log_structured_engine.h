// LogStructuredEngine: the adapter RocksDB and LevelDB share. Their APIs have the same
// shape (DB::Put / Get / NewIterator over Slices, a Status with IsNotFound), so one
// template over a traits type serves both; each engine's .cc supplies the traits, opens
// the database and chooses the write options (sync, and RocksDB's disableWAL).
//
// Ownership: the engine owns the DB and the Traits::Resources the DB was opened with (the
// block cache and filter policy LevelDB leaves to the caller), released after the DB.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/kv/kv_engine.h"

namespace kvbench {

// Traits: DB, Slice, ReadOptions, WriteOptions, Iterator and Resources types; static
// Close(DB*) and a name for messages.
template <typename Traits>
class LogStructuredEngine final : public KvEngine {
 public:
  using DB = typename Traits::DB;
  using Slice = typename Traits::Slice;
  using WriteOptions = typename Traits::WriteOptions;
  using Resources = typename Traits::Resources;

  LogStructuredEngine(Resources resources, DB* db, const WriteOptions& write, std::string description)
      : resources_(std::move(resources)), db_(db), write_(write), description_(std::move(description)) {}
  ~LogStructuredEngine() override { Traits::Close(db_); }  // resources_ go after it

  Status Put(std::string_view key, std::string_view value) override {
    auto s = db_->Put(write_, Slice(key.data(), key.size()), Slice(value.data(), value.size()));
    if (!s.ok()) return Fail(s.ToString());
    return llama::OkStatus();
  }
  Result<bool> Get(std::string_view key, std::string* value) override {
    auto s = db_->Get(typename Traits::ReadOptions(), Slice(key.data(), key.size()), value);
    if (s.IsNotFound()) return false;
    if (!s.ok()) return Fail(s.ToString());
    return true;
  }
  Status Scan(std::string_view start, std::size_t n, std::vector<std::pair<std::string, std::string>>* out) override {
    out->clear();
    std::unique_ptr<typename Traits::Iterator> it(db_->NewIterator(typename Traits::ReadOptions()));
    for (it->Seek(Slice(start.data(), start.size())); it->Valid() && out->size() < n; it->Next()) {
      out->emplace_back(it->key().ToString(), it->value().ToString());
    }
    if (!it->status().ok()) return Fail(it->status().ToString());
    return llama::OkStatus();
  }
  std::string Describe() const override { return description_; }

 private:
  static tl::unexpected<llama::Error> Fail(const std::string& what) {
    return tl::unexpected(EngineError(Traits::kName, what));
  }

  Resources resources_;
  DB* db_;
  const WriteOptions write_;
  const std::string description_;
};

}  // namespace kvbench
