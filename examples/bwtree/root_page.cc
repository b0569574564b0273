#include "examples/bwtree/root_page.h"

namespace llama::bwtree {

Result<PageId> OpenRootPage(Store& store, const std::string& name) {
  (void)name;
  // Interim rule (see the header): page 0 is the root; a fresh store allocates it now.
  if (store.mapping().high_water() == 0) return store.Allocate();
  return PageId{0};
}

}  // namespace llama::bwtree
