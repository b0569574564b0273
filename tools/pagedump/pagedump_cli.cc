#include "tools/pagedump/pagedump_cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

#include "lss/env_extras/read_only_env.h"
#include "lss/recovery/store_image.h"
#include "tools/pagedump/progress_line.h"
#include "tools/pagedump/store_analysis.h"
#include "tools/pagedump/text_renderer.h"
#include "tools/pagedump/views.h"

namespace llama::pagedump {

namespace {

struct Request {
  std::string dir;
  std::optional<std::uint32_t> segment;
  std::optional<std::uint32_t> pid;
  std::optional<std::string> vector;
  std::optional<std::uint64_t> generation;
  bool elements = false;
  bool verify = false;
  bool json = false;
  bool no_progress = false;
  std::size_t hex_bytes = 64;
  std::uint32_t max_segment_size = log_format::kMaxSegmentSize;
};

// The numbers as typed: CLI11's own conversion reports "Could not convert" and takes
// "-5" for a size, so pagedump converts them itself (ParseNumbers).
struct NumberArgs {
  std::optional<std::string> segment, pid, generation, hex_bytes;
};

// A decimal number of at most `max`, digits only (no sign, space or fraction); else a
// message naming the option.
Result<std::uint64_t> ParseNumber(const std::string& option, const std::string& text, std::uint64_t max,
                                  const std::string& what) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const bool digits =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const auto parsed = std::from_chars(text.data(), end, value);
  if (!digits || parsed.ec != std::errc() || parsed.ptr != end || value > max) {
    return MakeError(ErrorCode::kInvalidArgument, option + " wants " + what + " (a whole number from 0 to " +
                                                      std::to_string(max) + "), not \"" + text + "\"");
  }
  return value;
}

Status ParseNumbers(const NumberArgs& args, Request& request) {
  constexpr std::uint32_t kU32 = std::numeric_limits<std::uint32_t>::max();
  if (args.segment) {
    auto v = ParseNumber("--segment", *args.segment, kU32, "a segment id");
    LLAMA_RETURN_IF_ERROR(v);
    request.segment = static_cast<std::uint32_t>(*v);
  }
  if (args.pid) {
    auto v = ParseNumber("--pid", *args.pid, kU32, "a page id");
    LLAMA_RETURN_IF_ERROR(v);
    request.pid = static_cast<std::uint32_t>(*v);
  }
  if (args.generation) {
    auto v = ParseNumber("--generation", *args.generation, std::numeric_limits<std::uint64_t>::max(), "a generation");
    LLAMA_RETURN_IF_ERROR(v);
    request.generation = *v;
  }
  if (args.hex_bytes) {
    auto v = ParseNumber("--hex-bytes", *args.hex_bytes, std::numeric_limits<std::size_t>::max(), "a byte count");
    LLAMA_RETURN_IF_ERROR(v);
    request.hex_bytes = static_cast<std::size_t>(*v);
  }
  return OkStatus();
}

int Fail(std::ostream& err, const Error& error) {
  err << "pagedump: " << error.message() << "\n";
  // A store too damaged to read is damage; anything else is not a store, or an I/O error.
  return error.code() == ErrorCode::kCorruption ? kExitDamage : kExitUsage;
}

// Every JSON document starts with the schema version (docs/PAGEDUMP.md, "JSON schema").
constexpr int kSchemaVersion = 1;

void Emit(std::ostream& out, const JsonValue& document, bool json) {
  if (!json) {
    out << RenderText(document);
    return;
  }
  JsonValue versioned = JsonValue::MakeObject();
  versioned.Set("schema", kSchemaVersion);
  for (const auto& [key, value] : document.as_object()) versioned.Set(key, value);
  out << versioned.Write(2);
}

int Run(const Request& request, Env& base_env, std::ostream& out, std::ostream& err, bool progress) {
  ReadOnlyEnv env(base_env);
  auto image = StoreImage::Open(env, request.dir, StoreImageOptions{request.max_segment_size});
  if (!image) return Fail(err, image.error());
  if (request.segment) {
    auto view = BuildSegmentView(*image, *request.segment);
    if (!view) return Fail(err, view.error());
    Emit(out, *view, request.json);
    return kExitOk;
  }
  if (request.pid) {
    auto view = BuildPageView(*image, *request.pid, ViewOptions{request.hex_bytes});
    if (!view) return Fail(err, view.error());
    Emit(out, *view, request.json);
    return kExitOk;
  }
  if (request.vector) {
    auto view = BuildVectorView(*image, *request.vector, request.generation, request.elements);
    if (!view) return Fail(err, view.error());
    Emit(out, *view, request.json);
    return kExitOk;
  }
  ProgressLine line(err);
  ProgressFn on_progress;
  if (progress && !request.no_progress) {
    on_progress = [&line](std::uint64_t done, std::uint64_t total, std::uint32_t segment) {
      line.Update(done, total, segment);
    };
  }
  auto analysis = AnalyzeStore(*image, on_progress);
  line.Finish();
  if (!analysis) return Fail(err, analysis.error());
  if (request.verify) {
    Emit(out, BuildVerifyView(*image, *analysis), request.json);
    return analysis->damage.empty() ? kExitOk : kExitDamage;
  }
  Emit(out, BuildSummaryView(*image, *analysis), request.json);
  return kExitOk;
}

}  // namespace

int RunPagedump(const std::vector<std::string>& args, Env& env, std::ostream& out, std::ostream& err, bool progress,
                std::uint32_t max_segment_size) {
  Request request;
  NumberArgs numbers;
  request.max_segment_size = max_segment_size;
  CLI::App app{"pagedump: inspect a llama-store directory on disk without changing it"};
  app.name("pagedump");
  app.add_option("dir", request.dir, "the store directory")->required();
  auto* segment = app.add_option("--segment", numbers.segment, "every record of segment N");
  auto* pid = app.add_option("--pid", numbers.pid, "page P's chain as recovery would rebuild it");
  auto* verify =
      app.add_flag("--verify", request.verify, "check every record, checksum and pointer; exit 1 if damaged");
  auto* vector = app.add_option("--vector", request.vector, "the tree of one snapshot of vector NAME");
  auto* generation = app.add_option("--generation", numbers.generation,
                                    "with --vector: the snapshot of generation G (default: the newest)");
  auto* elements = app.add_flag("--elements", request.elements, "with --vector: list every element");
  generation->needs(vector);
  elements->needs(vector);
  segment->excludes(pid)->excludes(verify)->excludes(vector);
  pid->excludes(verify)->excludes(vector);
  verify->excludes(vector);
  app.add_flag("--json", request.json, "write the view as JSON (docs/PAGEDUMP.md has the schema)");
  app.add_option("--hex-bytes", numbers.hex_bytes, "payload bytes shown in hex per delta or page (default 64; 0: all)");
  app.add_flag("--no-progress", request.no_progress, "no progress line on stderr");
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::ParseError& e) {
    // One line in pagedump's words (docs/PAGEDUMP.md, "Exit codes"), not CLI11's page.
    err << "pagedump: " << e.what() << " (--help lists the options)\n";
    return kExitUsage;
  }
  if (Status parsed = ParseNumbers(numbers, request); !parsed) {
    err << "pagedump: " << parsed.error().message() << "\n";
    return kExitUsage;
  }
  return Run(request, env, out, err, progress);
}

}  // namespace llama::pagedump
