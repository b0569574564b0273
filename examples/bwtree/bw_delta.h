// BwDelta: the Bw-tree's own records, carried as the payload of llama Update deltas. The
// page store never looks inside them (it is type-blind); docs/BWTREE.md, "Delta payloads",
// has every byte.
//
//   Insert k v          leaf: k now maps to v (insert or overwrite)
//   Delete k            leaf: k is gone
//   Split k Q           any level: keys >= k moved to the new right sibling Q; the node now
//                       ends at k and its right sibling is Q
//   IndexInsert k C     inner: a new separator k -> child C (posts a finished split)
//   IndexTombstone k C  inner: the separator k -> C stays but routes no more: C is being
//                       merged into its left neighbour (the first step of a merge)
//   IndexErase k C      inner: the tombstone k -> C is gone (the last step of a merge)
//   RemoveNode [n]      any level: the node is frozen, to be merged into its left neighbour;
//                       n names the tree's pending record that frees the page if a crash
//                       cuts the merge after its tombstone is erased (absent in old trees)
//   Merge R image       any level: the node absorbs its removed right neighbour R, whose
//                       whole contents (a node image, node_image.h) the delta carries
//   Birth n             any level, inert: a new node, listed in the tree's pending page under
//                       n until a node that names it is in the log (a crash before that
//                       leaves a page that Open frees)
//   Retire n            any level: the root's only child, frozen to be copied into the root
//                       (the root collapse) and then freed; listed in the pending page under n
//
// Ownership: a decoded BwDelta borrows the payload bytes it was decoded from (valid while
// the reader stays in its generation); the encoders return owned bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "llama/status.h"
#include "llama/types.h"

namespace llama::bwtree {

enum class DeltaTag : std::uint8_t {
  kInsert = 1,
  kDelete = 2,
  kSplit = 3,
  kIndexInsert = 4,
  kIndexTombstone = 5,
  kIndexErase = 6,
  kRemoveNode = 7,
  kMerge = 8,
  kBirth = 9,
  kRetire = 10,
};

struct BwDelta {
  DeltaTag tag{};
  std::string_view key;              // all but RemoveNode and Merge
  std::string_view value;            // Insert
  PageId pid = 0;                    // Split: sibling; Index*: child; Merge: the removed node
  std::span<const std::byte> image;  // Merge: the removed node's contents
  std::uint64_t nonce = 0;           // Birth, Retire, RemoveNode: the pending record's (0: none)

  static Result<BwDelta> Decode(std::span<const std::byte> payload);

  static std::vector<std::byte> Insert(std::string_view key, std::string_view value);
  static std::vector<std::byte> Delete(std::string_view key);
  // Split, IndexInsert, IndexTombstone, IndexErase: a key and a page id.
  static std::vector<std::byte> KeyAndPage(DeltaTag tag, std::string_view key, PageId pid);
  // nonce 0 writes the form without a nonce (what trees wrote before pending records).
  static std::vector<std::byte> RemoveNode(std::uint64_t nonce = 0);
  // Birth and Retire: a tag and a nonce.
  static std::vector<std::byte> Stamp(DeltaTag tag, std::uint64_t nonce);
  static std::vector<std::byte> Merge(PageId removed, std::span<const std::byte> image);
};

}  // namespace llama::bwtree
