// Opening a vector: creating it on first use (its buffer pages and meta page), or
// recovering it: the newest logged publication, then every durable entry at or above its
// watermark replayed in timestamp order in one batch, as the rebuilder would have (see
// "Durability" in include/llama/vector.h).
#include <algorithm>

#include "rebuild/vector_impl.h"

namespace llama {

namespace {
// The open end of recovery's scan: above every timestamp an entry may carry
// (vector_format::kMaxTimestamp), so the scan collects every entry at or above the
// watermark.
constexpr std::uint64_t kScanToTheEnd = UINT64_MAX;
static_assert(kScanToTheEnd > vector_format::kMaxTimestamp);
}  // namespace

Status VectorImpl::Recover(std::string_view name) {
  auto meta = store_.OpenRoot("vector:" + std::string(name));
  LLAMA_RETURN_IF_ERROR(meta);
  meta_ = *meta;
  auto publication = LoadMeta();
  LLAMA_RETURN_IF_ERROR(publication);
  slots_ = std::make_unique<Slot[]>(config_.buffers.size());
  consumed_ = std::max<std::uint64_t>(publication->watermark, vector_format::kMinTimestamp);
  current_ = std::make_shared<const PublishedTree>(
      publication->generation, consumed_, RrbBuilder::Tree{publication->root, publication->height, publication->size},
      &store_, &config_);
  for (PageId pid : publication->pending_free) pending_free_.push_back({pid, 0, publication->generation});

  std::uint64_t max_timestamp = 0;
  auto batch = Collect(consumed_, kScanToTheEnd, &max_timestamp);
  LLAMA_RETURN_IF_ERROR(batch);
  const std::size_t durable = batch->entries.size();
  LLAMA_RETURN_IF_ERROR(KeepGapFreeRun(consumed_, &batch->entries));
  // Collect checked every timestamp against kMaxTimestamp, so this does not wrap. The
  // clock and the publication's watermark go past the entries left out too: they are
  // never replayed (the rebuild drops them from the buffers), and no later write reuses
  // their timestamps.
  clock_.store(std::max(consumed_, max_timestamp + 1));
  batch->cut = clock_.load();
  metrics_.replayed_at_open = batch->entries.size();
  metrics_.dropped_at_open = durable - batch->entries.size();
  watermark_ = consumed_;
  if (durable == 0 && pending_free_.empty()) return OkStatus();
  return RebuildAndPublish(std::move(*batch));
}

// Timestamps are dense: every one the clock handed out from a publication's watermark on
// became an entry, or the write failed the vector (Write). So a missing timestamp is a
// write that was lost in the crash, and every durable entry after it was written after
// that write took its place in the order, possibly against it (an index computed on a
// vector holding it): none of them was acknowledged as synced (a sync covers every
// earlier write), and replaying them would not be a prefix of what happened. The run
// starting at the watermark is kept, sorted; the rest is left out.
Status VectorImpl::KeepGapFreeRun(std::uint64_t from, std::vector<VectorEntry>* entries) {
  std::sort(entries->begin(), entries->end(),
            [](const VectorEntry& a, const VectorEntry& b) { return a.timestamp < b.timestamp; });
  for (std::size_t i = 1; i < entries->size(); ++i) {
    const std::uint64_t ts = (*entries)[i].timestamp;
    if (ts == (*entries)[i - 1].timestamp) return Corrupt("two entries with timestamp " + std::to_string(ts));
  }
  std::size_t run = 0;
  while (run < entries->size() && (*entries)[run].timestamp == from + run) ++run;
  entries->resize(run);
  return OkStatus();
}

Result<VectorPublication> VectorImpl::LoadMeta() {
  VectorPublication newest;  // none yet: the empty vector, nothing below the first timestamp
  newest.watermark = vector_format::kMinTimestamp;
  auto guard = store_.EnterGeneration();
  auto ref = store_.Read(guard, meta_);
  LLAMA_RETURN_IF_ERROR(ref);
  const BasePage* base = ref->state().base();
  if (base == nullptr) return Corrupt("meta page " + std::to_string(meta_) + " has no base page");
  if (base->used() == 0) {  // a new catalog root
    LLAMA_RETURN_IF_ERROR(Create());
    return newest;
  }
  auto config = DecodeMeta(base->contents());
  LLAMA_RETURN_IF_ERROR(config);
  config_ = std::move(*config);
  for (const PageNode& node : ref->state()) {  // newest first: the first publication wins
    if (!node.is_delta() || !node.delta()->view().is_update()) continue;
    auto payload = node.delta()->view().payload();
    if (VectorPayloadTag(payload) != vector_format::kPublicationTag) continue;
    return DecodePublication(payload);
  }
  return newest;
}

Status VectorImpl::Create() {
  VectorConfig config;
  config.branching = options_.branching;
  config.leaf_max_elements =
      options_.leaf_max_elements != 0 ? options_.leaf_max_elements : MaxLeafElements(options_.leaf_page_size);
  config.leaf_page_size = options_.leaf_page_size;
  config.buffers.assign(options_.writer_slots, 0);
  LLAMA_RETURN_IF_ERROR(ValidateVectorConfig(config));
  // Known limit (docs/DESIGN.md): a crash between here and the meta page's sync leaks the
  // buffer pages.
  LLAMA_RETURN_IF_ERROR(CreateBuffers(&config));
  LLAMA_RETURN_IF_ERROR(WriteMetaBase(config));
  config_ = std::move(config);
  return OkStatus();
}

// The meta page's base: the configuration, written and synced, after which the vector
// exists.
Status VectorImpl::WriteMetaBase(const VectorConfig& config) {
  auto encoded = EncodeMeta(config);
  LLAMA_RETURN_IF_ERROR(encoded);
  const std::vector<std::byte>& contents = *encoded;
  auto guard = store_.EnterGeneration();
  for (;;) {
    auto ref = store_.Read(guard, meta_);
    LLAMA_RETURN_IF_ERROR(ref);
    // The buffer list is at most kMaxSlots ids, so some page size always holds it
    // (static_assert in vector_format.h).
    auto page =
        BasePage::Create(meta_, BasePage::SmallestSizeFor(contents.size()).value_or(BasePage::kMaxPageSize), contents);
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto installed = store_.UpdateR(guard, meta_, *ref, chain);
    LLAMA_RETURN_IF_ERROR(installed);
    if (installed->installed) break;
  }
  auto pos = store_.Flush(guard, meta_);
  LLAMA_RETURN_IF_ERROR(pos);
  return store_.Sync(*pos);
}

}  // namespace llama
