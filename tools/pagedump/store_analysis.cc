#include "tools/pagedump/store_analysis.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "lss/log/page_record.h"

namespace llama::pagedump {

using log_format::RecordKind;

std::string AddressText(LssAddress address) {
  if (address.is_null()) return "-";
  return std::to_string(address.segment()) + ":" + std::to_string(address.offset());
}

std::string RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kPageState:
      return "PageState";
    case RecordKind::kFreePage:
      return "FreePage";
    case RecordKind::kFailedFlush:
      return "FailedFlush";
    case RecordKind::kSegmentEnd:
      return "SegmentEnd";
    case RecordKind::kApplication:
      return "Application";
    case RecordKind::kSyncPoint:
      return "SyncPoint";
  }
  return "kind " + std::to_string(static_cast<int>(kind));
}

namespace {

std::string At(LssAddress a) {
  return "segment " + std::to_string(a.segment()) + " offset " + std::to_string(a.offset());
}

// What the pointer checks need of every valid record, by address.
struct IndexedRecord {
  RecordKind kind;
  std::uint32_t framed_size;
  bool valid;  // frame and body
  PageId pid;
  LssAddress prior;
  bool whole;  // has a base, or no prior
};

class Analyzer {
 public:
  explicit Analyzer(StoreImage& image) : image_(image), recovery_(image.recovery()) {}

  Result<StoreAnalysis> Run(const ProgressFn& progress) {
    CheckIdentity();
    CheckCheckpoints();
    LLAMA_RETURN_IF_ERROR(WalkSegments(progress));
    CheckRecovery();
    CheckPages();
    for (const std::string& name : image_.other_files()) {
      if (ParseOrphanSegmentFileName(name)) {
        Note(name, "a segment an earlier recovery set aside (unreachable from the log); never read");
      }
    }
    return std::move(out_);
  }

 private:
  void Damage(std::string where, std::string what) { out_.damage.push_back({std::move(where), std::move(what)}); }
  void Note(std::string where, std::string what) { out_.notes.push_back({std::move(where), std::move(what)}); }

  void CheckIdentity() {
    if (!image_.identity_problem().empty()) Damage("STORE", image_.identity_problem());
  }

  void CheckCheckpoints() {
    const auto used = recovery_.checkpoint_sequence;
    for (const CheckpointFileInfo& cp : image_.checkpoint_files()) {
      if (cp.problem.empty()) continue;
      if (!cp.sequence) {
        Note(cp.name, cp.problem);
        continue;
      }
      std::string what = cp.problem;
      if (!used || *cp.sequence > *used) {
        what += used ? "; recovery falls back to CHECKPOINT " + std::to_string(*used)
                     : "; recovery falls back to scanning the whole log";
      }
      Damage(cp.name, what);
    }
    if (!used) Note("checkpoints", "no usable checkpoint: recovery scans the log from 1:40");
  }

  Status WalkSegments(const ProgressFn& progress) {
    const std::uint32_t segment_size = image_.identity().segment_size;
    std::uint64_t total = 0;
    for (const SegmentFileInfo& f : image_.segment_files()) total += std::min<std::uint64_t>(f.file_size, segment_size);
    std::uint64_t done = 0;
    for (const SegmentFileInfo& f : image_.segment_files()) {
      auto bytes = image_.ReadSegmentBytes(f.id);
      LLAMA_RETURN_IF_ERROR(bytes);
      SegmentWalk walk = WalkSegment(*bytes, f.id, segment_size);
      SegmentSummary summary;
      summary.id = f.id;
      summary.file_size = f.file_size;
      summary.header_problem = f.header_problem;
      if (f.header) summary.resume_from = f.header->resume_from;
      summary.end = walk.end;
      summary.end_offset = walk.end_offset;
      summary.end_detail = walk.end_detail;
      const std::uint64_t readable = std::min<std::uint64_t>(f.file_size, segment_size);
      switch (walk.end) {
        case SegmentEnd::kSegmentEnd:
          summary.data_bytes = walk.end_offset + log_format::kSegmentEndRecordSize;
          break;
        case SegmentEnd::kCleanEnd:
          summary.data_bytes = std::min<std::uint64_t>(walk.end_offset, readable);
          break;
        case SegmentEnd::kDamaged:
          summary.data_bytes = readable;
          break;
      }
      const std::string file = "segment " + std::to_string(f.id);
      if (!f.header_problem.empty()) Damage(file, "header: " + f.header_problem);
      if (f.file_size > segment_size) {
        Damage(file, "the file is " + std::to_string(f.file_size) + " bytes, longer than the segment size " +
                         std::to_string(segment_size) + "; the bytes past it are never read");
      }
      for (const WalkedRecord& r : walk.records) {
        ++summary.records;
        const bool valid = r.problem.empty();
        if (!valid) ++summary.damaged_records;
        const std::string kind = r.checksum_ok ? RecordKindName(r.frame->kind) : "damaged";
        out_.records_by_kind[kind].records += 1;
        out_.records_by_kind[kind].bytes += r.framed_size();
        if (!valid) ReportBadRecord(r.address, r.problem);
        if (r.frame) {  // damaged records too, so a page that needs one is told so
          IndexedRecord entry{r.frame->kind, r.framed_size(), valid, 0, LssAddress(), true};
          if (r.page) {
            entry.pid = r.page->pid;
            entry.prior = r.page->prior;
            entry.whole = r.page->has_base || r.page->prior.is_null();
          }
          index_.emplace(r.address.raw(), entry);
        }
      }
      CheckSegmentEnd(walk);
      out_.segments.push_back(std::move(summary));
      done += std::min<std::uint64_t>(f.file_size, segment_size);
      if (progress) progress(done, total, f.id);
    }
    return OkStatus();
  }

  // A later segment that resumes from a place at or before `at` in the same segment: the
  // bytes there are a torn tail that recovery set aside.
  std::optional<std::uint32_t> ResumedBefore(LssAddress at) const {
    for (const SegmentFileInfo& f : image_.segment_files()) {
      if (!f.header || !f.header_problem.empty()) continue;
      const LssAddress r = f.header->resume_from;
      if (r.segment() == at.segment() && r.offset() <= at.offset()) return f.id;
    }
    return std::nullopt;
  }

  // Whether Store::Open would take the place where the recovery scan stops, and `at`
  // past it in that segment, for a torn tail and drop it: the scan stopped at bytes that
  // are not a record, no SyncPoint past them says they were synced, and no rule is broken
  // (RecoveryPlan's own verdict, so the two cannot disagree). A crash, or a full disk
  // without preallocated segments, leaves the last record cut short so.
  bool InTornTail(LssAddress at) const {
    const ScanStop& stop = recovery_.stop;
    return recovery_.scanned && !recovery_.failure && !stop.corruption() &&
           stop.reason == ScanStop::Reason::kDamagedRecord && at.segment() == stop.position.segment() &&
           at.offset() >= stop.position.offset();
  }

  void ReportBadRecord(LssAddress at, const std::string& problem) {
    if (auto resumed = ResumedBefore(at)) {
      Note(At(at),
           problem + ": part of a torn tail left by a crash; the log resumed in segment " + std::to_string(*resumed));
      return;
    }
    if (InTornTail(at)) {
      Note(At(at), problem + ": part of the torn tail the log ends in (a crash or a full disk); recovery drops it");
      return;
    }
    Damage(At(at), problem);
  }

  // A segment below the recovery scan start that ends without a SegmentEnd and whose
  // successor is gone: the log went on past it, in the segment that resumed from its end,
  // which the cleaner deleted once nothing there was live. Store::Open never reads it; the
  // pages that still need its records are checked one by one (CheckPage). When segment
  // id + 1, the one the writer made next, is there and does not resume from it, the
  // segment lost its SegmentEnd instead.
  bool LogWentOnPast(std::uint32_t segment) const {
    if (!recovery_.scanned || segment >= recovery_.scan_start.segment()) return false;
    const SegmentFileInfo* next = image_.segment_file(segment + 1);
    return next == nullptr || !next->header || !next->header_problem.empty();
  }

  void CheckSegmentEnd(const SegmentWalk& walk) {
    const LssAddress end = LssAddress::Make(walk.segment, walk.end_offset);
    switch (walk.end) {
      case SegmentEnd::kSegmentEnd:
        return;
      case SegmentEnd::kDamaged:
        ReportBadRecord(
            end, "unreadable bytes where a record should start (" + walk.end_detail +
                     "); the walk of this segment cannot step past them (a read still finds the records after them)");
        return;
      case SegmentEnd::kCleanEnd:
        if (auto resumed = ResumedBefore(end)) {
          Note(At(end),
               "the log ends here without a SegmentEnd (a crash); it resumed in segment " + std::to_string(*resumed));
        } else if (recovery_.scanned && recovery_.stop.position == end) {
          Note(At(end),
               "the log ends here without a SegmentEnd: the store was not closed cleanly "
               "(a crash or a kill); recovery will continue the log from here");
        } else if (LogWentOnPast(walk.segment)) {
          Note(At(end),
               "the log ends here without a SegmentEnd (a crash); the segment that resumed from here is gone "
               "(cleaned), and recovery starts past both");
        } else if (std::find(recovery_.orphans.begin(), recovery_.orphans.end(), walk.segment) ==
                   recovery_.orphans.end()) {
          Damage(At(end), "the segment ends here (" + walk.end_detail +
                              ") without a SegmentEnd, and nothing resumes from here: truncated?");
        }
        return;
    }
  }

  void CheckRecovery() {
    if (!recovery_.scanned) return;
    const ScanStop& stop = recovery_.stop;
    if (InTornTail(stop.position)) {
      std::string what = "the log ends at " + AddressText(stop.position) + " in a torn tail (" + stop.detail +
                         "): a crash or a full disk cut it short, no SyncPoint past it says it was synced, and "
                         "recovery drops it";
      if (stop.records_past > 0) {
        what += " with the " + std::to_string(stop.records_past) + " valid, unsynced records past it (the first at " +
                AddressText(stop.first_record_past) + ")";
      }
      Note("recovery", what);
    } else if (stop.reason != ScanStop::Reason::kEndOfLog || stop.corruption()) {
      std::string what = "the log scan stops at " + AddressText(stop.position) + ": " +
                         std::string(ScanStopReasonName(stop.reason)) + ": " + stop.detail;
      if (stop.corruption()) {
        what += "; corruption, not a torn tail: the SyncPoint at " + AddressText(stop.sync_point_at) +
                " says the log was synced through " + AddressText(stop.durable_through);
      } else if (stop.records_past > 0) {
        what += "; a torn tail: " + std::to_string(stop.records_past) + " valid records follow (the first at " +
                AddressText(stop.first_record_past) + "), none of them known to be synced";
      }
      Damage("recovery", what + "; nothing after it is recovered");
    }
    if (const SegmentFileInfo* f = image_.segment_file(recovery_.scan_start.segment());
        f != nullptr &&
        recovery_.scan_start.offset() > std::min<std::uint64_t>(f->file_size, image_.identity().segment_size)) {
      Damage("recovery", "the checkpoint's scan start " + AddressText(recovery_.scan_start) +
                             " is past the end of segment " + std::to_string(f->id) + " (" +
                             std::to_string(f->file_size) + " bytes): truncated?");
    }
    for (std::uint32_t id : recovery_.orphans) {
      const SegmentSummary* s = FindSegment(id);
      const std::uint64_t records = s ? s->records : 0;
      const std::string what = "not reachable from the log: recovery would rename it " + OrphanSegmentFileName(id);
      if (records > 0) {
        Damage("segment " + std::to_string(id), what + " and lose its " + std::to_string(records) + " records");
      } else {
        Note("segment " + std::to_string(id), what + " (it holds no record)");
      }
    }
    if (!recovery_.open_failure.empty()) Damage("recovery", "Store::Open would fail: " + recovery_.open_failure);
  }

  SegmentSummary* FindSegment(std::uint32_t id) {
    for (SegmentSummary& s : out_.segments) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }

  // The record at `at` read as the Store reads it (ReadRecordAt: the frame and its checks
  // at that address), and its body decoded as the walk decodes it.
  Result<IndexedRecord> ReadAt(LssAddress at) {
    auto record = image_.ReadRecord(at);
    LLAMA_RETURN_IF_ERROR(record);
    IndexedRecord entry{
        record->header.kind, static_cast<std::uint32_t>(record->header.framed_size()), true, 0, LssAddress(), true};
    if (record->header.kind == RecordKind::kPageState) {
      auto header = DecodePageRecordHeader(record->body);
      entry.valid = header.has_value() && DecodePageRecord(record->body).has_value();
      if (header) {
        entry.pid = header->pid;
        entry.prior = header->prior;
        entry.whole = header->has_base || header->prior.is_null();
      }
    }
    return entry;
  }

  // Follows every recovered page's prior pointers from its newest record, as a read of
  // the page would, and compares them with the list recovery keeps.
  void CheckPages() {
    for (const auto& [pid, chain] : recovery_.pages.chains()) {
      for (const PageDiskRecord& r : chain) {
        out_.live_bytes += r.length;
        if (SegmentSummary* s = FindSegment(r.address.segment())) s->live_bytes += r.length;
      }
      CheckPage(pid, chain);
    }
    for (const SegmentSummary& s : out_.segments) out_.log_bytes += s.data_bytes;
  }

  void CheckPage(PageId pid, const std::vector<PageDiskRecord>& chain) {
    const std::string where = "page " + std::to_string(pid);
    LssAddress at = chain.front().address;
    std::set<std::uint64_t> seen;
    std::size_t i = 0;
    while (!at.is_null()) {
      if (!seen.insert(at.raw()).second || seen.size() > (1u << 16)) {
        Damage(where, "its prior pointers loop (at " + AddressText(at) + ")");
        return;
      }
      auto it = index_.find(at.raw());
      if (it == index_.end()) {
        if (image_.segment_file(at.segment()) == nullptr) {
          Damage(where, "its state needs the record at " + AddressText(at) + ", in segment " +
                            std::to_string(at.segment()) + ", which is missing");
          return;
        }
        // The walk of the segment did not reach `at` (it cannot step past bytes that do
        // not say how long they are), but a read goes straight to the address.
        auto read = ReadAt(at);
        if (!read) {
          Damage(where, "its state needs a record at " + AddressText(at) + ", where no valid record starts (" +
                            read.error().message() + ")");
          return;
        }
        it = index_.emplace(at.raw(), *read).first;
      }
      const IndexedRecord& r = it->second;
      if (!r.valid) {
        Damage(where, "its state needs the damaged record at " + AddressText(at));
        return;
      }
      if (r.kind != RecordKind::kPageState) {
        Damage(where, "points at a " + RecordKindName(r.kind) + " record at " + AddressText(at));
        return;
      }
      if (r.pid != pid) {
        Damage(where, "points at a record of page " + std::to_string(r.pid) + " at " + AddressText(at));
        return;
      }
      if (i < chain.size()) {
        if (chain[i].address != at) {
          Damage(where, "recovery lists " + AddressText(chain[i].address) + " as record " + std::to_string(i) +
                            " of its state, but the prior pointers lead to " + AddressText(at));
          return;
        }
        if (chain[i].length != r.framed_size) {
          Damage(where, "the checkpoint says the record at " + AddressText(at) + " is " +
                            std::to_string(chain[i].length) + " bytes; it is " + std::to_string(r.framed_size));
        }
      }
      ++i;
      if (r.whole) break;
      at = r.prior;
    }
    if (i != chain.size()) {
      Damage(where, "recovery lists " + std::to_string(chain.size()) +
                        " records for its state; the prior pointers reach " + std::to_string(i));
    }
  }

  StoreImage& image_;
  const RecoveryView& recovery_;
  std::unordered_map<std::uint64_t, IndexedRecord> index_;
  StoreAnalysis out_;
};

}  // namespace

Result<StoreAnalysis> AnalyzeStore(StoreImage& image, const ProgressFn& progress) {
  return Analyzer(image).Run(progress);
}

}  // namespace llama::pagedump
