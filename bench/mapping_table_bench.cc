// mapping_table_bench: the latch-free MappingTable against a mutex-guarded map, side by side
// in one run.
//
// Both stores hold the same kind of state: immutable chains of nodes, each node holding a
// shared DeltaHandle (or, at the bottom, a shared BasePageHandle), so the comparison is
// about the indirection and its concurrency control, not about the data:
//
//   llama      MappingTable: a CAS on one 64-bit slot per page; readers enter a
//              GenerationGuard; unlinked chains are retired and reclaimed by generation.
//   mutex_map  std::unordered_map<PageId, std::shared_ptr<const Node>> behind one
//              std::mutex. A reader locks, copies the head shared_ptr, unlocks and walks.
//              Update-D/Update-R build the new node outside the lock, then lock, compare
//              the head with `expected`, swap it in (or return the current head), unlock;
//              reference-count drops (and chain frees) happen after the unlock. That is the
//              baseline's best shape for the same CAS-style API.
//
// Every benchmark body is one template run on both stores. Guards: llama enters one
// GenerationGuard per operation (per Update-D including its retries and any consolidation
// it triggers, per read, per consolidation), as a real user would.
//
// Records are made once per run and shared by handle: the timed loops measure the table
// and the chains, not record encoding.
//
// Families: BM_UpdateD_Uncontended, BM_UpdateD_HotPage, BM_Read (chains of 1, 8, 32 nodes
// on 1024 pages, payload sizes only), BM_UpdateR_Fold8, and BM_PageRead (a reader's whole
// read path: a consolidated page or 1, 8, 32 Update deltas over a base, every payload byte
// read, on 100k pages past the caches and on a hot set of 1024; section 4).
//
// Each run checks its own result in Teardown and aborts if anything is inconsistent:
// every installed Update-D is either folded by a successful Update-R or still on the final
// chain; chains end in exactly one base; every record on a page names that page; reads walk
// exactly the chain length; consolidated bases carry exactly the folded counts; and
// (llama) no PageNode outlives the table.

#include <benchmark/benchmark.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/page_node.h"
#include "llama/page_state.h"
#include "mapping/mapping_table.h"

namespace {

using llama::BasePage;
using llama::BasePageHandle;
using llama::DeltaHandle;
using llama::DeltaRecord;
using llama::PageId;

constexpr double kMinTime = 0.2;                  // seconds per benchmark run
constexpr std::uint32_t kConsolidateAt = 16;      // Update-D benches: deltas before Update-R
constexpr std::size_t kPagesPerThread = 16;       // Update-D uncontended: pages each thread owns
constexpr std::size_t kReadPages = 1024;          // Read benches: pages read at random
constexpr std::size_t kFoldDeltas = 8;            // Update-R bench: deltas replaced per op
constexpr std::size_t kFoldPagesPerThread = 256;  // Update-R bench: pages per refill batch
constexpr std::size_t kPayloadBytes = 32;         // Update record payload
constexpr std::uint32_t kPageSize = 4096;         // base page size
constexpr std::size_t kBaseContents = 16;         // base contents: u64 folded count, u64 bytes

[[noreturn]] void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: benchmark self-check failed: %s\n", file, line, what);
  std::abort();
}
// Active in release builds too: a benchmark that measured a broken run must not report.
#define BENCH_CHECK(cond)                         \
  do {                                            \
    if (!(cond)) Fail(__FILE__, __LINE__, #cond); \
  } while (false)

DeltaHandle MakeDelta(PageId pid, std::uint32_t salt) {
  std::array<std::byte, kPayloadBytes> payload{};
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<std::byte>(salt + i);
  }
  auto record = DeltaRecord::MakeUpdate(pid, payload);
  BENCH_CHECK(record.has_value());
  return llama::Share(std::move(*record));
}

// A base page whose contents record how many deltas (and payload bytes) it folds.
BasePageHandle MakeBase(PageId pid, std::uint64_t folded, std::uint64_t folded_bytes) {
  std::array<std::byte, kBaseContents> contents{};
  llama::EncodeFixed64(contents.data(), folded);
  llama::EncodeFixed64(contents.data() + 8, folded_bytes);
  auto page = BasePage::Create(pid, kPageSize, contents);
  BENCH_CHECK(page.has_value());
  return llama::Share(std::move(*page));
}

// Called at the end of every Teardown: gives the freed memory of a run back (glibc also
// consolidates its free lists), so the next run's Setup does not allocate its chains into
// whatever pattern of holes the previous run left. Without it, which store ran after which
// moved the read walks by up to 50%.
void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::uint32_t XorShift(std::uint32_t x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

// ---------------------------------------------------------------------------------------
// The two stores, behind one small interface:
//   Session Enter();                      what a caller holds for one operation
//   PageId Allocate();                    a page with no state
//   Head Read(Session&, pid);
//   bool UpdateD(Session&, pid, Head& expected, const DeltaHandle&);
//   bool UpdateR(Session&, pid, Head& expected, BasePageHandle);   (to a fresh base node)
//     true: installed, `expected` is the new head. false: `expected` is the current head.
//   static uint32_t Length(const Head&);  nodes on the chain
//   static void ForEachNode(const Head&, f(const DeltaRecord*, const BasePage*));
//   static void ForEachBytes(const Head&, f(std::span<const std::byte>, bool is_base));
//     the bytes a reader reads: a delta's payload, the base's contents

class LlamaStore {
 public:
  static constexpr bool kCountsNodes = true;  // PageNode::live_count() covers its nodes
  using Head = llama::PageRef;
  struct Session {
    llama::GenerationGuard guard;
  };

  Session Enter() { return Session{table_.EnterGeneration()}; }

  PageId Allocate() {
    auto pid = table_.Allocate();
    BENCH_CHECK(pid.has_value());
    return *pid;
  }

  Head Read(Session& session, PageId pid) const {
    auto head = table_.Read(session.guard, pid);
    BENCH_CHECK(head.has_value());
    return *head;
  }

  bool UpdateD(Session& session, PageId pid, Head& expected, const DeltaHandle& delta) {
    auto outcome = table_.UpdateD(session.guard, pid, expected, delta);
    BENCH_CHECK(outcome.has_value());
    expected = outcome->head;
    return outcome->installed;
  }

  bool UpdateR(Session& session, PageId pid, Head& expected, BasePageHandle base) {
    llama::OwnedChain chain = llama::PageChainBuilder::Base(std::move(base));
    auto outcome = table_.UpdateR(session.guard, pid, expected, chain);
    BENCH_CHECK(outcome.has_value());
    expected = outcome->head;
    return outcome->installed;
  }

  static std::uint32_t Length(const Head& head) { return head.in_memory() ? head.node()->chain_length() : 0; }

  template <typename F>
  static void ForEachNode(const Head& head, F&& visit) {
    for (const llama::PageNode& node : head.state()) visit(node.delta(), node.base());
  }

  // Through PageNode::bytes(): the node keeps its record's payload (or its base's
  // contents) in place, so reaching them costs no hop through the record or page object.
  template <typename F>
  static void ForEachBytes(const Head& head, F&& visit) {
    for (const llama::PageNode& node : head.state()) visit(node.bytes(), node.is_base());
  }

 private:
  llama::MappingTable table_;
};

class MutexMapStore {
 public:
  static constexpr bool kCountsNodes = false;
  struct Node {
    DeltaHandle delta;    // delta nodes
    BasePageHandle base;  // the base node
    std::shared_ptr<const Node> next;
    std::uint32_t length;  // nodes from this one to the bottom
  };
  using Head = std::shared_ptr<const Node>;
  struct Session {};

  MutexMapStore() { map_.reserve(1 << 14); }

  Session Enter() { return Session{}; }

  PageId Allocate() {
    std::lock_guard lock(mu_);
    const PageId pid = next_id_++;
    map_.emplace(pid, nullptr);
    return pid;
  }

  Head Read(Session& /*session*/, PageId pid) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(pid);
    BENCH_CHECK(it != map_.end());
    return it->second;
  }

  bool UpdateD(Session& /*session*/, PageId pid, Head& expected, const DeltaHandle& delta) {
    return Install(pid, expected, std::make_shared<const Node>(Node{delta, nullptr, expected, Length(expected) + 1}));
  }

  bool UpdateR(Session& /*session*/, PageId pid, Head& expected, BasePageHandle base) {
    return Install(pid, expected, std::make_shared<const Node>(Node{nullptr, std::move(base), nullptr, 1}));
  }

  static std::uint32_t Length(const Head& head) { return head ? head->length : 0; }

  template <typename F>
  static void ForEachNode(const Head& head, F&& visit) {
    for (const Node* n = head.get(); n != nullptr; n = n->next.get()) visit(n->delta.get(), n->base.get());
  }

  // Through the shared record or page: node -> DeltaRecord -> payload bytes.
  template <typename F>
  static void ForEachBytes(const Head& head, F&& visit) {
    for (const Node* n = head.get(); n != nullptr; n = n->next.get()) {
      if (n->delta != nullptr) {
        visit(n->delta->payload(), false);
      } else {
        visit(n->base->contents(), true);
      }
    }
  }

 private:
  bool Install(PageId pid, Head& expected, Head desired) {
    Head new_head = desired;  // the caller's reference, taken outside the lock
    Head current;
    bool installed;
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(pid);
      BENCH_CHECK(it != map_.end());
      installed = it->second == expected;
      if (installed) {
        it->second.swap(desired);  // `desired` now holds the old head
      } else {
        current = it->second;
      }
    }
    // Reference drops, and the free of a replaced chain, happen here, outside the lock.
    expected = installed ? std::move(new_head) : std::move(current);
    return installed;
  }

  mutable std::mutex mu_;
  std::unordered_map<PageId, Head> map_;
  PageId next_id_ = 0;
};

// What a walk of a chain found (for the self-checks, not the timed loops).
struct ChainSummary {
  std::uint32_t nodes = 0;
  std::uint32_t deltas = 0;
  std::uint32_t bases = 0;
  bool base_at_bottom = false;
  bool pids_match = true;
  std::uint64_t base_folded = 0;
  std::uint64_t base_folded_bytes = 0;
  std::uint64_t delta_bytes = 0;
};

template <typename Impl>
ChainSummary Summarize(const typename Impl::Head& head, PageId pid) {
  ChainSummary s;
  Impl::ForEachNode(head, [&](const DeltaRecord* delta, const BasePage* base) {
    ++s.nodes;
    s.base_at_bottom = false;
    if (delta != nullptr) {
      BENCH_CHECK(base == nullptr);
      ++s.deltas;
      s.pids_match = s.pids_match && delta->pid() == pid;
      s.delta_bytes += delta->payload().size();
    } else {
      BENCH_CHECK(base != nullptr);
      ++s.bases;
      s.base_at_bottom = true;
      s.pids_match = s.pids_match && base->pid() == pid;
      BENCH_CHECK(base->contents().size() == kBaseContents);
      s.base_folded = llama::DecodeFixed64(base->contents().data());
      s.base_folded_bytes = llama::DecodeFixed64(base->contents().data() + 8);
    }
  });
  BENCH_CHECK(s.nodes == Impl::Length(head));
  BENCH_CHECK(s.bases == 1 && s.base_at_bottom);
  BENCH_CHECK(s.pids_match);
  return s;
}

// Gives a freshly allocated page its first state: a base node.
template <typename Impl>
void InstallBase(Impl& store, PageId pid, BasePageHandle base) {
  auto session = store.Enter();
  auto head = store.Read(session, pid);
  BENCH_CHECK(Impl::Length(head) == 0);
  BENCH_CHECK(store.UpdateR(session, pid, head, std::move(base)));
}

template <typename Impl>
void Prepend(Impl& store, PageId pid, const DeltaHandle& delta) {
  auto session = store.Enter();
  auto head = store.Read(session, pid);
  BENCH_CHECK(store.UpdateD(session, pid, head, delta));  // setup is single-threaded
}

struct alignas(64) ThreadStats {
  std::uint64_t installs = 0;       // Update-D installed
  std::uint64_t retries = 0;        // Update-D lost a CAS and retried
  std::uint64_t fold_attempts = 0;  // Update-R tried
  std::uint64_t folds = 0;          // Update-R installed
  std::uint64_t folded_deltas = 0;  // deltas those Update-Rs replaced
  std::uint64_t reads = 0;
  std::uint64_t touched_bytes = 0;
  std::uint64_t refills = 0;
};

// A run's live PageNode count before its store exists, to check none outlives it.
template <typename Impl>
std::int64_t LiveNodes() {
  return Impl::kCountsNodes ? llama::PageNode::live_count() : 0;
}

// ---------------------------------------------------------------------------------------
// 1. Update-D throughput: uncontended (each thread its own pages) and one hot page.
//
// Each op: enter, read the head, Update-D until installed (a lost CAS retries against the
// head the failed call returned), and if the new head has kConsolidateAt deltas, one
// Update-R attempt to a fresh base node (over the page's shared base image) so chains and
// memory stay bounded. items_processed = installed Update-Ds.

template <typename Impl>
struct UpdateDFixture {
  Impl store;
  std::vector<PageId> pages;          // uncontended: thread t owns [t*k, (t+1)*k); hot: [0]
  std::vector<DeltaHandle> deltas;    // uncontended: one per page; hot: one per thread
  std::vector<BasePageHandle> bases;  // one per page
  std::vector<ThreadStats> stats;     // one per thread, written when its loop ends
  std::int64_t live_before = 0;
};
template <typename Impl>
std::unique_ptr<UpdateDFixture<Impl>> g_update_d;

template <typename Impl, bool kHot>
void SetupUpdateD(const benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.threads());
  const std::int64_t live_before = LiveNodes<Impl>();
  auto fx = std::make_unique<UpdateDFixture<Impl>>();
  fx->live_before = live_before;
  const std::size_t page_count = kHot ? 1 : threads * kPagesPerThread;
  for (std::size_t i = 0; i < page_count; ++i) {
    const PageId pid = fx->store.Allocate();
    fx->pages.push_back(pid);
    fx->bases.push_back(MakeBase(pid, 0, 0));
    InstallBase(fx->store, pid, fx->bases.back());
    if (!kHot) fx->deltas.push_back(MakeDelta(pid, static_cast<std::uint32_t>(i)));
  }
  if (kHot) {
    for (std::size_t t = 0; t < threads; ++t) {
      fx->deltas.push_back(MakeDelta(fx->pages[0], static_cast<std::uint32_t>(t)));
    }
  }
  fx->stats.resize(threads);
  g_update_d<Impl> = std::move(fx);
}

template <typename Impl, bool kHot>
void TeardownUpdateD(const benchmark::State& /*state*/) {
  std::unique_ptr<UpdateDFixture<Impl>> fx = std::move(g_update_d<Impl>);
  BENCH_CHECK(fx != nullptr);
  ThreadStats total;
  for (const ThreadStats& s : fx->stats) {
    total.installs += s.installs;
    total.retries += s.retries;
    total.fold_attempts += s.fold_attempts;
    total.folds += s.folds;
    total.folded_deltas += s.folded_deltas;
  }
  std::uint64_t on_chains = 0;
  {
    auto session = fx->store.Enter();
    for (const PageId pid : fx->pages) {
      const ChainSummary s = Summarize<Impl>(fx->store.Read(session, pid), pid);
      // A chain is folded as soon as it reaches kConsolidateAt deltas; under contention a
      // fold can lose its race, so only the uncontended case has a hard bound.
      if (!kHot) BENCH_CHECK(s.deltas < kConsolidateAt);
      on_chains += s.deltas;
    }
  }
  // No installed Update-D lost, none counted twice.
  BENCH_CHECK(total.installs == total.folded_deltas + on_chains);
  if (!kHot) {
    BENCH_CHECK(total.retries == 0);
    BENCH_CHECK(total.folds == total.fold_attempts);
    BENCH_CHECK(total.folded_deltas == total.folds * kConsolidateAt);  // each fold took 16
  }
  const std::int64_t live_before = fx->live_before;
  fx.reset();
  if (Impl::kCountsNodes) BENCH_CHECK(llama::PageNode::live_count() == live_before);
  ReleaseFreedMemory();
}

template <typename Impl, bool kHot>
void BM_UpdateD(benchmark::State& state) {
  UpdateDFixture<Impl>& fx = *g_update_d<Impl>;  // made by Setup before any thread runs
  const auto t = static_cast<std::size_t>(state.thread_index());
  ThreadStats local;
  std::size_t cursor = 0;
  for (auto _ : state) {
    const std::size_t page = kHot ? 0 : t * kPagesPerThread + cursor;
    if (!kHot && ++cursor == kPagesPerThread) cursor = 0;
    const PageId pid = fx.pages[page];
    const DeltaHandle& delta = fx.deltas[kHot ? t : page];

    auto session = fx.store.Enter();
    auto head = fx.store.Read(session, pid);
    while (!fx.store.UpdateD(session, pid, head, delta)) ++local.retries;
    ++local.installs;
    const std::uint32_t deltas = Impl::Length(head) - 1;  // every chain ends in one base
    if (deltas >= kConsolidateAt) {
      ++local.fold_attempts;
      if (fx.store.UpdateR(session, pid, head, fx.bases[page])) {
        ++local.folds;
        local.folded_deltas += deltas;
      }
    }
  }
  fx.stats[t] = local;  // Teardown reads it after every thread has returned
  state.SetItemsProcessed(static_cast<std::int64_t>(local.installs));
  if (kHot) {
    state.counters["retries_per_op"] =
        benchmark::Counter(static_cast<double>(local.retries), benchmark::Counter::kAvgIterations);
  }
}

// ---------------------------------------------------------------------------------------
// 2. Read: a random page of kReadPages, every page a chain of `len` nodes (len-1 distinct
// delta records over a base). Each op: enter, read the head, walk every node through the
// store's iteration and touch its record's payload size (or the base's used size).

template <typename Impl>
struct ReadFixture {
  Impl store;
  std::vector<PageId> pages;
  std::uint32_t chain_length = 0;
  std::uint64_t bytes_per_walk = 0;
  std::vector<ThreadStats> stats;
  std::int64_t live_before = 0;
};
template <typename Impl>
std::unique_ptr<ReadFixture<Impl>> g_read;

template <typename Impl>
void SetupRead(const benchmark::State& state) {
  const std::int64_t live_before = LiveNodes<Impl>();
  auto fx = std::make_unique<ReadFixture<Impl>>();
  fx->live_before = live_before;
  fx->chain_length = static_cast<std::uint32_t>(state.range(0));
  BENCH_CHECK(fx->chain_length >= 1);
  fx->bytes_per_walk = (fx->chain_length - 1) * kPayloadBytes + kBaseContents;
  for (std::size_t i = 0; i < kReadPages; ++i) {
    const PageId pid = fx->store.Allocate();
    fx->pages.push_back(pid);
    InstallBase(fx->store, pid, MakeBase(pid, 0, 0));
  }
  // Round-robin over the pages, as interleaved updates would arrive: a chain's nodes and
  // records are not neighbours in memory.
  for (std::uint32_t d = 1; d < fx->chain_length; ++d) {
    for (const PageId pid : fx->pages) Prepend(fx->store, pid, MakeDelta(pid, d));
  }
  fx->stats.resize(static_cast<std::size_t>(state.threads()));
  g_read<Impl> = std::move(fx);
}

template <typename Impl>
void TeardownRead(const benchmark::State& /*state*/) {
  std::unique_ptr<ReadFixture<Impl>> fx = std::move(g_read<Impl>);
  BENCH_CHECK(fx != nullptr);
  for (const ThreadStats& s : fx->stats) {
    // Every walk saw the whole chain (checked per op) and touched every record.
    BENCH_CHECK(s.touched_bytes == s.reads * fx->bytes_per_walk);
  }
  {
    auto session = fx->store.Enter();
    for (const PageId pid : fx->pages) {
      const ChainSummary s = Summarize<Impl>(fx->store.Read(session, pid), pid);
      BENCH_CHECK(s.nodes == fx->chain_length);
    }
  }
  const std::int64_t live_before = fx->live_before;
  fx.reset();
  if (Impl::kCountsNodes) BENCH_CHECK(llama::PageNode::live_count() == live_before);
  ReleaseFreedMemory();
}

template <typename Impl>
void BM_Read(benchmark::State& state) {
  ReadFixture<Impl>& fx = *g_read<Impl>;
  const auto t = static_cast<std::size_t>(state.thread_index());
  std::uint32_t rng = 0x9E3779B9u * static_cast<std::uint32_t>(t + 1);
  std::uint64_t touched = 0;
  std::uint64_t reads = 0;
  for (auto _ : state) {
    rng = XorShift(rng);
    const PageId pid = fx.pages[rng % kReadPages];
    auto session = fx.store.Enter();
    const auto head = fx.store.Read(session, pid);
    std::uint32_t nodes = 0;
    Impl::ForEachNode(head, [&](const DeltaRecord* delta, const BasePage* base) {
      ++nodes;
      touched += delta != nullptr ? delta->payload().size() : base->used();
    });
    if (nodes != fx.chain_length) Fail(__FILE__, __LINE__, "read walked a chain of the wrong length");
    ++reads;
  }
  benchmark::DoNotOptimize(touched);
  fx.stats[t].reads = reads;
  fx.stats[t].touched_bytes = touched;
  state.SetItemsProcessed(static_cast<std::int64_t>(reads));
}

// ---------------------------------------------------------------------------------------
// 3. Update-R consolidation: each op replaces a chain of kFoldDeltas deltas over a base by
// a new base page folding them (a fresh 4 KiB page whose contents count the folded deltas
// and bytes). Each thread owns kFoldPagesPerThread pages; when it has folded them all, it
// pauses the timer and prepends kFoldDeltas fresh Update-Ds to each again (untimed).

template <typename Impl>
struct FoldFixture {
  Impl store;
  std::vector<PageId> pages;                     // thread t owns [t*k, (t+1)*k)
  std::vector<std::vector<DeltaHandle>> deltas;  // per page, kFoldDeltas records
  std::vector<ThreadStats> stats;
  std::int64_t live_before = 0;
};
template <typename Impl>
std::unique_ptr<FoldFixture<Impl>> g_fold;

template <typename Impl>
void RefillFoldPages(FoldFixture<Impl>& fx, std::size_t t) {
  for (std::size_t i = t * kFoldPagesPerThread; i < (t + 1) * kFoldPagesPerThread; ++i) {
    for (const DeltaHandle& delta : fx.deltas[i]) Prepend(fx.store, fx.pages[i], delta);
  }
}

template <typename Impl>
void SetupFold(const benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.threads());
  const std::int64_t live_before = LiveNodes<Impl>();
  auto fx = std::make_unique<FoldFixture<Impl>>();
  fx->live_before = live_before;
  for (std::size_t i = 0; i < threads * kFoldPagesPerThread; ++i) {
    const PageId pid = fx->store.Allocate();
    fx->pages.push_back(pid);
    InstallBase(fx->store, pid, MakeBase(pid, 0, 0));
    auto& records = fx->deltas.emplace_back();
    for (std::size_t d = 0; d < kFoldDeltas; ++d) {
      records.push_back(MakeDelta(pid, static_cast<std::uint32_t>(d)));
    }
  }
  for (std::size_t t = 0; t < threads; ++t) RefillFoldPages(*fx, t);
  fx->stats.resize(threads);
  g_fold<Impl> = std::move(fx);
}

template <typename Impl>
void TeardownFold(const benchmark::State& /*state*/) {
  std::unique_ptr<FoldFixture<Impl>> fx = std::move(g_fold<Impl>);
  BENCH_CHECK(fx != nullptr);
  {
    auto session = fx->store.Enter();
    for (std::size_t t = 0; t < fx->stats.size(); ++t) {
      const ThreadStats& st = fx->stats[t];
      std::uint64_t folds = 0;
      for (std::size_t i = t * kFoldPagesPerThread; i < (t + 1) * kFoldPagesPerThread; ++i) {
        const ChainSummary s = Summarize<Impl>(fx->store.Read(session, fx->pages[i]), fx->pages[i]);
        // Every batch of deltas ever prepended is either folded into the base or on the chain.
        BENCH_CHECK(s.deltas == 0 || s.deltas == kFoldDeltas);
        BENCH_CHECK(s.base_folded + s.deltas == (st.refills + 1) * kFoldDeltas);
        BENCH_CHECK(s.base_folded_bytes + s.delta_bytes == (st.refills + 1) * kFoldDeltas * kPayloadBytes);
        folds += s.base_folded / kFoldDeltas;
      }
      BENCH_CHECK(folds == st.folds);
    }
  }
  const std::int64_t live_before = fx->live_before;
  fx.reset();
  if (Impl::kCountsNodes) BENCH_CHECK(llama::PageNode::live_count() == live_before);
  ReleaseFreedMemory();
}

template <typename Impl>
void BM_UpdateR_Fold8(benchmark::State& state) {
  FoldFixture<Impl>& fx = *g_fold<Impl>;
  const auto t = static_cast<std::size_t>(state.thread_index());
  ThreadStats local;
  std::size_t cursor = 0;
  for (auto _ : state) {
    if (cursor == kFoldPagesPerThread) {
      state.PauseTiming();
      RefillFoldPages(fx, t);
      ++local.refills;
      cursor = 0;
      state.ResumeTiming();
    }
    const PageId pid = fx.pages[t * kFoldPagesPerThread + cursor++];
    auto session = fx.store.Enter();
    auto head = fx.store.Read(session, pid);
    std::uint64_t folded = 0;
    std::uint64_t folded_bytes = 0;
    std::uint32_t deltas = 0;
    Impl::ForEachNode(head, [&](const DeltaRecord* delta, const BasePage* base) {
      if (delta != nullptr) {
        ++deltas;
        ++folded;
        folded_bytes += delta->payload().size();
      } else {
        folded += llama::DecodeFixed64(base->contents().data());
        folded_bytes += llama::DecodeFixed64(base->contents().data() + 8);
      }
    });
    if (deltas != kFoldDeltas) Fail(__FILE__, __LINE__, "Update-R found a chain of the wrong length");
    if (!fx.store.UpdateR(session, pid, head, MakeBase(pid, folded, folded_bytes))) {
      Fail(__FILE__, __LINE__, "uncontended Update-R lost its CAS");
    }
    ++local.folds;
  }
  fx.stats[t] = local;
  state.SetItemsProcessed(static_cast<std::int64_t>(local.folds));
}

// ---------------------------------------------------------------------------------------
// 4. Page read: the read path a reader of a page takes, on a working set far past the
// caches and on a hot one. Every page is one base node under `deltas` Update deltas (0: a
// consolidated page); `pages` pages (kPageReadPages = 100k by default, LLAMA_BENCH_READ_PAGES
// overrides it: about 25 MB of chains at 0 deltas, 0.7 GB at 32; and the hot set of
// kReadPages = 1024 pages), a random page per op. Each op is what a reader that looks at
// every delta does: enter, read the head, walk the chain summing every delta's payload
// bytes and touching the base's first content byte.
//   llama      GenerationGuard + MappingTable::Read, the bytes through PageNode::bytes()
//   mutex_map  lock, copy the head shared_ptr, unlock; the bytes through the shared
//              record (node -> DeltaRecord -> payload) and page (-> contents)
// Pages are built round-robin as in 2., each delta's payload salted with its page id, so
// no two pages sum alike. Checks: every walk saw exactly `deltas` deltas over one base
// (per op); Teardown replays each thread's page sequence and compares the sum of its reads'
// byte sums with the sums taken from the records at Setup, and re-walks every chain.
//
// Building 100k pages of 32 deltas takes seconds and Google Benchmark calls Setup for every
// trial run (growing iteration counts until MinTime), so a fixture is kept from one Setup
// to the next of the same benchmark (store, shape and thread count) and is checked and
// freed by the first Setup of another: each benchmark still starts on a freshly built heap.

constexpr std::size_t kPageReadPages = 100'000;

std::int64_t PageReadPages() {
  const char* n = std::getenv("LLAMA_BENCH_READ_PAGES");
  const std::int64_t pages = n != nullptr ? std::strtoll(n, nullptr, 10) : std::int64_t{kPageReadPages};
  BENCH_CHECK(pages >= 1);
  return pages;
}

// A page index in [0, n) from a 32-bit random value, without a division.
std::size_t PickPage(std::uint32_t rng, std::size_t n) {
  return static_cast<std::size_t>((std::uint64_t{rng} * n) >> 32);
}
std::uint32_t PageReadSeed(std::size_t thread) { return 0x9E3779B9u * static_cast<std::uint32_t>(thread + 1); }

struct alignas(64) PageReadStats {
  std::uint64_t reads = 0;
  std::uint64_t touched_bytes = 0;
  std::uint64_t byte_sum = 0;
};

struct PageReadKey {
  const void* store = nullptr;  // &kStoreTag<Impl>
  std::int64_t deltas = 0;
  std::int64_t pages = 0;
  int threads = 0;
  bool operator==(const PageReadKey&) const = default;
};
template <typename Impl>
constexpr char kStoreTag = 0;

struct PageReadFixtureBase {
  virtual ~PageReadFixtureBase() = default;
  PageReadKey key;
};

template <typename Impl>
struct PageReadFixture final : PageReadFixtureBase {
  std::unique_ptr<Impl> store = std::make_unique<Impl>();
  std::vector<PageId> pages;
  std::vector<std::uint64_t> page_sums;  // per page: what one read sums, from the records
  std::uint32_t deltas = 0;
  std::uint64_t touched_per_read = 0;
  std::vector<PageReadStats> stats;  // one per thread, written when its loop ends
  std::int64_t live_before = 0;

  ~PageReadFixture() override {
    store.reset();
    if (Impl::kCountsNodes) BENCH_CHECK(llama::PageNode::live_count() == live_before);
  }
};

// The fixture of the benchmark running now (or last).
std::unique_ptr<PageReadFixtureBase> g_page_read;

void FreePageRead() {
  if (g_page_read == nullptr) return;
  g_page_read.reset();  // checks that no PageNode outlives the table
  ReleaseFreedMemory();
}

std::uint64_t ByteSum(std::span<const std::byte> bytes) {
  std::uint64_t sum = 0;
  for (const std::byte b : bytes) sum += std::to_integer<std::uint64_t>(b);
  return sum;
}

template <typename Impl>
void SetupPageRead(const benchmark::State& state) {
  const PageReadKey key{&kStoreTag<Impl>, state.range(0), state.range(1), state.threads()};
  if (g_page_read != nullptr && g_page_read->key == key) {  // another trial run of this benchmark
    auto& fx = static_cast<PageReadFixture<Impl>&>(*g_page_read);
    std::fill(fx.stats.begin(), fx.stats.end(), PageReadStats{});
    return;
  }
  FreePageRead();
  const std::int64_t live_before = LiveNodes<Impl>();
  auto fx = std::make_unique<PageReadFixture<Impl>>();
  fx->key = key;
  fx->live_before = live_before;
  BENCH_CHECK(key.deltas >= 0 && key.pages >= 1);
  fx->deltas = static_cast<std::uint32_t>(key.deltas);
  fx->touched_per_read = fx->deltas * kPayloadBytes + 1;
  const auto page_count = static_cast<std::size_t>(key.pages);
  for (std::size_t i = 0; i < page_count; ++i) {
    const PageId pid = fx->store->Allocate();
    fx->pages.push_back(pid);
    BasePageHandle base = MakeBase(pid, 0, 0);
    fx->page_sums.push_back(std::to_integer<std::uint64_t>(base->contents()[0]));
    InstallBase(*fx->store, pid, std::move(base));
  }
  // Round-robin over the pages, as interleaved updates would arrive: a chain's nodes and
  // records are not neighbours in memory.
  for (std::uint32_t d = 1; d <= fx->deltas; ++d) {
    for (std::size_t i = 0; i < page_count; ++i) {
      const PageId pid = fx->pages[i];
      DeltaHandle delta = MakeDelta(pid, static_cast<std::uint32_t>(pid) * 131 + d);
      fx->page_sums[i] += ByteSum(delta->payload());
      Prepend(*fx->store, pid, delta);
    }
  }
  fx->stats.resize(static_cast<std::size_t>(state.threads()));
  g_page_read = std::move(fx);
}

template <typename Impl>
void TeardownPageRead(const benchmark::State& /*state*/) {
  BENCH_CHECK(g_page_read != nullptr);
  auto& fx = static_cast<PageReadFixture<Impl>&>(*g_page_read);
  BENCH_CHECK(g_page_read->key.store == &kStoreTag<Impl>);
  for (std::size_t t = 0; t < fx.stats.size(); ++t) {
    const PageReadStats& s = fx.stats[t];
    BENCH_CHECK(s.touched_bytes == s.reads * fx.touched_per_read);
    // The same pages in the same order as the timed loop, summed from the records.
    std::uint32_t rng = PageReadSeed(t);
    std::uint64_t expected = 0;
    for (std::uint64_t r = 0; r < s.reads; ++r) {
      rng = XorShift(rng);
      expected += fx.page_sums[PickPage(rng, fx.pages.size())];
    }
    BENCH_CHECK(s.byte_sum == expected);
  }
  auto session = fx.store->Enter();
  for (const PageId pid : fx.pages) {
    const ChainSummary s = Summarize<Impl>(fx.store->Read(session, pid), pid);
    BENCH_CHECK(s.deltas == fx.deltas && s.delta_bytes == fx.deltas * kPayloadBytes);
  }
  // The fixture stays for the next trial run; the next benchmark's Setup frees it.
}

template <typename Impl>
void BM_PageRead(benchmark::State& state) {
  auto& fx = static_cast<PageReadFixture<Impl>&>(*g_page_read);  // made by Setup
  Impl& store = *fx.store;
  const auto t = static_cast<std::size_t>(state.thread_index());
  const std::size_t n = fx.pages.size();
  std::uint32_t rng = PageReadSeed(t);
  PageReadStats local;
  for (auto _ : state) {
    rng = XorShift(rng);
    const PageId pid = fx.pages[PickPage(rng, n)];
    auto session = store.Enter();
    const auto head = store.Read(session, pid);
    std::uint64_t sum = 0;
    std::uint64_t touched = 0;
    std::uint32_t deltas = 0;
    std::uint32_t bases = 0;
    Impl::ForEachBytes(head, [&](std::span<const std::byte> bytes, bool is_base) {
      if (is_base) {
        ++bases;
        sum += std::to_integer<std::uint64_t>(bytes[0]);
        touched += 1;
      } else {
        ++deltas;
        sum += ByteSum(bytes);
        touched += bytes.size();
      }
    });
    if (deltas != fx.deltas || bases != 1) Fail(__FILE__, __LINE__, "read walked a chain of the wrong shape");
    local.byte_sum += sum;
    local.touched_bytes += touched;
    ++local.reads;
  }
  fx.stats[t] = local;  // Teardown reads it after every thread has returned
  state.SetItemsProcessed(static_cast<std::int64_t>(local.reads));
}

// ---------------------------------------------------------------------------------------
// Registration: llama and mutex_map next to each other for every shape, so a pair runs
// close together in time. Names: <family>/<store>[/<arg>]/min_time:.../real_time/threads:N.

using SetupFn = void (*)(const benchmark::State&);

benchmark::internal::Benchmark* Register(const std::string& name, void (*fn)(benchmark::State&), SetupFn setup,
                                         SetupFn teardown, int threads) {
  return benchmark::RegisterBenchmark(name.c_str(), fn)
      ->Setup(setup)
      ->Teardown(teardown)
      ->Threads(threads)
      ->UseRealTime()
      ->MinTime(kMinTime);
}

template <typename Impl>
void RegisterUpdateD(const char* store, int threads) {
  Register(std::string("BM_UpdateD_Uncontended/") + store, &BM_UpdateD<Impl, false>, &SetupUpdateD<Impl, false>,
           &TeardownUpdateD<Impl, false>, threads);
}
template <typename Impl>
void RegisterUpdateDHot(const char* store, int threads) {
  Register(std::string("BM_UpdateD_HotPage/") + store, &BM_UpdateD<Impl, true>, &SetupUpdateD<Impl, true>,
           &TeardownUpdateD<Impl, true>, threads);
}
template <typename Impl>
void RegisterRead(const char* store, int len, int threads) {
  Register(std::string("BM_Read/") + store, &BM_Read<Impl>, &SetupRead<Impl>, &TeardownRead<Impl>, threads)
      ->ArgName("chain")
      ->Arg(len);
}
template <typename Impl>
void RegisterPageRead(const char* store, std::int64_t deltas, std::int64_t pages, int threads) {
  Register(std::string("BM_PageRead/") + store, &BM_PageRead<Impl>, &SetupPageRead<Impl>, &TeardownPageRead<Impl>,
           threads)
      ->ArgNames({"deltas", "pages"})
      ->Args({deltas, pages});
}
template <typename Impl>
void RegisterFold(const char* store, int threads) {
  Register(std::string("BM_UpdateR_Fold8/") + store, &BM_UpdateR_Fold8<Impl>, &SetupFold<Impl>, &TeardownFold<Impl>,
           threads);
}

bool RegisterAll() {
  constexpr int kThreadCounts[] = {1, 2, 4};
  for (const int threads : kThreadCounts) {
    RegisterUpdateD<LlamaStore>("llama", threads);
    RegisterUpdateD<MutexMapStore>("mutex_map", threads);
  }
  for (const int threads : kThreadCounts) {
    RegisterUpdateDHot<LlamaStore>("llama", threads);
    RegisterUpdateDHot<MutexMapStore>("mutex_map", threads);
  }
  for (const int len : {1, 8, 32}) {
    for (const int threads : kThreadCounts) {
      RegisterRead<LlamaStore>("llama", len, threads);
      RegisterRead<MutexMapStore>("mutex_map", len, threads);
    }
  }
  for (const int threads : kThreadCounts) {
    RegisterFold<LlamaStore>("llama", threads);
    RegisterFold<MutexMapStore>("mutex_map", threads);
  }
  // Last, so that the fixture the final page-read run keeps is freed at exit, checked.
  for (const std::int64_t pages : {PageReadPages(), std::int64_t{kReadPages}}) {
    for (const std::int64_t deltas : {0, 1, 8, 32}) {
      for (const int threads : {1, 4}) {
        RegisterPageRead<LlamaStore>("llama", deltas, pages, threads);
        RegisterPageRead<MutexMapStore>("mutex_map", deltas, pages, threads);
      }
    }
  }
  return true;
}

[[maybe_unused]] const bool kRegistered = RegisterAll();

}  // namespace
