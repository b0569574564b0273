#include "pages/page_state.h"

namespace llama {

const PageNode* PageState::bottom() const {
  const PageNode* n = head_;
  while (n != nullptr && n->next() != nullptr) n = n->next();
  return n;
}

const BasePage* PageState::base() const {
  const PageNode* b = bottom();
  return b ? b->base() : nullptr;
}

}  // namespace llama
