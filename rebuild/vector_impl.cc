// VectorImpl's lifecycle (Open, Close, failure) and what it reports (snapshots, metrics,
// visibility). The write path, buffer pages, recovery and the rebuilder have files of
// their own (vector_write.cc, vector_buffers.cc, vector_recovery.cc, vector_rebuilder.cc).
#include "rebuild/vector_impl.h"

#include <algorithm>

#include "lss/log/log_format.h"

namespace llama {

namespace {
std::atomic<std::uint64_t> next_vector_id{1};
}  // namespace

VectorImpl::VectorImpl(Store& store, VectorOptions options)
    : store_(store),
      options_(options),
      id_(next_vector_id.fetch_add(1)),
      writers_(new std::atomic<WriterRecord*>[kMaxWriters]),
      batch_window_(std::clamp(options.initial_batch_window, options.min_batch_window, options.max_batch_window)) {
  for (std::size_t i = 0; i < kMaxWriters; ++i) writers_[i].store(nullptr);
}

Status VectorImpl::CheckOptions(const VectorOptions& options) {
  if (options.min_batch_window < 1 || options.min_batch_window > options.max_batch_window) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: need 1 <= min_batch_window <= max_batch_window");
  }
  if (options.writer_slots < 1 || options.writer_slots > vector_format::kMaxSlots) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "vector: writer_slots must be 1.." + std::to_string(vector_format::kMaxSlots));
  }
  // A buffer page's state must fit one log record, and none is larger than 1 GiB (the
  // largest segment). The bound also keeps the int64 flow-control limit positive.
  static_assert(log_format::kMaxSegmentSize <= INT64_MAX);
  if (options.max_buffer_bytes < kMinBufferBytes || options.max_buffer_bytes > log_format::kMaxSegmentSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "vector: max_buffer_bytes must be 4 KiB..1 GiB (a buffer page's state must "
                     "fit one log record)");
  }
  return OkStatus();
}

Result<std::unique_ptr<VectorImpl>> VectorImpl::Open(Store& store, std::string_view name, VectorOptions options) {
  LLAMA_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<VectorImpl> v(new VectorImpl(store, options));
  LLAMA_RETURN_IF_ERROR(v->Recover(name));
  v->rebuilder_ = std::thread([raw = v.get()] { raw->RebuilderLoop(); });
  return v;
}

VectorImpl::~VectorImpl() { (void)Close(); }

tl::unexpected<Error> VectorImpl::Corrupt(const std::string& what) {
  return MakeError(ErrorCode::kCorruption, "vector: " + what);
}

Status VectorImpl::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return failed_;
    closed_ = true;
    stop_ = true;
    accepting_.store(false, std::memory_order_release);
    rebuild_cv_.notify_one();
  }
  if (rebuilder_.joinable()) rebuilder_.join();
  {
    std::lock_guard lock(mu_);
    visible_cv_.notify_all();
    if (!failed_) return failed_;
  }
  return FlushBuffers();
}

Status VectorImpl::FlushBuffers() {
  auto guard = store_.EnterGeneration();
  LssAddress last;
  for (PageId pid : config_.buffers) {
    auto pos = store_.Flush(guard, pid);
    LLAMA_RETURN_IF_ERROR(pos);
    last = std::max(last, *pos);
  }
  last = std::max(last, LssAddress::FromRaw(published_position_raw_.load()));
  return store_.Sync(last);
}

void VectorImpl::Fail(const Status& s) {
  std::lock_guard lock(mu_);
  accepting_.store(false, std::memory_order_release);
  if (failed_) failed_ = s;
  failed_once_.store(true, std::memory_order_seq_cst);
  visible_cv_.notify_all();
}

Status VectorImpl::WaitVisible(VectorTicket ticket) {
  std::unique_lock lock(mu_);
  wake_ = true;
  rebuild_cv_.notify_one();
  visible_cv_.wait(lock, [&] { return watermark_ > ticket.timestamp || !failed_ || rebuilder_exited_; });
  if (!failed_) return failed_;
  if (watermark_ <= ticket.timestamp)
    return MakeError(ErrorCode::kAborted, "vector: closed before the write was published");
  if (auto it = rejected_.find(ticket.timestamp); it != rejected_.end()) {
    return MakeError(ErrorCode::kInvalidArgument, "vector: write rejected: " + it->second);
  }
  return OkStatus();
}

void VectorImpl::HoldRebuilderForTesting(bool hold) {
  std::unique_lock lock(mu_);
  hold_ = hold;
  rebuild_cv_.notify_one();
  if (hold) visible_cv_.wait(lock, [&] { return parked_ || rebuilder_exited_ || stop_; });
}

VectorSnapshot VectorImpl::Snapshot() const { return VectorSnapshot(Current()); }

std::shared_ptr<const PublishedTree> VectorImpl::Current() const {
  std::lock_guard lock(current_mu_);
  return current_;
}

VectorMetrics VectorImpl::metrics() const {
  std::lock_guard lock(mu_);
  VectorMetrics m = metrics_;
  m.phase = phase_.load();
  m.batch_window = batch_window_.load();
  return m;
}

}  // namespace llama
