// libFuzzer target: pagedump on a whole store directory made of arbitrary bytes. The
// input is a store bundle (tools/pagedump/store_bundle.h): a STORE file, segment files,
// checkpoint files and others, each any bytes. Every view runs on it, as JSON and as
// text, through an in-memory read-only Env. It must never crash, hang, read out of
// bounds or allocate without bound; every exit code must be 0, 1 or 2; and every JSON
// document it writes must parse.
// Seed corpus: fuzz/corpus/pagedump/ (bundles of real stores; tests/tools/ checks them).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "lss/env_extras/memory_env.h"
#include "tools/pagedump/json_value.h"
#include "tools/pagedump/pagedump_cli.h"
#include "tools/pagedump/store_bundle.h"

namespace {

using llama::pagedump::JsonValue;

constexpr const char* kDir = "/store";
// Segments above 1 MiB are refused: bounds what one record or segment read allocates.
constexpr std::uint32_t kMaxSegmentSize = 1u << 20;

// Runs pagedump; checks the exit code and, for --json output, that it parses.
JsonValue Run(llama::Env& env, std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = llama::pagedump::RunPagedump(args, env, out, err, false, kMaxSegmentSize);
  if (code != 0 && code != 1 && code != 2) {
    std::fprintf(stderr, "pagedump exited %d\n", code);
    std::abort();
  }
  bool json = false;
  for (const std::string& a : args) json = json || a == "--json";
  if (!json || out.str().empty()) return JsonValue();
  auto parsed = JsonValue::Parse(out.str());
  if (!parsed) {
    std::fprintf(stderr, "pagedump wrote JSON that does not parse: %s\n%s\n", parsed.error().message().c_str(),
                 out.str().c_str());
    std::abort();
  }
  return *parsed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  llama::pagedump::MemoryEnv env(kDir);
  for (auto& [name, bytes] : llama::pagedump::UnbundleStore({reinterpret_cast<const std::byte*>(data), size})) {
    env.AddFile(name, std::move(bytes));
  }
  const JsonValue summary = Run(env, {kDir, "--json"});
  (void)Run(env, {kDir});
  (void)Run(env, {kDir, "--verify", "--json"});
  if (!summary.is_object()) return 0;
  // Every segment, and the first pages, in both forms.
  if (const JsonValue* segments = summary.Find("segments"); segments && segments->Find("list")) {
    for (const JsonValue& s : segments->Find("list")->as_array()) {
      const std::string id = std::to_string(s.Find("id")->as_uint());
      (void)Run(env, {kDir, "--segment", id, "--json"});
      (void)Run(env, {kDir, "--segment", id});
    }
  }
  if (const JsonValue* catalog = summary.Find("catalog"); catalog && catalog->Find("vectors")) {
    for (const JsonValue& v : catalog->Find("vectors")->as_array()) {
      const std::string name = v.Find("name")->as_string();
      (void)Run(env, {kDir, "--vector", name, "--elements", "--json"});
      (void)Run(env, {kDir, "--vector", name});
      for (const JsonValue& snapshot : v.Find("snapshots")->as_array()) {
        (void)Run(env, {kDir, "--vector", name, "--generation", std::to_string(snapshot.Find("generation")->as_uint()),
                        "--json"});
      }
    }
  }
  int pages = 0;
  if (const JsonValue* p = summary.Find("pages"); p && p->Find("id_ranges")) {
    for (const JsonValue& range : p->Find("id_ranges")->as_array()) {
      for (std::uint64_t pid = range.as_array()[0].as_uint(); pid <= range.as_array()[1].as_uint() && pages < 16;
           ++pid, ++pages) {
        (void)Run(env, {kDir, "--pid", std::to_string(pid), "--json", "--hex-bytes", "0"});
        (void)Run(env, {kDir, "--pid", std::to_string(pid)});
      }
    }
  }
  return 0;
}
