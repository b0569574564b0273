#include <algorithm>

#include "tools/pagedump/segment_walker.h"
#include "tools/pagedump/views.h"

namespace llama::pagedump {

namespace {

JsonValue HeaderJson(const SegmentFileInfo& file) {
  JsonValue header = JsonValue::MakeObject();
  header.Set("ok", file.header_problem.empty());
  header.Set("problem", file.header_problem.empty() ? JsonValue() : JsonValue(file.header_problem));
  if (file.header) {
    header.Set("segment_id", file.header->segment_id);
    header.Set("segment_size", file.header->segment_size);
    header.Set("store_id", HexU64(file.header->store_id));
    header.Set("resume_from", AddressJson(file.header->resume_from));
  }
  return header;
}

// One line of what the body says, for the record table.
std::string BodySummary(const WalkedRecord& r) {
  if (r.page) {
    std::string s = std::to_string(r.page->delta_count) + " deltas";
    if (r.page->has_base) s += ", base " + std::to_string(r.page->base_len) + " bytes";
    if (!r.page->prior.is_null()) s += ", prior " + AddressText(r.page->prior);
    return s;
  }
  if (r.next_segment) return "next segment " + std::to_string(*r.next_segment);
  if (r.freed_pid) return "frees page " + std::to_string(*r.freed_pid);
  return "";
}

JsonValue RecordJson(const WalkedRecord& r) {
  JsonValue row = JsonValue::MakeObject();
  row.Set("offset", r.address.offset());
  row.Set("frame_bytes", r.frame ? JsonValue(r.framed_size()) : JsonValue());
  row.Set("kind", r.frame ? JsonValue(RecordKindName(r.frame->kind)) : JsonValue());
  PageId pid = 0;
  bool has_pid = false;
  if (r.page) {
    pid = r.page->pid;
    has_pid = true;
  } else if (r.freed_pid) {
    pid = *r.freed_pid;
    has_pid = true;
  }
  row.Set("pid", has_pid ? JsonValue(pid) : JsonValue());
  row.Set("body_bytes", r.frame ? JsonValue(r.frame->body_len) : JsonValue());
  row.Set("raw_bytes", r.frame ? JsonValue(r.frame->raw_len) : JsonValue());
  row.Set("compressed", r.frame ? JsonValue(r.frame->compressed) : JsonValue());
  row.Set("checksum", HexU64(r.stored_checksum));
  row.Set("checksum_ok", r.checksum_ok);
  row.Set("body", BodySummary(r));
  row.Set("problem", r.problem.empty() ? JsonValue() : JsonValue(r.problem));
  return row;
}

}  // namespace

Result<JsonValue> BuildSegmentView(StoreImage& image, std::uint32_t segment) {
  const SegmentFileInfo* file = image.segment_file(segment);
  if (file == nullptr) {
    std::string ids;
    for (const SegmentFileInfo& f : image.segment_files()) ids += (ids.empty() ? "" : ", ") + std::to_string(f.id);
    return MakeError(ErrorCode::kNotFound, "no segment " + std::to_string(segment) + " in " + image.dir() +
                                               " (segments: " + (ids.empty() ? "none" : ids) + ")");
  }
  auto bytes = image.ReadSegmentBytes(segment);
  LLAMA_RETURN_IF_ERROR(bytes);
  const SegmentWalk walk = WalkSegment(*bytes, segment, image.identity().segment_size);
  const RecoveryView& recovery = image.recovery();

  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "segment");
  view.Set("segment", segment);
  view.Set("file_bytes", file->file_size);
  view.Set("header", HeaderJson(*file));
  const auto& visited = recovery.visited_segments;
  view.Set("on_recovery_path", std::find(visited.begin(), visited.end(), segment) != visited.end());
  JsonValue records = JsonValue::MakeArray();
  for (const WalkedRecord& r : walk.records) records.Push(RecordJson(r));
  view.Set("records", std::move(records));
  JsonValue end = JsonValue::MakeObject();
  end.Set("how", std::string(SegmentEndName(walk.end)));
  end.Set("offset", walk.end_offset);
  end.Set("detail", walk.end_detail);
  view.Set("end", std::move(end));
  return view;
}

}  // namespace llama::pagedump
