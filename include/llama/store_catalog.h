// The store's catalog as its users see it: named root pages that the layers above the
// page store (a vector, a Bw-tree) find again after a reopen (Store::OpenRoot, Roots).
// The encoding of the catalog page is internal (lss/store/catalog.h, docs/FORMAT.md).
//
// Ownership: plain values.
#pragma once

#include <string>

#include "llama/types.h"

namespace llama {

// The page that holds the catalog. Every store reserves it: Allocate never hands it out
// and Free refuses it.
inline constexpr PageId kCatalogPage = 0;

// One catalog entry: a name and the root page registered under it.
struct NamedRoot {
  std::string name;
  PageId pid = 0;
  friend bool operator==(const NamedRoot&, const NamedRoot&) = default;
};

}  // namespace llama
