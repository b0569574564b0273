// What a llama::Vector is opened with (VectorOptions, VectorWriteOptions), the
// configuration it stores (VectorConfig) and what it reports (VectorMetrics).
//
// Ownership: plain values, copied in and out; none refers to a vector or a store.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "llama/rebuild_phase.h"
#include "llama/types.h"

namespace llama {

struct VectorOptions {
  // Fixed when the vector is created (a reopen uses what was stored).
  std::uint32_t branching = 32;
  // Elements a leaf holds at most; 0: as many as fit its page (leaves filled to the page,
  // so a read touches fewer, fuller pages). Leaves are always bounded by bytes too.
  std::uint32_t leaf_max_elements = 0;
  std::uint32_t leaf_page_size = 4096;
  std::uint32_t writer_slots = 8;  // buffer pages; writer threads share them round robin
  // Adaptive batching: the rebuilder starts a rebuild once this many writes are pending.
  std::uint64_t initial_batch_window = 128;
  std::uint64_t min_batch_window = 16;
  std::uint64_t max_batch_window = 1 << 16;
  // ... or once the oldest pending write has waited this long.
  std::uint32_t max_delay_us = 2000;
  // Flow control: a writer waits while its buffer holds more unconsumed bytes than this.
  // Keep it well below the store's largest log record (min(flush buffer, segment)): a
  // buffer page's whole state must fit one record.
  std::uint64_t max_buffer_bytes = 256 << 10;
  // Tests only: called on the calling thread at named steps, so a test can script a
  // schedule. "write timestamped": a write took `timestamp` and its entry is not on its
  // buffer page yet (every Sync of a later write waits for it); "sync waits": a Sync of
  // `timestamp` found an earlier write not installed yet and waits for it.
  std::function<void(std::string_view step, std::uint64_t timestamp)> test_hook;
};

struct VectorWriteOptions {
  bool sync = false;  // return only once the write is durable
};

// The configuration a vector stored in its meta page when it was created (VectorOptions
// resolved: leaf_max_elements is never 0 here), and the buffer pages it allocated then.
// Limits: rebuild/vector_format.h, ValidateVectorConfig.
struct VectorConfig {
  std::uint32_t branching = 32;          // children per inner node
  std::uint32_t leaf_max_elements = 64;  // elements per leaf (also bounded by bytes)
  std::uint32_t leaf_page_size = 4096;   // base page size of leaves and inner nodes
  std::vector<PageId> buffers;           // one buffer page per writer slot
  friend bool operator==(const VectorConfig&, const VectorConfig&) = default;
};

struct VectorMetrics {
  RebuildPhase phase = RebuildPhase::kSleeping;
  std::uint64_t last_batch_size = 0;      // entries in the last rebuild
  std::uint64_t total_batch_entries = 0;  // entries in every rebuild so far
  std::uint64_t rebuild_count = 0;
  std::uint64_t batch_window = 0;
  std::uint64_t snapshot_generation = 0;
  std::uint64_t size = 0;                       // elements in the newest snapshot
  std::uint64_t retired_snapshots_waiting = 0;  // replaced snapshots a reader still holds
  std::uint64_t pages_pending_free = 0;         // dropped tree pages waiting for those readers
  std::uint64_t pages_reclaimed = 0;
  std::uint64_t pages_written = 0;  // tree pages written by rebuilds
  std::uint64_t entries_written = 0;
  std::uint64_t rejected_entries = 0;
  std::uint64_t replayed_at_open = 0;  // entries recovery replayed
  // Durable entries recovery left out because an earlier write was lost (none of them was
  // acknowledged as synced: a sync covers every earlier write).
  std::uint64_t dropped_at_open = 0;
};

}  // namespace llama
