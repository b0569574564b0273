// StoreImpl: recovery at Open. The directory's identity (STORE, created for a new store),
// then the recovery plan (lss/recovery/recovery_plan.h: the checkpoint, the scan, the
// pages, the orphans, damage or torn tail; shared with pagedump's StoreImage) carried out:
// the scanned segments synced, the orphans set aside, every page restored on disk, and
// the log writer resumed in a new segment. docs/DESIGN.md, "Checkpoints and recovery".
#include <algorithm>
#include <chrono>
#include <random>

#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/recovery/recovery_plan.h"
#include "lss/recovery/store_identity.h"
#include "lss/store/store_impl.h"

namespace llama {

using namespace log_format;

namespace {

// A store id no other store is likely to have: random bits mixed with the clock (spread
// over the word by the golden-ratio multiplier), never 0 (0 means "any store").
std::uint64_t NewStoreId() {
  std::random_device rd;
  const std::uint64_t t = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::uint64_t id = (std::uint64_t{rd()} << 32) ^ rd() ^ (t * 0x9E3779B97F4A7C15ull);
  return id == 0 ? 1 : id;
}

}  // namespace

Status StoreImpl::Recover() {
  LLAMA_RETURN_IF_ERROR(OpenIdentity());
  segments_ = std::make_unique<SegmentSet>(*env_, dir_, store_id_, segment_size_);
  segments_->set_preallocate(options_.preallocate_segments);
  // Everything is decided before anything on disk changes (lss/recovery/recovery_plan.h).
  auto plan = RecoveryPlan::Make(*segments_);
  LLAMA_RETURN_IF_ERROR(plan);
  LLAMA_RETURN_IF_ERROR(AcceptPlan(*plan));
  LLAMA_RETURN_IF_ERROR(SyncScannedSegments(*plan));
  LLAMA_RETURN_IF_ERROR(SetAsideOrphans(*plan));
  LLAMA_RETURN_IF_ERROR(RestorePages(*plan));
  return StartWriter(*plan);
}

Status StoreImpl::OpenIdentity() {
  auto identity = ReadStoreIdentity(*env_, dir_);
  LLAMA_RETURN_IF_ERROR(identity);
  if (!identity->has_value()) {
    if (!options_.create_if_missing) {
      return MakeError(ErrorCode::kNotFound, dir_ + " is not a llama-store (no STORE file)");
    }
    return CreateStore();
  }
  if (options_.error_if_exists) {
    return MakeError(ErrorCode::kInvalidArgument, dir_ + " already holds a store");
  }
  store_id_ = (*identity)->store_id;
  segment_size_ = (*identity)->segment_size;
  if (segment_size_ < kMinSegmentSize || segment_size_ > kMaxSegmentSize) {
    return MakeError(ErrorCode::kCorruption, dir_ + "/STORE: segment size out of range");
  }
  return OkStatus();
}

Status StoreImpl::CreateStore() {
  Env& env = *env_;
  if (options_.segment_size < kMinSegmentSize || options_.segment_size > kMaxSegmentSize) {
    return MakeError(ErrorCode::kInvalidArgument, "store: segment size out of range (64 KiB .. 1 GiB)");
  }
  LLAMA_RETURN_IF_ERROR(env.CreateDir(dir_));
  auto names = env.ListDir(dir_);
  LLAMA_RETURN_IF_ERROR(names);
  // A STORE.tmp is what a crash while creating this store leaves: start over.
  const std::string tmp = TmpFileName(kStoreFileName);
  if (auto it = std::find(names->begin(), names->end(), tmp); it != names->end()) {
    LLAMA_RETURN_IF_ERROR(env.DeleteFile(PathIn(dir_, tmp)));
    names->erase(it);
  }
  if (!names->empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     dir_ + " is not empty and not a llama-store (no STORE file); refusing to use it");
  }
  const StoreIdentity fresh{NewStoreId(), options_.segment_size};
  LLAMA_RETURN_IF_ERROR(WriteStoreIdentity(env, dir_, fresh));
  store_id_ = fresh.store_id;
  segment_size_ = fresh.segment_size;
  recovery_.created = true;
  return OkStatus();
}

Status StoreImpl::AcceptPlan(const RecoveryPlan& plan) {
  if (!plan.corruption.empty() && options_.recovery_mode != RecoveryMode::kTruncateAtCorruption) {
    // Damage before a synced position: no crash does that. Refuse before anything on
    // disk changes, unless the operator asked to cut the log there.
    return MakeError(ErrorCode::kCorruption,
                     dir_ + ": " + plan.corruption +
                         "; refusing to open (RecoveryMode::kTruncateAtCorruption opens at the last good record)");
  }
  if (plan.failure) return tl::unexpected(*plan.failure);
  if (plan.next_segment > LssAddress::kMaxSegment) {
    return MakeError(ErrorCode::kResourceExhausted, "store: out of segment ids");
  }
  checkpoint_sequence_ = plan.checkpoint_sequence.value_or(0);
  recovery_.checkpoint_sequence = checkpoint_sequence_;
  recovery_.damaged_checkpoints = plan.damaged_checkpoints;
  recovery_.scan_start = plan.scan_start;
  recovery_.records_scanned = plan.records_scanned;
  recovery_.corruption = plan.corruption;
  if (plan.scanned) {
    recovery_.records_past_stop = plan.stop.records_past;
    recovery_.scan_stop = plan.stop.position;
    recovery_.stop_reason = std::string(ScanStopReasonName(plan.stop.reason)) + ": " + plan.stop.detail;
  }
  return OkStatus();
}

Status StoreImpl::SyncScannedSegments(const RecoveryPlan& plan) {
  // The new log builds on what the scan accepted; a crash of the process that wrote it
  // may have left some of it in the page cache only. Make that durable before anything the
  // new writer syncs can be acknowledged (a later SyncPoint vouches for all of it). What a
  // SyncPoint on the chain already vouches for was synced by the writer that wrote it, and
  // needs no fsync now (docs/DESIGN.md, "Checkpoints and recovery").
  for (std::uint32_t id : plan.segments_to_sync) {
    auto file = segments_->Get(id);
    LLAMA_RETURN_IF_ERROR(file);
    LLAMA_RETURN_IF_ERROR((*file)->Sync());
  }
  return OkStatus();
}

Status StoreImpl::SetAsideOrphans(const RecoveryPlan& plan) {
  for (std::uint32_t id : plan.orphans) {
    segments_->Forget(id);
    std::string target = PathIn(dir_, OrphanSegmentFileName(id));
    for (int n = 1;; ++n) {  // never replace an orphan set aside by an earlier recovery
      auto exists = env_->FileExists(target);
      LLAMA_RETURN_IF_ERROR(exists);
      if (!*exists) break;
      target = PathIn(dir_, OrphanSegmentFileName(id, n));
    }
    LLAMA_RETURN_IF_ERROR(env_->RenameFile(segments_->PathOf(id), target));
    recovery_.orphan_segments.push_back(id);
  }
  if (!plan.orphans.empty()) LLAMA_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return OkStatus();
}

Status StoreImpl::RestorePages(const RecoveryPlan& plan) {
  const auto& chains = plan.pages.chains();
  for (const auto& [pid, chain] : chains) LLAMA_RETURN_IF_ERROR(table_.Restore(pid, chain.front().address));
  disk_chains_.Load(chains);
  // Page 0 is the catalog: reserved even before its first write (lss/store/catalog.h).
  if (chains.find(kCatalogPage) == chains.end()) LLAMA_RETURN_IF_ERROR(table_.Reserve(kCatalogPage));
  table_.FinishRestore();
  recovery_.pages_recovered = chains.size();
  return OkStatus();
}

Status StoreImpl::StartWriter(const RecoveryPlan& plan) {
  const auto segment = static_cast<std::uint32_t>(plan.next_segment);
  if (!plan.corruption.empty()) {
    // Cutting the log at damage is a decision the files must remember: without it the next
    // Open would find the same damage and refuse. The segment that resumes from the cut
    // is created now (the writer continues in it), so every later scan follows it.
    auto file = segments_->Create(segment, plan.resume_from);
    LLAMA_RETURN_IF_ERROR(file);
    LLAMA_RETURN_IF_ERROR((*file)->Sync());
    LLAMA_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  auto writer = LogWriter::Open(*segments_, segment, plan.resume_from, WriterOptions());
  LLAMA_RETURN_IF_ERROR(writer);
  writer_ = std::move(*writer);
  return OkStatus();
}

}  // namespace llama
