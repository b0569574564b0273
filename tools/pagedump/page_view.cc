#include <set>

#include "deltas/delta_format.h"
#include "deltas/delta_kind.h"
#include "lss/page_record.h"
#include "tools/pagedump/content_decoders.h"
#include "tools/pagedump/views.h"

namespace llama::pagedump {

namespace {

std::string BitNames(std::uint8_t bits) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
      {0x80, "F"}, {0x40, "P"}, {0x20, "U"}, {0x10, "E"}, {0x08, "R"}, {0x04, "Re"}};
  std::string out;
  for (const auto& [mask, name] : kNames) {
    if ((bits & mask) == 0) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out;
}

void SetHex(std::span<const std::byte> bytes, const ViewOptions& options, JsonValue& into) {
  into.Set("hex", HexBytes(bytes, options.hex_bytes));
  into.Set("hex_truncated", options.hex_bytes != 0 && bytes.size() > options.hex_bytes);
}

JsonValue DeltaJson(const DeltaRecord& delta, LssAddress record, std::size_t position,
                    const ViewOptions& options) {
  JsonValue d = JsonValue::MakeObject();
  d.Set("position", position);
  d.Set("record", AddressText(record));
  d.Set("type", "delta");
  d.Set("kind", std::string(DeltaKindName(delta.kind())));
  d.Set("len", delta.len());
  d.Set("lss_off", delta.lss_offset());
  d.Set("pid", delta.pid());
  d.Set("packed_bits", "0x" + HexU64(delta.packed_bits()).substr(16));
  d.Set("bits", BitNames(delta.packed_bits()));
  d.Set("prior_state", AddressJson(delta.prior_state()));
  d.Set("last_flushed", AddressJson(delta.last_flushed()));
  d.Set("plen", delta.payload_len());
  SetHex(delta.payload(), options, d);
  d.Set("decoded", delta.is_update() ? DecodeUpdatePayload(delta.pid(), delta.payload()) : JsonValue());
  return d;
}

JsonValue BaseJson(const BasePage& base, LssAddress record, std::size_t position, const ViewOptions& options) {
  JsonValue b = JsonValue::MakeObject();
  b.Set("position", position);
  b.Set("record", AddressText(record));
  b.Set("type", "base page");
  b.Set("page_size", base.page_size());
  b.Set("pid", base.pid());
  b.Set("used", base.used());
  SetHex(base.contents(), options, b);
  b.Set("decoded", DecodeBasePageContents(base.pid(), base.contents()));
  return b;
}

}  // namespace

Result<JsonValue> BuildPageView(StoreImage& image, PageId pid, const ViewOptions& options) {
  const auto& chains = image.recovery().pages.chains();
  auto found = chains.find(pid);
  if (found == chains.end()) {
    return MakeError(ErrorCode::kNotFound, "page " + std::to_string(pid) + " has no durable state in " +
                                               image.dir() + " (" + std::to_string(chains.size()) +
                                               " pages do; the summary lists them)");
  }
  const std::vector<PageDiskRecord>& listed = found->second;

  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "page");
  view.Set("pid", pid);
  // After recovery the page's mapping table slot holds the address of its newest record;
  // the first read brings the state below into memory under a Flush delta naming it.
  view.Set("slot", AddressText(listed.front().address));
  JsonValue listed_json = JsonValue::MakeArray();
  for (const PageDiskRecord& r : listed) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("address", AddressText(r.address));
    row.Set("bytes", r.length);
    listed_json.Push(std::move(row));
  }
  view.Set("recovery_lists", std::move(listed_json));

  JsonValue records = JsonValue::MakeArray();
  JsonValue chain = JsonValue::MakeArray();
  JsonValue problems = JsonValue::MakeArray();
  std::set<std::uint64_t> seen;
  std::size_t position = 0;
  for (LssAddress at = listed.front().address; !at.is_null();) {
    if (!seen.insert(at.raw()).second || seen.size() > (1u << 16)) {
      problems.Push("the prior pointers loop at " + AddressText(at));
      break;
    }
    auto record = image.ReadRecord(at);
    if (!record) {
      problems.Push(AddressText(at) + ": " + record.error().message());
      break;
    }
    JsonValue row = JsonValue::MakeObject();
    row.Set("address", AddressText(at));
    row.Set("kind", RecordKindName(record->header.kind));
    row.Set("frame_bytes", record->header.framed_size());
    row.Set("compressed", record->header.compressed);
    if (record->header.kind != log_format::RecordKind::kPageState) {
      records.Push(std::move(row));
      problems.Push(AddressText(at) + ": not a PageState record");
      break;
    }
    auto page = DecodePageRecord(record->body);
    if (!page) {
      records.Push(std::move(row));
      problems.Push(AddressText(at) + ": " + page.error().message());
      break;
    }
    row.Set("pid", page->pid);
    row.Set("prior", AddressJson(page->prior));
    row.Set("deltas", page->deltas.size());
    row.Set("base_bytes", page->base ? JsonValue(page->base->Encoded().size()) : JsonValue(0));
    records.Push(std::move(row));
    if (page->pid != pid) {
      problems.Push(AddressText(at) + ": a record of page " + std::to_string(page->pid));
      break;
    }
    for (const DeltaHandle& delta : page->deltas) chain.Push(DeltaJson(*delta, at, position++, options));
    if (page->base) {
      chain.Push(BaseJson(*page->base, at, position++, options));
      break;
    }
    at = page->prior;
  }
  view.Set("records", std::move(records));
  view.Set("chain", std::move(chain));
  view.Set("problems", std::move(problems));
  return view;
}

}  // namespace llama::pagedump
