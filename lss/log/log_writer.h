// LogWriter: the flush buffer, the background writes, and group commit.
//
// Writers reserve space in the current in-memory buffer of a ring without taking a lock:
// one atomic word per buffer holds its round, a sealed bit, the number of writers still
// copying, and the bytes reserved (LLAMA's flush buffer). A reservation that does not fit
// seals the buffer; the sealer ends the segment there if the record would not fit in the
// segment either (writing a SegmentEnd record), opens the next buffer of the ring (waiting
// for it to be written out if the ring is full: the back-pressure point) and publishes it.
// The last writer out of a sealed buffer hands it to the I/O thread. Buffers may reach the
// I/O thread out of order; the written position advances only over a contiguous prefix.
//
// Durability is leader/follower group commit: Sync(position) seals the buffer holding
// `position` if needed and writes the sealed buffers itself (a caller waiting for its
// position is never handed off to the I/O thread, which writes only buffers that filled up
// with nobody waiting); then one thread at a time (the leader) fdatasyncs every segment
// written since the last sync (and the directory, if a segment was created) and publishes
// the new durable position. Threads that queued behind it find their position durable, or
// one of them leads the next group commit for all of them. Up to max_syncs_in_flight
// group commits sync at once; their positions are published in the order they began. The next record reserved after
// that is preceded by a SyncPoint record naming the new durable position, so that recovery can tell damage before a
// synced position (corruption) from a torn tail (docs/DESIGN.md).
//
// Errors: the first failed write or sync is sticky. From then on every Reserve and Sync
// returns it, so nothing written after it is ever acknowledged as durable (a failed
// fdatasync may have dropped dirty pages; retrying it would lie).
//
// Ownership: the writer owns its buffers and I/O thread; it borrows the SegmentSet, which
// must outlive it. A Reservation must be committed before the writer is closed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_format.h"
#include "lss/log/record_frame.h"

namespace llama {

class LogWriter {
 public:
  struct Options {
    std::uint32_t buffer_size = 1u << 20;  // bytes per flush buffer
    std::uint32_t buffer_count = 4;        // buffers in the ring (>= 2)
    // Group commits whose fdatasyncs may run at once (>= 1). 1 is the classic group
    // commit: callers arriving during a sync wait for it to end, then one of them syncs
    // for all. More lets a new group start syncing while earlier ones are still in the
    // disk (each publishes its position only after every earlier one), which pays where
    // the device serves concurrent flushes in parallel.
    std::uint32_t max_syncs_in_flight = 4;
    // For scripted tests: called with the writer's lock released at "sync queued" (a Sync
    // caller starts waiting for a group commit it does not lead; once per call), "sync
    // leading" (a leader is about to fdatasync) and "sync done" (its fdatasyncs returned,
    // its position not yet published). Null: not called.
    std::function<void(std::string_view step)> test_hook;
  };

  struct Stats {
    std::uint64_t records = 0;
    std::uint64_t bytes_appended = 0;  // framed record bytes reserved
    std::uint64_t bytes_written = 0;   // bytes handed to the file layer
    std::uint64_t buffers_written = 0;
    std::uint64_t syncs = 0;  // fdatasync batches (group commits)
    std::uint64_t segments_created = 0;
    std::uint64_t abandoned = 0;    // reservations dropped: failed-flush markers written
    std::uint64_t sync_points = 0;  // SyncPoint records written (counted in records too)
    // Where a synced write's time goes (issue: one fdatasync per group commit).
    std::uint64_t sync_requests = 0;  // Sync calls
    std::uint64_t fdatasyncs = 0;     // file and directory syncs issued
    std::uint64_t write_calls = 0;    // batched WriteAt calls (one per segment per batch)
    std::uint64_t caller_writes = 0;  // write batches done by a waiting caller, not the I/O thread
    std::uint64_t waits = 0;          // times a Sync or WaitWritten caller blocked
  };

  // Starts a new segment `first_segment` (its file is created on the first write); its
  // header records `resume_from`, the torn tail of the log it continues (null for the
  // first segment of a store).
  static Result<std::unique_ptr<LogWriter>> Open(SegmentSet& segments, std::uint32_t first_segment,
                                                 LssAddress resume_from, Options options);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // The largest framed record Reserve accepts.
  std::uint32_t max_record_size() const { return max_record_size_; }

  class Reservation {
   public:
    Reservation(Reservation&& other) noexcept { *this = std::move(other); }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();
    LssAddress address() const { return address_; }
    // Position just past the record: what to pass to Sync.
    LssAddress end() const { return LssAddress::Make(address_.segment(), address_.offset() + size_); }
    std::span<std::byte> bytes() const { return {data_, size_}; }

   private:
    friend class LogWriter;
    Reservation() = default;
    void Abandon();
    LogWriter* writer_ = nullptr;
    std::uint64_t index_ = 0;
    std::byte* data_ = nullptr;
    std::uint32_t size_ = 0;
    LssAddress address_;
  };

  // Space for one framed record of `framed_size` bytes. Fill bytes() (EncodeFrame) and
  // Commit. Fails when the record is too large or the log has failed. The first
  // reservation after a sync made a new position durable is preceded by a SyncPoint
  // record naming that position (so the record may not start where the tail was).
  Result<Reservation> Reserve(std::size_t framed_size);
  // The writer is done with the reservation's bytes.
  void Commit(Reservation reservation);

  struct Appended {
    LssAddress address;
    LssAddress end;
    std::uint32_t framed_size;
  };
  // Frames `body` (already compressed if `compressed`) and appends it.
  Result<Appended> Append(log_format::RecordKind kind, std::span<const std::byte> body, bool compressed = false,
                          std::uint32_t raw_len = 0);

  // Returns once everything before `upto` is durable (or the error that prevents it).
  Status Sync(LssAddress upto);
  // Returns once everything before `upto` is written to its file (not necessarily synced).
  Status WaitWritten(LssAddress upto);
  // The position after everything reserved so far (committed or not).
  LssAddress tail() const;
  LssAddress written_position() const { return LssAddress::FromRaw(written_.load(std::memory_order_acquire)); }
  LssAddress durable_position() const { return LssAddress::FromRaw(durable_.load(std::memory_order_acquire)); }
  // The first I/O error, or OK.
  Status health() const;
  Stats stats() const;

  // Ends the current segment, writes and syncs everything, stops the I/O thread. After
  // Close every call fails. Idempotent.
  Status Close();

 private:
  static constexpr std::uint64_t kUsedMask = 0xFFFF'FFFFull;
  static constexpr std::uint64_t kOneWriter = 1ull << 32;
  static constexpr std::uint64_t kWritersMask = 0x7FFFull << 32;
  static constexpr std::uint64_t kSealed = 1ull << 47;
  static constexpr int kRoundShift = 48;

  struct Buffer {
    std::unique_ptr<std::byte[]> data;
    std::atomic<std::uint64_t> state{0};
    // Set when the buffer is opened, before it is published as current. Atomic (relaxed)
    // because a thread holding a stale index may peek at them while they change; the
    // round in `state` tells it so.
    std::atomic<std::uint32_t> segment{0};
    std::atomic<std::uint32_t> base{0};   // segment offset of data[0]
    std::atomic<std::uint32_t> limit{0};  // reservable bytes
    // Set by the sealer while it holds a writer count.
    std::uint32_t final_size = 0;
    std::uint32_t next_segment = 0;  // != 0: this buffer ends its segment
    // Guarded by io_mu_.
    bool busy = false;  // opened and not yet written out
    bool done = false;  // written out, waiting for the contiguous prefix
  };

  LogWriter(SegmentSet& segments, Options options);
  Result<Reservation> ReserveSpace(std::size_t framed_size);
  // Appends a SyncPoint naming the durable position if a sync advanced it since the last.
  Status AppendSyncPoint();
  Buffer& BufferAt(std::uint64_t index) { return *ring_[index % ring_.size()]; }
  static std::uint64_t RoundBits(std::uint64_t index) { return (index & 0xFFFF) << kRoundShift; }
  void OpenBuffer(std::uint64_t index, std::uint32_t segment, std::uint32_t base);
  // Called by the thread that set the sealed bit (holding one writer count).
  void SealAndAdvance(std::uint64_t index, std::uint32_t used, std::size_t needed, bool end_segment);
  // Seals the current buffer if it holds bytes before `upto` (or unconditionally with
  // end_segment, at close).
  void SealCurrent(std::optional<LssAddress> upto, bool end_segment);
  void ReleaseWriter(std::uint64_t index);
  void IoLoop();
  // Writes the queued sealed buffers unless another thread is writing (io_mu_ held; it is
  // released during the writes).
  void WriteQueued(std::unique_lock<std::mutex>& lock, bool by_caller);
  bool CanWriteQueued() const { return !writing_ && !io_queue_.empty(); }  // io_mu_ held
  void RetireWrittenPrefix();                                              // io_mu_ held
  // Leads a group commit of everything written so far: syncs it, then publishes every
  // finished round in order (io_mu_ held on entry and exit, released while syncing).
  void LeadSyncRound(std::unique_lock<std::mutex>& lock);
  void PublishFinishedRounds();  // io_mu_ held
  Status SyncFiles(const std::set<std::uint32_t>& segments, bool dir_dirty);
  Status WriteBuffers(const std::vector<std::uint64_t>& indexes);
  void Fail(const Error& error);
  std::uint32_t usable_end() const;

  SegmentSet& segments_;
  const Options options_;
  const std::uint32_t max_record_size_;
  std::uint32_t first_segment_ = 0;
  LssAddress resume_from_;
  std::vector<std::unique_ptr<Buffer>> ring_;
  std::atomic<std::uint64_t> current_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<std::uint64_t> sync_point_{0};  // the durable position the last SyncPoint named
  std::atomic<bool> failed_{false};
  std::atomic<bool> closed_{false};

  mutable std::mutex io_mu_;
  std::condition_variable io_cv_;     // the I/O thread waits for buffers
  std::condition_variable state_cv_;  // buffers freed, positions advanced, failure
  std::deque<std::uint64_t> io_queue_;
  std::uint64_t next_to_retire_ = 0;  // lowest buffer index not yet written out
  std::set<std::uint32_t> unsynced_segments_;
  bool dir_dirty_ = false;
  bool stop_io_ = false;
  bool writing_ = false;     // a thread is in WriteBuffers
  int callers_writing_ = 0;  // callers in WaitWritten, who write queued buffers themselves
  std::optional<Error> error_;
  std::thread io_thread_;

  // A group commit. Shared with its followers, who sleep on `published` and may outlive
  // its place in rounds_. Fields guarded by io_mu_.
  struct SyncRound {
    std::uint64_t target = 0;  // the written position when it began
    bool done = false;         // its fdatasyncs returned
    bool popped = false;       // published (durable_ covers target) or failed
    std::condition_variable published;
  };
  std::deque<std::shared_ptr<SyncRound>> rounds_;  // begun, not yet published (io_mu_)
  std::condition_variable round_slot_cv_;          // a round ended: a slot to lead one

  std::atomic<std::uint64_t> stat_abandoned_{0}, stat_records_{0}, stat_bytes_appended_{0}, stat_bytes_written_{0},
      stat_buffers_written_{0}, stat_syncs_{0}, stat_segments_created_{0}, stat_sync_points_{0}, stat_sync_requests_{0},
      stat_fdatasyncs_{0}, stat_write_calls_{0}, stat_caller_writes_{0}, stat_waits_{0};
};

}  // namespace llama
