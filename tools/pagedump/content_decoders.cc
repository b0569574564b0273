#include "tools/pagedump/content_decoders.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "lss/store/catalog.h"
#include "rebuild/vector_format.h"
#include "util/byte_io.h"

namespace llama::pagedump {

std::optional<JsonValue> ContentDecoder::DecodeUpdatePayload(PageId, std::span<const std::byte>) const {
  return std::nullopt;
}
std::optional<JsonValue> ContentDecoder::DecodeBasePage(PageId, std::span<const std::byte>) const {
  return std::nullopt;
}

namespace {

// Bytes that are all printable ASCII (tabs and newlines too) are shown as text: what an
// access method that stores strings wrote, and what the tests write.
class TextDecoder final : public ContentDecoder {
 public:
  std::string_view name() const override { return "text"; }
  std::optional<JsonValue> DecodeUpdatePayload(PageId, std::span<const std::byte> payload) const override {
    return AsText(payload);
  }
  std::optional<JsonValue> DecodeBasePage(PageId, std::span<const std::byte> contents) const override {
    return AsText(contents);
  }

 private:
  static std::optional<JsonValue> AsText(std::span<const std::byte> bytes) {
    if (bytes.empty()) return std::nullopt;
    const bool printable = std::all_of(bytes.begin(), bytes.end(), [](std::byte b) {
      const auto c = std::to_integer<unsigned char>(b);
      return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
    });
    if (!printable) return std::nullopt;
    return JsonValue(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
};

// The page's leading u32, or 0 when it is shorter than that.
std::uint32_t Magic(std::span<const std::byte> contents) {
  std::uint32_t magic = 0;
  (void)ByteReader(contents).U32(&magic);
  return magic;
}

JsonValue Problem(const Error& error) {
  JsonValue out = JsonValue::MakeObject();
  out.Set("problem", error.message());
  return out;
}

JsonValue Wrap(const char* key, JsonValue value) {
  JsonValue out = JsonValue::MakeObject();
  out.Set(key, std::move(value));
  return out;
}

// {key: to_json(*decoded)}, or {"problem": why} when the bytes did not decode or to_json
// (which may return a Result) found them wrong.
template <typename T, typename ToJson>
JsonValue Answer(const char* key, const Result<T>& decoded, ToJson&& to_json) {
  if (!decoded) return Problem(decoded.error());
  Result<JsonValue> value = to_json(*decoded);
  if (!value) return Problem(value.error());
  return Wrap(key, std::move(*value));
}

// The store's catalog (page 0): names and their root pages.
class CatalogDecoder final : public ContentDecoder {
 public:
  std::string_view name() const override { return "catalog"; }
  std::optional<JsonValue> DecodeBasePage(PageId, std::span<const std::byte> contents) const override {
    if (Magic(contents) != catalog_format::kMagic) return std::nullopt;
    return Answer("roots", DecodeCatalog(contents), RootsJson);
  }

 private:
  static JsonValue RootsJson(const std::vector<NamedRoot>& roots) {
    JsonValue list = JsonValue::MakeArray();
    for (const NamedRoot& root : roots) list.Push(JsonValue::Object{{"name", root.name}, {"pid", root.pid}});
    return list;
  }
};

// The vector's pages and deltas (rebuild/vector_format.h): entries and publications,
// the meta page, writer buffers, RRB leaves and inner nodes.
class VectorDecoder final : public ContentDecoder {
 public:
  // Elements and children shown per page; the rest are counted.
  static constexpr std::size_t kShown = 64;

  std::string_view name() const override { return "vector"; }

  std::optional<JsonValue> DecodeUpdatePayload(PageId, std::span<const std::byte> payload) const override {
    switch (VectorPayloadTag(payload)) {
      case vector_format::kEntryTag:
        return Answer("entry", DecodeEntry(payload), EntryJson);
      case vector_format::kPublicationTag:
        return Answer("publication", DecodePublication(payload), PublicationJson);
      default:
        return std::nullopt;
    }
  }

  std::optional<JsonValue> DecodeBasePage(PageId, std::span<const std::byte> contents) const override {
    switch (Magic(contents)) {
      case vector_format::kMetaMagic:
        return Answer("meta", DecodeMeta(contents), MetaJson);
      case vector_format::kBufferMagic:
        return Wrap("buffer", "a writer buffer page: its entries are the deltas above");
      case vector_format::kLeafMagic:
        return Answer("leaf", LeafView::Parse(contents), LeafJson);
      case vector_format::kInnerMagic:
        return Answer("inner", InnerView::Parse(contents), InnerJson);
      default:
        return std::nullopt;
    }
  }

  static std::string OpText(const VectorOp& op) {
    std::string out(VectorOpName(op.code));
    if (HasIndex(op.code)) out += " " + std::to_string(op.index);
    if (HasValue(op.code)) out += " " + Quoted(op.value);
    return out;
  }

 private:
  static JsonValue EntryJson(const VectorEntry& entry) {
    JsonValue ops = JsonValue::MakeArray();
    for (const VectorOp& op : entry.ops) ops.Push(OpText(op));
    return JsonValue::Object{{"timestamp", entry.timestamp},
                             {"thread", entry.thread},
                             {"sequence", entry.sequence},
                             {"ops", std::move(ops)}};
  }

  static JsonValue MetaJson(const VectorConfig& config) {
    JsonValue buffers = JsonValue::MakeArray();
    for (PageId pid : config.buffers) buffers.Push(pid);
    return JsonValue::Object{{"branching", config.branching},
                             {"leaf_max_elements", config.leaf_max_elements},
                             {"leaf_page_size", config.leaf_page_size},
                             {"buffer_pages", std::move(buffers)}};
  }

  // The first kShown elements; a problem when the leaf does not validate.
  static Result<JsonValue> LeafJson(const LeafView& leaf) {
    LLAMA_RETURN_IF_ERROR(leaf.Validate());
    JsonValue elements = JsonValue::MakeArray();
    for (std::uint32_t i = 0; i < leaf.size() && i < kShown; ++i) {
      auto v = leaf.Get(i);
      LLAMA_RETURN_IF_ERROR(v);
      elements.Push(std::string(*v));
    }
    return JsonValue::Object{
        {"count", leaf.size()}, {"elements", std::move(elements)}, {"elements_truncated", leaf.size() > kShown}};
  }

  // The first kShown children (and their sizes); a problem when the node does not validate.
  static Result<JsonValue> InnerJson(const InnerView& inner) {
    LLAMA_RETURN_IF_ERROR(inner.Validate());
    JsonValue children = JsonValue::MakeArray();
    JsonValue sizes = JsonValue::MakeArray();
    for (std::uint32_t k = 0; k < inner.count() && k < kShown; ++k) {
      children.Push(inner.child(k));
      // The size table (relaxed nodes only): elements up to and including child k.
      if (inner.relaxed()) sizes.Push(k + 1 < inner.count() ? inner.before(k + 1, 0) : inner.total());
    }
    return JsonValue::Object{{"height", inner.height()},
                             {"relaxed", inner.relaxed()},
                             {"count", inner.count()},
                             {"total", inner.total()},
                             {"children", std::move(children)},
                             {"size_table", inner.relaxed() ? std::move(sizes) : JsonValue()},
                             {"children_truncated", inner.count() > kShown}};
  }

  // "hello" with C escapes for quotes, backslashes and bytes that are not printable.
  static std::string Quoted(std::string_view v) {
    std::string out = "\"";
    for (char c : v) {
      const auto b = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (b < 0x20 || b >= 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", b);
        out += buf;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }
};

}  // namespace

JsonValue PublicationJson(const VectorPublication& p) {
  JsonValue pending = JsonValue::MakeArray();
  for (PageId pid : p.pending_free) pending.Push(pid);
  return JsonValue::Object{{"generation", p.generation}, {"root", p.root},
                           {"height", p.height},         {"size", p.size},
                           {"watermark", p.watermark},   {"pending_free", std::move(pending)}};
}

namespace {

template <typename Fn>
JsonValue FirstAnswer(Fn&& decode) {
  for (const ContentDecoder* decoder : ContentDecoders()) {
    if (std::optional<JsonValue> value = decode(*decoder)) {
      JsonValue out = JsonValue::MakeObject();
      out.Set("decoder", decoder->name());
      out.Set("value", std::move(*value));
      return out;
    }
  }
  return JsonValue();
}

}  // namespace

const std::vector<const ContentDecoder*>& ContentDecoders() {
  static const CatalogDecoder catalog;
  static const VectorDecoder vector;
  static const TextDecoder text;
  // The formats that recognize their bytes by a magic or a tag first; text last.
  static const std::vector<const ContentDecoder*> decoders{&catalog, &vector, &text};
  return decoders;
}

JsonValue DecodeUpdatePayload(PageId pid, std::span<const std::byte> payload) {
  return FirstAnswer([&](const ContentDecoder& d) { return d.DecodeUpdatePayload(pid, payload); });
}

JsonValue DecodeBasePageContents(PageId pid, std::span<const std::byte> contents) {
  return FirstAnswer([&](const ContentDecoder& d) { return d.DecodeBasePage(pid, contents); });
}

}  // namespace llama::pagedump
