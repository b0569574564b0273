// StoreImpl: background maintenance and checkpoints. The maintenance thread evicts down
// to the memory budget and starts the cleaner when the log outgrows the live data;
// checkpoints snapshot the disk chains (Checkpoint, and the cleaner's deletions after it).
#include <algorithm>
#include <chrono>
#include <limits>

#include "lss/store/store_impl.h"

namespace llama {

Status StoreImpl::Checkpoint() { return CheckpointAndDelete(nullptr); }

Status StoreImpl::CheckpointAndDelete(std::vector<std::uint32_t>* deleted) {
  std::lock_guard lock(checkpoint_mu_);
  if (auto h = writer_->health(); !h) return h;
  // Every record below `written` has its disk-chain update done (they happen before a
  // reservation is committed), so the snapshot below covers the log up to there.
  const LssAddress written = writer_->written_position();
  CheckpointData cp;
  LssAddress newest_end = written;
  cp.pages = disk_chains_.Snapshot(&newest_end);
  // Nothing the checkpoint names may be less durable than the checkpoint itself.
  if (auto s = writer_->Sync(newest_end); !s) return s;
  cp.sequence = checkpoint_sequence_ + 1;
  cp.store_id = store_id_;
  cp.scan_start = written;
  cp.settings = WriterSettings();
  cp.oldest_segment = written.segment();
  for (const CheckpointPage& page : cp.pages) {
    for (const PageDiskRecord& r : page.chain) cp.oldest_segment = std::min(cp.oldest_segment, r.address.segment());
  }
  if (auto s = WriteCheckpoint(*env_, dir_, cp); !s) return s;
  checkpoint_sequence_ = cp.sequence;
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  if (auto s = PruneCheckpoints(*env_, dir_, kCheckpointsKept); !s) return s;
  return DeleteCleanedSegments(deleted);
}

CheckpointSettings StoreImpl::WriterSettings() const {
  CheckpointSettings w;
  w.io_backend_requested = static_cast<std::uint8_t>(options_.io_backend);
  const std::string_view in_use = env_->backend_name();
  w.io_backend_in_use = in_use == IoBackendName(IoBackend::kIoUring) ? 1
                        : in_use == IoBackendName(IoBackend::kPosix) ? 2
                                                                     : 0;
  w.io_fell_back = !env_->fallback_reason().empty();
  using Level = std::numeric_limits<std::int8_t>;  // the checkpoint keeps it in an i8
  w.compression_level =
      static_cast<std::int8_t>(std::clamp<int>(options_.compression_level, Level::min(), Level::max()));
  w.flush_buffer_size = options_.flush_buffer_size;
  w.flush_buffers = options_.flush_buffers;
  w.max_disk_chain = options_.max_disk_chain;
  return w;
}

void StoreImpl::MaintenanceLoop() {
  std::unique_lock lock(maintenance_mu_);
  for (std::uint64_t round = 0; !stop_maintenance_; ++round) {
    maintenance_cv_.wait_for(lock, std::chrono::milliseconds(options_.maintenance_interval_ms));
    if (stop_maintenance_) break;
    lock.unlock();
    if (tracking()) EvictToBudget();
    // Cleaning checkpoints: look at the space every kCleanCheckIntervalMs, not every round.
    const std::uint64_t every =
        std::max<std::uint64_t>(1, kCleanCheckIntervalMs / std::max(1u, options_.maintenance_interval_ms));
    if (options_.cleaner_space_factor > 0 && round % every == 0) CleanIfSpaceGrew();
    lock.lock();
  }
}

void StoreImpl::EvictToBudget() {
  const std::uint64_t budget = options_.memory_budget;
  const std::uint64_t target = budget - budget / kEvictSlackDivisor;
  for (int pass = 0; pass < kEvictPasses && cache_.resident_bytes() > budget; ++pass) {
    const std::vector<PageId> victims = cache_.Coldest(kEvictBatch);
    if (victims.empty()) return;
    for (PageId pid : victims) {
      if (cache_.resident_bytes() <= target) return;
      auto guard = table_.EnterGeneration();
      Status s = Evict(guard, pid);
      if (s) continue;  // Evict removed it from the cache
      if (s.error().code() == ErrorCode::kNotFound) {
        cache_.Remove(pid);
      } else if (s.error().code() == ErrorCode::kBusy) {
        cache_.Refresh(pid);  // busy page: try colder ones first
      } else {
        std::lock_guard lock(maintenance_mu_);
        maintenance_error_ = "evictor: " + s.error().ToString();
        return;  // the log failed; every later write reports it
      }
    }
  }
}

void StoreImpl::CleanIfSpaceGrew() {
  auto ids = segments_->ListIds();
  if (!ids || ids->size() <= kMinSegmentsToClean) return;
  const std::uint64_t live = disk_chains_.live_bytes();
  const double log_bytes = static_cast<double>(ids->size()) * segment_size_;
  if (log_bytes <= options_.cleaner_space_factor * static_cast<double>(live)) return;
  auto result = Clean(kSegmentsPerClean);
  cleaner_runs_.fetch_add(1, std::memory_order_relaxed);
  if (!result) {
    std::lock_guard lock(maintenance_mu_);
    maintenance_error_ = "cleaner: " + result.error().ToString();
  }
}

}  // namespace llama
