// The rebuilder's phases (one cycle: Sleeping -> RotatingBuffers -> CollectingEntries ->
// SortingEntries -> PublishingSnapshot -> Sleeping).
#pragma once

#include <cstdint>
#include <string_view>

namespace llama {

enum class RebuildPhase : std::uint8_t {
  kSleeping,
  kRotatingBuffers,     // choosing the cut: every entry below it is in a buffer
  kCollectingEntries,   // reading the entries below the cut out of every buffer page
  kSortingEntries,      // ordering them by timestamp
  kPublishingSnapshot,  // replaying them onto the tree, writing pages, publishing
};

inline std::string_view RebuildPhaseName(RebuildPhase phase) {
  switch (phase) {
    case RebuildPhase::kSleeping:
      return "Sleeping";
    case RebuildPhase::kRotatingBuffers:
      return "RotatingBuffers";
    case RebuildPhase::kCollectingEntries:
      return "CollectingEntries";
    case RebuildPhase::kSortingEntries:
      return "SortingEntries";
    case RebuildPhase::kPublishingSnapshot:
      return "PublishingSnapshot";
  }
  return "?";
}

}  // namespace llama
