// The main job, for now: an end-to-end run of the in-memory core (deltas, pages, mapping
// table, generations). Writer threads prepend Update deltas to shared pages and
// consolidate long chains with Update-R; reader threads walk chains inside generations;
// then the demo shows a PartialSwap DAG edge, a swap-out to an LSS address, page ids freed
// and reused only after their generation passed, and finally checks that no write was lost.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "deltas/delta_record.h"
#include "mapping/mapping_table.h"
#include "pages/base_page.h"
#include "pages/page_state.h"
#include "util/coding.h"

namespace {

using namespace llama;

struct Config {
  int threads = 4;
  int pages = 64;
  int ops = 200000;
  int consolidate_at = 8;
  std::uint32_t page_size = 8192;
};

std::string Hex(std::span<const std::byte> bytes) {
  std::string out;
  char buf[4];
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(bytes[i]));
    out += buf;
    if (i % 16 == 15) out += '\n';
    else if (i % 4 == 3) out += ' ';
  }
  return out;
}

// Each write is an 8-byte counter; a consolidated page keeps the count of writes it
// absorbed in its contents, so the final tally can be checked against what was written.
std::uint64_t CountWrites(PageState state) {
  std::uint64_t n = 0;
  for (const PageNode& node : state) {
    if (node.is_base() && node.base()->used() == 8) n += DecodeFixed64(node.base()->contents().data());
    if (node.is_delta() && node.delta()->is_update()) ++n;
  }
  return n;
}

int Run(const Config& cfg) {
  MappingTable table;
  std::vector<PageId> pages;
  for (int i = 0; i < cfg.pages; ++i) pages.push_back(*table.Allocate());
  std::printf("allocated %d pages (ids %u..%u), %d writer threads, %d ops each\n", cfg.pages,
              pages.front(), pages.back(), cfg.threads, cfg.ops);

  std::atomic<std::uint64_t> written{0}, cas_retries{0}, consolidations{0}, reads{0};
  std::atomic<bool> done{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < cfg.threads; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t seed = 0x9E3779B97F4A7C15ull * (t + 1);
      std::byte payload[8];
      for (int i = 0; i < cfg.ops; ++i) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        const PageId pid = pages[seed % pages.size()];
        EncodeFixed64(payload, static_cast<std::uint64_t>(i));
        DeltaHandle delta = Share(*DeltaRecord::MakeUpdate(pid, payload));
        auto g = table.EnterGeneration();
        PageRef head = *table.Read(g, pid);
        while (true) {
          auto out = table.UpdateD(g, pid, head, delta);
          if (!out) {
            std::cerr << out.error().ToString() << "\n";
            std::exit(1);
          }
          if (out->installed) break;
          head = out->head;
          cas_retries.fetch_add(1, std::memory_order_relaxed);
        }
        written.fetch_add(1, std::memory_order_relaxed);
        // Consolidate a long chain into one base page holding its write count.
        head = *table.Read(g, pid);
        if (head.in_memory() && head.node()->chain_length() > static_cast<std::uint32_t>(cfg.consolidate_at)) {
          std::byte count[8];
          EncodeFixed64(count, CountWrites(head.state()));
          OwnedChain state = PageChainBuilder::Base(Share(*BasePage::Create(pid, cfg.page_size, count)));
          if (table.UpdateR(g, pid, head, state)->installed) consolidations.fetch_add(1);
        }
      }
    });
  }
  std::thread reader([&] {
    std::size_t i = 0;
    while (!done.load()) {
      auto g = table.EnterGeneration();
      auto ref = table.Read(g, pages[i++ % pages.size()]);
      for ([[maybe_unused]] const PageNode& node : ref->state()) {
      }
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::thread progress([&] {
    if (!isatty(STDERR_FILENO)) return;  // a progress line only for a person watching
    const std::uint64_t total = static_cast<std::uint64_t>(cfg.ops) * cfg.threads;
    while (!done.load()) {
      std::fprintf(stderr, "\rprogress: %llu / %llu updates", (unsigned long long)written.load(),
                   (unsigned long long)total);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::fprintf(stderr, "\rprogress: %llu / %llu updates\n", (unsigned long long)written.load(),
                 (unsigned long long)total);
  });
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  reader.join();
  progress.join();

  std::printf("Update-D: %llu deltas in %.3f s = %.0f updates/s (%llu lost CAS races retried)\n",
              (unsigned long long)written.load(), secs, written.load() / secs,
              (unsigned long long)cas_retries.load());
  std::printf("Update-R: %llu consolidations into %u-byte base pages; readers walked %llu chains\n",
              (unsigned long long)consolidations.load(), cfg.page_size,
              (unsigned long long)reads.load());

  // Verify: every write is in exactly one place (a delta or a consolidated count).
  std::uint64_t found = 0;
  {
    auto g = table.EnterGeneration();
    for (PageId pid : pages) found += CountWrites(table.Read(g, pid)->state());
  }
  std::printf("verify: %llu writes found, %llu written: %s\n", (unsigned long long)found,
              (unsigned long long)written.load(), found == written.load() ? "OK" : "LOST WRITES");
  if (found != written.load()) return 1;

  // A PartialSwap delta whose DAG edge points at the node that was flushed, then a
  // swap-out that leaves only an LSS address in the slot.
  const PageId pid = pages.front();
  {
    auto g = table.EnterGeneration();
    PageRef head = *table.Read(g, pid);
    const LssAddress flushed_at = LssAddress::Make(1, 4096);
    auto ps = Share(*DeltaRecord::MakePartialSwap(pid, flushed_at));
    auto out = table.UpdateD(g, pid, head, ps, head.node());
    std::printf("PartialSwap on page %u: chain of %zu nodes, DAG edge to the flushed head, "
                "iterator visits %zu nodes once each\n",
                pid, out->head.state().chain_length(),
                static_cast<std::size_t>(std::distance(out->head.state().begin(), out->head.state().end())));
    std::printf("its record (%u bytes):\n%s\n", ps->len(), Hex(ps->bytes()).c_str());
    auto swapped = table.UpdateR(g, pid, out->head, flushed_at);
    std::printf("swap-out: page %u now at LSS segment %u offset %u (in memory: %s)\n", pid,
                swapped->head.address().segment(), swapped->head.address().offset(),
                swapped->head.in_memory() ? "yes" : "no");
  }

  // Free pages while a reader still holds an old generation: their ids come back only
  // once that reader has left.
  auto stalled = std::make_unique<GenerationGuard>(table.EnterGeneration());
  const PageId freed = pages.back();
  {
    auto g = table.EnterGeneration();
    (void)table.Free(g, freed);
  }
  table.generations().TryReclaim();
  const PageId while_held = *table.Allocate();
  stalled.reset();
  table.generations().TryReclaim();
  const PageId after_release = *table.Allocate();
  std::printf("free page %u while an older reader is inside: next id %u; after the reader "
              "leaves: next id %u (%s)\n",
              freed, while_held, after_release,
              after_release == freed ? "the freed id, reused" : "not reused");

  auto& gens = table.generations();
  std::printf("stats: pages in use %llu, id high water %llu, directory %llu KiB, generation "
              "%llu, retired waiting %zu, reclaimed %llu, live nodes %lld\n",
              (unsigned long long)table.pages_in_use(), (unsigned long long)table.high_water(),
              (unsigned long long)(table.directory_bytes() / 1024),
              (unsigned long long)gens.current_generation(), gens.retired_pending(),
              (unsigned long long)gens.reclaimed_total(), (long long)PageNode::live_count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"llama-store demo: the in-memory page store core, end to end"};
  app.add_option("--threads", cfg.threads, "writer threads")->check(CLI::Range(1, 64));
  app.add_option("--pages", cfg.pages, "pages to write")->check(CLI::Range(1, 1 << 20));
  app.add_option("--ops", cfg.ops, "updates per writer thread")->check(CLI::Range(1, 1 << 28));
  app.add_option("--consolidate-at", cfg.consolidate_at, "chain length that triggers Update-R")
      ->check(CLI::Range(1, 1024));
  app.add_option("--page-size", cfg.page_size, "base page size (4096..65536, a power of two)")
      ->check([](const std::string& v) {
        return BasePage::IsValidPageSize(std::stoull(v)) ? std::string()
                                                         : std::string("not 4, 8, 16, 32 or 64 KiB");
      });
  CLI11_PARSE(app, argc, argv);
  return Run(cfg);
}
