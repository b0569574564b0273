// Checkpoints of the mapping table: which log records hold each page's durable state, and
// where recovery starts scanning the log.
//
// A checkpoint is one file, CHECKPOINT-<sequence as 16 hex digits> (lss/file/file_names.h),
// written as <name>.tmp, synced, renamed into place, and made durable by syncing the directory.
// Its last 8 bytes are an XXH3 checksum of everything before them, so a torn or damaged
// checkpoint is recognized; LoadNewestCheckpoint then falls back to the previous one
// (recovery scans further). Layout byte by byte: docs/FORMAT.md, "Checkpoint file".
//
// Ownership: plain values; the caller owns the data it writes and gets back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/env.h"
#include "llama/status.h"
#include "llama/types.h"

namespace llama {

// One log record that is part of a page's durable state: its address and the length of
// the whole framed record (frame header + body), for space accounting.
struct PageDiskRecord {
  LssAddress address;
  std::uint32_t length = 0;
  // The position just past the record (in its segment).
  LssAddress end() const { return LssAddress::Make(address.segment(), address.offset() + length); }
  friend bool operator==(const PageDiskRecord&, const PageDiskRecord&) = default;
};

struct CheckpointPage {
  PageId pid = 0;
  // Newest first: chain[0] is the record recovery installs for the page; the rest are the
  // older records its state still reaches through prior pointers.
  std::vector<PageDiskRecord> chain;
  friend bool operator==(const CheckpointPage&, const CheckpointPage&) = default;
};

// How the store that wrote a checkpoint was doing its I/O (format version 2; a version 1
// checkpoint records none). For operators (pagedump's summary shows it); recovery does not
// depend on it. The codes are fixed on disk: docs/FORMAT.md, "Writer settings".
struct CheckpointSettings {
  // IoBackend as asked for in StoreOptions: 0 auto, 1 io_uring, 2 posix.
  std::uint8_t io_backend_requested = 0;
  // The backend that did the I/O: 0 unknown (an Env lent by the caller that is neither),
  // 1 io_uring, 2 posix.
  std::uint8_t io_backend_in_use = 0;
  bool io_fell_back = false;          // io_uring was asked for (auto) but refused; POSIX did the I/O
  std::int8_t compression_level = 0;  // StoreOptions::compression_level, clamped to i8
  std::uint32_t flush_buffer_size = 0;
  std::uint32_t flush_buffers = 0;
  std::uint32_t max_disk_chain = 0;
  friend bool operator==(const CheckpointSettings&, const CheckpointSettings&) = default;
};

// The name of an io_backend_in_use / io_backend_requested code ("auto", "io_uring",
// "posix", "unknown").
std::string_view CheckpointBackendName(std::uint8_t code, bool requested);

struct CheckpointData {
  std::uint64_t sequence = 0;         // strictly increasing per store
  std::uint64_t store_id = 0;         // the store this checkpoint belongs to
  LssAddress scan_start;              // recovery scans the log from here
  std::uint32_t oldest_segment = 0;   // no record below this segment is needed
  std::vector<CheckpointPage> pages;  // sorted by pid
  // Opaque state of the layers above the page store (e.g. the vector's roots). Bounded
  // by the checkpoint size limit below.
  std::vector<std::byte> application_state;
  // Written as format version 2 when present, version 1 (a 56-byte header) when not, so
  // decoding and re-encoding any valid file gives back its bytes.
  std::optional<CheckpointSettings> settings;
  friend bool operator==(const CheckpointData&, const CheckpointData&) = default;
};

// The checkpoint size limit: application_state may hold at most this many bytes.
inline constexpr std::size_t kMaxCheckpointApplicationState = std::size_t{64} << 20;  // 64 MiB

// The rules every checkpoint obeys (docs/FORMAT.md, "Checkpoint file"): scan_start is a
// valid address; 1 <= oldest_segment <= scan_start's segment; pages strictly increasing by
// pid; every chain has at least one record; every record has a valid address at or above
// oldest_segment and a length of at least a frame header that stays inside a segment;
// application_state within the limit above. InvalidArgument naming the first broken rule.
// WriteCheckpoint checks them before writing; DecodeCheckpoint reports them as Corruption.
[[nodiscard]] Status ValidateCheckpoint(const CheckpointData& data);

// Encoding and decoding of the file's bytes (also used by the fuzzer and pagedump).
// EncodeCheckpoint writes `data` as given, valid or not (tests build damaged files with
// it); each chain and application_state must fit their u32 length fields.
std::vector<std::byte> EncodeCheckpoint(const CheckpointData& data);
// Corruption with a message naming what is wrong; never reads out of bounds.
Result<CheckpointData> DecodeCheckpoint(std::span<const std::byte> bytes);

// Writes the checkpoint durably: tmp file, write, Sync, Close, rename, SyncDir. A left
// over tmp file of the same name is replaced. Any failed step returns its error and the
// previous checkpoints stay as they were.
[[nodiscard]] Status WriteCheckpoint(Env& env, const std::string& dir, const CheckpointData& data);

struct LoadedCheckpoint {
  std::optional<CheckpointData> checkpoint;  // the newest valid one, if any
  // Checkpoint files that were newer than the one returned but did not decode (name and
  // reason), so the store can report them; they are never deleted by loading.
  std::vector<std::string> damaged;
};

// Finds the newest checkpoint that decodes and belongs to `store_id` (0: any store).
[[nodiscard]] Result<LoadedCheckpoint> LoadNewestCheckpoint(Env& env, const std::string& dir, std::uint64_t store_id);

// Deletes checkpoint files (and tmp leftovers) older than the newest `keep` valid ones.
[[nodiscard]] Status PruneCheckpoints(Env& env, const std::string& dir, std::size_t keep);

}  // namespace llama
