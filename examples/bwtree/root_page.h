// OpenRootPage: the page that holds a named tree's root, found again after a reopen.
//
// The store's catalog (Store::OpenRoot) is the way to do this; until it is on this branch
// the first page of a fresh store is taken as the root, which allows one tree per store.
//
// Ownership: none; the page belongs to the store.
#pragma once

#include <string>

#include "lss/store.h"
#include "util/status.h"

namespace llama::bwtree {

Result<PageId> OpenRootPage(Store& store, const std::string& name);

}  // namespace llama::bwtree
