#include "rebuild/tree_page.h"

namespace llama {

Result<std::span<const std::byte>> ReadTreePage(Store& store, const GenerationGuard& guard, PageId pid) {
  auto ref = store.Read(guard, pid);
  LLAMA_RETURN_IF_ERROR(ref);
  const PageNode* bottom = ref->state().bottom();
  if (bottom == nullptr || !bottom->is_base()) {
    return MakeError(ErrorCode::kCorruption, "vector: tree page " + std::to_string(pid) + " has no base page");
  }
  return bottom->bytes();  // the contents, kept in the node: no hop through the page object
}

}  // namespace llama
