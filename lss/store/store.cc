// llama::Store, the public face of the page store: every call forwards to StoreImpl
// (lss/store/store_impl.h), which owns everything. One pointer hop, no virtual call.
#include "llama/store.h"

#include "lss/store/store_impl.h"

namespace llama {

// ---- Store: the public face, forwarding to StoreImpl ----

Store::Store(std::unique_ptr<StoreImpl> impl) : impl_(std::move(impl)), generations_(&impl_->mapping().generations()) {}

Store::~Store() = default;  // ~StoreImpl closes

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, StoreOptions options) {
  auto impl = StoreImpl::Open(dir, std::move(options));
  LLAMA_RETURN_IF_ERROR(impl);
  return std::unique_ptr<Store>(new Store(std::move(*impl)));
}

Status Store::Close() { return impl_->Close(); }
Result<PageId> Store::Allocate() { return impl_->Allocate(); }
Result<LssAddress> Store::Free(const GenerationGuard& guard, PageId pid) { return impl_->Free(guard, pid); }
Result<PageRef> Store::Read(const GenerationGuard& guard, PageId pid) { return impl_->Read(guard, pid); }
Result<BasePageHandle> Store::PinBase(const GenerationGuard& guard, PageId pid) { return impl_->PinBase(guard, pid); }
Result<UpdateOutcome> Store::UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle delta,
                                     const PageNode* last_flushed) {
  return impl_->UpdateD(guard, pid, expected, std::move(delta), last_flushed);
}
Result<UpdateOutcome> Store::UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected, OwnedChain& state) {
  return impl_->UpdateR(guard, pid, expected, state);
}
Result<LssAddress> Store::Flush(const GenerationGuard& guard, PageId pid) { return impl_->Flush(guard, pid); }
Status Store::Evict(const GenerationGuard& guard, PageId pid) { return impl_->Evict(guard, pid); }
Status Store::PartialSwap(const GenerationGuard& guard, PageId pid) { return impl_->PartialSwap(guard, pid); }
Status Store::Sync(LssAddress position) { return impl_->Sync(position); }
Status Store::SyncAll() { return impl_->SyncAll(); }
Status Store::FlushAll() { return impl_->FlushAll(); }
Status Store::Checkpoint() { return impl_->Checkpoint(); }
Result<Store::CleanResult> Store::Clean(std::size_t max_segments) { return impl_->Clean(max_segments); }
Result<PageId> Store::OpenRoot(std::string_view name) { return impl_->OpenRoot(name); }
Result<std::vector<NamedRoot>> Store::Roots() { return impl_->Roots(); }
StoreStats Store::stats() const { return impl_->stats(); }
const StoreOptions& Store::options() const { return impl_->options(); }
std::uint32_t Store::max_record_size() const { return impl_->max_record_size(); }
const RecoveryReport& Store::recovery() const { return impl_->recovery(); }
std::uint64_t Store::store_id() const { return impl_->store_id(); }
MappingTable& Store::mapping() { return impl_->mapping(); }

}  // namespace llama
