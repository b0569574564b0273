#include <algorithm>
#include <chrono>
#include <random>

#include "deltas/typed_deltas.h"
#include "llama/coding.h"
#include "lss/log/page_record.h"
#include "lss/recovery/recovery_chains.h"
#include "lss/recovery/store_identity.h"
#include "lss/store/store_impl.h"

namespace llama {

using namespace log_format;

namespace {

std::uint64_t NewStoreId() {
  std::random_device rd;
  const std::uint64_t t = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::uint64_t id = (std::uint64_t{rd()} << 32) ^ rd() ^ (t * 0x9E3779B97F4A7C15ull);
  return id == 0 ? 1 : id;
}

LssAddress EndOf(const PageDiskRecord& r) {
  return LssAddress::Make(r.address.segment(), r.address.offset() + r.length);
}

}  // namespace

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

// ---- StoreImpl ----

StoreImpl::StoreImpl(std::string dir, StoreOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), table_(options_.mapping) {}

StoreImpl::~StoreImpl() { (void)Close(); }

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

Result<std::unique_ptr<StoreImpl>> StoreImpl::Open(const std::string& dir, StoreOptions options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.flush_buffers < 2 || options.flush_buffer_size < 4096) {
    return MakeError(ErrorCode::kInvalidArgument, "store: need >= 2 flush buffers of >= 4 KiB");
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

Status StoreImpl::Recover() {
  Env& env = *env_;
  auto identity = ReadStoreIdentity(env, dir_);
  LLAMA_RETURN_IF_ERROR(identity);
  if (!identity->has_value()) {
    if (!options_.create_if_missing) {
      return MakeError(ErrorCode::kNotFound, dir_ + " is not a llama-store (no STORE file)");
    }
    if (options_.segment_size < kMinSegmentSize || options_.segment_size > kMaxSegmentSize) {
      return MakeError(ErrorCode::kInvalidArgument, "store: segment size out of range (64 KiB .. 1 GiB)");
    }
    if (auto s = env.CreateDir(dir_); !s) return s;
    auto names = env.ListDir(dir_);
    LLAMA_RETURN_IF_ERROR(names);
    // A STORE.tmp is what a crash while creating this store leaves: start over.
    if (std::find(names->begin(), names->end(), std::string(kStoreFileName) + ".tmp") != names->end()) {
      if (auto s = env.DeleteFile(dir_ + "/" + kStoreFileName + ".tmp"); !s) return s;
      names->erase(std::find(names->begin(), names->end(), std::string(kStoreFileName) + ".tmp"));
    }
    if (!names->empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       dir_ + " is not empty and not a llama-store (no STORE file); refusing to use it");
    }
    StoreIdentity fresh{NewStoreId(), options_.segment_size};
    if (auto s = WriteStoreIdentity(env, dir_, fresh); !s) return s;
    identity = std::optional<StoreIdentity>(fresh);
    recovery_.created = true;
  } else if (options_.error_if_exists) {
    return MakeError(ErrorCode::kInvalidArgument, dir_ + " already holds a store");
  }
  store_id_ = (*identity)->store_id;
  segment_size_ = (*identity)->segment_size;
  if (segment_size_ < kMinSegmentSize || segment_size_ > kMaxSegmentSize) {
    return MakeError(ErrorCode::kCorruption, dir_ + "/STORE: segment size out of range");
  }
  segments_ = std::make_unique<SegmentSet>(env, dir_, store_id_, segment_size_);
  segments_->set_preallocate(options_.preallocate_segments);

  // The rules that turn a checkpoint and the scanned records into each page's list of
  // records are RecoveredChains' (shared with the offline reader, lss/recovery/store_image.h).
  RecoveredChains chains;
  auto loaded = LoadNewestCheckpoint(env, dir_, store_id_);
  LLAMA_RETURN_IF_ERROR(loaded);
  recovery_.damaged_checkpoints = loaded->damaged;
  LssAddress scan_start = LssAddress::Make(1, kSegmentHeaderSize);
  if (loaded->checkpoint) {
    const CheckpointData& cp = *loaded->checkpoint;
    checkpoint_sequence_ = cp.sequence;
    recovery_.checkpoint_sequence = cp.sequence;
    scan_start = cp.scan_start;
    chains.Seed(cp);
  }
  recovery_.scan_start = scan_start;

  auto ids = segments_->ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  std::uint32_t max_id = ids->empty() ? 0 : ids->back();
  LssAddress resume_from;
  if (!ids->empty() || loaded->checkpoint) {
    auto scanner = LogScanner::Open(*segments_, scan_start, max_body_len());
    LLAMA_RETURN_IF_ERROR(scanner);
    for (;;) {
      auto next = scanner->Next();
      LLAMA_RETURN_IF_ERROR(next);
      if (!next->has_value()) break;
      const LogRecord& rec = **next;
      ++recovery_.records_scanned;
      if (auto s = chains.Apply(rec); !s) return s;
    }
    const ScanStop& stop = scanner->stop();
    if (stop.corruption()) {
      // Damage before a synced position: no crash does that. Refuse before anything on
      // disk changes, unless the operator asked to cut the log there.
      if (options_.recovery_mode != RecoveryMode::kTruncateAtCorruption) {
        return MakeError(ErrorCode::kCorruption,
                         dir_ + ": " + stop.CorruptionMessage() +
                             "; refusing to open (RecoveryMode::kTruncateAtCorruption opens at the last good record)");
      }
      recovery_.corruption = stop.CorruptionMessage();
    }
    recovery_.records_past_stop = stop.records_past;
    recovery_.scan_stop = stop.position;
    recovery_.stop_reason = std::string(ScanStopReasonName(stop.reason)) + ": " + stop.detail;
    resume_from = stop.position;
    // The new log builds on what the scan accepted; a crash of the process that wrote it
    // may have left it in the page cache only. Make it durable before anything the new
    // writer syncs can be acknowledged (a later SyncPoint vouches for all of it).
    for (std::uint32_t id : scanner->visited_segments()) {
      auto file = segments_->Get(id);
      LLAMA_RETURN_IF_ERROR(file);
      if (auto s = (*file)->Sync(); !s) return s;
    }
    // Segment files past the checkpoint that the log does not reach hold nothing durable:
    // set them aside (renamed, not deleted) so no later scan can mistake them for the log.
    for (std::uint32_t id : scanner->UnvisitedSegments()) {
      if (id < scan_start.segment()) continue;  // older log, still referenced by pages
      segments_->Forget(id);
      std::string target = dir_ + "/orphan-" + SegmentFileName(id);
      for (int n = 1;; ++n) {  // never replace an orphan set aside by an earlier recovery
        auto exists = env.FileExists(target);
        LLAMA_RETURN_IF_ERROR(exists);
        if (!*exists) break;
        target = dir_ + "/orphan-" + SegmentFileName(id) + "." + std::to_string(n);
      }
      if (auto s = env.RenameFile(segments_->PathOf(id), target); !s) return s;
      recovery_.orphan_segments.push_back(id);
      ids->erase(std::remove(ids->begin(), ids->end(), id), ids->end());
    }
  }
  chains.Finish();
  disk_chains_.insert(chains.chains().begin(), chains.chains().end());
  // Every segment a page's durable state needs must be there.
  for (auto it = disk_chains_.begin(); it != disk_chains_.end();) {
    for (const PageDiskRecord& r : it->second) {
      if (!std::binary_search(ids->begin(), ids->end(), r.address.segment())) {
        return MakeError(ErrorCode::kCorruption, "segment " + std::to_string(r.address.segment()) + " holding page " +
                                                     std::to_string(it->first) + " is missing");
      }
      live_bytes_[r.address.segment()] += r.length;
    }
    if (auto s = table_.Restore(it->first, it->second.front().address); !s) return s;
    ++it;
  }
  // Page 0 is the catalog: reserved even before its first write (lss/store/catalog.h).
  if (disk_chains_.find(kCatalogPage) == disk_chains_.end()) {
    if (auto s = table_.Reserve(kCatalogPage); !s) return s;
  }
  table_.FinishRestore();
  recovery_.pages_recovered = disk_chains_.size();

  if (!recovery_.orphan_segments.empty()) {
    if (auto s = env.SyncDir(dir_); !s) return s;
  }
  // The log goes on in a segment above every file and above the checkpoint's scan start:
  // that segment may never have been created (a checkpoint taken before the writer's first
  // write), and a new segment with a lower id (after orphans were set aside) would be
  // unreachable from the scan start and out of address order.
  if (loaded->checkpoint) max_id = std::max(max_id, scan_start.segment());
  if (max_id >= LssAddress::kMaxSegment) {
    return MakeError(ErrorCode::kResourceExhausted, "store: out of segment ids");
  }
  if (!recovery_.corruption.empty()) {
    // Cutting the log at damage is a decision the files must remember: without it the next
    // Open would find the same damage and refuse. The segment that resumes from the cut
    // is created now (the writer continues in it), so every later scan follows it.
    auto file = segments_->Create(max_id + 1, resume_from);
    LLAMA_RETURN_IF_ERROR(file);
    if (auto s = (*file)->Sync(); !s) return s;
    if (auto s = env.SyncDir(dir_); !s) return s;
  }
  auto writer = LogWriter::Open(*segments_, max_id + 1, resume_from,
                                LogWriter::Options{options_.flush_buffer_size, options_.flush_buffers});
  LLAMA_RETURN_IF_ERROR(writer);
  writer_ = std::move(*writer);
  return OkStatus();
}

Result<StoreImpl::DiskState> StoreImpl::ReadDiskState(LssAddress address) {
  DiskState state;
  LssAddress at = address;
  for (int hops = 0; !at.is_null(); ++hops) {
    if (hops > 1 << 16) return MakeError(ErrorCode::kCorruption, "page chain on disk loops");
    // A record may be named (by a flush mark, a slot, a prior pointer) before its buffer
    // reaches the file: wait for it rather than read a torn frame. Free when written.
    if (at >= writer_->written_position()) {
      LLAMA_RETURN_IF_ERROR(writer_->WaitWritten(LssAddress::Make(at.segment(), at.offset() + 1)));
    }
    auto rec = ReadRecordAt(*segments_, at, max_body_len());
    LLAMA_RETURN_IF_ERROR(rec);
    if (rec->header.kind != RecordKind::kPageState) {
      return MakeError(ErrorCode::kCorruption, "page state points at a record of another kind");
    }
    auto page = DecodePageRecord(rec->body);
    LLAMA_RETURN_IF_ERROR(page);
    state.deltas.insert(state.deltas.end(), page->deltas.begin(), page->deltas.end());
    if (page->base) {
      state.base = page->base;
      break;
    }
    at = page->prior;
  }
  return state;
}

namespace {

// A PartialSwap node that adds nothing to the flushed state it names: no payload, and the
// state it stands for is the one right below it on disk.
bool IsBarePartialSwap(const PageNode& node) {
  return node.is_delta() && node.delta_kind() == DeltaKind::kPartialSwap && node.bytes().empty() &&
         node.next() == nullptr && node.delta()->last_flushed() == node.prior_on_disk();
}

}  // namespace

Result<OwnedChain> StoreImpl::ReadBack(PageId pid, PageRef ref) {
  // What is in memory (the nodes above the on-disk part, newest first) and where the rest
  // of the state is: the slot's address, or the prior of the bottom node when only part of
  // the chain is in memory (after a PartialSwap).
  std::vector<const PageNode*> above;
  LssAddress on_disk = ref.address();
  if (ref.in_memory()) {
    for (const PageNode& node : ref.state()) above.push_back(&node);
    on_disk = ref.state().bottom()->prior_on_disk();
    // A PartialSwap that kept nothing above it stands for the whole state: the page reads
    // back as an evicted one does, with no node in front of its head.
    if (above.size() == 1 && IsBarePartialSwap(*above.front())) above.clear();
  }
  auto state = ReadDiskState(on_disk);
  LLAMA_RETURN_IF_ERROR(state);
  reads_from_disk_.fetch_add(1, std::memory_order_relaxed);
  OwnedChain chain = state->base ? PageChainBuilder::Base(state->base) : nullptr;
  for (auto it = state->deltas.rbegin(); it != state->deltas.rend(); ++it) {
    chain = PageChainBuilder::Prepend(*it, std::move(chain));
  }
  // Everything read is in the log at `on_disk`: its head is that flush point. (A partly
  // swapped page keeps its PartialSwap delta, which says the same.)
  if (above.empty()) {
    if (chain == nullptr) {
      return MakeError(ErrorCode::kCorruption, "page " + std::to_string(pid) + ": its records on disk hold no state");
    }
    PageChainBuilder::MarkFlushed(chain, on_disk);
  }
  // The kept nodes are copied with their flush marks: the deltas a flush wrote stay
  // flushed.
  for (auto it = above.rbegin(); it != above.rend(); ++it) {
    chain = PageChainBuilder::Prepend((*it)->delta_handle(), std::move(chain));
    if ((*it)->is_flush_point()) PageChainBuilder::MarkFlushed(chain, (*it)->flushed_to());
  }
  return chain;
}

Result<PageRef> StoreImpl::Read(const GenerationGuard& guard, PageId pid) {
  for (;;) {
    auto ref = table_.Read(guard, pid);
    if (!ref || ref->empty()) return ref;
    if (ref->in_memory() && !ref->node()->reaches_disk()) {
      if (tracking()) cache_.Refresh(pid);
      return ref;  // wholly in memory: the common case, O(1)
    }
    auto chain = ReadBack(pid, *ref);
    LLAMA_RETURN_IF_ERROR(chain);
    const std::uint64_t bytes = tracking() ? PageCache::ChainBytes(chain->get()) : 0;
    auto out = table_.UpdateR(guard, pid, *ref, *chain);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed && tracking()) {
      cache_.Set(pid, bytes);
      AfterGrowth();
    }
    if (out->installed) return out->head;
    // Lost a race (another reader brought it in, a writer prepended): look again.
  }
}

Result<BasePageHandle> StoreImpl::PinBase(const GenerationGuard& guard, PageId pid) {
  auto ref = Read(guard, pid);
  LLAMA_RETURN_IF_ERROR(ref);
  const PageNode* bottom = ref->state().bottom();
  if (bottom == nullptr || !bottom->is_base()) {
    return MakeError(ErrorCode::kInvalidArgument, "page " + std::to_string(pid) + " has no base page");
  }
  return bottom->base_handle();
}

Status StoreImpl::PartialSwap(const GenerationGuard& guard, PageId pid) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto ref = table_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    if (!ref->in_memory()) return OkStatus();
    const UnflushedPart part = SplitAtFlushPoint(ref->state());
    if (part.base || part.flushed.is_null()) return OkStatus();  // nothing flushed to swap out
    // Done already: only unflushed deltas over a PartialSwap delta with nothing below it.
    const bool swapped = part.at != nullptr && part.at == ref->state().bottom() && part.at->is_delta() &&
                         part.at->delta_kind() == DeltaKind::kPartialSwap;
    if (swapped && part.fresh.size() + 1 == ref->state().chain_length()) return OkStatus();
    // The unflushed deltas stay; everything below them becomes one PartialSwap delta that
    // names where the flushed state is.
    auto ps = DeltaRecord::MakePartialSwap(pid, part.flushed, {}, part.flushed);
    LLAMA_RETURN_IF_ERROR(ps);
    OwnedChain chain = PageChainBuilder::OverDisk(Share(std::move(*ps)), part.flushed);
    for (auto it = part.fresh.rbegin(); it != part.fresh.rend(); ++it) {
      chain = PageChainBuilder::Prepend(*it, std::move(chain));
    }
    const std::uint64_t bytes = tracking() ? PageCache::ChainBytes(chain.get()) : 0;
    auto out = table_.UpdateR(guard, pid, *ref, chain);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
      if (tracking()) cache_.Set(pid, bytes);
      return OkStatus();
    }
  }
  return MakeError(ErrorCode::kBusy, "page " + std::to_string(pid) + " kept changing during a partial swap");
}

Result<UpdateOutcome> StoreImpl::UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected, DeltaHandle delta,
                                         const PageNode* last_flushed) {
  const std::uint64_t bytes = delta ? delta->len() + PageCache::kNodeOverhead : 0;
  auto out = table_.UpdateD(guard, pid, expected, std::move(delta), last_flushed);
  if (out && out->installed && tracking()) {
    cache_.Grow(pid, bytes);
    AfterGrowth();
  }
  return out;
}

Result<UpdateOutcome> StoreImpl::UpdateR(const GenerationGuard& guard, PageId pid, PageRef expected,
                                         OwnedChain& state) {
  const std::uint64_t bytes = tracking() ? PageCache::ChainBytes(state.get()) : 0;
  auto out = table_.UpdateR(guard, pid, expected, state);
  if (out && out->installed && tracking()) {
    cache_.Set(pid, bytes);
    AfterGrowth();
  }
  return out;
}

void StoreImpl::AfterGrowth() {
  const std::uint64_t resident = cache_.resident_bytes();
  if (resident > options_.memory_budget) maintenance_cv_.notify_one();
  if (resident > 2 * options_.memory_budget) EvictToBudget();
}

void StoreImpl::AddToDiskChain(const GenerationGuard& guard, PageId pid, PageDiskRecord record, bool replaces_chain) {
  std::lock_guard lock(disk_mu_);
  // A Free that won the slot after this flush's CAS erases the chain under disk_mu_; if
  // it already did, adding now would bring the freed page back in the next checkpoint.
  // (The guard keeps the id from being reused meanwhile.)
  if (!table_.Read(guard, pid)) return;
  auto& chain = disk_chains_[pid];
  // Two flushes of one page may get here in either order; the chain stays sorted newest
  // (highest address) first, and a whole record replaces only what is older than it.
  auto older =
      std::find_if(chain.begin(), chain.end(), [&](const PageDiskRecord& r) { return r.address < record.address; });
  if (replaces_chain) {
    for (auto r = older; r != chain.end(); ++r) live_bytes_[r->address.segment()] -= r->length;
    older = chain.erase(older, chain.end());
  }
  chain.insert(older, record);
  live_bytes_[record.address.segment()] += record.length;
}

void StoreImpl::EraseDiskChain(PageId pid) {
  std::lock_guard lock(disk_mu_);
  auto it = disk_chains_.find(pid);
  if (it == disk_chains_.end()) return;
  for (const PageDiskRecord& r : it->second) live_bytes_[r.address.segment()] -= r.length;
  disk_chains_.erase(it);
}

StoreImpl::UnflushedPart StoreImpl::SplitAtFlushPoint(PageState state) {
  UnflushedPart part;
  std::vector<std::pair<LssAddress, LssAddress>> relocations;
  const PageNode* bottom = nullptr;
  for (const PageNode& node : state) {
    bottom = &node;
    // A flush-marked node: it and everything below it are in the log.
    if (node.is_flush_point()) {
      part.at = &node;
      part.flushed = node.flushed_to();
      break;
    }
    if (node.is_base()) {
      part.base = node.base_handle();
      break;
    }
    const DeltaView d = node.delta()->view();
    if (d.kind() == DeltaKind::kUpdate) {
      part.fresh.push_back(node.delta_handle());
      continue;
    }
    if (d.kind() == DeltaKind::kRelocation) {
      auto r = RelocationDelta::From(d);
      relocations.emplace_back(r->from(), r->to());
      continue;
    }
    // A PartialSwap names the flushed state it stands in for; a Flush delta (the store no
    // longer installs them, but a chain may still hold one) the state below it.
    part.at = &node;
    part.flushed = d.kind() == DeltaKind::kFlush ? FlushDelta::From(d)->flushed_to() : d.last_flushed();
    break;
  }
  if (part.at == nullptr && !part.base && bottom != nullptr) part.flushed = bottom->prior_on_disk();
  // Relocations above the flush point say where that state lives now (oldest first).
  for (auto it = relocations.rbegin(); it != relocations.rend(); ++it) {
    if (part.flushed == it->first) part.flushed = it->second;
  }
  return part;
}

LssAddress StoreImpl::CoveringPosition(PageId pid, LssAddress at) {
  LssAddress newest;
  {
    std::lock_guard lock(disk_mu_);
    auto it = disk_chains_.find(pid);
    newest = it == disk_chains_.end() ? writer_->durable_position() : EndOf(it->second.front());
  }
  return at.is_null() ? newest : std::max(newest, LssAddress::Make(at.segment(), at.offset() + 1));
}

Result<StoreImpl::FlushRecord> StoreImpl::EncodeFlushRecord(PageId pid, UnflushedPart part) {
  FlushRecord record;
  LssAddress prior = part.flushed;
  record.whole = part.base != nullptr || prior.is_null();
  if (!record.whole) {
    std::size_t on_disk = 0;
    {
      std::lock_guard lock(disk_mu_);
      if (auto it = disk_chains_.find(pid); it != disk_chains_.end()) on_disk = it->second.size();
    }
    if (on_disk + 1 > options_.max_disk_chain) {
      auto older = ReadDiskState(prior);
      LLAMA_RETURN_IF_ERROR(older);
      part.fresh.insert(part.fresh.end(), older->deltas.begin(), older->deltas.end());
      part.base = older->base;
      prior = LssAddress();
      record.whole = true;
    }
  }
  std::vector<std::byte> body;
  LLAMA_RETURN_IF_ERROR(EncodePageRecord(pid, prior, part.fresh, part.base.get(), body));
  LLAMA_RETURN_IF_ERROR(CheckRecordFits(pid, body.size()));
  record.encoded = MaybeCompress(body, options_.compression_level);
  return record;
}

Result<LssAddress> StoreImpl::Flush(const GenerationGuard& guard, PageId pid) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    auto ref = table_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    if (!ref->in_memory()) return CoveringPosition(pid, ref->address());
    UnflushedPart part = SplitAtFlushPoint(ref->state());
    if (part.fresh.empty() && !part.base) return CoveringPosition(pid, part.flushed);
    auto record = EncodeFlushRecord(pid, std::move(part));
    LLAMA_RETURN_IF_ERROR(record);
    TestHook("flush encoded", pid);
    // The record covers the state from ref's head down. Writers prepending Update deltas
    // meanwhile do not make it stale (the mark goes under their deltas), but anything else
    // does (a consolidation, an eviction, another flush): start over before reserving log
    // space, so such a race costs no failed-flush marker.
    auto again = table_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(again);
    if (!again->in_memory() || !CanMarkBelow(again->node(), ref->node())) continue;
    const EncodedBody& encoded = record->encoded;
    auto reservation = writer_->Reserve(FramedSize(encoded.bytes.size()));
    LLAMA_RETURN_IF_ERROR(reservation);
    TestHook("flush reserved", pid);
    // LLAMA's flush: reserve, install the flush state by CAS, then copy. The state is a
    // mark on the node the record starts at, not a delta in front of the head.
    auto marked = MarkFlushPoint(guard, pid, *again, ref->node(), reservation->address());
    LLAMA_RETURN_IF_ERROR(marked);
    // A lost race drops the reservation, which fills it with a failed-flush marker.
    if (!*marked) continue;
    EncodeFrame(reservation->bytes().data(), RecordKind::kPageState, reservation->address(), encoded.bytes,
                encoded.compressed, encoded.raw_len);
    AddToDiskChain(guard, pid, {reservation->address(), static_cast<std::uint32_t>(reservation->bytes().size())},
                   record->whole);
    const LssAddress end = reservation->end();
    writer_->Commit(std::move(*reservation));
    flushes_.fetch_add(1, std::memory_order_relaxed);
    return end;
  }
  return MakeError(ErrorCode::kBusy, "flush of page " + std::to_string(pid) + " lost 64 races in a row; retry later");
}

Result<bool> StoreImpl::MarkFlushPoint(const GenerationGuard& guard, PageId pid, PageRef head, const PageNode* point,
                                       LssAddress at) {
  // Every lost CAS here is another thread's installed change, so this loop makes progress
  // as a whole; a writer that won it only added a delta above `point`, which the next try
  // copies too. Only a change that takes `point` off the chain ends the try.
  while (head.in_memory() && CanMarkBelow(head.node(), point)) {
    auto out = table_.MarkFlushed(guard, pid, head, at, point);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) return true;
    head = out->head;
  }
  return false;
}

Status StoreImpl::Evict(const GenerationGuard& guard, PageId pid) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto end = Flush(guard, pid);
    LLAMA_RETURN_IF_ERROR(end);
    auto ref = table_.Read(guard, pid);
    LLAMA_RETURN_IF_ERROR(ref);
    if (!ref->in_memory()) return OkStatus();
    const UnflushedPart part = SplitAtFlushPoint(ref->state());
    if (!part.fresh.empty() || part.base || part.flushed.is_null()) continue;  // changed meanwhile
    auto out = table_.UpdateR(guard, pid, *ref, part.flushed);
    LLAMA_RETURN_IF_ERROR(out);
    if (out->installed) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
      if (tracking()) cache_.Remove(pid);
      return OkStatus();
    }
  }
  return MakeError(ErrorCode::kBusy, "page " + std::to_string(pid) + " kept changing during eviction");
}

Result<LssAddress> StoreImpl::Free(const GenerationGuard& guard, PageId pid) {
  if (pid == kCatalogPage) return MakeError(ErrorCode::kInvalidArgument, "page 0 is the store's catalog");
  LLAMA_RETURN_IF_ERROR(table_.Free(guard, pid));
  if (tracking()) cache_.Remove(pid);
  std::byte body[4];
  EncodeFixed32(body, pid);
  auto reservation = writer_->Reserve(FramedSize(sizeof body));
  LLAMA_RETURN_IF_ERROR(reservation);
  EncodeFrame(reservation->bytes().data(), RecordKind::kFreePage, reservation->address(), body, false, 0);
  EraseDiskChain(pid);
  const LssAddress end = reservation->end();
  writer_->Commit(std::move(*reservation));
  return end;
}

Status StoreImpl::SyncAll() { return writer_->Sync(writer_->tail()); }

Status StoreImpl::FlushAll() {
  auto guard = table_.EnterGeneration();
  const std::uint64_t ids = table_.high_water();
  for (std::uint64_t id = 0; id < ids; ++id) {
    const auto pid = static_cast<PageId>(id);
    auto ref = table_.Read(guard, pid);
    if (!ref || !ref->in_memory()) continue;
    if (auto end = Flush(guard, pid); !end && end.error().code() != ErrorCode::kNotFound) {
      return tl::unexpected(end.error());
    }
  }
  return SyncAll();
}

Status StoreImpl::Checkpoint() { return CheckpointAndDelete(nullptr); }

Status StoreImpl::CheckpointAndDelete(std::vector<std::uint32_t>* deleted) {
  std::lock_guard lock(checkpoint_mu_);
  if (auto h = writer_->health(); !h) return h;
  // Every record below `written` has its disk-chain update done (they happen before a
  // reservation is committed), so the snapshot below covers the log up to there.
  const LssAddress written = writer_->written_position();
  CheckpointData cp;
  LssAddress newest_end = written;
  {
    std::lock_guard disk_lock(disk_mu_);
    cp.pages.reserve(disk_chains_.size());
    for (const auto& [pid, chain] : disk_chains_) {
      cp.pages.push_back(CheckpointPage{pid, chain});
      newest_end = std::max(newest_end, EndOf(chain.front()));
    }
  }
  std::sort(cp.pages.begin(), cp.pages.end(),
            [](const CheckpointPage& a, const CheckpointPage& b) { return a.pid < b.pid; });
  // Nothing the checkpoint names may be less durable than the checkpoint itself.
  if (auto s = writer_->Sync(newest_end); !s) return s;
  cp.sequence = checkpoint_sequence_ + 1;
  cp.store_id = store_id_;
  cp.scan_start = written;
  cp.settings = WriterSettings();
  cp.oldest_segment = written.segment();
  for (const CheckpointPage& page : cp.pages) {
    for (const PageDiskRecord& r : page.chain) cp.oldest_segment = std::min(cp.oldest_segment, r.address.segment());
  }
  if (auto s = WriteCheckpoint(*env_, dir_, cp); !s) return s;
  checkpoint_sequence_ = cp.sequence;
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  if (auto s = PruneCheckpoints(*env_, dir_, 2); !s) return s;
  return DeleteCleanedSegments(deleted);
}

CheckpointSettings StoreImpl::WriterSettings() const {
  CheckpointSettings w;
  w.io_backend_requested = static_cast<std::uint8_t>(options_.io_backend);
  const std::string_view in_use = env_->backend_name();
  w.io_backend_in_use = in_use == IoBackendName(IoBackend::kIoUring) ? 1
                        : in_use == IoBackendName(IoBackend::kPosix) ? 2
                                                                     : 0;
  w.io_fell_back = !env_->fallback_reason().empty();
  w.compression_level = static_cast<std::int8_t>(std::clamp(options_.compression_level, -128, 127));
  w.flush_buffer_size = options_.flush_buffer_size;
  w.flush_buffers = options_.flush_buffers;
  w.max_disk_chain = options_.max_disk_chain;
  return w;
}

StoreStats StoreImpl::stats() const {
  StoreStats s;
  s.io_backend = std::string(env_->backend_name());
  s.io_fallback_reason = env_->fallback_reason();
  if (writer_) {
    const LogWriter::Stats w = writer_->stats();
    s.bytes_written = w.bytes_written;
    s.syncs = w.syncs;
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
  {
    std::lock_guard lock(disk_mu_);
    for (const auto& [segment, bytes] : live_bytes_) s.live_bytes += bytes;
  }
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

void StoreImpl::MaintenanceLoop() {
  std::unique_lock lock(maintenance_mu_);
  for (std::uint64_t round = 0; !stop_maintenance_; ++round) {
    maintenance_cv_.wait_for(lock, std::chrono::milliseconds(options_.maintenance_interval_ms));
    if (stop_maintenance_) break;
    lock.unlock();
    if (tracking()) EvictToBudget();
    // Cleaning checkpoints: look at the space about once a second, not every round.
    const std::uint64_t every = std::max<std::uint64_t>(1, 1000 / std::max(1u, options_.maintenance_interval_ms));
    if (options_.cleaner_space_factor > 0 && round % every == 0) CleanIfSpaceGrew();
    lock.lock();
  }
}

void StoreImpl::EvictToBudget() {
  const std::uint64_t budget = options_.memory_budget;
  // Evict down to 90% of the budget, so eviction runs in batches rather than per page.
  const std::uint64_t target = budget - budget / 10;
  // A bounded pass: the maintenance loop comes back soon, and has other work too.
  for (int pass = 0; pass < 8 && cache_.resident_bytes() > budget; ++pass) {
    const std::vector<PageId> victims = cache_.Coldest(32);
    if (victims.empty()) return;
    for (PageId pid : victims) {
      if (cache_.resident_bytes() <= target) return;
      auto guard = table_.EnterGeneration();
      Status s = Evict(guard, pid);
      if (s) continue;  // Evict removed it from the cache
      if (s.error().code() == ErrorCode::kNotFound) {
        cache_.Remove(pid);
      } else if (s.error().code() == ErrorCode::kBusy) {
        cache_.Refresh(pid);  // busy page: try colder ones first
      } else {
        std::lock_guard lock(maintenance_mu_);
        maintenance_error_ = "evictor: " + s.error().ToString();
        return;  // the log failed; every later write reports it
      }
    }
  }
}

void StoreImpl::CleanIfSpaceGrew() {
  auto ids = segments_->ListIds();
  if (!ids || ids->size() <= 4) return;
  std::uint64_t live = 0;
  {
    std::lock_guard lock(disk_mu_);
    for (const auto& [segment, bytes] : live_bytes_) live += bytes;
  }
  const double log_bytes = static_cast<double>(ids->size()) * segment_size_;
  if (log_bytes <= options_.cleaner_space_factor * static_cast<double>(live)) return;
  auto result = Clean(4);
  cleaner_runs_.fetch_add(1, std::memory_order_relaxed);
  if (!result) {
    std::lock_guard lock(maintenance_mu_);
    maintenance_error_ = "cleaner: " + result.error().ToString();
  }
}

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
      // The root page gets durable state before the catalog names it: a named page that
      // recovery did not restore could be handed out again by Allocate.
      auto pid = Allocate();
      LLAMA_RETURN_IF_ERROR(pid);
      fresh = *pid;
      auto page = BasePage::Create(*pid, BasePage::kMinPageSize);
      if (!page) return give_back(page.error());
      OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
      auto installed = UpdateR(guard, *pid, PageRef::Empty(), chain);
      if (!installed) return give_back(installed.error());
      auto pos = Flush(guard, *pid);
      if (!pos) return give_back(pos.error());
    }
    roots->insert(at, NamedRoot{std::string(name), *fresh});
    const std::vector<std::byte> contents = EncodeCatalog(*roots);
    const std::optional<std::uint32_t> page_size = BasePage::SmallestSizeFor(contents.size());
    if (!page_size) {
      return give_back(Error(ErrorCode::kResourceExhausted,
                             "catalog page is full: " + std::to_string(roots->size() - 1) + " roots"));
    }
    auto page = BasePage::Create(kCatalogPage, *page_size, contents);
    if (!page) return give_back(page.error());
    // The catalog must also fit one log record (small flush buffers or segments make that
    // smaller than the largest page): installed in memory but unflushable, it would fail
    // every later flush of page 0, and so every Close.
    if (!CheckRecordFits(kCatalogPage, PageRecordSize({}, &*page))) {
      return give_back(
          Error(ErrorCode::kResourceExhausted, "catalog page is full: " + std::to_string(roots->size() - 1) +
                                                   " roots fill the largest log record (" +
                                                   std::to_string(writer_->max_record_size()) + " bytes)"));
    }
    OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
    auto installed = UpdateR(guard, kCatalogPage, head, chain);
    if (!installed) return give_back(installed.error());
    if (!installed->installed) continue;  // the evictor or cleaner changed the page: again
    auto pos = Flush(guard, kCatalogPage);
    LLAMA_RETURN_IF_ERROR(pos);
    LLAMA_RETURN_IF_ERROR(Sync(*pos));
    return *fresh;
  }
}

}  // namespace llama
