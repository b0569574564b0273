// Reading one tree page of a vector: the contents of its base page, looked up in the store
// (and read back from disk if it was evicted).
//
// Generation rule: the returned bytes belong to the page state the store holds; they stay
// valid while `guard` is held (the mapping table retires a replaced or freed state only
// into a later generation). Tree pages are immutable once published, and a snapshot's
// pages are freed only after every snapshot that can reach them is released.
#pragma once

#include <span>

#include "llama/store.h"

namespace llama {

Result<std::span<const std::byte>> ReadTreePage(Store& store, const GenerationGuard& guard, PageId pid);

}  // namespace llama
