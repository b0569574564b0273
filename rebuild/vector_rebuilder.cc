// The rebuilder (one thread per vector): Sleeping until there is work, RotatingBuffers
// (the cut), CollectingEntries, SortingEntries, PublishingSnapshot (replaying the batch
// with RrbBuilder, logging the publication, swapping it in, freeing the pages no reader
// can reach, truncating the buffers). Recovery runs one rebuild the same way at Open.
//
// Reclamation: a tree page created by publication c and dropped by publication d is
// visible to snapshots of generations c..d-1 only; it waits in pending_free_ until no
// publication of those generations is held (retired_ keeps weak pointers to the replaced
// ones), and is freed only after a publication that no longer lists it is logged.
#include <algorithm>
#include <chrono>

#include "rebuild/vector_impl.h"

namespace llama {

void VectorImpl::RebuilderLoop() {
  struct Exit {
    VectorImpl& v;
    ~Exit() {
      std::lock_guard lock(v.mu_);
      v.rebuilder_exited_ = true;
      v.phase_.store(RebuildPhase::kSleeping);
      v.visible_cv_.notify_all();
    }
  } on_exit{*this};
  for (;;) {
    bool stopping = false;
    if (!WaitForWork(&stopping)) return;
    phase_.store(RebuildPhase::kRotatingBuffers);
    const std::uint64_t cut = Cut();
    if (cut > consumed_) {
      if (auto s = RebuildTo(cut); !s) {
        Fail(s);
        return;
      }
    }
    if (stopping && Cut() <= consumed_) {
      phase_.store(RebuildPhase::kSleeping);
      return;
    }
  }
}

bool VectorImpl::WaitForWork(bool* stopping) {
  std::unique_lock lock(mu_);
  phase_.store(RebuildPhase::kSleeping);
  rebuild_cv_.wait_for(lock, std::chrono::microseconds(options_.max_delay_us), [&] {
    return stop_ || wake_ || hold_ ||
           static_cast<std::int64_t>(pending_.load()) >= static_cast<std::int64_t>(batch_window_.load());
  });
  for (parked_ = hold_ && !stop_; parked_; parked_ = hold_ && !stop_) {
    visible_cv_.notify_all();  // HoldRebuilderForTesting waits for this
    rebuild_cv_.wait(lock);
  }
  *stopping = stop_;
  wake_ = false;
  return failed_.has_value();
}

Status VectorImpl::RebuildTo(std::uint64_t cut) {
  phase_.store(RebuildPhase::kCollectingEntries);
  auto batch = Collect(consumed_, cut, nullptr);
  LLAMA_RETURN_IF_ERROR(batch);
  const std::uint64_t taken = batch->entries.size();
  if (taken == 0) {
    // Timestamps taken by writes that failed: nothing to publish, move past them.
    consumed_ = cut;
    AdvanceWatermark(cut);
    return OkStatus();
  }
  LLAMA_RETURN_IF_ERROR(RebuildAndPublish(std::move(*batch)));
  pending_.fetch_sub(taken);
  return OkStatus();
}

Status VectorImpl::RebuildAndPublish(Batch batch) {
  phase_.store(RebuildPhase::kSortingEntries);
  std::sort(batch.entries.begin(), batch.entries.end(),
            [](const VectorEntry& a, const VectorEntry& b) { return a.timestamp < b.timestamp; });
  phase_.store(RebuildPhase::kPublishingSnapshot);
  std::shared_ptr<const PublishedTree> previous = Current();
  std::vector<Rejection> rejected;
  auto written = Replay(previous->tree(), batch.entries, &rejected);
  LLAMA_RETURN_IF_ERROR(written);
  const std::uint64_t generation = previous->generation + 1;
  TrackPages(*written, generation);
  // Pages no snapshot can reach any more: freed once this publication is logged.
  const std::vector<PageId> reclaim = Reclaimable();

  VectorPublication publication;
  publication.generation = generation;
  publication.root = written->tree.root;
  publication.height = written->tree.height;
  publication.size = written->tree.size;
  publication.watermark = batch.cut;
  for (const PendingFree& p : pending_free_) publication.pending_free.push_back(p.pid);
  LLAMA_RETURN_IF_ERROR(Publish(publication));

  SwapIn(std::make_shared<const PublishedTree>(generation, batch.cut, written->tree, &store_, &config_),
         std::move(previous));
  LLAMA_RETURN_IF_ERROR(FreePages(reclaim));
  consumed_ = batch.cut;
  LLAMA_RETURN_IF_ERROR(TruncateBuffers(batch.cut));
  RecordRebuild(batch, generation, *written, std::move(rejected), reclaim.size());
  return OkStatus();
}

Result<RrbBuilder::Written> VectorImpl::Replay(const RrbBuilder::Tree& tree, const std::vector<VectorEntry>& entries,
                                               std::vector<Rejection>* rejected) {
  RrbBuilder builder(store_, config_, tree);
  for (const VectorEntry& entry : entries) {
    auto s = builder.Apply(entry);
    if (s) continue;
    if (s.error().code() != ErrorCode::kInvalidArgument) return tl::unexpected(s.error());
    rejected->push_back({entry.timestamp, s.error().message()});
  }
  return builder.Materialize();
}

void VectorImpl::TrackPages(const RrbBuilder::Written& written, std::uint64_t generation) {
  for (PageId pid : written.created) created_in_[pid] = generation;
  for (PageId pid : written.dropped) {
    auto it = created_in_.find(pid);
    pending_free_.push_back({pid, it == created_in_.end() ? 0 : it->second, generation});
    if (it != created_in_.end()) created_in_.erase(it);
  }
}

std::vector<PageId> VectorImpl::Reclaimable() {
  std::vector<std::uint64_t> live{Current()->generation};
  std::erase_if(retired_, [](const Retired& r) { return r.snapshot.expired(); });
  for (const Retired& r : retired_) live.push_back(r.generation);
  std::vector<PageId> out;
  std::erase_if(pending_free_, [&](const PendingFree& p) {
    // A page is visible to the snapshots of generations [created, dropped).
    for (std::uint64_t g : live) {
      if (g >= p.created && g < p.dropped) return false;
    }
    out.push_back(p.pid);
    return true;
  });
  return out;
}

Status VectorImpl::Publish(const VectorPublication& publication) {
  auto encoded = EncodePublication(publication);
  LLAMA_RETURN_IF_ERROR(encoded);
  auto record = DeltaRecord::MakeUpdate(meta_, *encoded);
  LLAMA_RETURN_IF_ERROR(record);
  DeltaHandle delta = Share(std::move(*record));
  auto guard = store_.EnterGeneration();
  for (;;) {
    auto ref = store_.Read(guard, meta_);
    LLAMA_RETURN_IF_ERROR(ref);
    Result<UpdateOutcome> out = UpdateOutcome{false, *ref};
    if (ref->state().chain_length() > kMetaChainConsolidateAt) {
      // Only the newest publication matters (it carries the pages still to free), so the
      // chain is consolidated to the configuration and that one delta.
      const BasePage* base = ref->state().base();
      if (base == nullptr) return Corrupt("meta page has no base page");
      auto copy = BasePage::Create(meta_, base->page_size(), base->contents());
      LLAMA_RETURN_IF_ERROR(copy);
      OwnedChain chain = PageChainBuilder::Prepend(delta, PageChainBuilder::Base(Share(std::move(*copy))));
      out = store_.UpdateR(guard, meta_, *ref, chain);
    } else {
      out = store_.UpdateD(guard, meta_, *ref, delta);
    }
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) break;
  }
  auto pos = store_.Flush(guard, meta_);
  LLAMA_RETURN_IF_ERROR(pos);
  published_position_raw_.store(pos->raw());
  return OkStatus();
}

void VectorImpl::SwapIn(std::shared_ptr<const PublishedTree> next, std::shared_ptr<const PublishedTree> previous) {
  {
    std::lock_guard lock(current_mu_);
    current_ = std::move(next);
  }
  // Held weakly: once no snapshot holds it, Reclaimable sees it expire.
  retired_.push_back({previous, previous->generation});
}

Status VectorImpl::FreePages(const std::vector<PageId>& pages) {
  auto guard = store_.EnterGeneration();
  for (PageId pid : pages) {
    LLAMA_RETURN_IF_ERROR(store_.Free(guard, pid));
  }
  return OkStatus();
}

void VectorImpl::RecordRebuild(const Batch& batch, std::uint64_t generation, const RrbBuilder::Written& written,
                               std::vector<Rejection> rejected, std::size_t reclaimed) {
  std::lock_guard lock(mu_);
  for (Rejection& r : rejected) rejected_.emplace(r.timestamp, std::move(r.why));
  while (rejected_.size() > kRememberedRejections) rejected_.erase(rejected_.begin());
  watermark_ = batch.cut;
  metrics_.last_batch_size = batch.entries.size();
  metrics_.total_batch_entries += batch.entries.size();
  metrics_.rebuild_count += 1;
  metrics_.snapshot_generation = generation;
  metrics_.size = written.tree.size;
  metrics_.rejected_entries += rejected.size();
  metrics_.pages_written += written.created.size();
  metrics_.pages_reclaimed += reclaimed;
  metrics_.pages_pending_free = pending_free_.size();
  metrics_.retired_snapshots_waiting = 0;
  for (const Retired& r : retired_) metrics_.retired_snapshots_waiting += r.snapshot.expired() ? 0 : 1;
  AdaptBatchWindow(batch.entries.size());
  visible_cv_.notify_all();
}

// The batch is the write pressure one rebuild saw: a batch larger than the window grows
// it a step, one under a step below it shrinks it a step (in between it stays, so a
// steady rate does not make it flap), within [min_batch_window, max_batch_window].
void VectorImpl::AdaptBatchWindow(std::uint64_t entries) {
  std::uint64_t window = batch_window_.load();
  if (entries > window) {
    window = std::min(window * kBatchWindowStep, options_.max_batch_window);
  } else if (entries < window / kBatchWindowStep) {
    window = std::max(window / kBatchWindowStep, options_.min_batch_window);
  }
  batch_window_.store(window);
}

void VectorImpl::AdvanceWatermark(std::uint64_t cut) {
  std::lock_guard lock(mu_);
  watermark_ = cut;
  visible_cv_.notify_all();
}

}  // namespace llama
