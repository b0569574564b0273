// Store: the page store an access method uses. It joins the mapping table (mapping/),
// the log-structured store on disk (lss/) and the generations that make pointers safe.
//
//   auto store = *llama::Store::Open("/data/db", {});
//   auto g = store->EnterGeneration();
//   PageId pid = *store->Allocate();
//   ... UpdateD / UpdateR as on a MappingTable ...
//   LssAddress pos = *store->Flush(g, pid);   // write the page's new deltas to the log
//   store->Sync(pos);                         // durable (group commit)
//
// Durability contract: a page's state is durable once a Flush that covered it returned a
// position and Sync(position) returned OK. After a crash, Open recovers every page to its
// newest durable flushed state; deltas never flushed are gone (LLAMA leaves that choice to
// the access method). Free is durable the same way (it logs a record). A clean Close()
// flushes every page first, so after it everything is durable.
//
// Background work (a maintenance thread, started when StoreOptions asks for it): the
// evictor keeps page state near `memory_budget`, the cleaner keeps the log within
// `cleaner_space_factor` times the live data.
//
// Ownership: the Store owns its Env (unless one is lent through the options), files,
// writer thread, mapping table and every page state in it. PageRefs and nodes read under
// a GenerationGuard stay valid until the guard is released; Close() and destruction need
// every guard released first.
//
// This class is the public face only: it forwards every call to StoreImpl
// (lss/store/store_impl.h, internal), which it owns, as LevelDB's DB does to DBImpl. So
// this header names no internal type, and the store's internals change without
// recompiling its users.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llama/base_page.h"
#include "llama/delta_record.h"
#include "llama/env.h"
#include "llama/generation_manager.h"
#include "llama/mapping_options.h"
#include "llama/page_node.h"
#include "llama/page_ref.h"
#include "llama/status.h"
#include "llama/store_catalog.h"
#include "llama/types.h"

namespace llama {

class MappingTable;  // mapping/mapping_table.h (internal)
class StoreImpl;     // lss/store/store_impl.h (internal)

// What Store::Open does when the log is damaged before a position a sync made durable
// (acknowledged data would be lost), as opposed to a torn tail left by a crash, which is
// always cut off silently (docs/DESIGN.md, "Damage or torn tail").
enum class RecoveryMode : std::uint8_t {
  // Refuse to open (Corruption naming the segment, offset and reason); nothing on disk
  // changes, so the store can be inspected (pagedump) or opened with the mode below.
  kRefuseOnCorruption,
  // Open at the last good record before the damage, as after a torn tail: everything
  // after it is dropped (segments past it are set aside as orphans) and the recovery
  // report says so (RecoveryReport::corruption, records_dropped).
  kTruncateAtCorruption,
};

struct StoreOptions {
  IoBackend io_backend = IoBackend::kAuto;
  RecoveryMode recovery_mode = RecoveryMode::kRefuseOnCorruption;
  // Lend an Env (e.g. a FaultInjectionEnv in tests) instead of opening one. Must outlive
  // the store.
  Env* env = nullptr;
  bool create_if_missing = true;
  bool error_if_exists = false;
  std::uint32_t segment_size = 64u << 20;  // fixed when the store is created
  std::uint32_t flush_buffer_size = 1u << 20;
  std::uint32_t flush_buffers = 4;
  // Group commits whose fdatasyncs may be in the disk at once (>= 1; 1: one at a time,
  // callers arriving meanwhile wait and then share the next). Positions still become
  // durable in log order. README's synced-put figures show what each setting gives.
  std::uint32_t max_syncs_in_flight = 4;
  // Preallocate every new segment file to the segment size (fallocate), so that a synced
  // write does not also commit a growing file size (README measures what that saves).
  // Best effort: without fallocate files grow as written.
  bool preallocate_segments = true;
  int compression_level = 3;  // zstd level for records that shrink; 0: never compress
  // A page's on-disk state spans at most this many records before Flush writes it whole.
  std::uint32_t max_disk_chain = 8;
  // Segments whose live fraction is at or above this are never worth cleaning.
  double cleaner_max_live_fraction = 0.8;
  // The background cleaner runs when the log is larger than this many times the live
  // data (and more than 4 segments long); 0 turns it off (Clean() still works).
  double cleaner_space_factor = 2.0;
  // Bytes of page state to keep in memory; the background evictor flushes and swaps out
  // the least recently used pages above it. 0: no budget (nothing is evicted unasked).
  std::uint64_t memory_budget = 0;
  // How often the background maintenance (eviction, cleaning) looks at the store.
  std::uint32_t maintenance_interval_ms = 20;
  MappingOptions mapping;
  // Tests only: called on the calling thread at named steps of Flush ("flush encoded":
  // the record is encoded, nothing reserved; "flush reserved": log space is reserved, the
  // mark not installed), so a test can change the page inside a flush's window.
  std::function<void(std::string_view step, PageId pid)> test_hook;
};

// What Open found. Times in seconds.
struct RecoveryReport {
  bool created = false;
  std::uint64_t checkpoint_sequence = 0;  // 0: none used
  std::vector<std::string> damaged_checkpoints;
  LssAddress scan_start;
  LssAddress scan_stop;
  std::string stop_reason;
  std::uint64_t records_scanned = 0;
  std::uint64_t pages_recovered = 0;
  std::vector<std::uint32_t> orphan_segments;  // unreachable segment files set aside
  // Valid records found past the stop, never replayed: a torn tail's unsynced writes
  // that reached the disk out of order, or what kTruncateAtCorruption dropped.
  std::uint64_t records_past_stop = 0;
  // kTruncateAtCorruption opened a log damaged before a synced position: what was wrong
  // ("" when nothing was; the default mode refuses such a log instead).
  std::string corruption;
  double seconds = 0;
};

struct StoreStats {
  std::string io_backend;
  std::string io_fallback_reason;
  std::uint64_t bytes_written = 0;
  std::uint64_t syncs = 0;  // group commits: one leader's fdatasync round each
  // Where a synced write's time goes: divide by sync_requests for the cost of one.
  std::uint64_t sync_requests = 0;      // Sync calls (acknowledged or not)
  std::uint64_t log_fdatasyncs = 0;     // fdatasyncs of log segments and their directory
  std::uint64_t log_write_calls = 0;    // batched writes of log buffers
  std::uint64_t log_caller_writes = 0;  // of those, written by a waiting caller (not handed off)
  std::uint64_t log_waits = 0;          // times a Sync caller blocked (on another writer or group commit)
  std::uint64_t records = 0;
  std::uint64_t segments = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t log_bytes = 0;  // bytes in segment files (preallocated ones count whole)
  double live_fraction = 0;     // live_bytes / log_bytes
  std::uint64_t flushes = 0;
  std::uint64_t failed_flushes = 0;  // log reservations dropped after a lost race: a failed-flush marker each
  std::uint64_t evictions = 0;
  std::uint64_t resident_bytes = 0;  // estimated bytes of page state in memory (budget only)
  std::uint64_t cleaner_runs = 0;
  std::string maintenance_error;  // the background work's last error, if any
  std::uint64_t reads_from_disk = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t pages_in_use = 0;  // page ids allocated, the catalog page included
  double recovery_seconds = 0;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Flushes every page in memory, writes a checkpoint, ends the log cleanly and syncs
  // everything. Idempotent. Guards must be released first.
  Status Close();

  GenerationGuard EnterGeneration() { return generations_->Enter(); }

  Result<PageId> Allocate();
  // Frees the page and logs it; returns the position to Sync for the free to be durable.
  Result<LssAddress> Free(const GenerationGuard& guard, PageId pid);
  // The page's state, wholly in memory: a page that is on disk, or partly on disk after a
  // PartialSwap, is read back first.
  Result<PageRef> Read(const GenerationGuard& guard, PageId pid);
  // The base page at the bottom of the page's state (read back first if needed), shared:
  // the handle keeps the page's bytes alive and unchanged after the store replaces, evicts
  // or frees the state. InvalidArgument when the state has no base page in memory
  // (a page made only of deltas). A pinned page outlives its eviction, so its bytes count
  // against no budget once the store has let go of them: pin only what a caller bounds.
  Result<BasePageHandle> PinBase(const GenerationGuard& guard, PageId pid);
  // Update-D and Update-R as on a MappingTable (mapping/mapping_table.h), plus the
  // bookkeeping the memory budget needs.
  Result<UpdateOutcome> UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle delta,
                                const PageNode* last_flushed = nullptr);
  Result<UpdateOutcome> UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected, OwnedChain& state);
  // Writes what the log does not have of the page yet (its new deltas, or all of it) and
  // marks the node it read as the head with where (MappingTable::MarkFlushed: a copy that
  // carries the address, nothing prepended; writers' deltas prepended meanwhile stay
  // above the mark, unflushed). Returns the position to Sync for durability.
  Result<LssAddress> Flush(const GenerationGuard& guard, PageId pid);
  // Flushes the page if needed and swaps it out: only its LSS address stays in memory.
  Status Evict(const GenerationGuard& guard, PageId pid);
  // LLAMA's partial swap: the part of the page's chain that is already flushed leaves
  // memory, replaced by a PartialSwap delta naming its LSS address; deltas not yet flushed
  // stay. Read brings the rest back. A page with nothing flushed is left as it is.
  Status PartialSwap(const GenerationGuard& guard, PageId pid);
  // Returns once everything up to `position` is durable.
  Status Sync(LssAddress position);
  // Makes everything appended so far durable.
  Status SyncAll();
  // Flushes every page that has state in memory, then SyncAll.
  Status FlushAll();
  // Writes a checkpoint of where every page's durable state is (writers keep going).
  Status Checkpoint();

  struct CleanResult {
    std::vector<std::uint32_t> cleaned;  // segments whose live records were moved
    std::vector<std::uint32_t> deleted;  // segment files deleted by this call
    std::uint64_t pages_relocated = 0;
    std::uint64_t bytes_relocated = 0;
    // Kept changing, or consolidated in memory and not flushed yet (nothing in memory
    // refers to their records then); their segments wait for a later pass.
    std::uint64_t pages_skipped = 0;
  };
  // The segment cleaner. Picks up to `max_segments` sealed segments by LFS cost-benefit
  // ((1 - u) * age / (1 + u), u = live fraction), rewrites the live state of every page
  // they hold at the log tail (a Relocation delta for pages in memory, a new address for
  // pages on disk), and takes checkpoints. A cleaned segment file is deleted only once no
  // retained checkpoint refers to it and no reader can still be reading it.
  Result<CleanResult> Clean(std::size_t max_segments = 4);

  // The catalog (llama/store_catalog.h): named root pages for the layers above. Returns the page
  // registered under `name`; on first use allocates one, gives it an empty 4 KiB base page
  // and registers it, both durably (synced) before returning, so a registered name always
  // names a page that recovery restores. Never Free a root page. InvalidArgument for a
  // name outside 1..255 bytes; ResourceExhausted when the catalog is full: it must fit one
  // base page (64 KiB) and one log record (StoreOptions: flush buffer and segment sizes).
  // A page allocated for a refused name is freed again.
  Result<PageId> OpenRoot(std::string_view name);
  // Every registered root, sorted by name.
  Result<std::vector<NamedRoot>> Roots();

  StoreStats stats() const;
  const StoreOptions& options() const;
  // The largest framed log record this store writes (a flush of a page's unflushed state
  // must fit one): a layer above bounds its chains by it.
  std::uint32_t max_record_size() const;
  const RecoveryReport& recovery() const;
  std::uint64_t store_id() const;
  // The mapping table under the store (mapping/mapping_table.h, internal: tests and tools
  // that look at slots directly include it).
  MappingTable& mapping();

 private:
  explicit Store(std::unique_ptr<StoreImpl> impl);

  std::unique_ptr<StoreImpl> impl_;  // owned; lives as long as the Store
  GenerationManager* generations_;   // impl_'s, for the inline EnterGeneration
};

}  // namespace llama
