#include "rebuild/tree_page.h"

namespace llama {

Result<std::span<const std::byte>> ReadTreePage(Store& store, const GenerationGuard& guard, PageId pid) {
  auto ref = store.Read(guard, pid);
  if (!ref) return tl::unexpected(ref.error());
  const BasePage* base = ref->state().base();
  if (base == nullptr) {
    return MakeError(ErrorCode::kCorruption, "vector: tree page " + std::to_string(pid) + " has no base page");
  }
  return base->contents();
}

}  // namespace llama
