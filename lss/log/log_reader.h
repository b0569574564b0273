// Reading the log: one record at an address (page read-back, the cleaner), and a forward
// scan across the chain of segments (recovery, pagedump).
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

#include <cstdint>
#include <map>
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

class LogScanner {
 public:
  // Scans from `start` (a record boundary). Resume headers of all segment files are read
  // up front, so a torn tail with a resuming segment is followed.
  static Result<LogScanner> Open(SegmentSet& segments, LssAddress start, std::uint32_t max_body_len);

  // The next valid record, or nullopt at the end of the valid log (then stop() says why).
  // Errors are I/O failures only; damage is a stop, not an error.
  Result<std::optional<LogRecord>> Next();
  const ScanStop& stop() const { return stop_; }
  // Segments the scan went through, in order.
  const std::vector<std::uint32_t>& visited_segments() const { return visited_; }
  // Segment files that exist but are not on the chain the scan followed (so far).
  std::vector<std::uint32_t> UnvisitedSegments() const;

 private:
  LogScanner(SegmentSet& segments, std::uint32_t max_body_len) : segments_(&segments), max_body_len_(max_body_len) {}
  Status LoadSegment(std::uint32_t id);
  Status ReadSegment(std::uint32_t id, std::vector<std::byte>& out);
  bool FollowResume(LssAddress torn_at);
  void Stop(ScanStop::Reason reason, std::string detail);
  // Fills stop_'s record counts and durable_through (once, when the scan has stopped).
  Status LookPastStop();
  void FindRecords(std::span<const std::byte> bytes, std::uint32_t segment, std::size_t from);

  SegmentSet* segments_;
  std::uint32_t max_body_len_;
  std::map<std::uint32_t, SegmentHeader> headers_;    // every valid segment file
  std::map<std::uint32_t, std::string> bad_headers_;  // files whose header does not decode
  std::vector<std::uint32_t> foreign_;                // headers of another segment or store
  std::vector<std::byte> data_;                       // the current segment's bytes
  std::uint32_t segment_ = 0;
  std::uint32_t offset_ = 0;
  bool stopped_ = false;
  bool looked_past_ = false;
  ScanStop stop_;
  std::vector<std::uint32_t> visited_;
};

}  // namespace llama
