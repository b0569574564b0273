// Content decoders: how pagedump shows the bytes LLAMA treats as opaque, the payload of
// an Update delta and the contents of a base page. Each decoder recognizes its own kind of
// bytes or declines (nullopt); the page view tries them in order and shows the first
// answer next to the hex. The vector layer's operations (Append "...", Insert 17 "...")
// and its RRB leaf and inner pages plug in here as their formats are defined.
//
// Ownership: decoders are stateless singletons that live for the whole program.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "llama/types.h"
#include "rebuild/vector_format.h"
#include "tools/pagedump/json_value.h"

namespace llama::pagedump {

class ContentDecoder {
 public:
  virtual ~ContentDecoder() = default;
  virtual std::string_view name() const = 0;
  // Both return nullopt when the bytes are not of this decoder's kind. They must accept
  // any bytes (they run on damaged stores and under the fuzzer).
  virtual std::optional<JsonValue> DecodeUpdatePayload(PageId pid, std::span<const std::byte> payload) const;
  virtual std::optional<JsonValue> DecodeBasePage(PageId pid, std::span<const std::byte> contents) const;
};

// The decoders pagedump tries, in order.
const std::vector<const ContentDecoder*>& ContentDecoders();

// A vector publication (a snapshot: generation, root, height, size, watermark, pages
// still to free), as the meta page's deltas and the summary show it.
JsonValue PublicationJson(const VectorPublication& publication);

// {"decoder": name, "value": ...} from the first decoder that recognizes the bytes, or null.
JsonValue DecodeUpdatePayload(PageId pid, std::span<const std::byte> payload);
JsonValue DecodeBasePageContents(PageId pid, std::span<const std::byte> contents);

}  // namespace llama::pagedump
