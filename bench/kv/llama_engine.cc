// The Bw-tree on llama-store, as the comparison drives it.
#include <string>

#include "bench/kv/kv_engine.h"
#include "examples/bwtree/bwtree.h"
#include "llama/store.h"

namespace kvbench {
namespace {

class LlamaEngine final : public KvEngine {
 public:
  LlamaEngine(std::unique_ptr<llama::Store> store, std::unique_ptr<llama::bwtree::BwTree> tree, bool sync)
      : store_(std::move(store)), tree_(std::move(tree)), sync_(sync) {}
  ~LlamaEngine() override {
    tree_.reset();
    (void)store_->Close();
  }

  Status Put(std::string_view key, std::string_view value) override { return tree_->Put(key, value, {.sync = sync_}); }
  Result<bool> Get(std::string_view key, std::string* value) override {
    auto got = tree_->Get(key);
    LLAMA_RETURN_IF_ERROR(got);
    if (!*got) return false;
    *value = std::move(**got);
    return true;
  }
  Status Scan(std::string_view start, std::size_t n, std::vector<std::pair<std::string, std::string>>* out) override {
    auto rows = tree_->Scan(start, n);
    LLAMA_RETURN_IF_ERROR(rows);
    *out = std::move(*rows);
    return llama::OkStatus();
  }
  std::string Describe() const override {
    const auto& o = tree_->options();
    return "Bw-tree, node_bytes " + std::to_string(o.node_bytes) + ", consolidate_after " +
           std::to_string(o.consolidate_after) + "; store: io " + store_->stats().io_backend +
           ", no compression, no memory budget, 64 MiB segments, 4 x 1 MiB flush buffers; unsynced Put: a delta in "
           "memory until its page is flushed, synced Put: flush the leaf, Store::Sync (group commit)";
  }

 private:
  std::unique_ptr<llama::Store> store_;
  std::unique_ptr<llama::bwtree::BwTree> tree_;
  const bool sync_;
};

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenLlama(const EngineSettings& settings) {
  llama::StoreOptions options;
  options.compression_level = 0;  // the peers run without compression too
  auto store = llama::Store::Open(settings.dir, options);
  LLAMA_RETURN_IF_ERROR(store);
  llama::bwtree::BwTreeOptions tree_options;
  // Nodes of about 60 entries at either value size.
  tree_options.node_bytes = settings.value_bytes > 256 ? 32 * 1024 : 8 * 1024;
  auto tree = llama::bwtree::BwTree::Open(**store, "kv", tree_options);
  LLAMA_RETURN_IF_ERROR(tree);
  return std::unique_ptr<KvEngine>(new LlamaEngine(std::move(*store), std::move(*tree), settings.sync));
}

}  // namespace kvbench
