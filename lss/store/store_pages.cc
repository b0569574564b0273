// StoreImpl: page operations. Reading a page (and reading back what is on disk),
// Update-D and Update-R with the memory budget's bookkeeping, Flush (LLAMA's reserve,
// mark by CAS, copy), Evict, PartialSwap, Free.
#include <algorithm>

#include "deltas/typed_deltas.h"
#include "lss/log/log_reader.h"
#include "lss/log/page_record.h"
#include "lss/store/store_impl.h"
#include "util/byte_io.h"

namespace llama {

using namespace log_format;

namespace {

// A PartialSwap node that adds nothing to the flushed state it names: no payload, and the
// state it stands for is the one right below it on disk.
bool IsBarePartialSwap(const PageNode& node) {
  return node.is_delta() && node.delta_kind() == DeltaKind::kPartialSwap && node.bytes().empty() &&
         node.next() == nullptr && node.delta()->last_flushed() == node.prior_on_disk();
}

}  // namespace

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

Result<UpdateOutcome> StoreImpl::UpdateD(const GenerationGuard& guard, PageId pid, PageRef expected,
                                         DeltaHandle&& delta, const PageNode* last_flushed) {
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
  if (resident > kInlineEvictFactor * options_.memory_budget) EvictToBudget();
}

Result<StoreImpl::DiskState> StoreImpl::ReadDiskState(LssAddress address) {
  DiskState state;
  LssAddress at = address;
  for (int hops = 0; !at.is_null(); ++hops) {
    if (hops > kMaxDiskChainHops) return MakeError(ErrorCode::kCorruption, "page chain on disk loops");
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
  const std::optional<PageDiskRecord> record = disk_chains_.Newest(pid);
  const LssAddress newest = record ? record->end() : writer_->durable_position();
  return at.is_null() ? newest : std::max(newest, LssAddress::Make(at.segment(), at.offset() + 1));
}

std::optional<StoreImpl::DiskState> StoreImpl::FlushedStateInMemory(const PageNode* point) {
  // The flush point and everything below it are the state the log holds at its mark:
  // Update deltas down to a base. Anything else (a PartialSwap, an old Flush delta, a
  // Relocation) means part of it is not here.
  DiskState state;
  for (const PageNode* node = point; node != nullptr; node = node->next()) {
    if (node->is_base()) {
      state.base = node->base_handle();
      return state;
    }
    if (node->delta()->view().kind() != DeltaKind::kUpdate) return std::nullopt;
    state.deltas.push_back(node->delta_handle());
  }
  return std::nullopt;
}

Result<StoreImpl::FlushRecord> StoreImpl::EncodeFlushRecord(PageId pid, UnflushedPart part) {
  FlushRecord record;
  LssAddress prior = part.flushed;
  record.whole = part.base != nullptr || prior.is_null();
  if (!record.whole) {
    if (disk_chains_.Length(pid) + 1 > options_.max_disk_chain) {
      // The older state is usually still in memory below the flush point; only a page
      // partly swapped out is read back.
      std::optional<DiskState> in_memory = FlushedStateInMemory(part.at);
      if (!in_memory) reads_from_disk_.fetch_add(1, std::memory_order_relaxed);
      auto older = in_memory ? Result<DiskState>(std::move(*in_memory)) : ReadDiskState(prior);
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
  for (int attempt = 0; attempt < kFlushAttempts; ++attempt) {
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
    // Before the commit: a checkpoint that sees the record written sees it here too.
    disk_chains_.Add(pid, {reservation->address(), static_cast<std::uint32_t>(reservation->bytes().size())},
                     record->whole, [&] { return table_.Read(guard, pid).has_value(); });
    const LssAddress end = reservation->end();
    writer_->Commit(std::move(*reservation));
    flushes_.fetch_add(1, std::memory_order_relaxed);
    return end;
  }
  return MakeError(ErrorCode::kBusy, "flush of page " + std::to_string(pid) + " lost " +
                                         std::to_string(kFlushAttempts) + " races in a row; retry later");
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
  for (int attempt = 0; attempt < kEvictAttempts; ++attempt) {
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

Status StoreImpl::PartialSwap(const GenerationGuard& guard, PageId pid) {
  for (int attempt = 0; attempt < kPartialSwapAttempts; ++attempt) {
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

Result<LssAddress> StoreImpl::Free(const GenerationGuard& guard, PageId pid) {
  if (pid == kCatalogPage) return MakeError(ErrorCode::kInvalidArgument, "page 0 is the store's catalog");
  LLAMA_RETURN_IF_ERROR(table_.Free(guard, pid));
  if (tracking()) cache_.Remove(pid);
  std::byte body[4];
  ByteWriter(std::span<std::byte>(body)).U32(pid);
  auto reservation = writer_->Reserve(FramedSize(sizeof body));
  LLAMA_RETURN_IF_ERROR(reservation);
  EncodeFrame(reservation->bytes().data(), RecordKind::kFreePage, reservation->address(), body, false, 0);
  disk_chains_.Erase(pid);
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

}  // namespace llama
