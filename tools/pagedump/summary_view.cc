#include <algorithm>

#include "tools/pagedump/views.h"

namespace llama::pagedump {

JsonValue AddressJson(LssAddress address) {
  if (address.is_null()) return JsonValue();
  return JsonValue(AddressText(address));
}

std::string HexU64(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(v >> shift) & 0xf];
  return out;
}

std::string HexBytes(std::span<const std::byte> bytes, std::size_t limit) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t n = limit == 0 ? bytes.size() : std::min(bytes.size(), limit);
  std::string out;
  out.reserve(n * 3);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    const auto b = std::to_integer<unsigned>(bytes[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

JsonValue FindingsJson(const std::vector<Finding>& findings) {
  JsonValue list = JsonValue::MakeArray();
  for (const Finding& f : findings) {
    JsonValue item = JsonValue::MakeObject();
    item.Set("where", f.where);
    item.Set("what", f.what);
    list.Push(std::move(item));
  }
  return list;
}

namespace {

double Fraction(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

JsonValue OrNull(const std::string& s) { return s.empty() ? JsonValue() : JsonValue(s); }

// A checkpoint's writer settings (format version 2), or null for a version 1 checkpoint.
JsonValue SettingsJson(const std::optional<CheckpointSettings>& settings) {
  if (!settings) return JsonValue();
  JsonValue w = JsonValue::MakeObject();
  w.Set("requested", std::string(CheckpointBackendName(settings->io_backend_requested, true)));
  w.Set("in_use", std::string(CheckpointBackendName(settings->io_backend_in_use, false)));
  w.Set("fell_back", settings->io_fell_back);
  w.Set("flush_buffer_size", settings->flush_buffer_size);
  w.Set("flush_buffers", settings->flush_buffers);
  w.Set("compression_level", static_cast<std::int64_t>(settings->compression_level));
  w.Set("max_disk_chain", settings->max_disk_chain);
  return w;
}

// The checkpoint recovery would use, if it decodes.
const CheckpointData* UsedCheckpoint(const StoreImage& image) {
  const auto& used = image.recovery().checkpoint_sequence;
  if (!used) return nullptr;
  for (const CheckpointFileInfo& cp : image.checkpoint_files()) {
    if (cp.sequence == used && cp.problem.empty() && cp.data) return &*cp.data;
  }
  return nullptr;
}

JsonValue StoreJson(const StoreImage& image) {
  JsonValue store = JsonValue::MakeObject();
  store.Set("dir", image.dir());
  store.Set("store_id", HexU64(image.identity().store_id));
  store.Set("segment_size", image.identity().segment_size);
  store.Set("identity_problem", OrNull(image.identity_problem()));
  // How the store last did its I/O, as the checkpoint recovery would use recorded it.
  const CheckpointData* used = UsedCheckpoint(image);
  store.Set("io_backend", used ? SettingsJson(used->settings) : JsonValue());
  return store;
}

JsonValue SegmentsJson(const StoreAnalysis& analysis) {
  JsonValue segments = JsonValue::MakeObject();
  segments.Set("count", analysis.segments.size());
  segments.Set("bytes", analysis.log_bytes);
  segments.Set("live_bytes", analysis.live_bytes);
  segments.Set("live_fraction", Fraction(analysis.live_bytes, analysis.log_bytes));
  JsonValue list = JsonValue::MakeArray();
  for (const SegmentSummary& s : analysis.segments) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("id", s.id);
    row.Set("file_bytes", s.file_size);
    row.Set("data_bytes", s.data_bytes);
    row.Set("records", s.records);
    row.Set("damaged_records", s.damaged_records);
    row.Set("live_bytes", s.live_bytes);
    row.Set("live_fraction", Fraction(s.live_bytes, s.data_bytes));
    row.Set("resume_from", AddressJson(s.resume_from));
    row.Set("end", std::string(SegmentEndName(s.end)));
    row.Set("end_offset", s.end_offset);
    row.Set("header_ok", s.header_problem.empty());
    list.Push(std::move(row));
  }
  segments.Set("list", std::move(list));
  return segments;
}

JsonValue KindsJson(const StoreAnalysis& analysis) {
  JsonValue kinds = JsonValue::MakeArray();
  for (const auto& [name, count] : analysis.records_by_kind) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("kind", name);
    row.Set("records", count.records);
    row.Set("bytes", count.bytes);
    kinds.Push(std::move(row));
  }
  return kinds;
}

JsonValue CheckpointsJson(const StoreImage& image) {
  JsonValue checkpoints = JsonValue::MakeObject();
  const auto& used = image.recovery().checkpoint_sequence;
  checkpoints.Set("used_by_recovery", used ? JsonValue(*used) : JsonValue());
  JsonValue list = JsonValue::MakeArray();
  for (const CheckpointFileInfo& cp : image.checkpoint_files()) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("name", cp.name);
    row.Set("sequence", cp.sequence ? JsonValue(*cp.sequence) : JsonValue());
    row.Set("bytes", cp.file_size);
    const bool ok = cp.problem.empty() && cp.data.has_value();
    row.Set("pages", ok ? JsonValue(cp.data->pages.size()) : JsonValue());
    row.Set("scan_start", ok ? AddressJson(cp.data->scan_start) : JsonValue());
    row.Set("oldest_segment", ok ? JsonValue(cp.data->oldest_segment) : JsonValue());
    row.Set("app_state_bytes", ok ? JsonValue(cp.data->application_state.size()) : JsonValue());
    row.Set("writer_settings", ok ? SettingsJson(cp.data->settings) : JsonValue());
    row.Set("used", ok && used && cp.sequence == used);
    row.Set("problem", OrNull(cp.problem));
    list.Push(std::move(row));
  }
  checkpoints.Set("list", std::move(list));
  return checkpoints;
}

JsonValue IdList(const std::vector<std::uint32_t>& ids) {
  JsonValue list = JsonValue::MakeArray();
  for (std::uint32_t id : ids) list.Push(id);
  return list;
}

JsonValue RecoveryJson(const RecoveryView& recovery) {
  JsonValue out = JsonValue::MakeObject();
  out.Set("scan_start", AddressJson(recovery.scan_start));
  out.Set("stop", recovery.scanned ? AddressJson(recovery.stop.position) : JsonValue());
  out.Set("stop_reason", recovery.scanned ? JsonValue(std::string(ScanStopReasonName(recovery.stop.reason)) + ": " +
                                                      recovery.stop.detail)
                                          : JsonValue("nothing to scan"));
  out.Set("records_scanned", recovery.records_scanned);
  out.Set("segments_visited", IdList(recovery.visited_segments));
  out.Set("would_set_aside", IdList(recovery.orphans));
  out.Set("open_failure", OrNull(recovery.open_failure));
  return out;
}

JsonValue PagesJson(const RecoveryView& recovery) {
  JsonValue pages = JsonValue::MakeObject();
  pages.Set("count", recovery.pages.chains().size());
  JsonValue ranges = JsonValue::MakeArray();
  std::string text;
  auto close_range = [&](PageId lo, PageId hi) {
    JsonValue range = JsonValue::MakeArray();
    range.Push(lo);
    range.Push(hi);
    ranges.Push(std::move(range));
    if (!text.empty()) text += ",";
    text += std::to_string(lo);
    if (hi != lo) text += "-" + std::to_string(hi);
  };
  bool open = false;
  PageId lo = 0, hi = 0;
  for (const auto& [pid, chain] : recovery.pages.chains()) {
    if (open && pid == hi + 1) {
      hi = pid;
      continue;
    }
    if (open) close_range(lo, hi);
    lo = hi = pid;
    open = true;
  }
  if (open) close_range(lo, hi);
  pages.Set("ids", text);
  pages.Set("id_ranges", std::move(ranges));
  return pages;
}

}  // namespace

JsonValue BuildSummaryView(StoreImage& image, const StoreAnalysis& analysis) {
  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "summary");
  view.Set("store", StoreJson(image));
  view.Set("segments", SegmentsJson(analysis));
  view.Set("records_by_kind", KindsJson(analysis));
  view.Set("checkpoints", CheckpointsJson(image));
  view.Set("recovery", RecoveryJson(image.recovery()));
  view.Set("pages", PagesJson(image.recovery()));
  view.Set("catalog", CatalogSummaryJson(image));
  view.Set("clean", analysis.damage.empty());
  view.Set("damage", FindingsJson(analysis.damage));
  view.Set("notes", FindingsJson(analysis.notes));
  return view;
}

JsonValue BuildVerifyView(const StoreImage& image, const StoreAnalysis& analysis) {
  std::uint64_t records = 0;
  for (const SegmentSummary& s : analysis.segments) records += s.records;
  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "verify");
  view.Set("dir", image.dir());
  view.Set("clean", analysis.damage.empty());
  view.Set("segments_checked", analysis.segments.size());
  view.Set("records_checked", records);
  view.Set("checkpoints_checked", image.checkpoint_files().size());
  view.Set("pages_checked", image.recovery().pages.chains().size());
  view.Set("damage", FindingsJson(analysis.damage));
  view.Set("notes", FindingsJson(analysis.notes));
  return view;
}

}  // namespace llama::pagedump
