// llama::Vector forwards every call to its VectorImpl (rebuild/vector_impl.h).
#include "llama/vector.h"

#include "rebuild/vector_impl.h"

namespace llama {

Vector::Vector(std::unique_ptr<VectorImpl> impl) : impl_(std::move(impl)) {}
Vector::~Vector() = default;

Result<std::unique_ptr<Vector>> Vector::Open(Store& store, std::string_view name, VectorOptions options) {
  auto impl = VectorImpl::Open(store, name, options);
  LLAMA_RETURN_IF_ERROR(impl);
  return std::unique_ptr<Vector>(new Vector(std::move(*impl)));
}

Status Vector::Close() { return impl_->Close(); }

Result<VectorTicket> Vector::Append(std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kAppend, 0, std::string(v)}}, o);
}
Result<VectorTicket> Vector::Prepend(std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kPrepend, 0, std::string(v)}}, o);
}
Result<VectorTicket> Vector::Insert(std::uint64_t i, std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kInsert, i, std::string(v)}}, o);
}
Result<VectorTicket> Vector::Erase(std::uint64_t i, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kErase, i, {}}}, o);
}
Result<VectorTicket> Vector::Update(std::uint64_t i, std::string_view v, VectorWriteOptions o) {
  return impl_->Write({{VectorOpCode::kUpdate, i, std::string(v)}}, o);
}
Result<VectorTicket> Vector::Write(const VectorWriteBatch& batch, VectorWriteOptions o) {
  return impl_->Write(batch.ops(), o);
}

Status Vector::Sync(VectorTicket ticket) { return impl_->Sync(ticket); }
Status Vector::WaitVisible(VectorTicket ticket) { return impl_->WaitVisible(ticket); }
VectorSnapshot Vector::Snapshot() const { return impl_->Snapshot(); }
VectorMetrics Vector::metrics() const { return impl_->metrics(); }
const VectorConfig& Vector::config() const { return impl_->config(); }
PageId Vector::meta_page() const { return impl_->meta_page(); }
std::size_t Vector::max_value_size() const { return impl_->max_value_size(); }
std::size_t Vector::ThreadWriterRecords() { return VectorImpl::ThreadWriterRecords(); }
void Vector::HoldRebuilderForTesting(bool hold) { impl_->HoldRebuilderForTesting(hold); }

}  // namespace llama
