#include "tools/pagedump/content_decoders.h"

#include <algorithm>
#include <string>

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
  static const TextDecoder text;
  static const std::vector<const ContentDecoder*> decoders{&text};
  return decoders;
}

JsonValue DecodeUpdatePayload(PageId pid, std::span<const std::byte> payload) {
  return FirstAnswer([&](const ContentDecoder& d) { return d.DecodeUpdatePayload(pid, payload); });
}

JsonValue DecodeBasePageContents(PageId pid, std::span<const std::byte> contents) {
  return FirstAnswer([&](const ContentDecoder& d) { return d.DecodeBasePage(pid, contents); });
}

}  // namespace llama::pagedump
