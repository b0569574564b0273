// PageRef: the decoded value of one mapping-table slot.
//
// A slot is one 64-bit word, changed only by CAS. Its low bits tag what it holds:
//
//   0                      free: never allocated, or freed and reclaimed (id reusable)
//   ...ptr...00 (non-zero) in memory: a pointer to the head PageNode (8-byte aligned)
//   (address << 1) | 1     on disk: the LSS address of the page's state
//   2                      allocated, no state yet
//   6                      freed, waiting for its generation to pass before reuse
//
// LSS addresses keep their top bit clear (include/llama/types.h), so the shift loses nothing.
#pragma once

#include <cstdint>

#include "llama/page_node.h"
#include "llama/page_state.h"
#include "llama/types.h"

namespace llama {

class PageRef {
 public:
  enum class Kind : std::uint8_t { kEmpty, kInMemory, kOnDisk };

  static constexpr std::uint64_t kFreeWord = 0;
  static constexpr std::uint64_t kEmptyWord = 2;
  static constexpr std::uint64_t kRetiredWord = 6;

  static PageRef Empty() { return PageRef(kEmptyWord); }
  static PageRef InMemory(const PageNode* head) { return PageRef(reinterpret_cast<std::uintptr_t>(head)); }
  static PageRef OnDisk(LssAddress address) { return PageRef((address.raw() << 1) | 1); }

  Kind kind() const {
    if (raw_ & 1) return Kind::kOnDisk;
    if (raw_ == kEmptyWord) return Kind::kEmpty;
    return Kind::kInMemory;
  }
  bool in_memory() const { return kind() == Kind::kInMemory; }
  bool on_disk() const { return kind() == Kind::kOnDisk; }
  bool empty() const { return kind() == Kind::kEmpty; }

  // The head node; null unless in_memory().
  const PageNode* node() const {
    return in_memory() ? reinterpret_cast<const PageNode*>(static_cast<std::uintptr_t>(raw_)) : nullptr;
  }
  PageState state() const { return PageState(node()); }
  // The on-disk address; null unless on_disk().
  LssAddress address() const { return on_disk() ? LssAddress::FromRaw(raw_ >> 1) : LssAddress(); }

  std::uint64_t raw() const { return raw_; }
  friend bool operator==(PageRef, PageRef) = default;

 private:
  friend class MappingTable;
  explicit PageRef(std::uint64_t raw) : raw_(raw) {}
  // The words a reader never gets a PageRef for.
  static bool IsUnallocated(std::uint64_t raw) { return raw == kFreeWord || raw == kRetiredWord; }

  std::uint64_t raw_;
};

// What a CAS on a slot did (MappingTable and Store UpdateD / UpdateR / MarkFlushed).
// installed: `head` is the new head. Not installed: another writer got there first and
// `head` is what the slot holds now; retry against it.
struct UpdateOutcome {
  bool installed;
  PageRef head;
};

static_assert(alignof(PageNode) >= 8, "slot tags need the low three bits of a node pointer");
static_assert(sizeof(std::uintptr_t) == 8, "slots hold a pointer in a 64-bit word");

}  // namespace llama
