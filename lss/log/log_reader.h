// Reading the log: one record at an address (page read-back, the cleaner), and a forward
// scan across the chain of segments (recovery, pagedump).
//
// The scan reads a segment in chunks (ScanOptions) on reader threads, a few chunks ahead
// of the checking, so reading the files and checking them overlap; records are checked
// and handed out as spans into those chunks (a record that straddles two chunks is the
// only one copied), never copied one by one into records of their own.
//
// The scan follows SegmentEnd records from segment to segment and, where the log was torn
// by a crash, continues in the segment whose header says it resumes from that place. It
// stops at the first position that holds no valid record: a torn, zeroed, random or stale
// tail, a flipped bit, a missing or damaged next segment. The stop says where and why;
// nothing after it is ever returned.
//
// Once stopped, the scanner looks past the stop for valid records (frames that check out
// at the position they name) in the rest of that segment and in every later segment
// file. A SyncPoint among them that names a durable position past the stop proves that
// the stop is damage in synced data (corruption), not a torn tail (docs/DESIGN.md,
// "Damage or torn tail").
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"
#include "lss/file/segment_set.h"
#include "lss/log/record_frame.h"

namespace llama {

struct LogRecord {
  LssAddress address;
  FrameHeader header;
  std::vector<std::byte> body;  // decompressed
};

// A record as the scan hands it out: `body` (decompressed) points into the scanner's
// buffers and stays valid until its next call.
struct LogRecordView {
  LssAddress address;
  FrameHeader header;
  std::span<const std::byte> body;

  LogRecord ToRecord() const { return LogRecord{address, header, {body.begin(), body.end()}}; }
};

// Reads and checks the record at `at` (Corruption if it does not decode there).
Result<LogRecord> ReadRecordAt(SegmentSet& segments, LssAddress at, std::uint32_t max_body_len);

struct ScanStop {
  enum class Reason : std::uint8_t {
    kEndOfLog,        // zeros or end of file where the next record would be
    kDamagedRecord,   // bytes that are not a valid record here (torn, flipped, stale)
    kMissingSegment,  // the next segment (or the scan start) is damaged or missing
  };
  LssAddress position;  // where the next record would have been
  Reason reason = Reason::kEndOfLog;
  std::string detail;

  // What lies past the stop: valid records at their own positions after it (in its
  // segment and in later segment files; never replayed), and the furthest durable
  // position a SyncPoint record among them names (null: none).
  std::uint64_t records_past = 0;
  LssAddress first_record_past;
  LssAddress durable_through;
  LssAddress sync_point_at;  // the SyncPoint that names durable_through
  // The first record position the log lost: `position`, except at a SegmentEnd whose next
  // segment is missing or damaged, where it is that segment's first record (offset 40).
  // (A sync that reached the SegmentEnd names that position as durable, but it has not
  // made the next segment's header durable.)
  LssAddress lost_from;

  // A record lost lies before a position a completed sync made durable: the log is
  // damaged (bit rot, a lost or misdirected write), which no crash can cause.
  bool corruption() const { return !durable_through.is_null() && lost_from < durable_through; }
  // "segment S offset O: <reason>: <detail>; ..." naming the evidence (for corruption()).
  std::string CorruptionMessage() const;
};
std::string_view ScanStopReasonName(ScanStop::Reason reason);

struct ScanOptions {
  std::size_t chunk_size = std::size_t{1} << 20;  // bytes per read (at least 4 KiB)
  std::size_t chunks_ahead = 4;                   // chunks read ahead of the checking (>= 1)
  std::size_t readers = 2;                        // reader threads (>= 1)
};

class SegmentStream;  // the reader threads (log_reader.cc)

class LogScanner {
 public:
  // Scans from `start` (a record boundary). Resume headers of all segment files are read
  // up front, so a torn tail with a resuming segment is followed.
  static Result<LogScanner> Open(SegmentSet& segments, LssAddress start, std::uint32_t max_body_len,
                                 ScanOptions options = {});
  LogScanner(LogScanner&&) noexcept;
  LogScanner& operator=(LogScanner&&) noexcept;
  ~LogScanner();

  // The next valid record, or nullopt at the end of the valid log (then stop() says why).
  // Errors are I/O failures only; damage is a stop, not an error. The view's body is
  // valid until the next call.
  Result<std::optional<LogRecordView>> NextView();
  // The same, the body copied into the record.
  Result<std::optional<LogRecord>> Next();
  const ScanStop& stop() const { return stop_; }
  // Segments the scan went through, in order.
  const std::vector<std::uint32_t>& visited_segments() const { return visited_; }
  // Segment files that exist but are not on the chain the scan followed (so far).
  std::vector<std::uint32_t> UnvisitedSegments() const;
  // The furthest durable position a SyncPoint the scan returned names (null: none): the
  // writer had synced everything on the chain before it.
  LssAddress synced_through() const { return synced_through_; }
  // Visited segments whose part on the chain (header included) reaches past
  // synced_through(), or is the header alone, in scan order: what a process that crashed
  // may have left in the page cache only (docs/DESIGN.md, "Checkpoints and recovery").
  std::vector<std::uint32_t> SegmentsNotKnownSynced() const;
  // Segment files (every one listed at Open, whatever the scan start) whose header is this
  // store's but names another segment: file id -> the id its header names. A writer never
  // makes one (it creates segment N with N's header); a file renamed or swapped does.
  const std::map<std::uint32_t, std::uint32_t>& misnamed_segments() const { return misnamed_; }

 private:
  LogScanner(SegmentSet& segments, std::uint32_t max_body_len, ScanOptions options);
  // Streams the bytes of segment `id` from `from` on.
  Status StartStream(std::uint32_t id, std::uint64_t from);
  // Makes `id` the current segment, streamed from `from` on.
  Status LoadSegment(std::uint32_t id, std::uint32_t from);
  // The streamed segment's bytes [at, at + n) (fewer only at the end of the file), in
  // place in a chunk or gathered into carry_; valid until the next call. A window never
  // starts before the previous one, or more than kLookBehind bytes before the chunk
  // the previous one ended in.
  Result<std::span<const std::byte>> Window(std::uint64_t at, std::size_t n);
  Status NextChunk();
  // Whether the streamed segment holds only zeros from `at` to its end.
  Result<bool> RestIsZero(std::uint64_t at);
  // The position of the first nonzero byte at or after `at` (the end of the file if none).
  Result<std::uint64_t> NextNonZero(std::uint64_t at);
  Result<bool> FollowResume(LssAddress torn_at);
  // NextView's steps. The bytes of the frame at `offset` (its header alone if its length
  // field is out of range).
  Result<std::span<const std::byte>> FrameBytesAt(std::uint32_t offset);
  // The frame's body, decompressed into body_ if need be; else why it is damaged.
  std::optional<std::string> BodyOf(const FrameView& frame, std::span<const std::byte>* body);
  // At a frame that is not a record: true if a segment resuming from `here` continues the
  // scan, else the scan stops (end of log or damage).
  Result<bool> StopAtDamage(LssAddress here, bool framed, std::string damage);
  void NoteSyncPoint(LssAddress here, std::span<const std::byte> body);
  enum class SegmentEndStep : std::uint8_t { kFollowed, kResumed, kStopped };
  // At a SegmentEnd record: into the next segment (the record is returned, its body
  // copied out of this segment's chunks), into a segment resuming from it, or the stop.
  Result<SegmentEndStep> FollowSegmentEnd(LogRecordView& record);
  void Stop(ScanStop::Reason reason, std::string detail);
  // Fills stop_'s record counts and durable_through (once, when the scan has stopped).
  Status LookPastStop();
  // Counts the valid frames in the streamed segment from `from` on into stop_.
  Status FindRecords(std::uint32_t segment, std::uint64_t from);

  static constexpr std::size_t kLookBehind = 64;

  SegmentSet* segments_;
  std::uint32_t max_body_len_;
  std::map<std::uint32_t, SegmentHeader> headers_;    // every valid segment file
  std::map<std::uint32_t, std::string> bad_headers_;  // files whose header does not decode
  std::vector<std::uint32_t> foreign_;                // headers of another segment or store
  std::map<std::uint32_t, std::uint32_t> misnamed_;   // file id -> the other segment of this store it holds
  std::unique_ptr<SegmentStream> stream_;             // the current segment's chunks
  std::span<const std::byte> chunk_;                  // the current chunk ...
  std::uint64_t chunk_base_ = 0;                      // ... and its offset in the segment
  bool stream_end_ = false;                           // chunk_ is the last (empty) one
  std::vector<std::byte> carry_;                      // a window across chunks ...
  std::uint64_t carry_base_ = 0;                      // ... and its offset
  std::vector<std::byte> behind_;                     // the last bytes before chunk_
  std::vector<std::byte> body_;                       // a decompressed body
  std::uint32_t segment_ = 0;
  std::uint32_t offset_ = 0;
  bool stopped_ = false;
  bool stop_rest_zero_ = false;  // the stop's segment holds only zeros from the stop on
  bool looked_past_ = false;
  ScanStop stop_;
  std::vector<std::uint32_t> visited_;
  std::vector<LssAddress> visited_ends_;  // per visited segment: the end of its part on the chain
  LssAddress synced_through_;
};

}  // namespace llama
