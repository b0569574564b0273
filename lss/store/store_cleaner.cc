// StoreImpl: the segment cleaner (Store::Clean and its helpers). Kept apart from the page
// operations because it is its own concern: choosing segments, moving live page states to
// the log tail, and deleting a segment only when nothing can need it any more.
#include <algorithm>
#include <unordered_set>

#include "deltas/typed_deltas.h"
#include "lss/log/page_record.h"
#include "lss/store/store_impl.h"

namespace llama {

using namespace log_format;

Result<StoreImpl::CleanResult> StoreImpl::Clean(std::size_t max_segments) {
  std::lock_guard clean_lock(clean_mu_);
  CleanResult result;
  LLAMA_RETURN_IF_ERROR(writer_->health());
  auto picked = PickSegmentsToClean(max_segments);
  LLAMA_RETURN_IF_ERROR(picked);
  for (std::uint32_t segment : *picked) {
    auto all_moved = CleanSegment(segment, result);
    LLAMA_RETURN_IF_ERROR(all_moved);
    if (*all_moved) result.cleaned.push_back(segment);
  }
  if (result.cleaned.empty()) {
    // Nothing new to clean; segments cleaned earlier may have become deletable.
    bool waiting;
    {
      std::lock_guard lock(checkpoint_mu_);
      waiting = !pending_deletions_.empty();
    }
    if (waiting) {
      LLAMA_RETURN_IF_ERROR(CheckpointAndDelete(&result.deleted));
    }
    return result;
  }

  // Readers that entered before now may still read the old addresses.
  const std::uint64_t generation = table_.generations().current_generation();
  {
    std::lock_guard lock(checkpoint_mu_);
    for (std::uint32_t segment : result.cleaned) {
      pending_deletions_.push_back({segment, checkpoint_sequence_, generation});
    }
  }
  // Then every retained checkpoint postdates the moves.
  for (std::size_t i = 0; i < kCheckpointsKept; ++i) {
    LLAMA_RETURN_IF_ERROR(CheckpointAndDelete(&result.deleted));
  }
  return result;
}

Result<std::vector<std::uint32_t>> StoreImpl::PickSegmentsToClean(std::size_t max_segments) {
  // Only segments wholly written out are candidates: the writer never touches them again.
  const std::uint32_t first_open = writer_->written_position().segment();
  auto ids = segments_->ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  std::unordered_set<std::uint32_t> pending;
  {
    std::lock_guard lock(checkpoint_mu_);
    for (const PendingDeletion& p : pending_deletions_) pending.insert(p.segment);
  }
  const std::map<std::uint32_t, std::uint64_t> live = disk_chains_.LiveBytesBySegment();
  std::vector<std::pair<double, std::uint32_t>> scored;
  for (std::uint32_t id : *ids) {
    if (id >= first_open || pending.contains(id)) continue;
    const auto it = live.find(id);
    const double u = it == live.end() ? 0.0 : static_cast<double>(it->second) / static_cast<double>(segment_size_);
    if (u >= options_.cleaner_max_live_fraction) continue;
    const double age = static_cast<double>(first_open - id);
    scored.emplace_back((1.0 - u) * age / (1.0 + u), id);  // LFS cost-benefit
  }
  std::sort(scored.begin(), scored.end(), std::greater<>());
  if (scored.size() > max_segments) scored.resize(max_segments);
  std::vector<std::uint32_t> picked;
  for (const auto& [score, segment] : scored) picked.push_back(segment);
  return picked;
}

Result<bool> StoreImpl::CleanSegment(std::uint32_t segment, CleanResult& result) {
  bool all_moved = true;
  for (PageId pid : disk_chains_.PagesIn(segment)) {
    Status s = RelocatePage(pid, segment, result);
    if (s) continue;
    // A page that kept changing under the cleaner stays where it is; so does the segment
    // (it is not deleted while a live record is in it) and a later pass tries again.
    if (s.error().code() != ErrorCode::kBusy) return tl::unexpected(s.error());
    ++result.pages_skipped;
    all_moved = false;
  }
  return all_moved;
}

Result<EncodedBody> StoreImpl::EncodeRelocation(PageId pid, const DiskChains::Chain& chain) {
  auto state = ReadDiskState(chain.front().address);
  LLAMA_RETURN_IF_ERROR(state);
  std::vector<std::byte> body;
  LLAMA_RETURN_IF_ERROR(EncodePageRecord(pid, LssAddress(), state->deltas, state->base.get(), body));
  LLAMA_RETURN_IF_ERROR(CheckRecordFits(pid, body.size()));
  return MaybeCompress(body, options_.compression_level);
}

Status StoreImpl::RelocatePage(PageId pid, std::uint32_t segment, CleanResult& result) {
  for (int attempt = 0; attempt < kRelocateAttempts; ++attempt) {
    auto guard = table_.EnterGeneration();
    const std::optional<DiskChains::Chain> chain = disk_chains_.Find(pid);
    if (!chain) return OkStatus();  // freed meanwhile
    if (std::none_of(chain->begin(), chain->end(),
                     [&](const PageDiskRecord& r) { return r.address.segment() == segment; })) {
      return OkStatus();  // a whole flush moved it meanwhile
    }
    const LssAddress head = chain->front().address;
    auto encoded = EncodeRelocation(pid, *chain);
    LLAMA_RETURN_IF_ERROR(encoded);
    // Whether the page still builds on `head` is decided before any log space is reserved:
    // a reservation dropped on a retry costs a failed-flush marker in the log.
    auto ref = table_.Read(guard, pid);
    if (!ref) return OkStatus();                             // freed
    if (ref->empty()) return OkStatus();                     // the id was reused; nothing of it is on disk
    if (ref->on_disk() && ref->address() != head) continue;  // moved on since the snapshot
    if (ref->in_memory()) {
      const LssAddress flushed = SplitAtFlushPoint(ref->state()).flushed;
      if (flushed.is_null()) {
        // The state in memory refers to no record: a consolidation replaced it and it will
        // be written whole at its next flush, which leaves the records in `segment` dead.
        // Until then they are the page's durable state, and a relocation would have
        // nothing to attach to (nor could it tell a flush that raced it). Retrying cannot
        // help: skip the page now, its segment waits for a later pass. (The cleaner does
        // not flush it itself: what becomes durable, and when, is the access method's.)
        return MakeError(ErrorCode::kBusy,
                         "cleaner: page " + std::to_string(pid) + " is consolidated in memory and not flushed yet");
      }
      // If a flush landed since the snapshot, its record chains onto `head`: start again,
      // or the moved copy would be an older state placed after a newer record.
      if (flushed != head) continue;
    }
    auto reservation = writer_->Reserve(FramedSize(encoded->bytes.size()));
    LLAMA_RETURN_IF_ERROR(reservation);
    auto out = InstallRelocation(guard, pid, *ref, head, reservation->address());
    if (!out) {
      // Freed meanwhile: nothing of it needs moving (the reservation becomes a marker).
      if (out.error().code() == ErrorCode::kNotFound) return OkStatus();
      return tl::unexpected(out.error());
    }
    if (!out->installed) continue;
    EncodeFrame(reservation->bytes().data(), RecordKind::kPageState, reservation->address(), encoded->bytes,
                encoded->compressed, encoded->raw_len);
    const PageDiskRecord moved{reservation->address(), static_cast<std::uint32_t>(reservation->bytes().size())};
    disk_chains_.SpliceMoved(pid, chain->front(), moved);
    writer_->Commit(std::move(*reservation));
    ++result.pages_relocated;
    result.bytes_relocated += moved.length;
    return OkStatus();
  }
  return MakeError(ErrorCode::kBusy, "cleaner: page " + std::to_string(pid) + " kept changing");
}

Result<UpdateOutcome> StoreImpl::InstallRelocation(const GenerationGuard& guard, PageId pid, PageRef expected,
                                                   LssAddress from, LssAddress to) {
  if (expected.on_disk()) return table_.UpdateR(guard, pid, expected, to);
  // Everything below the page's newest flush point is the state at `from`; say that it now
  // lives at `to`. Deltas above it are untouched (not yet flushed). When the head itself is
  // that flush point (a flushed page nothing was added to), its mark moves to `to`: no
  // node is put in front of it. Otherwise a Relocation delta above says so.
  auto relocation = DeltaRecord::MakeRelocation(pid, from, to);
  LLAMA_RETURN_IF_ERROR(relocation);
  const DeltaHandle handle = Share(std::move(*relocation));
  // New Update deltas on top do not change the flush point: retry the CAS on the head we
  // are told about, without doing the I/O again, as long as the flush point holds.
  for (;;) {
    auto out = expected.node()->flushed_to() == from ? table_.MarkFlushed(guard, pid, expected, to)
                                                     : table_.UpdateD(guard, pid, expected, handle);
    if (!out || out->installed) return out;
    expected = out->head;
    if (!expected.in_memory() || SplitAtFlushPoint(expected.state()).flushed != from) return out;
  }
}

Status StoreImpl::DeleteCleanedSegments(std::vector<std::uint32_t>* deleted) {
  if (pending_deletions_.empty()) return OkStatus();
  // Advance the generation, so "no reader entered before the cleaning" can become true.
  table_.generations().TryReclaim();
  const std::uint64_t oldest_reader = table_.generations().oldest_active_generation();
  bool any = false;
  for (auto it = pending_deletions_.begin(); it != pending_deletions_.end();) {
    const std::uint64_t live = disk_chains_.LiveBytesIn(it->segment);
    // Every retained checkpoint must postdate the cleaning.
    const bool unreferenced = it->checkpoint_sequence + kCheckpointsKept <= checkpoint_sequence_ && live == 0;
    if (!unreferenced || oldest_reader <= it->generation) {
      ++it;
      continue;
    }
    if (auto s = segments_->Delete(it->segment); !s && s.error().code() != ErrorCode::kNotFound) return s;
    disk_chains_.ForgetSegment(it->segment);
    if (deleted) deleted->push_back(it->segment);
    it = pending_deletions_.erase(it);
    any = true;
  }
  if (any) return env_->SyncDir(dir_);
  return OkStatus();
}

}  // namespace llama
