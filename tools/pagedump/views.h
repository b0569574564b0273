// The views of pagedump, each built as one JsonValue document (the stable schema in
// docs/PAGEDUMP.md) that the tool writes as JSON or as text.
//
//   BuildSummaryView   pagedump DIR
//   BuildVerifyView    pagedump DIR --verify
//   BuildSegmentView   pagedump DIR --segment N
//   BuildPageView      pagedump DIR --pid P
//   BuildVectorView    pagedump DIR --vector NAME [--generation G] [--elements]
//
// Errors are I/O failures and a segment or page that is not there (NotFound); damage is
// part of the document.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "llama/status.h"
#include "lss/recovery/store_image.h"
#include "tools/pagedump/json_value.h"
#include "tools/pagedump/store_analysis.h"

namespace llama::pagedump {

struct ViewOptions {
  // Payload and page bytes shown in hex per delta or page; 0 shows them all.
  std::size_t hex_bytes = 64;
};

JsonValue BuildSummaryView(StoreImage& image, const StoreAnalysis& analysis);
JsonValue BuildVerifyView(const StoreImage& image, const StoreAnalysis& analysis);
Result<JsonValue> BuildSegmentView(StoreImage& image, std::uint32_t segment);
Result<JsonValue> BuildPageView(StoreImage& image, PageId pid, const ViewOptions& options);
// The snapshot of `generation` (default: the newest on disk); `elements`: list them all.
Result<JsonValue> BuildVectorView(StoreImage& image, const std::string& name, std::optional<std::uint64_t> generation,
                                  bool elements);
// The summary's catalog section: named roots, and for each vector its newest snapshots.
JsonValue CatalogSummaryJson(StoreImage& image);

// Shared by the views: "3:4096" or null; hex strings; lists of findings.
JsonValue AddressJson(LssAddress address);
std::string HexU64(std::uint64_t v);
std::string HexBytes(std::span<const std::byte> bytes, std::size_t limit);
JsonValue FindingsJson(const std::vector<Finding>& findings);

}  // namespace llama::pagedump
