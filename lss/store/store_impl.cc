// StoreImpl: opening (options, the Env, recovery, the maintenance thread), closing,
// stats and the limits on log records. The public Store forwards here (store.cc).
#include "lss/store/store_impl.h"

#include <chrono>

#include "lss/log/log_format.h"

namespace llama {

using namespace log_format;

StoreImpl::StoreImpl(std::string dir, StoreOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), table_(options_.mapping) {}

StoreImpl::~StoreImpl() { (void)Close(); }

Result<std::unique_ptr<StoreImpl>> StoreImpl::Open(const std::string& dir, StoreOptions options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.flush_buffers < kMinFlushBuffers || options.flush_buffer_size < kMinFlushBufferSize) {
    return MakeError(ErrorCode::kInvalidArgument, "store: need >= 2 flush buffers of >= 4 KiB");
  }
  if (options.max_syncs_in_flight < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "store: max_syncs_in_flight must be >= 1");
  }
  if (options.max_disk_chain < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "store: max_disk_chain must be >= 1");
  }
  std::unique_ptr<StoreImpl> store(new StoreImpl(dir, options));
  if (options.env != nullptr) {
    store->env_ = options.env;
  } else {
    auto env = OpenEnv(options.io_backend);
    LLAMA_RETURN_IF_ERROR(env);
    store->owned_env_ = std::move(*env);
    store->env_ = store->owned_env_.get();
  }
  if (auto s = store->Recover(); !s) {
    store->closed_ = true;  // nothing to close cleanly
    if (store->writer_) (void)store->writer_->Close();
    return tl::unexpected(s.error());
  }
  store->recovery_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (store->options_.memory_budget != 0 || store->options_.cleaner_space_factor > 0) {
    store->maintenance_ = std::thread([raw = store.get()] { raw->MaintenanceLoop(); });
  }
  return store;
}

Status StoreImpl::Close() {
  if (closed_) return OkStatus();
  closed_ = true;
  {
    std::lock_guard lock(maintenance_mu_);
    stop_maintenance_ = true;
    maintenance_cv_.notify_all();
  }
  if (maintenance_.joinable()) maintenance_.join();
  Status result = OkStatus();
  if (writer_) {
    if (auto h = writer_->health(); h) result = FlushAll();
    if (result) result = Checkpoint();
    if (auto s = writer_->Close(); !s && result) result = s;
  }
  return result;
}

LogWriter::Options StoreImpl::WriterOptions() const {
  LogWriter::Options o;
  o.buffer_size = options_.flush_buffer_size;
  o.buffer_count = options_.flush_buffers;
  o.max_syncs_in_flight = options_.max_syncs_in_flight;
  return o;
}

StoreStats StoreImpl::stats() const {
  StoreStats s;
  s.io_backend = std::string(env_->backend_name());
  s.io_fallback_reason = env_->fallback_reason();
  if (writer_) {
    const LogWriter::Stats w = writer_->stats();
    s.bytes_written = w.bytes_written;
    s.syncs = w.syncs;
    s.sync_requests = w.sync_requests;
    s.log_fdatasyncs = w.fdatasyncs;
    s.log_write_calls = w.write_calls;
    s.log_caller_writes = w.caller_writes;
    s.log_waits = w.waits;
    s.records = w.records;
    s.failed_flushes = w.abandoned;
  }
  if (auto ids = segments_->ListIds(); ids) {
    s.segments = ids->size();
    for (std::uint32_t id : *ids) {
      if (auto file = segments_->Get(id); file) {
        if (auto size = (*file)->Size(); size) s.log_bytes += *size;
      }
    }
  }
  s.live_bytes = disk_chains_.live_bytes();
  s.live_fraction = s.log_bytes ? static_cast<double>(s.live_bytes) / static_cast<double>(s.log_bytes) : 0;
  s.flushes = flushes_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.reads_from_disk = reads_from_disk_.load(std::memory_order_relaxed);
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.pages_in_use = table_.pages_in_use();
  s.recovery_seconds = recovery_.seconds;
  s.resident_bytes = cache_.resident_bytes();
  s.cleaner_runs = cleaner_runs_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(maintenance_mu_);
    s.maintenance_error = maintenance_error_;
  }
  return s;
}

std::uint32_t StoreImpl::max_body_len() const { return segment_size_; }

std::uint32_t StoreImpl::max_record_size() const { return writer_->max_record_size(); }

Status StoreImpl::CheckRecordFits(PageId pid, std::size_t body_size) const {
  // Bounded before compression: a reader accepts a record only if its uncompressed body
  // fits the segment, and a record must fit a flush buffer uncompressed in the worst case.
  if (FramedSize(body_size) <= writer_->max_record_size()) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   "page " + std::to_string(pid) + ": a state of " + std::to_string(body_size) +
                       " bytes exceeds the largest log record (" + std::to_string(writer_->max_record_size()) +
                       "); consolidate it or use larger flush buffers and segments");
}

}  // namespace llama
