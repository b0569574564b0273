// The main job: a real workload against a llama-store on disk.
//
// Writer threads update shared pages (Update-D deltas), consolidate long chains into base
// pages (Update-R), flush them to the log and group-commit; the memory budget makes the
// background evictor swap cold pages out, and reads bring them back; the cleaner keeps
// the log compact; a checkpoint is taken mid-run. Then a clean close, a reopen, and a
// check that every page holds exactly the writes made to it. Prints throughput, store
// statistics and what recovery found.
//
// Every write is an 8-byte counter delta; a consolidated base page stores the number of
// writes it absorbed, so a page's write count is recoverable from its state alone.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/store.h"
#include "llama/version.h"

namespace {

using namespace llama;

struct Config {
  std::string dir = "llama-demo-store";
  bool keep = false;
  int threads = 4;
  int pages = 2048;
  int ops = 50000;
  int consolidate_at = 8;
  int sync_every = 64;
  std::uint64_t budget_kib = 512;  // below the 2,048 pages' ~1.2 MiB, so eviction and read-back run
  std::string io = "auto";
};

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

std::uint64_t CountWrites(PageState state) {
  std::uint64_t n = 0;
  for (const PageNode& node : state) {
    if (node.is_base() && node.base()->used() == 8) n += DecodeFixed64(node.base()->contents().data());
    if (node.is_delta() && node.delta()->is_update()) ++n;
  }
  return n;
}

[[noreturn]] void Die(const std::string& what, const Error& e) {
  std::cerr << "llama_demo: " << what << ": " << e.ToString() << "\n";
  std::exit(1);
}

StoreOptions DemoStoreOptions(const Config& cfg) {
  StoreOptions options;
  options.io_backend = cfg.io == "posix"      ? IoBackend::kPosix
                       : cfg.io == "io_uring" ? IoBackend::kIoUring
                                              : IoBackend::kAuto;
  options.segment_size = 1u << 20;
  options.memory_budget = cfg.budget_kib * 1024;
  options.cleaner_space_factor = 2.0;
  return options;
}

// What the writer threads did. `written` counts the writes made to each of `pages`: after
// the reopen, every page must hold exactly that many.
struct Workload {
  explicit Workload(int page_count) : written(static_cast<std::size_t>(page_count)) {}
  std::vector<PageId> pages;
  std::vector<std::atomic<std::uint64_t>> written;
  std::atomic<std::uint64_t> updates{0}, flushes{0}, consolidations{0}, retries{0};
  double seconds = 0;
};

void PrintStoreHeader(const Config& cfg, Store& store) {
  const StoreStats s0 = store.stats();
  std::printf("store %s: io backend %s%s%s, %d pages, %d threads x %d updates, budget %llu KiB\n", cfg.dir.c_str(),
              s0.io_backend.c_str(), s0.io_fallback_reason.empty() ? "" : " (fell back: ",
              s0.io_fallback_reason.empty() ? "" : (s0.io_fallback_reason + ")").c_str(), cfg.pages, cfg.threads,
              cfg.ops, static_cast<unsigned long long>(cfg.budget_kib));
}

void AllocatePages(Store& store, int count, Workload& workload) {
  for (int i = 0; i < count; ++i) {
    auto pid = store.Allocate();
    if (!pid) Die("allocate", pid.error());
    workload.pages.push_back(*pid);
  }
}

// Prepends `delta` by Update-D, reading the page again after every lost CAS race.
void UpdateUntilInstalled(Store& store, const GenerationGuard& g, PageId pid, const DeltaHandle& delta,
                          Workload& workload) {
  for (;;) {
    auto head = store.Read(g, pid);  // brings an evicted page back
    if (!head) Die("read", head.error());
    auto out = store.UpdateD(g, pid, *head, delta);
    if (!out) Die("update", out.error());
    if (out->installed) return;
    workload.retries.fetch_add(1, std::memory_order_relaxed);
  }
}

// Folds a chain longer than --consolidate-at into a base page holding its write count
// (Update-R). Losing the race to another writer is fine: the page is consolidated later.
void ConsolidateIfLong(Store& store, const GenerationGuard& g, PageId pid, const Config& cfg, Workload& workload) {
  auto head = store.Read(g, pid);
  if (head && head->in_memory() && head->node()->chain_length() > static_cast<std::uint32_t>(cfg.consolidate_at)) {
    std::byte count[8];
    EncodeFixed64(count, CountWrites(head->state()));
    OwnedChain state = PageChainBuilder::Base(Share(*BasePage::Create(pid, 4096, count)));
    auto out = store.UpdateR(g, pid, *head, state);
    if (out && out->installed) workload.consolidations.fetch_add(1, std::memory_order_relaxed);
  }
}

// Writer thread `t`: --ops updates to pseudo-random pages; flushes every 4th, syncs every
// --sync-every, and thread 0 takes a checkpoint half way.
void RunWriter(Store& store, const Config& cfg, int t, Workload& workload, std::atomic<bool>& checkpointed) {
  std::uint64_t seed = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(t + 1);
  std::byte payload[8];
  LssAddress last;
  for (int i = 0; i < cfg.ops; ++i) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    const std::size_t slot = seed % workload.pages.size();
    const PageId pid = workload.pages[slot];
    EncodeFixed64(payload, static_cast<std::uint64_t>(i));
    DeltaHandle delta = Share(*DeltaRecord::MakeUpdate(pid, payload));
    auto g = store.EnterGeneration();
    UpdateUntilInstalled(store, g, pid, delta, workload);
    workload.written[slot].fetch_add(1, std::memory_order_relaxed);
    workload.updates.fetch_add(1, std::memory_order_relaxed);
    ConsolidateIfLong(store, g, pid, cfg, workload);
    if (i % 4 == 0) {
      auto end = store.Flush(g, pid);
      if (!end) Die("flush", end.error());
      last = *end;
      workload.flushes.fetch_add(1, std::memory_order_relaxed);
    }
    if (i % cfg.sync_every == 0 && !last.is_null()) {
      if (auto s = store.Sync(last); !s) Die("sync", s.error());
    }
    if (t == 0 && i == cfg.ops / 2 && !checkpointed.exchange(true)) {
      if (auto s = store.Checkpoint(); !s) Die("checkpoint", s.error());
    }
  }
}

// A progress line on a terminal, until `done`.
void ShowProgress(Store& store, const Config& cfg, const Workload& workload, const std::atomic<bool>& done) {
  if (!isatty(STDERR_FILENO)) return;
  const std::uint64_t total = static_cast<std::uint64_t>(cfg.ops) * cfg.threads;
  while (!done.load()) {
    const StoreStats s = store.stats();
    std::fprintf(stderr, "\r%llu/%llu updates, %llu evictions, %llu reads from disk, %llu segments   ",
                 (unsigned long long)workload.updates.load(), (unsigned long long)total,
                 (unsigned long long)s.evictions, (unsigned long long)s.reads_from_disk,
                 (unsigned long long)s.segments);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::fprintf(stderr, "\n");
}

void RunWriters(Store& store, const Config& cfg, Workload& workload) {
  std::atomic<bool> done{false};
  std::atomic<bool> checkpointed{false};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < cfg.threads; ++t) {
    threads.emplace_back([&, t] { RunWriter(store, cfg, t, workload, checkpointed); });
  }
  std::thread progress([&] { ShowProgress(store, cfg, workload, done); });
  for (auto& th : threads) th.join();
  workload.seconds = Seconds(start);
  done = true;
  progress.join();
}

void PrintWorkloadReport(const Config& cfg, const Workload& workload, const StoreStats& s) {
  const double secs = workload.seconds;
  std::printf(
      "workload: %llu updates in %.2f s = %.0f updates/s; %llu flushes, %llu consolidations, "
      "%llu lost CAS races retried\n",
      (unsigned long long)workload.updates.load(), secs, workload.updates.load() / secs,
      (unsigned long long)workload.flushes.load(), (unsigned long long)workload.consolidations.load(),
      (unsigned long long)workload.retries.load());
  std::printf(
      "log: %.1f MiB written, %llu records (%llu failed-flush markers), %llu group commits, %llu segments "
      "(%.1f MiB, %.0f%% live), %llu cleaner runs\n",
      s.bytes_written / 1048576.0, (unsigned long long)s.records, (unsigned long long)s.failed_flushes,
      (unsigned long long)s.syncs, (unsigned long long)s.segments, s.log_bytes / 1048576.0, 100 * s.live_fraction,
      (unsigned long long)s.cleaner_runs);
  std::printf("memory: budget %llu KiB, resident %llu KiB; %llu evictions, %llu reads from disk, %llu checkpoints\n",
              (unsigned long long)cfg.budget_kib, (unsigned long long)(s.resident_bytes / 1024),
              (unsigned long long)s.evictions, (unsigned long long)s.reads_from_disk,
              (unsigned long long)s.checkpoints);
  if (!s.maintenance_error.empty()) std::printf("maintenance error: %s\n", s.maintenance_error.c_str());
}

// Opens the store, allocates the pages, runs the writers, reports, and closes cleanly.
void RunWorkload(const Config& cfg, const StoreOptions& options, Workload& workload) {
  auto opened = Store::Open(cfg.dir, options);
  if (!opened) Die("open " + cfg.dir, opened.error());
  Store& store = **opened;
  PrintStoreHeader(cfg, store);
  AllocatePages(store, cfg.pages, workload);
  RunWriters(store, cfg, workload);
  PrintWorkloadReport(cfg, workload, store.stats());
  const auto close_start = Clock::now();
  if (auto c = store.Close(); !c) Die("close", c.error());
  std::printf("clean close (flush all, checkpoint, sync) in %.3f s\n", Seconds(close_start));
}

// Whether the page holds exactly `expected` writes (a page never written may be gone);
// prints what is wrong if not.
bool PageHoldsWrites(Store& store, const GenerationGuard& g, PageId pid, std::uint64_t expected) {
  auto ref = store.Read(g, pid);
  if (!ref) {
    if (expected == 0) return true;
    std::printf("page %u: %s\n", pid, ref.error().ToString().c_str());
    return false;
  }
  const std::uint64_t found = CountWrites(ref->state());
  if (found == expected) return true;
  std::printf("page %u: %llu writes found, %llu made\n", pid, (unsigned long long)found, (unsigned long long)expected);
  return false;
}

// Reopens the store and checks that every page holds exactly the writes made to it.
int VerifyAfterReopen(const Config& cfg, const StoreOptions& options, const Workload& workload) {
  auto reopened = Store::Open(cfg.dir, options);
  if (!reopened) Die("reopen", reopened.error());
  Store& store = **reopened;
  const RecoveryReport& r = store.recovery();
  std::printf("recovery: %.3f s, checkpoint #%llu, %llu records scanned after it, %llu pages, stop: %s\n", r.seconds,
              (unsigned long long)r.checkpoint_sequence, (unsigned long long)r.records_scanned,
              (unsigned long long)r.pages_recovered, r.stop_reason.c_str());
  std::uint64_t ok = 0, wrong = 0;
  auto g = store.EnterGeneration();
  for (std::size_t i = 0; i < workload.pages.size(); ++i) {
    if (PageHoldsWrites(store, g, workload.pages[i], workload.written[i].load())) {
      ++ok;
    } else {
      ++wrong;
    }
  }
  std::printf("verify: %llu pages exact, %llu wrong: %s\n", (unsigned long long)ok, (unsigned long long)wrong,
              wrong == 0 ? "OK" : "DATA LOST");
  return wrong == 0 ? 0 : 1;
}

int Run(const Config& cfg) {
  if (!cfg.keep) std::filesystem::remove_all(cfg.dir);
  const StoreOptions options = DemoStoreOptions(cfg);
  Workload workload(cfg.pages);
  RunWorkload(cfg, options, workload);
  return VerifyAfterReopen(cfg, options, workload);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"llama-store main job: a page-store workload on disk, a clean close, reopen, verify"};
  app.set_version_flag("--version", "llama_demo (llama-store) " + std::string(llama::VersionString()));
  app.add_option("--dir", cfg.dir, "store directory (recreated unless --keep)");
  app.add_flag("--keep", cfg.keep, "reuse an existing store in --dir");
  app.add_option("--threads", cfg.threads, "writer threads")->check(CLI::Range(1, 64));
  app.add_option("--pages", cfg.pages, "pages")->check(CLI::Range(1, 1 << 22));
  app.add_option("--ops", cfg.ops, "updates per thread")->check(CLI::Range(1, 1 << 28));
  app.add_option("--consolidate-at", cfg.consolidate_at, "chain length that triggers Update-R")
      ->check(CLI::Range(1, 1024));
  app.add_option("--sync-every", cfg.sync_every, "updates per thread between syncs")->check(CLI::Range(1, 1 << 20));
  app.add_option("--budget-kib", cfg.budget_kib, "memory budget for page state, KiB")->check(CLI::Range(64, 1 << 24));
  app.add_option("--io", cfg.io, "io backend")->check(CLI::IsMember({"auto", "posix", "io_uring"}));
  CLI11_PARSE(app, argc, argv);
  return Run(cfg);
}
