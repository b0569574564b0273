// StoreImpl: recovery at Open. The directory's identity (STORE, created for a new store),
// the newest checkpoint and a scan of the log after it (RecoveredChains' rules), the
// segments the log never reached set aside, every page restored on disk, and the log
// writer resumed in a new segment. docs/DESIGN.md, "Checkpoints and recovery".
#include <algorithm>
#include <chrono>
#include <random>

#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/recovery/recovery_chains.h"
#include "lss/recovery/store_identity.h"
#include "lss/store/store_impl.h"

namespace llama {

using namespace log_format;

namespace {

std::uint64_t NewStoreId() {
  std::random_device rd;
  const std::uint64_t t = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::uint64_t id = (std::uint64_t{rd()} << 32) ^ rd() ^ (t * 0x9E3779B97F4A7C15ull);
  return id == 0 ? 1 : id;
}

}  // namespace

// What the checkpoint and the scan found; nothing on disk has changed yet.
struct StoreImpl::LogReplay {
  bool had_checkpoint = false;
  LssAddress scan_start;
  // The rules that turn a checkpoint and the scanned records into each page's list of
  // records are RecoveredChains' (shared with the offline reader, lss/recovery/store_image.h).
  RecoveredChains chains;
  std::vector<std::uint32_t> segment_ids;  // segment files present, ascending
  std::uint32_t max_id = 0;                // the highest of them (0: none)
  LssAddress resume_from;                  // where the log goes on (null: a new log)
  std::vector<std::uint32_t> visited;      // segments the scan went through
  std::vector<std::uint32_t> unvisited;    // segment files the scan never reached
};

Status StoreImpl::Recover() {
  LLAMA_RETURN_IF_ERROR(OpenIdentity());
  segments_ = std::make_unique<SegmentSet>(*env_, dir_, store_id_, segment_size_);
  segments_->set_preallocate(options_.preallocate_segments);
  auto replay = ReplayLog();
  LLAMA_RETURN_IF_ERROR(replay);
  LLAMA_RETURN_IF_ERROR(SyncScannedSegments(*replay));
  LLAMA_RETURN_IF_ERROR(SetAsideOrphans(*replay));
  LLAMA_RETURN_IF_ERROR(RestorePages(*replay));
  return StartWriter(*replay);
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
  const std::string tmp = std::string(kStoreFileName) + ".tmp";
  if (auto it = std::find(names->begin(), names->end(), tmp); it != names->end()) {
    LLAMA_RETURN_IF_ERROR(env.DeleteFile(dir_ + "/" + tmp));
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

Result<StoreImpl::LogReplay> StoreImpl::ReplayLog() {
  LogReplay replay;
  auto loaded = LoadNewestCheckpoint(*env_, dir_, store_id_);
  LLAMA_RETURN_IF_ERROR(loaded);
  recovery_.damaged_checkpoints = loaded->damaged;
  replay.scan_start = LssAddress::Make(1, kSegmentHeaderSize);
  if (loaded->checkpoint) {
    const CheckpointData& cp = *loaded->checkpoint;
    replay.had_checkpoint = true;
    checkpoint_sequence_ = cp.sequence;
    recovery_.checkpoint_sequence = cp.sequence;
    replay.scan_start = cp.scan_start;
    replay.chains.Seed(cp);
  }
  recovery_.scan_start = replay.scan_start;

  auto ids = segments_->ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  replay.segment_ids = std::move(*ids);
  replay.max_id = replay.segment_ids.empty() ? 0 : replay.segment_ids.back();
  if (replay.segment_ids.empty() && !replay.had_checkpoint) {
    replay.chains.Finish();
    return replay;  // a new log
  }

  auto scanner = LogScanner::Open(*segments_, replay.scan_start, max_body_len());
  LLAMA_RETURN_IF_ERROR(scanner);
  for (;;) {
    auto next = scanner->Next();
    LLAMA_RETURN_IF_ERROR(next);
    if (!next->has_value()) break;
    ++recovery_.records_scanned;
    LLAMA_RETURN_IF_ERROR(replay.chains.Apply(**next));
  }
  const ScanStop& stop = scanner->stop();
  if (stop.corruption()) {
    // Damage before a synced position: no crash does that. Refuse before anything on
    // disk changes, unless the operator asked to cut the log there.
    if (options_.recovery_mode != RecoveryMode::kTruncateAtCorruption) {
      return MakeError(ErrorCode::kCorruption,
                       dir_ + ": " + stop.CorruptionMessage() +
                           "; refusing to open (RecoveryMode::kTruncateAtCorruption opens at the last good record)");
    }
    recovery_.corruption = stop.CorruptionMessage();
  }
  recovery_.records_past_stop = stop.records_past;
  recovery_.scan_stop = stop.position;
  recovery_.stop_reason = std::string(ScanStopReasonName(stop.reason)) + ": " + stop.detail;
  replay.resume_from = stop.position;
  replay.visited = scanner->visited_segments();
  replay.unvisited = scanner->UnvisitedSegments();
  replay.chains.Finish();
  return replay;
}

Status StoreImpl::SyncScannedSegments(const LogReplay& replay) {
  // The new log builds on what the scan accepted; a crash of the process that wrote it
  // may have left it in the page cache only. Make it durable before anything the new
  // writer syncs can be acknowledged (a later SyncPoint vouches for all of it).
  for (std::uint32_t id : replay.visited) {
    auto file = segments_->Get(id);
    LLAMA_RETURN_IF_ERROR(file);
    LLAMA_RETURN_IF_ERROR((*file)->Sync());
  }
  return OkStatus();
}

Status StoreImpl::SetAsideOrphans(LogReplay& replay) {
  // Segment files past the checkpoint that the log does not reach hold nothing durable:
  // set them aside (renamed, not deleted) so no later scan can mistake them for the log.
  for (std::uint32_t id : replay.unvisited) {
    if (id < replay.scan_start.segment()) continue;  // older log, still referenced by pages
    segments_->Forget(id);
    std::string target = dir_ + "/orphan-" + SegmentFileName(id);
    for (int n = 1;; ++n) {  // never replace an orphan set aside by an earlier recovery
      auto exists = env_->FileExists(target);
      LLAMA_RETURN_IF_ERROR(exists);
      if (!*exists) break;
      target = dir_ + "/orphan-" + SegmentFileName(id) + "." + std::to_string(n);
    }
    LLAMA_RETURN_IF_ERROR(env_->RenameFile(segments_->PathOf(id), target));
    recovery_.orphan_segments.push_back(id);
    std::erase(replay.segment_ids, id);
  }
  if (!recovery_.orphan_segments.empty()) LLAMA_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return OkStatus();
}

Status StoreImpl::RestorePages(const LogReplay& replay) {
  const RecoveredChains& chains = replay.chains;
  // Every segment a page's durable state needs must be there.
  for (const auto& [pid, chain] : chains.chains()) {
    for (const PageDiskRecord& r : chain) {
      if (!std::binary_search(replay.segment_ids.begin(), replay.segment_ids.end(), r.address.segment())) {
        return MakeError(ErrorCode::kCorruption, "segment " + std::to_string(r.address.segment()) + " holding page " +
                                                     std::to_string(pid) + " is missing");
      }
    }
    LLAMA_RETURN_IF_ERROR(table_.Restore(pid, chain.front().address));
  }
  disk_chains_.Load(chains.chains());
  // Page 0 is the catalog: reserved even before its first write (lss/store/catalog.h).
  if (chains.chains().find(kCatalogPage) == chains.chains().end()) {
    LLAMA_RETURN_IF_ERROR(table_.Reserve(kCatalogPage));
  }
  table_.FinishRestore();
  recovery_.pages_recovered = chains.chains().size();
  return OkStatus();
}

Status StoreImpl::StartWriter(const LogReplay& replay) {
  // The log goes on in a segment above every file and above the checkpoint's scan start:
  // that segment may never have been created (a checkpoint taken before the writer's first
  // write), and a new segment with a lower id (after orphans were set aside) would be
  // unreachable from the scan start and out of address order.
  std::uint32_t max_id = replay.max_id;
  if (replay.had_checkpoint) max_id = std::max(max_id, replay.scan_start.segment());
  if (max_id >= LssAddress::kMaxSegment) {
    return MakeError(ErrorCode::kResourceExhausted, "store: out of segment ids");
  }
  if (!recovery_.corruption.empty()) {
    // Cutting the log at damage is a decision the files must remember: without it the next
    // Open would find the same damage and refuse. The segment that resumes from the cut
    // is created now (the writer continues in it), so every later scan follows it.
    auto file = segments_->Create(max_id + 1, replay.resume_from);
    LLAMA_RETURN_IF_ERROR(file);
    LLAMA_RETURN_IF_ERROR((*file)->Sync());
    LLAMA_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  auto writer = LogWriter::Open(*segments_, max_id + 1, replay.resume_from,
                                LogWriter::Options{options_.flush_buffer_size, options_.flush_buffers});
  LLAMA_RETURN_IF_ERROR(writer);
  writer_ = std::move(*writer);
  return OkStatus();
}

}  // namespace llama
