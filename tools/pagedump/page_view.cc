#include "llama/delta_format.h"
#include "llama/delta_kind.h"
#include "lss/log/page_record.h"
#include "tools/pagedump/content_decoders.h"
#include "tools/pagedump/page_reader.h"
#include "tools/pagedump/views.h"

namespace llama::pagedump {

namespace {

std::string BitNames(std::uint8_t bits) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {{0x80, "F"}, {0x40, "P"}, {0x20, "U"},
                                                                    {0x10, "E"}, {0x08, "R"}, {0x04, "Re"}};
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

JsonValue DeltaJson(const DeltaRecord& delta, LssAddress record, std::size_t position, const ViewOptions& options) {
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
  auto page = ReadPageOffline(image, pid);
  LLAMA_RETURN_IF_ERROR(page);

  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "page");
  view.Set("pid", pid);
  // After recovery the page's mapping table slot holds the address of its newest record;
  // the first read brings the state below into memory, its head marked flushed there.
  view.Set("slot", AddressText(page->listed.front().address));
  JsonValue listed = JsonValue::MakeArray();
  for (const PageDiskRecord& r : page->listed) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("address", AddressText(r.address));
    row.Set("bytes", r.length);
    listed.Push(std::move(row));
  }
  view.Set("recovery_lists", std::move(listed));

  JsonValue records = JsonValue::MakeArray();
  JsonValue chain = JsonValue::MakeArray();
  std::size_t position = 0;
  for (const OfflineRecord& r : page->records) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("address", AddressText(r.address));
    row.Set("kind", RecordKindName(r.frame.kind));
    row.Set("frame_bytes", r.frame.framed_size());
    row.Set("compressed", r.frame.compressed);
    row.Set("prior", r.page ? AddressJson(r.page->prior) : JsonValue());
    row.Set("deltas", r.page ? JsonValue(r.page->deltas.size()) : JsonValue());
    row.Set("base_bytes", r.page && r.page->base ? JsonValue(r.page->base->Encoded().size()) : JsonValue(0));
    records.Push(std::move(row));
    if (!r.page) continue;
    for (const DeltaHandle& delta : r.page->deltas) chain.Push(DeltaJson(*delta, r.address, position++, options));
    if (r.page->base) chain.Push(BaseJson(*r.page->base, r.address, position++, options));
  }
  view.Set("records", std::move(records));
  view.Set("chain", std::move(chain));
  JsonValue problems = JsonValue::MakeArray();
  for (const std::string& p : page->problems) problems.Push(p);
  view.Set("problems", std::move(problems));
  return view;
}

}  // namespace llama::pagedump
