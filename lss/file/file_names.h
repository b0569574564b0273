// The names of the files in a store directory, spelled and parsed in one place (as
// LevelDB's filename.h). docs/FORMAT.md describes each file's bytes.
//
//   STORE                            the store's identity (lss/recovery/store_identity.h)
//   segment-<id, 8 hex digits>       a log segment (lss/log/log_format.h)
//   CHECKPOINT-<seq, 16 hex digits>  a checkpoint (lss/recovery/checkpoint.h)
//   <name>.tmp                       a file being written by WriteFileAtomically
//                                    (STORE.tmp, CHECKPOINT-<seq>.tmp); a crash may leave one
//   orphan-segment-<id>[.<n>]        a segment recovery set aside (the log never reached
//                                    it); .<n> when an earlier recovery set one aside too
//
// Hex digits are lower case; a name is parsed only in the exact form it is spelled in, so
// every id or sequence has one name.
//
// Ownership: plain functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llama {

inline constexpr std::string_view kStoreFileName = "STORE";
inline constexpr std::string_view kTmpFileSuffix = ".tmp";

// What a directory entry is.
enum class StoreFileType : std::uint8_t {
  kIdentity,       // STORE
  kIdentityTmp,    // STORE.tmp
  kSegment,        // number: the segment id
  kCheckpoint,     // number: the sequence
  kCheckpointTmp,  // number: the sequence
  kOrphanSegment,  // number: the segment id
  kOther,          // anything else (never touched by the store)
};

struct ParsedFileName {
  StoreFileType type = StoreFileType::kOther;
  std::uint64_t number = 0;
};
ParsedFileName ParseFileName(std::string_view name);

// "segment-0000002a". Segment ids start at 1.
std::string SegmentFileName(std::uint32_t segment_id);
// The id a segment file name spells, or 0 for any other name.
std::uint32_t ParseSegmentFileName(std::string_view name);

// "CHECKPOINT-000000000000002a"
std::string CheckpointFileName(std::uint64_t sequence);
// The sequence a checkpoint file name spells, or nullopt for any other name (including
// the .tmp names of unfinished checkpoints).
std::optional<std::uint64_t> ParseCheckpointFileName(std::string_view name);
// True for a name that looks like a checkpoint file's, finished or not ("CHECKPOINT-"...).
bool LooksLikeCheckpointFileName(std::string_view name);

// The name WriteFileAtomically writes `name` as before renaming it: "<name>.tmp".
std::string TmpFileName(std::string_view name);
// The name a .tmp name stands for ("" when `name` is not a .tmp name).
std::string_view NameBeforeTmp(std::string_view name);

// "orphan-segment-0000002a", or with copy n > 0, "orphan-segment-0000002a.<n>".
std::string OrphanSegmentFileName(std::uint32_t segment_id, int copy = 0);
// The segment id an orphan's name spells (any copy), or nullopt for any other name.
std::optional<std::uint32_t> ParseOrphanSegmentFileName(std::string_view name);

// DIR/NAME (no separator added when `dir` is empty or ends in '/').
std::string PathIn(std::string_view dir, std::string_view name);

}  // namespace llama
