// llama::Vector: a huge, durable, concurrently written sequence stored in a llama Store,
// read through immutable snapshots.
//
//   auto vec = *Vector::Open(*store, "events");  // store: llama/store.h
//   auto t = *vec->Append("hello");              // a ticket: the write's place in the order
//   vec->Sync(t);                                // durable (group commit)
//   vec->WaitVisible(t);                         // a published snapshot holds it
//   VectorSnapshot snap = vec->Snapshot();       // immutable; snap.at(0) == "hello"
//
// Write path. Each write (one operation, or a batch of several, all or nothing) becomes an
// entry: the operations, a timestamp from one atomic clock (unique, so it orders every
// write: a call that returned before another began has the smaller one), the writer
// thread's id and its per-thread sequence. The entry is encoded as an Update-delta payload
// and prepended by CAS to the writer slot's buffer page: no lock. Writers are never blocked
// by a rebuild (only, as flow control, when a buffer holds more than max_buffer_bytes that
// the rebuilder has not consumed yet).
//
// The rebuilder (one background thread): Sleeping until the batch window fills (or
// max_delay passes, or a reader waits), RotatingBuffers (choosing the cut: a timestamp
// below which every entry is already in its buffer), CollectingEntries, SortingEntries,
// PublishingSnapshot (replaying the batch onto the tree with RrbBuilder, writing the new
// pages, logging the publication, then swapping in the new snapshot in one atomic step).
// An operation whose index is past the end at its turn is rejected (with the rest of its
// batch): counted in metrics, reported by WaitVisible, never applied.
//
// Durability. The promise: after a crash the vector is the replay of the writes with
// timestamps below some T, in timestamp order, batches whole, and T is above every write
// whose Sync (or VectorWriteOptions::sync) returned OK. So the recovered vector is a prefix
// of the real-time order that holds every acknowledged synced write; a write that returned
// before a synced one began is there too, whichever thread made it.
//
// How. Sync(ticket) makes durable every write ordered before it, in every writer slot: it
// waits until the rebuilder's cut (above) passes the ticket, so every earlier write is on
// its buffer page, flushes every buffer page, and syncs once past all of them and past
// the newest publication (one fdatasync for the group). Timestamps are dense: a write takes
// one only after everything that may refuse it, and one that still cannot install its
// entry fails the vector (so no later Sync returns OK). Recovery replays only the run of
// consecutive timestamps from the published watermark: a durable entry after a lost one
// was never acknowledged as synced, and is left out (metrics: dropped_at_open).
//
// A publication is an Update delta on the meta page naming the root, size and watermark
// (the cut); it is logged after the tree pages it names. Buffers drop consumed entries
// only after the publication covering them is logged, and tree pages are freed only after
// a publication that no longer needs them, so every prefix of the log holds a publication
// plus every durable entry after its watermark.
//
// Ownership: the Vector owns its implementation (VectorImpl, internal), which owns the
// rebuilder thread, writer records and publications; the Store owns every page. The Store
// must outlive the Vector, and snapshots must be released before the Vector is destroyed.
// Writes, syncs, waits and snapshots may come from any number of threads at once; the
// destructor must not race with them.
//
// Naming, as in Store: operations, which act on the vector or its store, are CamelCase
// (Open, Append, Write, Sync, WaitVisible, Snapshot, Close); accessors that only report
// state are lower-case (metrics, config, as Store's stats and options). VectorSnapshot is
// a read-only sequence and speaks a standard container's lower-case vocabulary (size, at,
// range, begin/end, for_each, with, view).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "llama/status.h"
#include "llama/types.h"
#include "llama/vector_options.h"
#include "llama/vector_snapshot.h"
#include "llama/vector_write_batch.h"

namespace llama {

class Store;
class VectorImpl;

class Vector {
 public:
  // Opens (creating on first use) the vector `name` in `store`. Recovery happens here:
  // the last logged publication plus every durable entry after its watermark.
  static Result<std::unique_ptr<Vector>> Open(Store& store, std::string_view name, VectorOptions options = {});
  ~Vector();
  Vector(const Vector&) = delete;
  Vector& operator=(const Vector&) = delete;

  // Publishes every write made so far, stops the rebuilder and flushes the buffers.
  // Idempotent. Snapshots must be released first.
  Status Close();

  Result<VectorTicket> Append(std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> Prepend(std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> Insert(std::uint64_t i, std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> Erase(std::uint64_t i, VectorWriteOptions o = {});
  Result<VectorTicket> Update(std::uint64_t i, std::string_view v, VectorWriteOptions o = {});
  Result<VectorTicket> Write(const VectorWriteBatch& batch, VectorWriteOptions o = {});

  // Durable: returns once the write and every write ordered before it (a smaller
  // timestamp: every write that returned before this one began), in every writer slot,
  // are synced, by one store Sync (group commit) past every buffer page. An error when
  // the vector failed (an earlier write may then be lost), or for a ticket it never gave.
  Status Sync(VectorTicket ticket);
  // Returns once a published snapshot contains the write: OK, or InvalidArgument saying
  // why it was rejected (an index past the end at its turn). Rejections are remembered
  // for the newest 65536 rejected writes.
  Status WaitVisible(VectorTicket ticket);

  // The newest publication, held until the snapshot is released.
  VectorSnapshot Snapshot() const;
  VectorMetrics metrics() const;
  // The configuration stored when the vector was created, and its meta page (diagnostics).
  const VectorConfig& config() const;
  PageId meta_page() const;
  // The longest value a write may hold (what one leaf page holds).
  std::size_t max_value_size() const;
  // Diagnostics: how many writer records the calling thread holds (one per live vector it
  // wrote to, plus destroyed ones not yet dropped; see VectorImpl::LocalRecord).
  static std::size_t ThreadWriterRecords();
  // Tests: with `hold`, returns once the rebuilder is parked between rebuilds, where it
  // stays until released (or Close): writes pile up as behind a slow rebuild, so a test can
  // script a batch's size. Mind flow control: a writer whose buffer fills up
  // (max_buffer_bytes) waits for the rebuilder. Released, the rebuilder goes straight on to
  // a rebuild of everything written meanwhile.
  void HoldRebuilderForTesting(bool hold);

 private:
  explicit Vector(std::unique_ptr<VectorImpl> impl);
  std::unique_ptr<VectorImpl> impl_;
};

}  // namespace llama
