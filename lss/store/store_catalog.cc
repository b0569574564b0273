// StoreImpl: the catalog of named root pages (Store::OpenRoot, Roots). Its page is
// kCatalogPage; its encoding is lss/store/catalog.h's.
#include <algorithm>
#include <optional>

#include "lss/log/page_record.h"
#include "lss/store/store_impl.h"

namespace llama {

Result<std::vector<NamedRoot>> StoreImpl::ReadCatalog(const GenerationGuard& guard, PageRef* head) {
  auto ref = Read(guard, kCatalogPage);
  LLAMA_RETURN_IF_ERROR(ref);
  *head = *ref;
  if (ref->empty()) return std::vector<NamedRoot>{};
  const BasePage* base = ref->state().base();
  if (base == nullptr) return MakeError(ErrorCode::kCorruption, "catalog page has no base page");
  return DecodeCatalog(base->contents());
}

Result<std::vector<NamedRoot>> StoreImpl::Roots() {
  auto guard = EnterGeneration();
  PageRef head = PageRef::Empty();
  return ReadCatalog(guard, &head);
}

Result<PageId> StoreImpl::NewRootPage(const GenerationGuard& guard) {
  auto pid = Allocate();
  LLAMA_RETURN_IF_ERROR(pid);
  // The root page gets durable state before the catalog names it: a named page that
  // recovery did not restore could be handed out again by Allocate.
  Status made = [&]() -> Status {
    auto page = BasePage::Create(*pid, BasePage::kMinPageSize);
    LLAMA_RETURN_IF_ERROR(page);
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    LLAMA_RETURN_IF_ERROR(UpdateR(guard, *pid, PageRef::Empty(), chain));  // nobody else knows the id
    LLAMA_RETURN_IF_ERROR(Flush(guard, *pid));
    return OkStatus();
  }();
  if (!made) {
    (void)Free(guard, *pid);  // best effort: the error returned is the step's
    return tl::unexpected(made.error());
  }
  return *pid;
}

Result<bool> StoreImpl::InstallCatalog(const GenerationGuard& guard, PageRef head,
                                       const std::vector<NamedRoot>& roots) {
  const std::vector<std::byte> contents = EncodeCatalog(roots);
  const std::optional<std::uint32_t> page_size = BasePage::SmallestSizeFor(contents.size());
  if (!page_size) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "catalog page is full: " + std::to_string(roots.size() - 1) + " roots");
  }
  auto page = BasePage::Create(kCatalogPage, *page_size, contents);
  LLAMA_RETURN_IF_ERROR(page);
  // The catalog must also fit one log record (small flush buffers or segments make that
  // smaller than the largest page): installed in memory but unflushable, it would fail
  // every later flush of page 0, and so every Close.
  if (!CheckRecordFits(kCatalogPage, PageRecordSize({}, &*page))) {
    return MakeError(ErrorCode::kResourceExhausted, "catalog page is full: " + std::to_string(roots.size() - 1) +
                                                        " roots fill the largest log record (" +
                                                        std::to_string(writer_->max_record_size()) + " bytes)");
  }
  OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
  auto installed = UpdateR(guard, kCatalogPage, head, chain);
  LLAMA_RETURN_IF_ERROR(installed);
  return installed->installed;
}

Result<PageId> StoreImpl::OpenRoot(std::string_view name) {
  LLAMA_RETURN_IF_ERROR(ValidateRootName(name));
  std::lock_guard lock(catalog_mu_);
  std::optional<PageId> fresh;
  // A fresh page the catalog does not name yet goes back when a later step fails (best
  // effort: the error returned is the step's). Once the catalog in memory names it, it is
  // that root's page even if the catalog's flush or sync fails.
  auto give_back = [&](const Error& error) -> Result<PageId> {
    if (fresh) {
      auto guard = EnterGeneration();
      (void)Free(guard, *fresh);
    }
    return tl::unexpected(error);
  };
  for (;;) {
    auto guard = EnterGeneration();
    PageRef head = PageRef::Empty();
    auto roots = ReadCatalog(guard, &head);
    if (!roots) return give_back(roots.error());
    auto at = std::lower_bound(roots->begin(), roots->end(), name,
                               [](const NamedRoot& r, std::string_view n) { return r.name < n; });
    // (catalog_mu_ is held, so no one else adds `name`: this never returns after `fresh`.)
    if (at != roots->end() && at->name == name) return at->pid;
    if (!fresh) {
      auto pid = NewRootPage(guard);
      LLAMA_RETURN_IF_ERROR(pid);
      fresh = *pid;
    }
    roots->insert(at, NamedRoot{std::string(name), *fresh});
    auto installed = InstallCatalog(guard, head, *roots);
    if (!installed) return give_back(installed.error());
    if (!*installed) continue;  // the evictor or cleaner changed the page: again
    auto pos = Flush(guard, kCatalogPage);
    LLAMA_RETURN_IF_ERROR(pos);
    LLAMA_RETURN_IF_ERROR(Sync(*pos));
    return *fresh;
  }
}

}  // namespace llama
