// PublishedTree: what one publication of a vector made visible, shared by the vector and
// the snapshots of it. Its public part (detail::Publication) is what VectorSnapshot's
// inline accessors and pinned read path read; this adds what the out-of-line read path
// needs: the store, the vector's configuration, the lazily built read index and the leaves
// pinned by VectorSnapshot::view.
//
// Ownership and lifetime: owned by shared pointers (VectorImpl's current publication, the
// rebuilder's list of retired ones as weak pointers, each snapshot). It owns its read
// index and view pins, freed with it. `store` and `config` are borrowed from the
// VectorImpl that published it, which outlives every snapshot (snapshots must be released
// before the Vector is destroyed). Immutable after construction except the read index
// (built at most once) and the view pins (under their mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "llama/detail/vector_read_path.h"
#include "llama/store.h"
#include "rebuild/rrb_builder.h"
#include "rebuild/vector_format.h"
#include "rebuild/vector_read_index.h"

namespace llama {

struct PublishedTree : detail::Publication {
  PublishedTree(std::uint64_t gen, std::uint64_t mark, RrbBuilder::Tree t, Store* s, const VectorConfig* c)
      : detail::Publication(gen, mark, t.root, t.height, t.size), store(s), config(c), read_index(&built_index_) {}

  RrbBuilder::Tree tree() const { return {root, height, size}; }

  Store* const store;
  const VectorConfig* const config;
  LazyReadIndex read_index;  // built on demand, freed with this publication
  // Leaves pinned by VectorSnapshot::view when the read index does not pin them (a store
  // with a memory budget); freed with this publication.
  struct ViewPins {
    std::mutex mu;
    std::unordered_map<PageId, BasePageHandle> pins;  // guarded by mu
  };
  mutable ViewPins view_pins;
};

}  // namespace llama
