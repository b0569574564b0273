// The vector's buffer pages, one per writer slot: an empty base page with the writes'
// entries prepended as Update deltas. Created with the vector, read by the rebuilder and
// by recovery (Collect), and cut down once a publication covers their older entries
// (TruncateBuffers). Writers prepend to them in vector_write.cc.
#include <algorithm>

#include "rebuild/vector_impl.h"
#include "util/byte_io.h"

namespace llama {

std::vector<std::byte> VectorImpl::BufferBaseContents() {
  std::vector<std::byte> out;
  ByteWriter(out).U32(vector_format::kBufferMagic);
  return out;
}

std::int64_t VectorImpl::BufferedBytes(const DeltaRecord& delta) {
  return static_cast<std::int64_t>(delta.bytes().size()) + kBufferedEntryOverhead;
}

Status VectorImpl::CreateBuffers(VectorConfig* config) {
  auto guard = store_.EnterGeneration();
  for (PageId& pid : config->buffers) {
    auto allocated = store_.Allocate();
    LLAMA_RETURN_IF_ERROR(allocated);
    pid = *allocated;
    auto page = BasePage::Create(pid, BasePage::kMinPageSize, BufferBaseContents());
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto installed = store_.UpdateR(guard, pid, PageRef::Empty(), chain);
    LLAMA_RETURN_IF_ERROR(installed);
    LLAMA_RETURN_IF_ERROR(store_.Flush(guard, pid));
  }
  return OkStatus();
}

Result<VectorImpl::Batch> VectorImpl::Collect(std::uint64_t from, std::uint64_t cut, std::uint64_t* max_timestamp) {
  Batch batch;
  batch.cut = cut;
  auto guard = store_.EnterGeneration();
  for (PageId pid : config_.buffers) {
    auto ref = store_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    for (const PageNode& node : ref->state()) {
      if (!node.is_delta() || !node.delta()->view().is_update()) continue;
      auto payload = node.delta()->view().payload();
      const std::string where = "buffer page " + std::to_string(pid) + ": ";
      // Every entry's timestamp is checked, not only those of the batch: recovery sets the
      // clock past the largest, which must not wrap.
      auto ts = EntryTimestamp(payload);
      if (!ts) return Corrupt(where + ts.error().message());
      if (max_timestamp != nullptr) *max_timestamp = std::max(*max_timestamp, *ts);
      if (*ts < from || *ts >= cut) continue;
      auto entry = DecodeEntry(payload);
      if (!entry) return Corrupt(where + entry.error().message());
      // Write refused such a value for this vector's leaves: a longer one is damage, not
      // a write to reject at replay.
      if (auto s = ValidateOps(entry->ops, max_value_size()); !s) {
        return Corrupt(where + s.error().message());
      }
      batch.entries.push_back(std::move(*entry));
    }
  }
  return batch;
}

Status VectorImpl::TruncateBuffers(std::uint64_t cut) {
  auto guard = store_.EnterGeneration();
  for (std::size_t slot = 0; slot < config_.buffers.size(); ++slot) {
    LLAMA_RETURN_IF_ERROR(TruncateBuffer(guard, slot, cut));
  }
  return OkStatus();
}

// Replaces the page's state by a fresh base and the entries at or above `cut`, keeping
// their records (nodes share records through handles), and flushes it. A writer's prepend
// in between makes the replacement lose its CAS: then again, from the new head.
Status VectorImpl::TruncateBuffer(const GenerationGuard& guard, std::size_t slot, std::uint64_t cut) {
  const PageId pid = config_.buffers[slot];
  for (;;) {
    auto ref = store_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    std::vector<DeltaHandle> kept;  // newest first
    std::int64_t dropped_bytes = 0;
    bool consumed_any = false;
    for (const PageNode* node = ref->state().head(); node != nullptr; node = node->next()) {
      if (!node->is_delta() || !node->delta()->view().is_update()) continue;
      auto ts = EntryTimestamp(node->delta()->view().payload());
      if (!ts) return Corrupt("buffer page " + std::to_string(pid) + ": " + ts.error().message());
      if (*ts >= cut) {
        kept.push_back(node->delta_handle());
      } else {
        consumed_any = true;
        dropped_bytes += BufferedBytes(*node->delta());
      }
    }
    if (!consumed_any) return OkStatus();
    auto page = BasePage::Create(pid, BasePage::kMinPageSize, BufferBaseContents());
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) chain = PageChainBuilder::Prepend(*it, std::move(chain));
    auto out = store_.UpdateR(guard, pid, *ref, chain);
    LLAMA_RETURN_IF_ERROR(out);
    if (!out->installed) continue;
    slots_[slot].live_bytes.fetch_sub(dropped_bytes);
    // A flush that keeps losing to this page's writers (Busy) is left to the next flush of
    // the page: until then the log holds the consumed entries too, and recovery skips
    // them (it replays only what is above the published watermark).
    auto flushed = store_.Flush(guard, pid);
    if (!flushed && flushed.error().code() != ErrorCode::kBusy) return tl::unexpected(flushed.error());
    return OkStatus();
  }
}

}  // namespace llama
